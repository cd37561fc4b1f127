//! Payload documents: decoding, and the rules a document must satisfy for its
//! entry kind. One named error per rule, each saying what to fix.
//!
//! The rules for liaison statements and key rotations live in [`crate::liaison`]
//! and [`crate::key_rotation`], beside the helpers the node needs for them;
//! the rules all documents share (language tags, attachments, references,
//! groups, contacts) and the error they all return are in [`crate::rules`].
//! This module holds the rules for profiles, consultations, responses and
//! receipts, and sends each body to its rules.

use crate::rules::{
    check_attachments, check_contact, check_group, check_ref, check_texts, check_uuid,
};
use crate::{EntryKind, OrgId, SignedEntry, entry::Audience, proto};
use prost::Message;
use proto::document::Body;
use std::collections::HashSet;

pub use crate::rules::{DocumentError, check_language_tag, new_uuid};

fn body_name(body: &Body) -> &'static str {
    match body {
        Body::Profile(_) => "profile",
        Body::Consultation(_) => "consultation",
        Body::Response(_) => "response",
        Body::Liaison(_) => "liaison",
        Body::Receipt(_) => "receipt",
        Body::KeyRotation(_) => "key_rotation",
    }
}

/// The entry kind that carries `body`.
pub fn kind_of(body: &Body) -> EntryKind {
    match body {
        Body::Profile(_) => EntryKind::Profile,
        Body::Consultation(_) => EntryKind::Consultation,
        Body::Response(_) => EntryKind::Response,
        Body::Liaison(_) => EntryKind::Liaison,
        Body::Receipt(_) => EntryKind::Receipt,
        Body::KeyRotation(_) => EntryKind::KeyRotation,
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
    if entry.kind() == EntryKind::KeyRotation && entry.audience() != &Audience::Public {
        return Err(DocumentError::RestrictedKeyRotation);
    }
    validate(&body, entry.origin())?;
    Ok(body)
}

/// The rules for each document, independent of how it travels.
///
/// A key rotation's proof needs the old key and is checked by
/// [`crate::key_rotation::verify`]; here only its shape is.
pub fn validate(body: &Body, origin: &OrgId) -> Result<(), DocumentError> {
    let count = attachment_count(body);
    if count > MAX_ATTACHMENTS {
        return Err(DocumentError::TooManyAttachments {
            count,
            max: MAX_ATTACHMENTS,
        });
    }
    match body {
        Body::Profile(p) => validate_profile(p, origin),
        Body::Consultation(c) => validate_consultation(c),
        Body::Response(r) => validate_response(r),
        Body::Liaison(l) => crate::liaison::validate(l),
        Body::Receipt(r) => validate_receipt(r),
        Body::KeyRotation(k) => crate::key_rotation::validate_shape(k).map(drop),
    }
}

fn validate_profile(p: &proto::OrgProfile, origin: &OrgId) -> Result<(), DocumentError> {
    if p.id != origin.as_str() {
        return Err(DocumentError::ProfileIdMismatch {
            profile: p.id.clone(),
            origin: origin.clone(),
        });
    }
    if p.names.iter().all(|n| n.value.trim().is_empty()) {
        return Err(DocumentError::ProfileWithoutName);
    }
    check_texts(&p.names)?;
    let mut languages = HashSet::new();
    for lang in &p.languages {
        check_language_tag(lang)?;
        if !languages.insert(lang.to_ascii_lowercase()) {
            return Err(DocumentError::DuplicateLanguage(lang.clone()));
        }
    }
    let alpha2 = p.country.len() == 2 && p.country.bytes().all(|b| b.is_ascii_uppercase());
    if !p.country.is_empty() && !alpha2 {
        return Err(DocumentError::InvalidCountry(p.country.clone()));
    }
    let mut groups = HashSet::new();
    for g in &p.groups {
        check_group(&g.id)?;
        if !groups.insert(g.id.as_str()) {
            return Err(DocumentError::DuplicateGroup(g.id.clone()));
        }
        check_texts(&g.names)?;
    }
    for c in &p.contacts {
        check_contact(c, None)?;
    }
    Ok(())
}

fn validate_consultation(c: &proto::Consultation) -> Result<(), DocumentError> {
    check_uuid(&c.uuid)?;
    if c.revision == 0 {
        return Err(DocumentError::ZeroRevision);
    }
    if c.title.iter().all(|t| t.value.trim().is_empty()) {
        return Err(DocumentError::MissingTitle);
    }
    check_texts(&c.title)?;
    check_texts(&c.summary)?;
    check_texts(&c.body)?;
    let closes = c.closes_at.as_ref().ok_or(DocumentError::MissingCloses)?;
    let instants = [
        ("opens_at", c.opens_at.as_ref()),
        ("closes_at", Some(closes)),
        ("reply_closes_at", c.reply_closes_at.as_ref()),
        (
            "report.published_at",
            c.report.as_ref().and_then(|r| r.published_at.as_ref()),
        ),
    ];
    for (field, t) in instants {
        if t.is_some_and(|t| !crate::dates::in_range(t)) {
            return Err(DocumentError::TimeOutOfRange { field });
        }
    }
    if let Some(opens) = &c.opens_at
        && key(closes) <= key(opens)
    {
        return Err(DocumentError::ClosesBeforeOpens);
    }
    if let Some(replies) = &c.reply_closes_at
        && key(replies) <= key(closes)
    {
        return Err(DocumentError::ReplyClosesBeforeCloses);
    }
    let status = proto::ConsultationStatus::try_from(c.status)
        .unwrap_or(proto::ConsultationStatus::Unspecified);
    if status == proto::ConsultationStatus::Unspecified {
        return Err(DocumentError::MissingStatus);
    }
    if !c.link.is_empty() {
        check_link(&c.link)?;
    }
    for (i, q) in c.questions.iter().enumerate() {
        let expected = u32::try_from(i).map_or(u32::MAX, |i| i.saturating_add(1));
        if q.number != expected {
            return Err(DocumentError::QuestionNumbering {
                expected,
                got: q.number,
            });
        }
        if q.text.iter().all(|t| t.value.trim().is_empty()) {
            return Err(DocumentError::EmptyQuestion(q.number));
        }
        check_texts(&q.text)?;
    }
    if let Some(e) = &c.eligibility {
        use proto::eligibility::Scope;
        let listed = e.scope == Scope::Listed as i32;
        if listed && e.orgs.is_empty() {
            return Err(DocumentError::EligibleOrgsRequired);
        }
        if !listed && !e.orgs.is_empty() {
            return Err(DocumentError::EligibleOrgsUnused);
        }
        for org in &e.orgs {
            OrgId::new(org.clone()).map_err(|_| DocumentError::InvalidEligibleOrg(org.clone()))?;
        }
    }
    check_attachments(&c.attachments)?;
    if let Some(contact) = &c.contact {
        check_contact(contact, None)?;
    }
    match &c.report {
        None if status == proto::ConsultationStatus::ReportPublished => {
            return Err(DocumentError::ReportRequired);
        }
        None => {}
        Some(report) => {
            if report.summary.iter().all(|t| t.value.trim().is_empty())
                && report.attachments.is_empty()
            {
                return Err(DocumentError::EmptyReport);
            }
            check_texts(&report.summary)?;
            check_attachments(&report.attachments)?;
        }
    }
    Ok(())
}

fn validate_response(r: &proto::ConsultationResponse) -> Result<(), DocumentError> {
    check_uuid(&r.uuid)?;
    let consultation = r
        .consultation
        .as_ref()
        .filter(|c| !c.origin.is_empty() || !c.uuid.is_empty())
        .ok_or(DocumentError::MissingConsultationRef)?;
    check_ref(consultation)?;
    if r.text.iter().all(|t| t.value.trim().is_empty()) && r.attachments.is_empty() {
        return Err(DocumentError::BodyOrAttachmentRequired);
    }
    check_texts(&r.text)?;
    check_attachments(&r.attachments)?;
    if !r.on_behalf_of.is_empty() {
        check_group(&r.on_behalf_of)?;
    }
    if let Some(replies_to) = &r.replies_to {
        check_ref(replies_to)?;
        if replies_to.uuid == r.uuid {
            return Err(DocumentError::InvalidReference(format!(
                "{}/{}: a response cannot reply to itself",
                replies_to.origin, replies_to.uuid
            )));
        }
    }
    Ok(())
}

fn validate_receipt(r: &proto::Receipt) -> Result<(), DocumentError> {
    let entry = r.entry.as_ref().ok_or(DocumentError::MissingEntryRef)?;
    OrgId::new(entry.origin.clone()).map_err(|_| {
        DocumentError::InvalidEntryRef(format!(
            "origin {:?} is not an organisation id",
            entry.origin
        ))
    })?;
    if entry.seq == 0 {
        return Err(DocumentError::InvalidEntryRef(
            "seq must be 1 or more".into(),
        ));
    }
    if entry.id.len() != 32 {
        return Err(DocumentError::InvalidEntryRef(format!(
            "id must be the 32-byte entry id, got {} bytes",
            entry.id.len()
        )));
    }
    let liaison = r.liaison.as_ref().ok_or(DocumentError::MissingLiaisonRef)?;
    check_ref(liaison)?;
    if liaison.origin != entry.origin {
        return Err(DocumentError::ReceiptOriginMismatch {
            entry: entry.origin.clone(),
            liaison: liaison.origin.clone(),
        });
    }
    if r.status == proto::ReceiptStatus::Unspecified as i32
        || proto::ReceiptStatus::try_from(r.status).is_err()
    {
        return Err(DocumentError::MissingReceiptStatus);
    }
    if let Some(reply) = &r.reply {
        check_ref(reply)?;
    }
    Ok(())
}

// --- shared rules, used by the other document modules ---

fn key(t: &prost_types::Timestamp) -> (i64, i32) {
    (t.seconds, t.nanos)
}

fn check_link(link: &str) -> Result<(), DocumentError> {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !link.contains(char::is_whitespace) => Ok(()),
        _ => Err(DocumentError::InvalidLink(link.to_owned())),
    }
}

