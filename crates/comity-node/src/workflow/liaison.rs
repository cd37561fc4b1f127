//! Liaison statements: local drafts (approved where the node requires
//! it), posting, replies pre-filled from the original, and signed receipts.
//! Posting a reply to a statement addressed to us sends our receipt
//! "action taken" by itself, naming the reply: answering is the action.

use super::{Upload, deadline_arg, known, lang_or_default, parse_ref, text};
use crate::{accounts, error::NodeError, node::Node};
use comity_core::{
    OrgId, SignedEntry, document,
    entry::Audience,
    liaison,
    proto::{self, document::Body},
};
use comity_store::LiaisonDraft;
use prost::Message;

impl Node {
    /// Resolves a recipient as written: "org", "org/group", or a group id that a
    /// partner lists in its profile ("itu-t/sg15"), with its own purpose or none.
    fn addressee(&self, recipient: &proto::Recipient) -> Result<proto::Addressee, NodeError> {
        let target = recipient.to.trim();
        let purpose: proto::LiaisonPurpose = known(recipient.purpose, "purpose")?;
        let unknown = || {
            NodeError::InvalidArgument(format!(
                "unknown recipient {target:?}: write an organisation this node follows, org/group, or a group listed in a partner's profile"
            ))
        };
        let known = |org: &OrgId| org == self.org() || self.peer_table().contains(org);
        let (org, group) = match target.split_once('/') {
            None => (OrgId::new(target).map_err(|_| unknown())?, String::new()),
            Some((head, rest)) => match OrgId::new(head) {
                Ok(org) if known(&org) => (org, rest.to_string()),
                _ => (
                    self.org_of_group(target)?.ok_or_else(unknown)?,
                    target.to_string(),
                ),
            },
        };
        if !known(&org) {
            return Err(unknown());
        }
        let deadline = match deadline_arg(&recipient.deadline) {
            Err(NodeError::InvalidArgument(e)) => {
                return Err(NodeError::InvalidArgument(format!(
                    "recipient {target}: {e}"
                )));
            }
            other => other?,
        };
        Ok(proto::Addressee {
            org: org.to_string(),
            group,
            purpose: purpose as i32,
            deadline,
        })
    }

    /// The organisation whose profile lists `group`.
    fn org_of_group(&self, group: &str) -> Result<Option<OrgId>, NodeError> {
        if self.config().profile.groups.iter().any(|g| g == group) {
            return Ok(Some(self.org().clone()));
        }
        for org in self.follows() {
            let Some(seq) = self.store().latest_profile(&org)? else {
                continue;
            };
            let Some(entry) = self.store().entry(&org, seq)? else {
                continue;
            };
            if let Ok(Body::Profile(p)) = document::decode_for(&entry)
                && p.groups.iter().any(|g| g.id == group)
            {
                return Ok(Some(org));
            }
        }
        Ok(None)
    }

    fn own_groups(&self, from: Vec<String>) -> Result<Vec<String>, NodeError> {
        for g in &from {
            let own = self.config().profile.groups.iter().any(|x| x == g)
                || g.strip_prefix(&format!("{}/", self.org())).is_some();
            if !own {
                return Err(NodeError::InvalidArgument(format!(
                    "{g:?} is not a group of {} (list groups under [profile] in comity.toml)",
                    self.org()
                )));
            }
        }
        Ok(from)
    }

    /// Creates a local draft; nothing leaves the node.
    pub fn draft_liaison(
        &self,
        request: proto::DraftLiaisonRequest,
    ) -> Result<LiaisonDraft, NodeError> {
        let lang = lang_or_default(&request.lang);
        let in_reply_to = match &request.in_reply_to {
            Some(r) if !r.uuid.is_empty() => {
                let (origin, uuid) = parse_ref(Some(r), "in reply to")?;
                self.liaison(&origin, &uuid)?;
                Some(proto::DocumentRef {
                    origin: origin.to_string(),
                    uuid,
                })
            }
            _ => None,
        };
        let statement = proto::LiaisonStatement {
            uuid: document::new_uuid(self.now()),
            revision: 1,
            title: request.title,
            from_groups: self.own_groups(request.from)?,
            to: request
                .to
                .iter()
                .map(|t| self.addressee(t))
                .collect::<Result<_, _>>()?,
            cc: request
                .cc
                .iter()
                .map(|t| self.addressee(t))
                .collect::<Result<_, _>>()?,
            purpose: known::<proto::LiaisonPurpose>(request.purpose, "purpose")? as i32,
            deadline: deadline_arg(&request.deadline)?,
            body: text(&lang, &request.body).into_iter().next(),
            attachments: self
                .store_uploads(request.attachments.into_iter().map(Upload::from).collect())?,
            in_reply_to,
            contacts: request.contacts,
            other_identifiers: request.other_identifiers,
            state: proto::LiaisonState::Draft as i32,
        };
        self.save_draft(statement, request.restricted)
    }

