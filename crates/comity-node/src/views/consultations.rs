//! Consultations as people see them: where each stands now (against the
//! node's clock), its revisions and responses, who took part, by
//! stakeholder group and region, and which responses came late.

use super::{Reader, key};
use crate::{error::NodeError, node::Node, words};
use comity_core::{
    OrgId, SignedEntry, dates, document,
    entry::EntryKind,
    proto::{self, ConsultationPhase, document::Body},
};
use std::collections::BTreeMap;

impl Node {
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

    /// The consultation that the response at `origin`/`seq` answers, if
    /// `reader` may read that response: where a search hit for a response
    /// leads, since a response has no page of its own.
    pub fn consultation_answered(
        &self,
        origin: &OrgId,
        seq: u64,
        reader: Reader,
    ) -> Result<Option<proto::DocumentRef>, NodeError> {
        Ok(match self.decoded_for(origin, seq, reader)? {
            Some((_, Body::Response(r))) => r.consultation,
            _ => None,
        })
    }

    /// Where a consultation stands now.
    pub fn consultation_phase(&self, c: &proto::Consultation) -> ConsultationPhase {
        use ConsultationPhase as P;
        use proto::ConsultationStatus as S;
        let now = dates::to_timestamp(self.now());
        let now = (now.seconds, now.nanos);
        match S::try_from(c.status).unwrap_or(S::Unspecified) {
            S::Draft => P::Draft,
            S::Withdrawn => P::Withdrawn,
            S::ReportPublished => P::ReportPublished,
            S::Closed => P::Closed,
            S::Open | S::Unspecified => {
                if c.opens_at.is_some() && now < key(c.opens_at.as_ref()) {
                    P::Upcoming
                } else if now <= key(c.closes_at.as_ref()) {
                    P::Open
                } else if c.reply_closes_at.is_some() && now <= key(c.reply_closes_at.as_ref()) {
                    P::ReplyPeriod
                } else {
                    P::Closed
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
            phase: self.consultation_phase(c) as i32,
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
            let phase = summary.phase();
            let keep = (!filter.open
                || matches!(
                    phase,
                    ConsultationPhase::Open | ConsultationPhase::ReplyPeriod
                ))
                && (filter.topic.is_empty() || c.topics.iter().any(|t| t == &filter.topic))
                && (filter.lang.is_empty() || c.title.iter().any(|t| t.lang == filter.lang))
                && (filter.phase() == ConsultationPhase::Unspecified || phase == filter.phase());
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
                    phase: self.consultation_phase(&c) as i32,
                });
            }
        }
        let mut responses = Vec::new();
        let mut by_group: BTreeMap<String, u32> = BTreeMap::new();
        let mut by_region: BTreeMap<String, u32> = BTreeMap::new();
        for (e, r) in self.responses_for(origin, uuid, reader)? {
            let profile = self.profile_for(e.origin(), reader)?.unwrap_or_default();
            let group = profile.stakeholder_group();
            let region = if profile.region.is_empty() {
                "unspecified".to_string()
            } else {
                profile.region.clone()
            };
            *by_group
                .entry(words::stakeholder_group(group).to_string())
                .or_default() += 1;
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
                stakeholder_group: group as i32,
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
}
