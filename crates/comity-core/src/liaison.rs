//! Liaison statements: their rules, and the helpers a node needs to work with
//! them (who is asked to do what, by when; a reply pre-filled from the
//! original).
//!
//! Kept apart from [`crate::document`] (the shared rules are in
//! [`crate::rules`]) because a statement has more rules than
//! any other document (per-recipient purposes, deadlines, threads), and the
//! reply template is workflow, not validation.

use crate::{
    OrgId,
    dates::{DateError, Deadline},
    proto::{self, LiaisonPurpose},
    rules::{self, DocumentError},
};
use std::collections::HashSet;
use time::OffsetDateTime;

/// The roles a liaison contact can have (RFC 4053, Datatracker).
pub const CONTACT_ROLES: &[&str] = &["from", "response-to", "technical", "cc"];

/// A human name for a purpose: "action", "comment", "information", "in response".
pub fn purpose_name(purpose: LiaisonPurpose) -> &'static str {
    match purpose {
        LiaisonPurpose::Action => "action",
        LiaisonPurpose::Comment => "comment",
        LiaisonPurpose::Information => "information",
        LiaisonPurpose::InResponse => "in response",
        LiaisonPurpose::Unspecified => "unspecified",
    }
}

/// The statement's purpose (`Unspecified` when missing or unknown).
pub fn purpose(statement: &proto::LiaisonStatement) -> LiaisonPurpose {
    LiaisonPurpose::try_from(statement.purpose).unwrap_or(LiaisonPurpose::Unspecified)
}

/// The purpose for one addressee: its own, else the statement's.
pub fn effective_purpose(
    statement: &proto::LiaisonStatement,
    addressee: &proto::Addressee,
) -> LiaisonPurpose {
    match LiaisonPurpose::try_from(addressee.purpose) {
        Ok(LiaisonPurpose::Unspecified) | Err(_) => purpose(statement),
        Ok(p) => p,
    }
}

/// Whether a purpose asks the recipient for work (action or comment), so
/// that it has a deadline and can become overdue.
pub fn asks_for_work(purpose: LiaisonPurpose) -> bool {
    matches!(purpose, LiaisonPurpose::Action | LiaisonPurpose::Comment)
}

/// Whether some recipient (to or cc) is asked for action or comment and has
/// no deadline of its own: then the statement needs one. The purpose asked.
pub fn needs_deadline(statement: &proto::LiaisonStatement) -> Option<LiaisonPurpose> {
    statement
        .to
        .iter()
        .chain(&statement.cc)
        .filter(|a| a.deadline.is_none())
        .map(|a| effective_purpose(statement, a))
        .find(|p| asks_for_work(*p))
}

/// The statement's deadline, parsed; `None` when it has none or it is malformed.
pub fn deadline(statement: &proto::LiaisonStatement) -> Option<Deadline> {
    statement
        .deadline
        .as_ref()
        .and_then(|d| Deadline::from_proto(d).ok())
}

/// One recipient's deadline: its own, else the statement's; `None` when it
/// is not asked for action or comment (ITU's template: one body "for
/// action" by a date, the others "for information").
pub fn effective_deadline(
    statement: &proto::LiaisonStatement,
    addressee: &proto::Addressee,
) -> Option<Deadline> {
    if !asks_for_work(effective_purpose(statement, addressee)) {
        return None;
    }
    addressee
        .deadline
        .as_ref()
        .and_then(|d| Deadline::from_proto(d).ok())
        .or_else(|| deadline(statement))
}

/// The earliest deadline any recipient has: the statement's when no
/// recipient has its own.
pub fn earliest_deadline(statement: &proto::LiaisonStatement) -> Option<Deadline> {
    statement
        .to
        .iter()
        .chain(&statement.cc)
        .filter_map(|a| effective_deadline(statement, a))
        .min_by_key(Deadline::ends_at)
        .or_else(|| deadline(statement))
}

fn deadline_error(e: DateError, whose: Option<String>) -> DocumentError {
    let whose = |text: String| match &whose {
        Some(who) => format!("{who}: {text}"),
        None => text,
    };
    match e {
        DateError::Invalid(text) => DocumentError::InvalidDeadline(whose(text)),
        out_of_range => DocumentError::DeadlineOutOfRange(whose(out_of_range.to_string())),
    }
}

/// Whether `org` is among the recipients (to or cc).
pub fn is_addressed_to(statement: &proto::LiaisonStatement, org: &OrgId) -> bool {
    statement
        .to
        .iter()
        .chain(&statement.cc)
        .any(|a| a.org == org.as_str())
}

