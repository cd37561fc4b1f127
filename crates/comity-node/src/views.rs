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

use crate::{error::NodeError, node::Node};
use comity_core::{
    Hash, OrgId, SignedEntry, dates, document,
    entry::{Audience, EntryKind},
    liaison,
    proto::{self, document::Body, list_liaisons_request::Box as LiaisonBox},
};
use std::collections::BTreeMap;

pub fn stakeholder_group_name(group: i32) -> &'static str {
    use proto::StakeholderGroup as G;
    match G::try_from(group).unwrap_or(G::Unspecified) {
        G::Government => "government",
        G::Intergovernmental => "intergovernmental",
        G::PrivateSector => "private-sector",
        G::CivilSociety => "civil-society",
        G::TechnicalAcademic => "technical-academic",
        G::Unspecified => "unspecified",
    }
}

/// A receipt status as views, feeds and notifications name it.
pub fn receipt_name(status: i32) -> &'static str {
    use proto::ReceiptStatus as R;
    match R::try_from(status).unwrap_or(R::Unspecified) {
        R::Received => "received",
        R::AcceptedForAction => "accepted_for_action",
        R::ReplyComing => "reply_coming",
        R::ActionTaken => "action_taken",
        R::Unspecified => "awaiting",
    }
}

/// How far along a recipient is; the order ranks states for "the worst of".
fn action_rank(state: &str) -> u8 {
    match state {
        "awaiting" => 0,
        "received" => 1,
        "accepted_for_action" => 2,
        "reply_coming" => 3,
        _ => 4,
    }
}

fn asks_for_work(purpose: proto::LiaisonPurpose) -> bool {
    matches!(
        purpose,
        proto::LiaisonPurpose::Action | proto::LiaisonPurpose::Comment
    )
}

fn purpose_label(purpose: proto::LiaisonPurpose) -> String {
    liaison::purpose_name(purpose).replace(' ', "_")
}

