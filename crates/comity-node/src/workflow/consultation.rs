//! Consultations: publish, revise (extend, shorten, close, withdraw,
//! publish the report) and respond.

use super::{Upload, date_arg, known, lang_or_default, merge_texts, parse_ref, text};
use crate::{error::NodeError, node::Node};
use comity_core::{
    SignedEntry, dates, document,
    entry::EntryKind,
    proto::{self, document::Body},
};

impl Node {
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
        let status: proto::ConsultationStatus = known(request.status, "status")?;
        if status != proto::ConsultationStatus::Unspecified {
            c.status = status as i32;
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
            if status == proto::ConsultationStatus::Unspecified {
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
}
