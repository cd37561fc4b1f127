//! What people do with documents: publish and revise consultations, respond,
//! draft, approve, post and answer liaison statements, acknowledge them,
//! rotate the key. Each action that others should see becomes one signed
//! entry in the own log; drafts and approvals stay on this node.

use crate::{error::NodeError, node::Node};
use comity_core::{
    Hash, OrgId, SignedEntry, dates, document,
    entry::{Audience, EntryKind},
    key_rotation, liaison,
    proto::{self, document::Body},
};
use comity_store::LiaisonDraft;
use prost::Message;

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

fn text(lang: &str, value: &str) -> Vec<proto::Text> {
    if value.trim().is_empty() {
        Vec::new()
    } else {
        vec![proto::Text {
            lang: lang.to_string(),
            value: value.to_string(),
        }]
    }
}

fn lang_or_default(lang: &str) -> String {
    if lang.trim().is_empty() {
        "en".into()
    } else {
        lang.trim().to_string()
    }
}

/// Merges texts by language: `extra` replaces or adds to `base`.
fn merge_texts(mut base: Vec<proto::Text>, extra: Vec<proto::Text>) -> Vec<proto::Text> {
    for t in extra {
        match base.iter_mut().find(|b| b.lang == t.lang) {
            Some(b) => b.value = t.value,
            None => base.push(t),
        }
    }
    base.retain(|t| !t.value.trim().is_empty());
    base
}

fn date_arg(
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

fn status_arg(text: &str) -> Result<proto::ConsultationStatus, NodeError> {
    use proto::ConsultationStatus as S;
    Ok(
        match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "open" => S::Open,
            "closed" => S::Closed,
            "withdrawn" => S::Withdrawn,
            "report_published" | "report" => S::ReportPublished,
            "draft" => S::Draft,
            other => {
                return Err(NodeError::InvalidArgument(format!(
                    "status {other:?}: use open, closed, withdrawn or report_published"
                )));
            }
        },
    )
}

/// A purpose as people write it.
pub fn purpose_arg(text: &str) -> Result<proto::LiaisonPurpose, NodeError> {
    use proto::LiaisonPurpose as P;
    Ok(
        match text
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "action" | "for_action" => P::Action,
            "comment" | "for_comment" => P::Comment,
            "information" | "info" | "for_information" => P::Information,
            "in_response" | "response" => P::InResponse,
            "" => P::Unspecified,
            other => {
                return Err(NodeError::InvalidArgument(format!(
                    "purpose {other:?}: use action, comment, information or in_response"
                )));
            }
        },
    )
}

/// A receipt status as people write it.
pub fn receipt_arg(text: &str) -> Result<proto::ReceiptStatus, NodeError> {
    use proto::ReceiptStatus as R;
    Ok(
        match text
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "received" => R::Received,
            "accepted_for_action" | "accepted" => R::AcceptedForAction,
            "action_taken" => R::ActionTaken,
            "reply_coming" => R::ReplyComing,
            other => {
                return Err(NodeError::InvalidArgument(format!(
                    "receipt {other:?}: use received, accepted_for_action, action_taken or reply_coming"
                )));
            }
        },
    )
}

