//! Payload documents: decoding, and the rules a document must satisfy for its
//! entry kind. One named error per rule.

use crate::{EntryKind, OrgId, SignedEntry, proto};
use prost::Message;
use proto::document::Body;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("payload is not a valid protobuf Document: {0}")]
    Undecodable(String),
    #[error("document has no body")]
    Empty,
    #[error("a {kind} entry cannot carry a {body} document")]
    KindMismatch {
        kind: &'static str,
        body: &'static str,
    },
    #[error("profile id {profile:?} differs from the entry origin {origin}")]
    ProfileIdMismatch { profile: String, origin: OrgId },
    #[error("profile has no name")]
    ProfileWithoutName,
    #[error("consultation uuid {0:?} is not a UUID")]
    InvalidUuid(String),
    #[error("consultation has no title")]
    MissingTitle,
    #[error("consultation revision must start at 1")]
    ZeroRevision,
    #[error("consultation has no closing date")]
    MissingCloses,
    #[error("consultation closes before it opens")]
    ClosesBeforeOpens,
    #[error("consultation status is unspecified")]
    MissingStatus,
}

fn body_name(body: &Body) -> &'static str {
    match body {
        Body::Profile(_) => "profile",
        Body::Consultation(_) => "consultation",
    }
}

fn kind_of(body: &Body) -> EntryKind {
    match body {
        Body::Profile(_) => EntryKind::Profile,
        Body::Consultation(_) => EntryKind::Consultation,
    }
}

/// Decodes an entry's payload and validates it against the entry's kind and origin.
pub fn decode_for(entry: &SignedEntry) -> Result<Body, DocumentError> {
    let doc = proto::Document::decode(entry.payload())
        .map_err(|e| DocumentError::Undecodable(e.to_string()))?;
    let body = doc.body.ok_or(DocumentError::Empty)?;
    if kind_of(&body) != entry.kind() {
        return Err(DocumentError::KindMismatch {
            kind: entry.kind().as_str(),
            body: body_name(&body),
        });
    }
    validate(&body, entry.origin())?;
    Ok(body)
}

/// The rules for each document, independent of how it travels.
pub fn validate(body: &Body, origin: &OrgId) -> Result<(), DocumentError> {
    match body {
        Body::Profile(profile) => {
            if profile.id != origin.as_str() {
                return Err(DocumentError::ProfileIdMismatch {
                    profile: profile.id.clone(),
                    origin: origin.clone(),
                });
            }
            if profile.names.iter().all(|n| n.value.trim().is_empty()) {
                return Err(DocumentError::ProfileWithoutName);
            }
            Ok(())
        }
        Body::Consultation(c) => {
            uuid::Uuid::parse_str(&c.uuid)
                .map_err(|_| DocumentError::InvalidUuid(c.uuid.clone()))?;
            if c.revision == 0 {
                return Err(DocumentError::ZeroRevision);
            }
            if c.title.iter().all(|t| t.value.trim().is_empty()) {
                return Err(DocumentError::MissingTitle);
            }
            let closes = c.closes_at.as_ref().ok_or(DocumentError::MissingCloses)?;
            if let Some(opens) = &c.opens_at
                && (closes.seconds, closes.nanos) <= (opens.seconds, opens.nanos)
            {
                return Err(DocumentError::ClosesBeforeOpens);
            }
            if c.status == proto::ConsultationStatus::Unspecified as i32 {
                return Err(DocumentError::MissingStatus);
            }
            Ok(())
        }
    }
}

/// Encodes a document body as an entry payload, with the entry kind it belongs to.
pub fn encode(body: Body) -> (EntryKind, Vec<u8>) {
    let kind = kind_of(&body);
    (kind, proto::Document { body: Some(body) }.encode_to_vec())
}

/// A one-line, human summary of a document, for listings.
pub fn summary(body: &Body) -> String {
    fn first(texts: &[proto::Text]) -> String {
        texts
            .iter()
            .find(|t| t.lang == "en")
            .or_else(|| texts.first())
            .map(|t| t.value.clone())
            .unwrap_or_default()
    }
    match body {
        Body::Profile(p) => first(&p.names),
        Body::Consultation(c) => first(&c.title),
    }
}

/// A fresh document id: UUID v7, time-ordered.
pub fn new_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}