/// Encodes a document body as an entry payload, with the entry kind it belongs to.
pub fn encode(body: Body) -> (EntryKind, Vec<u8>) {
    let kind = kind_of(&body);
    (kind, proto::Document { body: Some(body) }.encode_to_vec())
}

/// The English text, else the first: for listings.
pub fn first_text(texts: &[proto::Text]) -> String {
    texts
        .iter()
        .find(|t| t.lang == "en" && !t.value.trim().is_empty())
        .or_else(|| texts.iter().find(|t| !t.value.trim().is_empty()))
        .map(|t| t.value.clone())
        .unwrap_or_default()
}

/// A one-line, human summary of a document, for listings.
pub fn summary(body: &Body) -> String {
    match body {
        Body::Profile(p) => first_text(&p.names),
        Body::Consultation(c) => first_text(&c.title),
        Body::Response(r) => {
            let text = first_text(&r.text);
            let line = text.lines().next().unwrap_or_default();
            match &r.consultation {
                Some(c) => format!("response to {}/{}: {line}", c.origin, c.uuid),
                None => line.to_owned(),
            }
        }
        Body::Liaison(l) => l.title.clone(),
        Body::Receipt(r) => {
            let status = proto::ReceiptStatus::try_from(r.status)
                .map(|s| s.as_str_name())
                .unwrap_or("RECEIPT_STATUS_UNSPECIFIED");
            let status = status
                .trim_start_matches("RECEIPT_STATUS_")
                .to_ascii_lowercase()
                .replace('_', " ");
            match &r.liaison {
                Some(l) => format!("{status}: {}/{}", l.origin, l.uuid),
                None => status,
            }
        }
        Body::KeyRotation(k) => match crate::PublicKey::from_bytes(&k.new_key) {
            Ok(key) => format!("key rotated to {key}"),
            Err(_) => "key rotation".to_owned(),
        },
    }
}

