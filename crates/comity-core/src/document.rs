//! Payload documents: decoding, and the rules a document must satisfy for its
//! entry kind. One named error per rule, each saying what to fix.
//!
//! The rules for liaison statements and key rotations live in [`crate::liaison`]
//! and [`crate::key_rotation`], beside the helpers the node needs for them;
//! this module holds the shared rules (language tags, attachments, references)
//! and the rules for profiles, consultations, responses and receipts.

use crate::{EntryKind, OrgId, SignedEntry, entry::Audience, proto};
use prost::Message;
use proto::document::Body;
use std::collections::HashSet;

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
    // --- shared rules ---
    #[error("uuid {0:?} is not a UUID: use the one the node generated (UUID v7)")]
    InvalidUuid(String),
    #[error("revision must start at 1")]
    ZeroRevision,
    #[error("document has no title: give at least one non-empty title")]
    MissingTitle,
    #[error("language tag {0:?} is not valid BCP 47: write e.g. \"en\", \"fr\" or \"zh-Hans\"")]
    InvalidLanguageTag(String),
    #[error("language {0:?} is given twice in the same field: give each language once")]
    DuplicateLanguage(String),
    #[error("attachment {name:?}: {reason}")]
    InvalidAttachment { name: String, reason: &'static str },
    #[error(
        "the document names {count} attachments; at most {max} are allowed: bundle annexes into fewer files"
    )]
    TooManyAttachments { count: usize, max: usize },
    #[error("reference {0}: give the origin organisation id and the document's UUID")]
    InvalidReference(String),
    #[error(
        "group {0:?} is not a group id: use lowercase letters, digits and '-', in segments separated by '/' (e.g. \"itu-t/sg17\")"
    )]
    InvalidGroup(String),
    #[error("contact {0}")]
    InvalidContact(String),
    #[error("text and attachments are both empty: give a body or at least one attachment")]
    BodyOrAttachmentRequired,
    #[error(
        "{field} is out of range: give a time from year {first} to year {last} (UTC)",
        first = crate::dates::FIRST_YEAR,
        last = crate::dates::LAST_YEAR
    )]
    TimeOutOfRange { field: &'static str },
    // --- profile ---
    #[error("profile id {profile:?} differs from the entry origin {origin}")]
    ProfileIdMismatch { profile: String, origin: OrgId },
    #[error("profile has no name")]
    ProfileWithoutName,
    #[error(
        "country {0:?} is not an ISO 3166-1 alpha-2 code: write two capital letters, e.g. \"CH\""
    )]
    InvalidCountry(String),
    #[error("group {0:?} is listed twice in the profile")]
    DuplicateGroup(String),
    // --- consultation ---
    #[error("consultation has no closing date")]
    MissingCloses,
    #[error("consultation closes before it opens")]
    ClosesBeforeOpens,
    #[error(
        "consultation's reply period closes before its comment period does: reply_closes_at must be after closes_at"
    )]
    ReplyClosesBeforeCloses,
    #[error("consultation status is unspecified")]
    MissingStatus,
    #[error("link {0:?} is not an http(s) URL")]
    InvalidLink(String),
    #[error(
        "guiding questions must be numbered 1, 2, 3 … in order: expected {expected}, got {got}"
    )]
    QuestionNumbering { expected: u32, got: u32 },
    #[error("guiding question {0} has no text")]
    EmptyQuestion(u32),
    #[error(
        "consultation is open to listed organisations but lists none: name at least one organisation"
    )]
    EligibleOrgsRequired,
    #[error(
        "organisations are listed, but the consultation is not limited to listed organisations: set the scope to LISTED or drop the list"
    )]
    EligibleOrgsUnused,
    #[error("eligible organisation {0:?} is not an organisation id")]
    InvalidEligibleOrg(String),
    #[error("consultation status is \"report published\" but it carries no report")]
    ReportRequired,
    #[error("consultation report has neither a summary nor an attachment")]
    EmptyReport,
    // --- response ---
    #[error(
        "response does not say which consultation it answers: give the consultation's origin and UUID"
    )]
    MissingConsultationRef,
    // --- liaison statement ---
    #[error(
        "liaison statement has no purpose: for action, for comment, for information or in response"
    )]
    MissingPurpose,
    #[error(
        "a liaison statement for {purpose} needs a deadline (a date, Anywhere-on-Earth unless a zone is given)"
    )]
    DeadlineRequired { purpose: &'static str },
    #[error("invalid deadline: {0}")]
    InvalidDeadline(String),
    #[error("deadline out of range: {0}")]
    DeadlineOutOfRange(String),
    #[error("a liaison statement in response needs in_reply_to: the statement it answers")]
    InReplyToRequired,
    #[error("liaison statement has no recipients: address it to at least one organisation")]
    NoRecipients,
    #[error("recipient {0}")]
    InvalidRecipient(String),
    #[error("liaison statement state is unspecified: draft, approved, posted or withdrawn")]
    MissingState,
    #[error("other identifier {0:?} is blank")]
    BlankIdentifier(String),
    // --- receipt ---
    #[error("receipt does not say which entry it acknowledges: give origin, seq and entry id")]
    MissingEntryRef,
    #[error("receipt entry reference {0}")]
    InvalidEntryRef(String),
    #[error("receipt does not name the liaison statement it acknowledges")]
    MissingLiaisonRef,
    #[error(
        "receipt acknowledges an entry of {entry} but a statement of {liaison}: both must be the same organisation's"
    )]
    ReceiptOriginMismatch { entry: String, liaison: String },
    #[error(
        "receipt status is unspecified: received, accepted for action, action taken or reply coming"
    )]
    MissingReceiptStatus,
    // --- key rotation ---
    #[error("key rotation's new key is not an Ed25519 public key (32 bytes): {0}")]
    InvalidNewKey(String),
    #[error("key rotation's proof must be a 64-byte signature, got {0} bytes")]
    KeyProofLength(usize),
    #[error(
        "key rotation's proof does not verify: it must be made with the new key's secret over the origin and the old key"
    )]
    InvalidKeyProof,
    #[error("key rotation names the key already in use: generate a new key")]
    KeyUnchanged,
    #[error("a key rotation must be public: every peer needs it to follow the new key")]
    RestrictedKeyRotation,
}

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
    Ok(())
}