    fn save_draft(
        &self,
        statement: proto::LiaisonStatement,
        restricted: bool,
    ) -> Result<LiaisonDraft, NodeError> {
        // Validate as it will be posted, so a draft that can never be posted is refused now.
        let mut posted = statement.clone();
        posted.state = proto::LiaisonState::Posted as i32;
        liaison::validate(&posted)?;
        let draft = LiaisonDraft {
            id: document::new_uuid(self.now()),
            statement: statement.encode_to_vec(),
            restricted,
            approved_by: None,
            created_at: self.now().unix_timestamp(),
            posted_seq: None,
        };
        self.store().put_draft(&draft)?;
        self.store().flush()?;
        Ok(draft)
    }

    /// A draft answering `original`: from and to swapped, purpose "in response".
    pub fn reply_liaison(
        &self,
        request: proto::ReplyLiaisonRequest,
    ) -> Result<LiaisonDraft, NodeError> {
        let (origin, uuid) = parse_ref(request.original.as_ref(), "original")?;
        let (_, original) = self.liaison(&origin, &uuid)?;
        let original = original.ok_or_else(|| {
            NodeError::PermissionDenied(format!(
                "{origin}/{uuid} is restricted to other organisations"
            ))
        })?;
        let mut reply = liaison::reply_template(&origin, &original, self.org(), self.now());
        let lang = lang_or_default(&request.lang);
        reply.body = text(&lang, &request.body).into_iter().next();
        if !request.title.trim().is_empty() {
            reply.title = request.title;
        }
        if !request.from.is_empty() {
            reply.from_groups = self.own_groups(request.from)?;
        }
        reply.attachments =
            self.store_uploads(request.attachments.into_iter().map(Upload::from).collect())?;
        self.save_draft(reply, request.restricted)
    }

    fn draft(&self, id: &str) -> Result<LiaisonDraft, NodeError> {
        self.store().draft(id)?.ok_or_else(|| {
            NodeError::NotFound(format!(
                "no draft {id} on this node (see comity liaison drafts)"
            ))
        })
    }

    /// Whether `account` may approve and post draft `id`: see
    /// [`accounts::Account::may_send`]; checked against the draft's sending
    /// groups as stored, before anything changes.
    pub fn check_sender(&self, id: &str, account: &accounts::Account) -> Result<(), NodeError> {
        let draft = self.draft(id)?;
        let statement = proto::LiaisonStatement::decode(draft.statement.as_slice())
            .map_err(|e| NodeError::Internal(format!("stored draft {id} is corrupt: {e}")))?;
        account.may_send(self.org().as_str(), &statement.from_groups)
    }

    /// Where `by` (from the local API) names an account of this node, that
    /// account's rights apply ([`Self::check_sender`]); any other name is
    /// only recorded, as before accounts existed.
    pub fn check_sender_named(&self, id: &str, by: &str) -> Result<(), NodeError> {
        match accounts::user(&**self.store(), by.trim())? {
            Some(account) => self.check_sender(id, &account),
            None => Ok(()),
        }
    }

    pub fn approve_liaison(&self, id: &str, by: &str) -> Result<LiaisonDraft, NodeError> {
        let mut draft = self.draft(id)?;
        if draft.posted_seq.is_some() {
            return Err(NodeError::FailedPrecondition(format!(
                "draft {id} is already posted"
            )));
        }
        draft.approved_by = Some(if by.trim().is_empty() {
            "approver".into()
        } else {
            by.trim().into()
        });
        self.store().put_draft(&draft)?;
        self.store().flush()?;
        Ok(draft)
    }

