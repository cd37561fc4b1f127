//! What people do with documents: publish and revise consultations, respond,
//! draft, approve, post and answer liaison statements, acknowledge them,
//! rotate the key. Each action that others should see becomes one signed
//! entry in the own log; drafts and approvals stay on this node.
//!
//! By document kind: [`consultation`] (publish, revise, respond),
//! [`liaison`] (drafts, approval, posting, replies, receipts) and [`key`]
//! (rotation); this module holds what they share.

mod consultation;
mod key;
mod liaison;

use crate::{error::NodeError, node::Node};
use comity_core::{Hash, OrgId, dates, document, proto};

/// A file to attach, before it is stored.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

impl From<proto::AttachmentUpload> for Upload {
    fn from(u: proto::AttachmentUpload) -> Self {
        Self {
            name: u.name,
            media_type: u.media_type,
            content: u.content,
        }
    }
}

/// A reference `origin/uuid` given by a person or a client.
pub fn parse_ref(r: Option<&proto::DocumentRef>, what: &str) -> Result<(OrgId, String), NodeError> {
    let r =
        r.ok_or_else(|| NodeError::InvalidArgument(format!("{what} is required (ORIGIN/UUID)")))?;
    let origin = OrgId::new(r.origin.clone())
        .map_err(|e| NodeError::InvalidArgument(format!("{what}: {e}")))?;
    uuid::Uuid::parse_str(&r.uuid).map_err(|_| {
        NodeError::InvalidArgument(format!("{what}: {:?} is not a document id", r.uuid))
    })?;
    Ok((origin, r.uuid.clone()))
}

pub(crate) fn text(lang: &str, value: &str) -> Vec<proto::Text> {
    if value.trim().is_empty() {
        Vec::new()
    } else {
        vec![proto::Text {
            lang: lang.to_string(),
            value: value.to_string(),
        }]
    }
}

pub(crate) fn lang_or_default(lang: &str) -> String {
    if lang.trim().is_empty() {
        "en".into()
    } else {
        lang.trim().to_string()
    }
}

/// Merges texts by language: `extra` replaces or adds to `base`.
pub(crate) fn merge_texts(mut base: Vec<proto::Text>, extra: Vec<proto::Text>) -> Vec<proto::Text> {
    for t in extra {
        match base.iter_mut().find(|b| b.lang == t.lang) {
            Some(b) => b.value = t.value,
            None => base.push(t),
        }
    }
    base.retain(|t| !t.value.trim().is_empty());
    base
}

pub(crate) fn date_arg(
    text: &str,
    what: &str,
    end: bool,
) -> Result<Option<prost_types::Timestamp>, NodeError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let parsed = if end {
        dates::parse_end(text)
    } else {
        dates::parse_start(text)
    };
    parsed
        .map(|t| Some(dates::to_timestamp(t)))
        .map_err(|e| NodeError::InvalidArgument(format!("{what}: {e}")))
}

/// A value of a proto enum as a client sent it: a number the enum does not
/// name is refused, rather than read as "unspecified".
pub(crate) fn known<E: TryFrom<i32>>(value: i32, what: &str) -> Result<E, NodeError> {
    E::try_from(value).map_err(|_| {
        NodeError::InvalidArgument(format!("{what} {value} is not one this node knows"))
    })
}

/// A deadline as written: "2027-02-28" or "2027-02-28 +02:00".
pub(crate) fn deadline_arg(text: &str) -> Result<Option<proto::Deadline>, NodeError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (date, zone) = text.split_once(' ').unwrap_or((text, ""));
    dates::Deadline::parse(date, zone)
        .map(|d| Some(d.to_proto()))
        .map_err(|e| NodeError::InvalidArgument(format!("deadline: {e}")))
}

impl Node {
    /// Stores uploads as blobs and returns their references.
    pub fn store_uploads(
        &self,
        uploads: Vec<Upload>,
    ) -> Result<Vec<proto::AttachmentRef>, NodeError> {
        let limit = self.config().limits.max_attachment_bytes;
        // Refused before anything is stored, not after, by the document rules.
        if uploads.len() > document::MAX_ATTACHMENTS {
            return Err(document::DocumentError::TooManyAttachments {
                count: uploads.len(),
                max: document::MAX_ATTACHMENTS,
            }
            .into());
        }
        uploads
            .into_iter()
            .map(|u| {
                if u.content.len() as u64 > limit {
                    return Err(NodeError::InvalidArgument(format!(
                        "attachment {} is {} bytes; this node accepts at most {limit}",
                        u.name,
                        u.content.len()
                    )));
                }
                let hash = self.store().put_blob(&u.content)?;
                Ok(proto::AttachmentRef {
                    hash: hash.0.to_vec(),
                    size: u.content.len() as u64,
                    media_type: if u.media_type.is_empty() {
                        "application/octet-stream".into()
                    } else {
                        u.media_type
                    },
                    name: u.name,
                })
            })
            .collect()
    }

    /// The hash of a blob as a client writes it (hex).
    pub fn parse_hash(text: &str) -> Result<Hash, NodeError> {
        Hash::from_hex(text.trim()).ok_or_else(|| {
            NodeError::InvalidArgument(format!(
                "{text:?} is not an attachment hash (64 hex digits)"
            ))
        })
    }
}