// --- shared rules, used by the other document modules ---

fn key(t: &prost_types::Timestamp) -> (i64, i32) {
    (t.seconds, t.nanos)
}

pub(crate) fn check_uuid(text: &str) -> Result<(), DocumentError> {
    uuid::Uuid::parse_str(text)
        .map(drop)
        .map_err(|_| DocumentError::InvalidUuid(text.to_owned()))
}

/// A well-formed BCP 47 tag whose subtags are in the IANA registry.
pub fn check_language_tag(tag: &str) -> Result<(), DocumentError> {
    language_tags::LanguageTag::parse(tag)
        .ok()
        .filter(language_tags::LanguageTag::is_valid)
        .map(drop)
        .ok_or_else(|| DocumentError::InvalidLanguageTag(tag.to_owned()))
}

/// Every text with a valid tag, each language at most once. Empty values are
/// allowed (and ignored by summaries): "at least one" rules are the caller's.
pub(crate) fn check_texts(texts: &[proto::Text]) -> Result<(), DocumentError> {
    let mut seen = HashSet::new();
    for t in texts {
        check_language_tag(&t.lang)?;
        if !seen.insert(t.lang.to_ascii_lowercase()) {
            return Err(DocumentError::DuplicateLanguage(t.lang.clone()));
        }
    }
    Ok(())
}

pub(crate) fn check_attachments(attachments: &[proto::AttachmentRef]) -> Result<(), DocumentError> {
    let mut seen = HashSet::new();
    for a in attachments {
        let reason = if a.hash.len() != 32 {
            Some("hash must be the 32-byte BLAKE3 of the content")
        } else if a.name.trim().is_empty() {
            Some("name is empty: give the file a name")
        } else if a.name.contains(['/', '\\', '\0']) || a.name == "." || a.name == ".." {
            Some("name must be a file name, not a path")
        } else if !seen.insert(a.hash.as_slice()) {
            Some("the same content is attached twice")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(DocumentError::InvalidAttachment {
                name: a.name.clone(),
                reason,
            });
        }
    }
    Ok(())
}

/// A reference to a document: a valid origin and a UUID.
pub(crate) fn check_ref(r: &proto::DocumentRef) -> Result<(), DocumentError> {
    if OrgId::new(r.origin.clone()).is_err() || uuid::Uuid::parse_str(&r.uuid).is_err() {
        return Err(DocumentError::InvalidReference(format!(
            "{:?}/{:?}",
            r.origin, r.uuid
        )));
    }
    Ok(())
}

/// A group id: `[a-z0-9][a-z0-9-]*` segments joined by `/`.
pub(crate) fn is_group_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.split('/').all(|seg| {
            seg.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

pub(crate) fn check_group(id: &str) -> Result<(), DocumentError> {
    if is_group_id(id) {
        Ok(())
    } else {
        Err(DocumentError::InvalidGroup(id.to_owned()))
    }
}

/// A contact has a name or an email, the email looks like one, and, where
/// `roles` is given, its role is one of them.
pub(crate) fn check_contact(
    c: &proto::Contact,
    roles: Option<&[&str]>,
) -> Result<(), DocumentError> {
    if c.name.trim().is_empty() && c.email.trim().is_empty() {
        return Err(DocumentError::InvalidContact(
            "has neither a name nor an email".into(),
        ));
    }
    if !c.email.is_empty() {
        let ok = c.email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && !domain.is_empty() && !domain.contains('@')
        }) && !c.email.contains(char::is_whitespace);
        if !ok {
            return Err(DocumentError::InvalidContact(format!(
                "email {:?} is not an email address",
                c.email
            )));
        }
    }
    if let Some(roles) = roles
        && !roles.contains(&c.role.as_str())
    {
        return Err(DocumentError::InvalidContact(format!(
            "role {:?} must be one of {}",
            c.role,
            roles.join(", ")
        )));
    }
    Ok(())
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

/// A fresh document id: UUID v7, time-ordered.
pub fn new_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
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