fn key(t: Option<&prost_types::Timestamp>) -> (i64, i32) {
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
    /// The document of one entry, if `reader` may read it.
    fn decoded_for(
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
    fn latest_for(
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
    fn liaison_for(
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

    /// The response entries to a consultation that `reader` may read.
    fn responses_for(
        &self,
        origin: &OrgId,
        uuid: &str,
        reader: Reader,
    ) -> Result<Vec<(SignedEntry, proto::ConsultationResponse)>, NodeError> {
        let mut responses = Vec::new();
        for pos in self.store().responses_to(origin, uuid)? {
            if let Some((e, Body::Response(r))) = self.decoded_for(&pos.origin, pos.seq, reader)? {
                responses.push((e, r));
            }
        }
        Ok(responses)
    }

    /// Where a consultation stands now.
    pub fn consultation_status(&self, c: &proto::Consultation) -> &'static str {
        use proto::ConsultationStatus as S;
        let now = dates::to_timestamp(self.now());
        let now = (now.seconds, now.nanos);
        match S::try_from(c.status).unwrap_or(S::Unspecified) {
            S::Draft => "draft",
            S::Withdrawn => "withdrawn",
            S::ReportPublished => "report_published",
            S::Closed => "closed",
            S::Open | S::Unspecified => {
                if c.opens_at.is_some() && now < key(c.opens_at.as_ref()) {
                    "upcoming"
                } else if now <= key(c.closes_at.as_ref()) {
                    "open"
                } else if c.reply_closes_at.is_some() && now <= key(c.reply_closes_at.as_ref()) {
                    "reply_period"
                } else {
                    "closed"
                }
            }
        }
    }

    fn consultation_summary(
        &self,
        entry: &SignedEntry,
        c: &proto::Consultation,
        reader: Reader,
    ) -> Result<proto::ConsultationSummary, NodeError> {
        let responses = match reader {
            Reader::Node => self.store().responses_to(entry.origin(), &c.uuid)?.len(),
            Reader::Public => self.responses_for(entry.origin(), &c.uuid, reader)?.len(),
        } as u32;
        Ok(proto::ConsultationSummary {
            origin: entry.origin().to_string(),
            uuid: c.uuid.clone(),
            revision: c.revision,
            title: c.title.clone(),
            opens_at: c.opens_at,
            closes_at: c.closes_at,
            status: self.consultation_status(c).to_string(),
            topics: c.topics.clone(),
            responses,
            seq: entry.seq(),
        })
    }

    /// Consultations held, across the federation, soonest closing first.
    pub fn list_consultations(
        &self,
        filter: &proto::ListConsultationsRequest,
    ) -> Result<Vec<proto::ConsultationSummary>, NodeError> {
        self.list_consultations_for(filter, Reader::Node)
    }

    /// [`Node::list_consultations`] as `reader` may see it.
    pub fn list_consultations_for(
        &self,
        filter: &proto::ListConsultationsRequest,
        reader: Reader,
    ) -> Result<Vec<proto::ConsultationSummary>, NodeError> {
        let mut list = Vec::new();
        for doc in self.store().documents(EntryKind::Consultation)? {
            if !filter.origin.is_empty() && doc.origin.as_str() != filter.origin {
                continue;
            }
            let latest = match reader {
                Reader::Node => self.decoded_for(&doc.origin, doc.seq, reader)?,
                Reader::Public => {
                    self.latest_for(EntryKind::Consultation, &doc.origin, &doc.uuid, reader)?
                }
            };
            let Some((entry, Body::Consultation(c))) = latest else {
                continue;
            };
            let summary = self.consultation_summary(&entry, &c, reader)?;
            let keep = (!filter.open || matches!(summary.status.as_str(), "open" | "reply_period"))
                && (filter.topic.is_empty() || c.topics.iter().any(|t| t == &filter.topic))
                && (filter.lang.is_empty() || c.title.iter().any(|t| t.lang == filter.lang))
                && (filter.status.is_empty() || summary.status == filter.status);
            if keep {
                list.push(summary);
            }
        }
        list.sort_by_key(|s| key(s.closes_at.as_ref()));
        Ok(list)
    }

    /// A consultation with its revisions, responses and participation.
    pub fn show_consultation(
        &self,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<proto::ConsultationView, NodeError> {
        self.show_consultation_for(origin, uuid, Reader::Node)
    }

    /// [`Node::show_consultation`] as `reader` may see it.
    pub fn show_consultation_for(
        &self,
        origin: &OrgId,
        uuid: &str,
        reader: Reader,
    ) -> Result<proto::ConsultationView, NodeError> {
        let not_found =
            || NodeError::NotFound(format!("no consultation {origin}/{uuid} is held here"));
        let Some((entry, Body::Consultation(current))) =
            self.latest_for(EntryKind::Consultation, origin, uuid, reader)?
        else {
            return Err(not_found());
        };
        let mut revisions = Vec::new();
        for seq in self
            .store()
            .document_revisions(EntryKind::Consultation, origin, uuid)?
        {
            if let Some((e, Body::Consultation(c))) = self.decoded_for(origin, seq, reader)? {
                revisions.push(proto::RevisionView {
                    revision: c.revision,
                    seq,
                    id: e.id().to_hex(),
                    created_at: e.created_at().cloned(),
                    closes_at: c.closes_at,
                    status: self.consultation_status(&c).to_string(),
                });
            }
        }
        let mut responses = Vec::new();
        let mut by_group: BTreeMap<String, u32> = BTreeMap::new();
        let mut by_region: BTreeMap<String, u32> = BTreeMap::new();
        for (e, r) in self.responses_for(origin, uuid, reader)? {
            let profile = self.profile_for(e.origin(), reader)?.unwrap_or_default();
            let group = stakeholder_group_name(profile.stakeholder_group).to_string();
            let region = if profile.region.is_empty() {
                "unspecified".to_string()
            } else {
                profile.region.clone()
            };
            *by_group.entry(group.clone()).or_default() += 1;
            *by_region.entry(region.clone()).or_default() += 1;
            let late = e
                .created_at()
                .is_some_and(|t| document::late(t, &r, &current));
            responses.push(proto::ResponseView {
                origin: e.origin().to_string(),
                seq: e.seq(),
                id: e.id().to_hex(),
                uuid: r.uuid,
                text: r.text,
                on_behalf_of: r.on_behalf_of,
                replies_to: r.replies_to,
                late,
                created_at: e.created_at().cloned(),
                stakeholder_group: group,
                region,
                attachments: r.attachments,
            });
        }
        let rows = |m: BTreeMap<String, u32>| {
            m.into_iter()
                .map(|(key, responses)| proto::ParticipationRow { key, responses })
                .collect()
        };
        Ok(proto::ConsultationView {
            summary: Some(self.consultation_summary(&entry, &current, reader)?),
            current: Some(current),
            revisions,
            responses,
            by_stakeholder_group: rows(by_group),
            by_region: rows(by_region),
        })
    }

    /// Each recipient's receipts and action state.
    pub fn recipient_states(
        &self,
        origin: &OrgId,
        statement: &proto::LiaisonStatement,
    ) -> Result<Vec<proto::RecipientState>, NodeError> {
        self.recipient_states_for(origin, statement, Reader::Node)
    }

    /// [`Node::recipient_states`] from the receipts `reader` may read.
    pub fn recipient_states_for(
        &self,
        origin: &OrgId,
        statement: &proto::LiaisonStatement,
        reader: Reader,
    ) -> Result<Vec<proto::RecipientState>, NodeError> {
        let mut receipts: BTreeMap<String, Vec<proto::ReceiptView>> = BTreeMap::new();
        for pos in self.store().receipts_for(origin, &statement.uuid)? {
            if let Some((e, Body::Receipt(r))) = self.decoded_for(&pos.origin, pos.seq, reader)? {
                receipts
                    .entry(pos.origin.to_string())
                    .or_default()
                    .push(proto::ReceiptView {
                        origin: pos.origin.to_string(),
                        seq: pos.seq,
                        id: e.id().to_hex(),
                        status: receipt_name(r.status).to_string(),
                        note: r.note,
                        created_at: e.created_at().cloned(),
                    });
            }
        }
        let deadline = liaison::deadline(statement);
        let now = self.now();
        let addressees = statement
            .to
            .iter()
            .map(|a| (a, false))
            .chain(statement.cc.iter().map(|a| (a, true)));
        Ok(addressees
            .map(|(a, cc)| {
                let theirs = receipts.get(&a.org).cloned().unwrap_or_default();
                let state = theirs
                    .iter()
                    .max_by_key(|r| r.seq)
                    .map_or("awaiting".to_string(), |r| r.status.clone());
                let purpose = liaison::effective_purpose(statement, a);
                let overdue = asks_for_work(purpose)
                    && state != "action_taken"
                    && deadline.is_some_and(|d| d.is_overdue(now));
                proto::RecipientState {
                    org: a.org.clone(),
                    group: a.group.clone(),
                    purpose: purpose_label(purpose),
                    cc,
                    action_state: state,
                    overdue,
                    receipts: theirs,
                }
            })
            .collect())
    }

    fn liaison_summary(
        &self,
        entry: &SignedEntry,
        statement: Option<&proto::LiaisonStatement>,
        reader: Reader,
    ) -> Result<proto::LiaisonSummary, NodeError> {
        let restricted = matches!(
            entry.audience(),
            comity_core::entry::Audience::Restricted(_)
        );
        let Some(s) = statement else {
            return Ok(proto::LiaisonSummary {
                origin: entry.origin().to_string(),
                seq: entry.seq(),
                title: "(restricted)".into(),
                restricted,
                redacted: true,
                created_at: entry.created_at().cloned(),
                ..Default::default()
            });
        };
        let recipients = self.recipient_states_for(entry.origin(), s, reader)?;
        let ours: Vec<_> = recipients
            .iter()
            .filter(|r| r.org == self.org().as_str())
            .collect();
        let (action_state, overdue) = if !ours.is_empty() {
            let worst = ours
                .iter()
                .map(|r| r.action_state.as_str())
                .min_by_key(|s| action_rank(s))
                .unwrap_or("awaiting");
            (worst.to_string(), ours.iter().any(|r| r.overdue))
        } else {
            let asked: Vec<_> = recipients.iter().filter(|r| !r.cc).collect();
            let worst = asked
                .iter()
                .map(|r| r.action_state.as_str())
                .min_by_key(|s| action_rank(s))
                .unwrap_or("awaiting");
            (worst.to_string(), recipients.iter().any(|r| r.overdue))
        };
        Ok(proto::LiaisonSummary {
            origin: entry.origin().to_string(),
            uuid: s.uuid.clone(),
            seq: entry.seq(),
            title: s.title.clone(),
            purpose: purpose_label(liaison::purpose(s)),
            to: s.to.iter().map(liaison::display_addressee).collect(),
            cc: s.cc.iter().map(liaison::display_addressee).collect(),
            deadline: liaison::deadline(s)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            overdue,
            action_state,
            restricted,
            redacted: false,
            created_at: entry.created_at().cloned(),
            from: s.from_groups.clone(),
        })
    }

    /// The inbox, outbox, what awaits our action, or what is overdue.
    pub fn list_liaisons(
        &self,
        which: LiaisonBox,
    ) -> Result<Vec<proto::LiaisonSummary>, NodeError> {
        self.list_liaisons_for(which, Reader::Node)
    }

    /// [`Node::list_liaisons`] as `reader` may see it: for the public, the
    /// statements with a public revision, at their latest public one.
    pub fn list_liaisons_for(
        &self,
        which: LiaisonBox,
        reader: Reader,
    ) -> Result<Vec<proto::LiaisonSummary>, NodeError> {
        let inbox = || -> Result<Vec<_>, NodeError> {
            self.store()
                .liaisons_addressed_to(self.org())
                .map_err(Into::into)
        };
        let outbox = || -> Result<Vec<_>, NodeError> {
            Ok(self
                .store()
                .documents(EntryKind::Liaison)?
                .into_iter()
                .filter(|d| &d.origin == self.org())
                .collect())
        };
        let docs = match which {
            LiaisonBox::Inbox | LiaisonBox::AwaitingAction => inbox()?,
            LiaisonBox::Outbox => outbox()?,
            LiaisonBox::Overdue => inbox()?.into_iter().chain(outbox()?).collect(),
            LiaisonBox::Unspecified => {
                return Err(NodeError::InvalidArgument(
                    "choose a box: inbox, outbox, awaiting action or overdue".into(),
                ));
            }
        };
        let mut list = Vec::new();
        for doc in docs {
            let (entry, statement) = match self.liaison_for(&doc.origin, &doc.uuid, reader) {
                Ok(found) => found,
                Err(NodeError::NotFound(_)) if reader == Reader::Public => continue,
                Err(e) => return Err(e),
            };
            let mut summary = self.liaison_summary(&entry, statement.as_ref(), reader)?;
            summary.uuid = doc.uuid.clone();
            let keep = match which {
                LiaisonBox::AwaitingAction => {
                    statement.as_ref().is_some_and(|s| {
                        s.to.iter().chain(&s.cc).any(|a| {
                            a.org == self.org().as_str()
                                && liaison::effective_purpose(s, a) == proto::LiaisonPurpose::Action
                        })
                    }) && summary.action_state != "action_taken"
                }
                LiaisonBox::Overdue => summary.overdue,
                _ => true,
            };
            if keep {
                list.push(summary);
            }
        }
        list.sort_by(|a, b| {
            b.created_at
                .map(|t| (t.seconds, t.nanos))
                .cmp(&a.created_at.map(|t| (t.seconds, t.nanos)))
        });
        Ok(list)
    }

    /// A statement with its thread, recipients' receipts and revisions.
    pub fn show_liaison(
        &self,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<proto::LiaisonView, NodeError> {
        self.show_liaison_for(origin, uuid, Reader::Node)
    }

    /// [`Node::show_liaison`] as `reader` may see it: for the public, a
    /// statement with a public revision, and only the replies, parent,
    /// receipts and revisions that are public too.
    pub fn show_liaison_for(
        &self,
        origin: &OrgId,
        uuid: &str,
        reader: Reader,
    ) -> Result<proto::LiaisonView, NodeError> {
        let (entry, statement) = self.liaison_for(origin, uuid, reader)?;
        let mut summary = self.liaison_summary(&entry, statement.as_ref(), reader)?;
        summary.uuid = uuid.to_string();
        let Some(statement) = statement else {
            return Ok(proto::LiaisonView {
                summary: Some(summary),
                ..Default::default()
            });
        };
        let mut replies = Vec::new();
        for reply in self.store().liaison_replies(origin, uuid)? {
            let (e, s) = match self.liaison_for(&reply.origin, &reply.uuid, reader) {
                Ok(found) => found,
                Err(NodeError::NotFound(_)) if reader == Reader::Public => continue,
                Err(e) => return Err(e),
            };
            let mut r = self.liaison_summary(&e, s.as_ref(), reader)?;
            r.uuid = reply.uuid.clone();
            replies.push(r);
        }
        let in_reply_to = match &statement.in_reply_to {
            Some(parent) => match OrgId::new(parent.origin.clone())
                .ok()
                .map(|o| self.liaison_for(&o, &parent.uuid, reader))
            {
                Some(Ok((e, s))) => {
                    let mut p = self.liaison_summary(&e, s.as_ref(), reader)?;
                    p.uuid = parent.uuid.clone();
                    Some(p)
                }
                _ => None,
            },
            None => None,
        };
        let mut revisions = Vec::new();
        for seq in self
            .store()
            .document_revisions(EntryKind::Liaison, origin, uuid)?
        {
            if let Some(e) = self.store().entry(origin, seq)?
                && (reader == Reader::Node || reader.may_read(&e))
            {
                revisions.push(proto::RevisionView {
                    revision: 0,
                    seq,
                    id: e.id().to_hex(),
                    created_at: e.created_at().cloned(),
                    ..Default::default()
                });
            }
        }
        Ok(proto::LiaisonView {
            summary: Some(summary),
            recipients: self.recipient_states_for(origin, &statement, reader)?,
            statement: Some(statement),
            replies,
            in_reply_to,
            revisions,
        })
    }

    /// A blob held here, or fetched from peers first, for the node's own
    /// people: named by some document this node holds whole.
    pub async fn attachment(&self, hash: &Hash) -> Result<(), NodeError> {
        self.attachment_for(hash, Reader::Node).await
    }

    /// A blob held here, or fetched from peers first, if `reader` may read
    /// some document naming it; otherwise [`NodeError::NotFound`], the same
    /// answer as for a blob nobody names, so that a hash tells nothing.
    pub async fn attachment_for(&self, hash: &Hash, reader: Reader) -> Result<(), NodeError> {
        let readers = crate::blobs::readers(self, hash)?;
        let allowed = match reader {
            Reader::Node => readers.is_named(),
            Reader::Public => readers.public,
        };
        if !allowed {
            return Err(NodeError::NotFound(format!(
                "no document readable here names attachment {hash}"
            )));
        }
        if self.store().blob_size(hash)?.is_some() {
            return Ok(());
        }
        crate::blobs::fetch_now(self, hash, &readers).await
    }
}
