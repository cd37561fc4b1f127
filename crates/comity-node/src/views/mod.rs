//! Derived state, computed from the logs and the store's indexes: where each
//! consultation stands and who answered it, liaison threads, each recipient's
//! receipts and action state, and what is overdue — always against the
//! node's clock, so tests can move time.
//!
//! Each view is computed for a [`Reader`]: the node's own people see every
//! entry the node holds whole, and anyone else (an anonymous visitor of the
//! dashboard) only public entries. A view for the public leaves out every
//! restricted entry it would otherwise show or count — a reply, a parent, a
//! response, a receipt, a revision — so that no restricted title or text
//! reaches a public page by way of a public document.
//!
//! This module holds the reader and the documents held here as a reader
//! may see them; the views themselves are by subject: [`consultations`],
//! [`liaisons`], [`attachments`] and [`peers`].

mod attachments;
mod consultations;
mod liaisons;
mod peers;

use crate::{error::NodeError, node::Node};
use comity_core::{
    OrgId, SignedEntry, document,
    entry::{Audience, EntryKind},
    proto::{self, document::Body},
};

pub(crate) fn key(t: Option<&prost_types::Timestamp>) -> (i64, i32) {
    t.map_or((i64::MAX, 0), |t| (t.seconds, t.nanos))
}

/// Whom a view is for, and so which entries it may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The node's own people (the CLI, a logged-in dashboard account, the
    /// JSON API): every entry this node holds whole.
    Node,
    /// Anyone (a dashboard visitor who is not logged in, with
    /// `public_pages`): public entries only.
    Public,
}

impl Reader {
    /// Whether this reader may see `entry`'s document.
    pub fn may_read(self, entry: &SignedEntry) -> bool {
        !entry.is_redacted()
            && (self == Reader::Node || matches!(entry.audience(), Audience::Public))
    }
}

impl Node {
    /// The latest revision of a document held here, decoded.
    pub fn load_document(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Option<(SignedEntry, Option<Body>)>, NodeError> {
        let Some(seq) = self.store().document(kind, origin, uuid)? else {
            return Ok(None);
        };
        let Some(entry) = self.store().entry(origin, seq)? else {
            return Ok(None);
        };
        let body = if entry.is_redacted() {
            None
        } else {
            Some(document::decode_for(&entry)?)
        };
        Ok(Some((entry, body)))
    }

    pub(crate) fn consultation(
        &self,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<(SignedEntry, proto::Consultation), NodeError> {
        match self.load_document(EntryKind::Consultation, origin, uuid)? {
            Some((entry, Some(Body::Consultation(c)))) => Ok((entry, c)),
            _ => Err(NodeError::NotFound(format!(
                "no consultation {origin}/{uuid} is held here"
            ))),
        }
    }

    pub(crate) fn liaison(
        &self,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<(SignedEntry, Option<proto::LiaisonStatement>), NodeError> {
        match self.load_document(EntryKind::Liaison, origin, uuid)? {
            Some((entry, Some(Body::Liaison(l)))) => Ok((entry, Some(l))),
            Some((entry, None)) => Ok((entry, None)),
            _ => Err(NodeError::NotFound(format!(
                "no liaison statement {origin}/{uuid} is held here"
            ))),
        }
    }
}

impl Node {
    /// The document of one entry, if `reader` may read it.
    pub(crate) fn decoded_for(
        &self,
        origin: &OrgId,
        seq: u64,
        reader: Reader,
    ) -> Result<Option<(SignedEntry, Body)>, NodeError> {
        let Some(entry) = self.store().entry(origin, seq)? else {
            return Ok(None);
        };
        if !reader.may_read(&entry) {
            return Ok(None);
        }
        let body = document::decode_for(&entry)?;
        Ok(Some((entry, body)))
    }

    /// The latest revision of a document that `reader` may read: for the
    /// public, the latest public one (a later restricted revision is not
    /// theirs to see).
    pub(crate) fn latest_for(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
        reader: Reader,
    ) -> Result<Option<(SignedEntry, Body)>, NodeError> {
        if reader == Reader::Node {
            return match self.store().document(kind, origin, uuid)? {
                Some(seq) => self.decoded_for(origin, seq, reader),
                None => Ok(None),
            };
        }
        for seq in self
            .store()
            .document_revisions(kind, origin, uuid)?
            .into_iter()
            .rev()
        {
            if let Some(found) = self.decoded_for(origin, seq, reader)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// A liaison statement as `reader` may see it: for the node, its latest
    /// revision held (a stub has no statement); for the public, its latest
    /// public revision.
    pub(crate) fn liaison_for(
        &self,
        origin: &OrgId,
        uuid: &str,
        reader: Reader,
    ) -> Result<(SignedEntry, Option<proto::LiaisonStatement>), NodeError> {
        if reader == Reader::Node {
            return self.liaison(origin, uuid);
        }
        match self.latest_for(EntryKind::Liaison, origin, uuid, reader)? {
            Some((entry, Body::Liaison(s))) => Ok((entry, Some(s))),
            _ => Err(NodeError::NotFound(format!(
                "no liaison statement {origin}/{uuid} is held here"
            ))),
        }
    }

    /// An organisation's latest profile: our own from the configuration.
    pub fn profile_of(&self, org: &OrgId) -> Result<Option<proto::OrgProfile>, NodeError> {
        self.profile_for(org, Reader::Node)
    }

    /// An organisation's latest profile that `reader` may read.
    pub fn profile_for(
        &self,
        org: &OrgId,
        reader: Reader,
    ) -> Result<Option<proto::OrgProfile>, NodeError> {
        if org == self.org() {
            return Ok(Some(self.profile()));
        }
        let Some(seq) = self.store().latest_profile(org)? else {
            return Ok(None);
        };
        Ok(match self.decoded_for(org, seq, reader)? {
            Some((_, Body::Profile(p))) => Some(p),
            _ => None,
        })
    }
}