    /// Appends the statement to the log: from now on partners see it.
    pub async fn post_liaison(&self, id: &str) -> Result<SignedEntry, NodeError> {
        let mut draft = self.draft(id)?;
        if let Some(seq) = draft.posted_seq {
            return Err(NodeError::FailedPrecondition(format!(
                "draft {id} is already posted as seq {seq}"
            )));
        }
        if self.config().workflow.liaison_approval && draft.approved_by.is_none() {
            return Err(NodeError::FailedPrecondition(format!(
                "draft {id} needs approval before it is posted: comity liaison approve {id}"
            )));
        }
        let mut statement = proto::LiaisonStatement::decode(draft.statement.as_slice())
            .map_err(|e| NodeError::Internal(format!("stored draft {id} is corrupt: {e}")))?;
        statement.state = proto::LiaisonState::Posted as i32;
        let audience = if draft.restricted {
            let mut orgs: Vec<OrgId> = Vec::new();
            for a in statement.to.iter().chain(&statement.cc) {
                let org = OrgId::new(a.org.clone())
                    .map_err(|e| NodeError::InvalidArgument(e.to_string()))?;
                if !orgs.contains(&org) {
                    orgs.push(org);
                }
            }
            Audience::Restricted(orgs)
        } else {
            Audience::Public
        };
        let answers = statement.in_reply_to.clone();
        let reply = proto::DocumentRef {
            origin: self.org().to_string(),
            uuid: statement.uuid.clone(),
        };
        let entry = self.publish_to(Body::Liaison(statement), audience).await?;
        draft.posted_seq = Some(entry.seq());
        self.store().put_draft(&draft)?;
        self.store().flush()?;
        if let Some(original) = answers {
            self.action_taken_by_reply(&original, reply).await;
        }
        Ok(entry)
    }

    /// A reply to a statement addressed to us has been posted: that is the
    /// action taken, so our receipt says so, with the reply linked. The
    /// reply is posted whatever happens here; when the receipt cannot be
    /// sent (the original no longer held, say), it is logged and can be
    /// sent by hand (`comity liaison ack`).
    async fn action_taken_by_reply(
        &self,
        original: &proto::DocumentRef,
        reply: proto::DocumentRef,
    ) {
        let addressed = OrgId::new(original.origin.clone())
            .ok()
            .and_then(|origin| self.liaison(&origin, &original.uuid).ok())
            .and_then(|(_, statement)| statement)
            .is_some_and(|s| liaison::is_addressed_to(&s, self.org()));
        if !addressed {
            return;
        }
        let request = proto::AcknowledgeRequest {
            liaison: Some(original.clone()),
            status: proto::ReceiptStatus::ActionTaken as i32,
            note: String::new(),
        };
        if let Err(e) = self.publish_receipt(request, Some(reply)).await {
            tracing::warn!(
                original = %format!("{}/{}", original.origin, original.uuid),
                error = %e,
                "the reply is posted, but its action-taken receipt could not be sent"
            );
        }
    }

    /// Publishes a signed receipt for a statement addressed to us.
    pub async fn acknowledge(
        &self,
        request: proto::AcknowledgeRequest,
    ) -> Result<SignedEntry, NodeError> {
        self.publish_receipt(request, None).await
    }

    /// [`Node::acknowledge`], naming the reply that took the action, if any.
    async fn publish_receipt(
        &self,
        request: proto::AcknowledgeRequest,
        reply: Option<proto::DocumentRef>,
    ) -> Result<SignedEntry, NodeError> {
        let (origin, uuid) = parse_ref(request.liaison.as_ref(), "liaison")?;
        let (entry, statement) = self.liaison(&origin, &uuid)?;
        let statement = statement.ok_or_else(|| {
            NodeError::PermissionDenied(format!(
                "{origin}/{uuid} is restricted to other organisations"
            ))
        })?;
        if !liaison::is_addressed_to(&statement, self.org()) {
            return Err(NodeError::FailedPrecondition(format!(
                "{origin}/{uuid} is not addressed to {}; only recipients acknowledge",
                self.org()
            )));
        }
        let receipt = proto::Receipt {
            entry: Some(proto::EntryRef {
                origin: origin.to_string(),
                seq: entry.seq(),
                id: entry.id().0.to_vec(),
            }),
            liaison: Some(proto::DocumentRef {
                origin: origin.to_string(),
                uuid,
            }),
            status: known::<proto::ReceiptStatus>(request.status, "receipt status")? as i32,
            note: request.note,
            reply,
        };
        // A receipt for a restricted statement is seen only by its sender.
        let audience = match entry.audience() {
            Audience::Public => Audience::Public,
            Audience::Restricted(_) => Audience::Restricted(vec![origin]),
        };
        self.publish_to(Body::Receipt(receipt), audience).await
    }
}
