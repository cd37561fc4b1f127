//! Liaison statements as people see them: threads, each recipient's
//! receipts and action state, the inbox and outbox, what awaits our action
//! and what is overdue.

use super::Reader;
use crate::{error::NodeError, node::Node, words};
use comity_core::{
    OrgId, SignedEntry,
    entry::EntryKind,
    liaison,
    proto::{self, ActionState, document::Body, list_liaisons_request::Box as LiaisonBox},
};
use std::collections::BTreeMap;

/// How far along a recipient is; the order ranks states for "the worst of".
fn action_rank(state: ActionState) -> u8 {
    match state {
        ActionState::Awaiting | ActionState::Unspecified => 0,
        ActionState::Received => 1,
        ActionState::AcceptedForAction => 2,
        ActionState::ReplyComing => 3,
        ActionState::ActionTaken => 4,
    }
}

use liaison::asks_for_work;

impl Node {
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
                        status: r.status,
                        note: r.note,
                        created_at: e.created_at().cloned(),
                        // Only a reply of the receipt's own sender is its to name.
                        reply: r.reply.filter(|reply| reply.origin == pos.origin.as_str()),
                    });
            }
        }
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
                    .map_or(ActionState::Awaiting, |r| {
                        words::action_state_of(r.status())
                    });
                let purpose = liaison::effective_purpose(statement, a);
                // Its own deadline, else the statement's; none unless asked to act.
                let deadline = liaison::effective_deadline(statement, a);
                let overdue = state != ActionState::ActionTaken
                    && deadline.is_some_and(|d| d.is_overdue(now));
                proto::RecipientState {
                    org: a.org.clone(),
                    group: a.group.clone(),
                    purpose: purpose as i32,
                    cc,
                    action_state: state as i32,
                    overdue,
                    receipts: theirs,
                    deadline: deadline.map(|d| d.to_string()).unwrap_or_default(),
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
        // In our inbox, what is asked of us: our own purpose and deadline
        // (ITU's per-recipient "for action" by a date, "for information");
        // otherwise the statement's, and the earliest recipient's deadline.
        let (purpose, deadline) = if ours.is_empty() {
            (liaison::purpose(s), liaison::earliest_deadline(s))
        } else {
            let asked = ours
                .iter()
                .find(|r| asks_for_work(r.purpose()))
                .or(ours.first());
            let deadline = ours
                .iter()
                .filter_map(|r| {
                    s.to.iter()
                        .chain(&s.cc)
                        .find(|a| a.org == r.org && a.group == r.group)
                        .and_then(|a| liaison::effective_deadline(s, a))
                })
                .min_by_key(comity_core::dates::Deadline::ends_at);
            (asked.map_or(liaison::purpose(s), |r| r.purpose()), deadline)
        };
        let (action_state, overdue) = if !ours.is_empty() {
            let worst = ours
                .iter()
                .map(|r| r.action_state())
                .min_by_key(|s| action_rank(*s))
                .unwrap_or(ActionState::Awaiting);
            (worst, ours.iter().any(|r| r.overdue))
        } else {
            let asked: Vec<_> = recipients.iter().filter(|r| !r.cc).collect();
            let worst = asked
                .iter()
                .map(|r| r.action_state())
                .min_by_key(|s| action_rank(*s))
                .unwrap_or(ActionState::Awaiting);
            (worst, recipients.iter().any(|r| r.overdue))
        };
        Ok(proto::LiaisonSummary {
            origin: entry.origin().to_string(),
            uuid: s.uuid.clone(),
            seq: entry.seq(),
            title: s.title.clone(),
            purpose: purpose as i32,
            to: s.to.iter().map(liaison::display_addressee).collect(),
            cc: s.cc.iter().map(liaison::display_addressee).collect(),
            deadline: deadline.map(|d| d.to_string()).unwrap_or_default(),
            overdue,
            action_state: action_state as i32,
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
                    }) && summary.action_state() != ActionState::ActionTaken
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
}