/// A deadline as written: "2027-02-28" or "2027-02-28 +02:00".
fn deadline_arg(text: &str) -> Result<Option<proto::Deadline>, NodeError> {
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

    fn consultation(
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

    pub async fn publish_consultation(
        &self,
        request: proto::PublishConsultationRequest,
    ) -> Result<SignedEntry, NodeError> {
        let lang = lang_or_default(&request.lang);
        let questions = request
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| proto::GuidingQuestion {
                number: i as u32 + 1,
                text: text(&lang, q),
            })
            .collect();
        let attachments =
            self.store_uploads(request.attachments.into_iter().map(Upload::from).collect())?;
        let consultation = proto::Consultation {
            uuid: document::new_uuid(self.now()),
            revision: 1,
            title: merge_texts(text(&lang, &request.title), request.titles),
            summary: merge_texts(text(&lang, &request.summary), request.summaries),
            opens_at: date_arg(&request.opens, "opens", false)?,
            closes_at: date_arg(&request.closes, "closes", true)?,
            status: proto::ConsultationStatus::Open as i32,
            topics: request.topics,
            body: text(&lang, &request.body),
            link: request.link,
            questions,
            reply_closes_at: date_arg(&request.reply_closes, "reply closes", true)?,
            eligibility: request.eligibility,
            attachments,
            contact: request.contact,
            report: None,
        };
        self.publish(Body::Consultation(consultation)).await
    }

    pub async fn revise_consultation(
        &self,
        request: proto::ReviseConsultationRequest,
    ) -> Result<SignedEntry, NodeError> {
        let own = self.org().clone();
        let (_, mut c) = self.consultation(&own, &request.uuid)?;
        c.revision += 1;
        if let Some(closes) = date_arg(&request.closes, "closes", true)? {
            c.closes_at = Some(closes);
        }
        if let Some(replies) = date_arg(&request.reply_closes, "reply closes", true)? {
            c.reply_closes_at = Some(replies);
        }
        c.title = merge_texts(c.title, request.titles);
        c.summary = merge_texts(c.summary, request.summaries);
        if !request.status.is_empty() {
            c.status = status_arg(&request.status)? as i32;
        }
        if !request.report.trim().is_empty() || !request.report_attachments.is_empty() {
            let lang = lang_or_default(&request.lang);
            let attachments = self.store_uploads(
                request
                    .report_attachments
                    .into_iter()
                    .map(Upload::from)
                    .collect(),
            )?;
            c.report = Some(proto::ConsultationReport {
                summary: text(&lang, &request.report),
                attachments,
                published_at: Some(dates::to_timestamp(self.now())),
            });
            if request.status.is_empty() {
                c.status = proto::ConsultationStatus::ReportPublished as i32;
            }
        }
        self.publish(Body::Consultation(c)).await
    }

    pub async fn respond(&self, request: proto::RespondRequest) -> Result<SignedEntry, NodeError> {
        let (origin, uuid) = parse_ref(request.consultation.as_ref(), "consultation")?;
        let (_, consultation) = self.consultation(&origin, &uuid)?;
        self.check_eligible(&consultation)?;
        let replies_to = match &request.reply_to {
            Some(r) if !r.uuid.is_empty() => {
                let (r_origin, r_uuid) = parse_ref(Some(r), "reply to")?;
                if self
                    .store()
                    .document(EntryKind::Response, &r_origin, &r_uuid)?
                    .is_none()
                {
                    return Err(NodeError::NotFound(format!(
                        "no response {r_origin}/{r_uuid} is held here"
                    )));
                }
                Some(proto::DocumentRef {
                    origin: r_origin.to_string(),
                    uuid: r_uuid,
                })
            }
            _ => None,
        };
        if !request.on_behalf_of.is_empty()
            && !self.config().profile.groups.contains(&request.on_behalf_of)
        {
            return Err(NodeError::InvalidArgument(format!(
                "{} has no group {:?} (groups are listed in the profile section of comity.toml)",
                self.org(),
                request.on_behalf_of
            )));
        }
        let lang = lang_or_default(&request.lang);
        let attachments =
            self.store_uploads(request.attachments.into_iter().map(Upload::from).collect())?;
        let response = proto::ConsultationResponse {
            uuid: document::new_uuid(self.now()),
            consultation: Some(proto::DocumentRef {
                origin: origin.to_string(),
                uuid,
            }),
            text: text(&lang, &request.text),
            attachments,
            on_behalf_of: request.on_behalf_of,
            replies_to,
        };
        self.publish(Body::Response(response)).await
    }

    fn check_eligible(&self, c: &proto::Consultation) -> Result<(), NodeError> {
        use proto::eligibility::Scope;
        let Some(eligibility) = &c.eligibility else {
            return Ok(());
        };
        let allowed = match Scope::try_from(eligibility.scope).unwrap_or(Scope::Unspecified) {
            Scope::Unspecified | Scope::Anyone => true,
            Scope::MemberStates => {
                self.profile().stakeholder_group == proto::StakeholderGroup::Government as i32
            }
            Scope::Listed => eligibility.orgs.iter().any(|o| o == self.org().as_str()),
        };
        if allowed {
            Ok(())
        } else {
            Err(NodeError::PermissionDenied(format!(
                "{} is not among those invited to respond to this consultation",
                self.org()
            )))
        }
    }

    /// Resolves a recipient as written: "org", "org/group", or a group id that a
    /// partner lists in its profile ("itu-t/sg15"); "=purpose" may follow.
    fn addressee(&self, written: &str) -> Result<proto::Addressee, NodeError> {
        let (target, purpose) = match written.split_once('=') {
            Some((t, p)) => (t.trim(), purpose_arg(p)?),
            None => (written.trim(), proto::LiaisonPurpose::Unspecified),
        };
        let unknown = || {
            NodeError::InvalidArgument(format!(
                "unknown recipient {target:?}: write an organisation this node follows, org/group, or a group listed in a partner's profile"
            ))
        };
        let known = |org: &OrgId| org == self.org() || self.peers.contains(org);
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
        Ok(proto::Addressee {
            org: org.to_string(),
            group,
            purpose: purpose as i32,
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
            purpose: purpose_arg(&request.purpose)? as i32,
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
        let entry = self.publish_to(Body::Liaison(statement), audience).await?;
        draft.posted_seq = Some(entry.seq());
        self.store().put_draft(&draft)?;
        self.store().flush()?;
        Ok(entry)
    }

    /// Publishes a signed receipt for a statement addressed to us.
    pub async fn acknowledge(
        &self,
        request: proto::AcknowledgeRequest,
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
            status: receipt_arg(&request.status)? as i32,
            note: request.note,
        };
        // A receipt for a restricted statement is seen only by its sender.
        let audience = match entry.audience() {
            Audience::Public => Audience::Public,
            Audience::Restricted(_) => Audience::Restricted(vec![origin]),
        };
        self.publish_to(Body::Receipt(receipt), audience).await
    }

    /// Rotates the identity key: a KeyRotation entry signed by the old key
    /// (carrying the new key's proof of possession), then the new key is used
    /// for entries and TLS. The new key is written to disk before the entry is
    /// published, and made current after, so a crash in between is recovered
    /// at start (see [`crate::datadir::DataDir::load_key_recovering`]).
    ///
    /// The node switches keys under the own-log lock, right after appending
    /// the rotation (`Node::append_own`), so no publish running meanwhile can
    /// sign the entry after it with the old key. Rotations are serialised:
    /// one staged key at a time.
    pub async fn rotate_key(&self) -> Result<SignedEntry, NodeError> {
        let _rotating = self.rotation_lock().await;
        let new_key = comity_core::IdentityKey::generate();
        if let Some(keys) = self.key_files() {
            keys.stage(&new_key)?;
        }
        let org = self.org().clone();
        let proven = new_key.clone();
        let entry = self
            .append_own(
                // The proof names the key that signs the rotation, read
                // under the own-log lock.
                move |old| Body::KeyRotation(key_rotation::new(&org, old, &proven)),
                Audience::Public,
                Some(new_key),
            )
            .await?;
        if let Some(keys) = self.key_files() {
            keys.commit()?;
        }
        tracing::info!(seq = entry.seq(), key = %self.public_key(), "identity key rotated");
        Ok(entry)
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