/// The rules for a liaison statement.
pub fn validate(l: &proto::LiaisonStatement) -> Result<(), DocumentError> {
    rules::check_uuid(&l.uuid)?;
    if l.revision == 0 {
        return Err(DocumentError::ZeroRevision);
    }
    if l.title.trim().is_empty() {
        return Err(DocumentError::MissingTitle);
    }
    let mut groups = HashSet::new();
    for g in &l.from_groups {
        rules::check_group(g)?;
        if !groups.insert(g.as_str()) {
            return Err(DocumentError::InvalidGroup(format!("{g} (listed twice)")));
        }
    }
    if l.to.is_empty() {
        return Err(DocumentError::NoRecipients);
    }
    let mut recipients = HashSet::new();
    for a in l.to.iter().chain(&l.cc) {
        if OrgId::new(a.org.clone()).is_err() {
            return Err(DocumentError::InvalidRecipient(format!(
                "{:?} is not an organisation id",
                a.org
            )));
        }
        if !a.group.is_empty() && !rules::is_group_id(&a.group) {
            return Err(DocumentError::InvalidRecipient(format!(
                "{}: group {:?} is not a group id (e.g. \"itu-t/sg15\")",
                a.org, a.group
            )));
        }
        if LiaisonPurpose::try_from(a.purpose).is_err() {
            return Err(DocumentError::InvalidRecipient(format!(
                "{}: unknown purpose {}",
                a.org, a.purpose
            )));
        }
        if let Some(d) = &a.deadline {
            Deadline::from_proto(d).map_err(|e| deadline_error(e, Some(display_addressee(a))))?;
            if !asks_for_work(effective_purpose(l, a)) {
                return Err(DocumentError::DeadlineNotAsked(display_addressee(a)));
            }
        }
        if !recipients.insert((a.org.as_str(), a.group.as_str())) {
            return Err(DocumentError::InvalidRecipient(format!(
                "{} is addressed twice",
                display_addressee(a)
            )));
        }
    }
    let purpose = purpose(l);
    if purpose == LiaisonPurpose::Unspecified {
        return Err(DocumentError::MissingPurpose);
    }
    match &l.deadline {
        Some(d) => {
            Deadline::from_proto(d).map_err(|e| deadline_error(e, None))?;
        }
        None => {
            if let Some(p) = needs_deadline(l) {
                return Err(DocumentError::DeadlineRequired {
                    purpose: purpose_name(p),
                });
            }
        }
    }
    match &l.in_reply_to {
        Some(r) => rules::check_ref(r)?,
        None if purpose == LiaisonPurpose::InResponse => {
            return Err(DocumentError::InReplyToRequired);
        }
        None => {}
    }
    let body = l.body.as_ref().filter(|b| !b.value.trim().is_empty());
    if body.is_none() && l.attachments.is_empty() {
        return Err(DocumentError::BodyOrAttachmentRequired);
    }
    if let Some(body) = body {
        rules::check_language_tag(&body.lang)?;
    }
    rules::check_attachments(&l.attachments)?;
    for c in &l.contacts {
        rules::check_contact(c, Some(CONTACT_ROLES))?;
    }
    if let Some(id) = l.other_identifiers.iter().find(|i| i.trim().is_empty()) {
        return Err(DocumentError::BlankIdentifier(id.clone()));
    }
    if l.state == proto::LiaisonState::Unspecified as i32
        || proto::LiaisonState::try_from(l.state).is_err()
    {
        return Err(DocumentError::MissingState);
    }
    Ok(())
}

/// "itu/itu-t/sg15" or "itu".
pub fn display_addressee(a: &proto::Addressee) -> String {
    if a.group.is_empty() {
        a.org.clone()
    } else {
        format!("{}/{}", a.org, a.group)
    }
}

/// A reply pre-filled from `original` (published by `origin`), to be sent by
/// `our_org`: from and to swapped, purpose "in response", `in_reply_to` set,
/// title "Re: …", state draft. Body, deadline and contacts are left for the
/// writer; a fresh uuid, made at `now`, is given.
///
/// Our sending groups are the groups `original` addressed at `our_org` (to,
/// then cc); the new recipients are the original's sending groups at `origin`.
pub fn reply_template(
    origin: &OrgId,
    original: &proto::LiaisonStatement,
    our_org: &OrgId,
    now: OffsetDateTime,
) -> proto::LiaisonStatement {
    let mut from_groups: Vec<String> = Vec::new();
    for a in original.to.iter().chain(&original.cc) {
        if a.org == our_org.as_str() && !a.group.is_empty() && !from_groups.contains(&a.group) {
            from_groups.push(a.group.clone());
        }
    }
    let to = if original.from_groups.is_empty() {
        vec![proto::Addressee {
            org: origin.to_string(),
            ..Default::default()
        }]
    } else {
        original
            .from_groups
            .iter()
            .map(|g| proto::Addressee {
                org: origin.to_string(),
                group: g.clone(),
                ..Default::default()
            })
            .collect()
    };
    let title = if original.title.starts_with("Re: ") {
        original.title.clone()
    } else {
        format!("Re: {}", original.title)
    };
    proto::LiaisonStatement {
        uuid: rules::new_uuid(now),
        revision: 1,
        title,
        from_groups,
        to,
        purpose: LiaisonPurpose::InResponse as i32,
        body: original.body.as_ref().map(|b| proto::Text {
            lang: b.lang.clone(),
            value: String::new(),
        }),
        in_reply_to: Some(proto::DocumentRef {
            origin: origin.to_string(),
            uuid: original.uuid.clone(),
        }),
        state: proto::LiaisonState::Draft as i32,
        ..Default::default()
    }
}