/// Whether a response is late: created after the consultation's close, or,
/// for a reply to another response, after the reply period's close (the
/// comment period's close when there is no reply period). ICANN: late
/// comments are "not guaranteed to be considered".
///
/// `created_at` is the response entry's `created_at`; `consultation` is the
/// latest revision held, so that an extension counts.
pub fn late(
    created_at: &prost_types::Timestamp,
    response: &proto::ConsultationResponse,
    consultation: &proto::Consultation,
) -> bool {
    let is_reply = response.replies_to.is_some();
    let closes = match (&consultation.reply_closes_at, is_reply) {
        (Some(replies), true) => Some(replies),
        _ => consultation.closes_at.as_ref(),
    };
    closes.is_some_and(|closes| key(created_at) > key(closes))
}

/// The most attachments one document may name, a consultation's report
/// included. Every node that ingests a document fetches each attachment it
/// names, so this bounds the work one entry can cause (with
/// `limits.max_attachment_bytes`, the bytes too). Real statements and
/// consultations carry a handful; 64 leaves room for an annexed report.
pub const MAX_ATTACHMENTS: usize = 64;

fn attachment_count(body: &Body) -> usize {
    match body {
        Body::Consultation(c) => {
            c.attachments.len() + c.report.as_ref().map_or(0, |r| r.attachments.len())
        }
        Body::Response(r) => r.attachments.len(),
        Body::Liaison(l) => l.attachments.len(),
        Body::Profile(_) | Body::Receipt(_) | Body::KeyRotation(_) => 0,
    }
}

/// Every attachment a document refers to (a consultation's report included).
pub fn attachments_of(body: &Body) -> Vec<proto::AttachmentRef> {
    match body {
        Body::Consultation(c) => c
            .attachments
            .iter()
            .chain(c.report.iter().flat_map(|r| &r.attachments))
            .cloned()
            .collect(),
        Body::Response(r) => r.attachments.clone(),
        Body::Liaison(l) => l.attachments.clone(),
        Body::Profile(_) | Body::Receipt(_) | Body::KeyRotation(_) => Vec::new(),
    }
}

/// The stable id of a document that has one.
pub fn uuid_of(body: &Body) -> Option<String> {
    match body {
        Body::Consultation(c) => Some(c.uuid.clone()),
        Body::Response(r) => Some(r.uuid.clone()),
        Body::Liaison(l) => Some(l.uuid.clone()),
        Body::Profile(_) | Body::Receipt(_) | Body::KeyRotation(_) => None,
    }
}
