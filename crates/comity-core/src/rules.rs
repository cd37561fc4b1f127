//! The rules every document shares, and the one error all document rules
//! return: ids, language tags, attachments, references, groups and
//! contacts. Kept apart from [`crate::document`], [`crate::liaison`] and
//! [`crate::key_rotation`] so that each of them uses these rules without
//! importing the others.

use crate::{OrgId, proto};
use std::{collections::HashSet, sync::Mutex};
use time::OffsetDateTime;

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
    #[error(
        "{0} has a deadline of its own but is not asked for action or comment: give deadlines only to recipients asked to act or comment"
    )]
    DeadlineNotAsked(String),
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

/// Keeps ids made in one process in order even when `now` repeats or goes
/// back (as `Uuid::now_v7` does with its own clock).
static UUID_CONTEXT: Mutex<uuid::ContextV7> = Mutex::new(uuid::ContextV7::new());

/// A fresh document id made at `now` (the caller's clock: core reads none):
/// UUID v7, time-ordered.
pub fn new_uuid(now: OffsetDateTime) -> String {
    let nanos = now.unix_timestamp_nanos().max(0);
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or_default();
    let timestamp = uuid::Timestamp::from_unix(&UUID_CONTEXT, seconds, subsec);
    uuid::Uuid::new_v7(timestamp).to_string()
}

pub fn check_uuid(text: &str) -> Result<(), DocumentError> {
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
pub fn check_texts(texts: &[proto::Text]) -> Result<(), DocumentError> {
    let mut seen = HashSet::new();
    for t in texts {
        check_language_tag(&t.lang)?;
        if !seen.insert(t.lang.to_ascii_lowercase()) {
            return Err(DocumentError::DuplicateLanguage(t.lang.clone()));
        }
    }
    Ok(())
}

pub fn check_attachments(attachments: &[proto::AttachmentRef]) -> Result<(), DocumentError> {
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
pub fn check_ref(r: &proto::DocumentRef) -> Result<(), DocumentError> {
    if OrgId::new(r.origin.clone()).is_err() || uuid::Uuid::parse_str(&r.uuid).is_err() {
        return Err(DocumentError::InvalidReference(format!(
            "{:?}/{:?}",
            r.origin, r.uuid
        )));
    }
    Ok(())
}

/// A group id: `[a-z0-9][a-z0-9-]*` segments joined by `/`.
pub fn is_group_id(id: &str) -> bool {
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

pub fn check_group(id: &str) -> Result<(), DocumentError> {
    if is_group_id(id) {
        Ok(())
    } else {
        Err(DocumentError::InvalidGroup(id.to_owned()))
    }
}

/// A contact has a name or an email, the email looks like one, and, where
/// `roles` is given, its role is one of them.
pub fn check_contact(c: &proto::Contact, roles: Option<&[&str]>) -> Result<(), DocumentError> {
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
