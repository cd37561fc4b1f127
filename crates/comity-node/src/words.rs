//! People's words for the local API's enums, both ways: the names that
//! output, pages and notifications print, and the parsing of what people
//! type into a form or a document file. The node's API itself takes and gives
//! enums only; these are for the edges (the dashboard's forms, the CLI's
//! files and output, the JSON shapes), so that every edge spells a value the
//! same way. The CLI's flags are parsed by clap (`ValueEnum`) at its own edge.

use comity_core::proto::{
    self, ActionState, ConsultationPhase, ConsultationStatus, LiaisonPurpose, ReceiptStatus,
    StakeholderGroup,
};

/// A word that names none of the values it could name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {written:?}: use {expected}")]
pub struct WordError {
    /// What the word was for: "purpose", "status", "receipt", …
    pub what: &'static str,
    /// The word as normalised (lower case, `_` for spaces and dashes).
    pub written: String,
    /// The words that are understood.
    pub expected: &'static str,
}

/// Lower case, with `_` for spaces and dashes: "In Response" → "in_response".
fn normal(text: &str) -> String {
    text.trim().to_ascii_lowercase().replace([' ', '-'], "_")
}

// ----------------------------------------------------------------- purposes

/// "action", "comment", "information", "in_response"; "" when unspecified.
pub fn purpose(purpose: LiaisonPurpose) -> &'static str {
    match purpose {
        LiaisonPurpose::Action => "action",
        LiaisonPurpose::Comment => "comment",
        LiaisonPurpose::Information => "information",
        LiaisonPurpose::InResponse => "in_response",
        LiaisonPurpose::Unspecified => "",
    }
}

/// A purpose as people write it; empty is unspecified.
pub fn parse_purpose(text: &str) -> Result<LiaisonPurpose, WordError> {
    use LiaisonPurpose as P;
    Ok(match normal(text).as_str() {
        "action" | "for_action" => P::Action,
        "comment" | "for_comment" => P::Comment,
        "information" | "info" | "for_information" => P::Information,
        "in_response" | "response" => P::InResponse,
        "" => P::Unspecified,
        other => {
            return Err(WordError {
                what: "purpose",
                written: other.to_string(),
                expected: "action, comment, information or in_response",
            });
        }
    })
}

/// A recipient as people write it: "org", "org/group" or a partner's group
/// id ("itu-t/sg15"), with its own purpose after '=' ("itu-t/sg17=information")
/// and its own deadline after ':' ("itu=action:2027-03-31", a zone may
/// follow the date: "itu=action:2027-03-31 +02:00").
pub fn parse_recipient(text: &str) -> Result<proto::Recipient, WordError> {
    let (to, rest) = text.split_once('=').unwrap_or((text, ""));
    let (purpose, deadline) = rest.split_once(':').unwrap_or((rest, ""));
    let purpose = if purpose.trim().is_empty() {
        LiaisonPurpose::Unspecified
    } else {
        parse_purpose(purpose)?
    };
    Ok(proto::Recipient {
        to: to.trim().to_string(),
        purpose: purpose as i32,
        deadline: deadline.trim().to_string(),
    })
}

// ----------------------------------------------------------------- receipts

/// "received", "accepted_for_action", "action_taken", "reply_coming"; ""
/// when unspecified.
pub fn receipt(status: ReceiptStatus) -> &'static str {
    match status {
        ReceiptStatus::Received => "received",
        ReceiptStatus::AcceptedForAction => "accepted_for_action",
        ReceiptStatus::ActionTaken => "action_taken",
        ReceiptStatus::ReplyComing => "reply_coming",
        ReceiptStatus::Unspecified => "",
    }
}

/// A receipt status as people write it.
pub fn parse_receipt(text: &str) -> Result<ReceiptStatus, WordError> {
    use ReceiptStatus as R;
    Ok(match normal(text).as_str() {
        "received" => R::Received,
        "accepted_for_action" | "accepted" => R::AcceptedForAction,
        "action_taken" => R::ActionTaken,
        "reply_coming" => R::ReplyComing,
        other => {
            return Err(WordError {
                what: "receipt",
                written: other.to_string(),
                expected: "received, accepted_for_action, action_taken or reply_coming",
            });
        }
    })
}

// ------------------------------------------------------------ action states

/// "awaiting", "received", "accepted_for_action", "reply_coming",
/// "action_taken"; "" when unspecified (a redacted stub).
pub fn action_state(state: ActionState) -> &'static str {
    match state {
        ActionState::Awaiting => "awaiting",
        ActionState::Received => "received",
        ActionState::AcceptedForAction => "accepted_for_action",
        ActionState::ReplyComing => "reply_coming",
        ActionState::ActionTaken => "action_taken",
        ActionState::Unspecified => "",
    }
}

/// The action state a receipt of `status` puts its sender in.
pub fn action_state_of(status: ReceiptStatus) -> ActionState {
    match status {
        ReceiptStatus::Received => ActionState::Received,
        ReceiptStatus::AcceptedForAction => ActionState::AcceptedForAction,
        ReceiptStatus::ActionTaken => ActionState::ActionTaken,
        ReceiptStatus::ReplyComing => ActionState::ReplyComing,
        ReceiptStatus::Unspecified => ActionState::Awaiting,
    }
}

// ------------------------------------------------------------ consultations

/// A consultation's signed status: "draft", "open", "closed", "withdrawn",
/// "report_published"; "" when unspecified.
pub fn consultation_status(status: ConsultationStatus) -> &'static str {
    match status {
        ConsultationStatus::Draft => "draft",
        ConsultationStatus::Open => "open",
        ConsultationStatus::Closed => "closed",
        ConsultationStatus::Withdrawn => "withdrawn",
        ConsultationStatus::ReportPublished => "report_published",
        ConsultationStatus::Unspecified => "",
    }
}

/// A status as people write it, to revise a consultation with.
pub fn parse_consultation_status(text: &str) -> Result<ConsultationStatus, WordError> {
    use ConsultationStatus as S;
    Ok(match normal(text).as_str() {
        "open" => S::Open,
        "closed" => S::Closed,
        "withdrawn" => S::Withdrawn,
        "report_published" | "report" => S::ReportPublished,
        "draft" => S::Draft,
        other => {
            return Err(WordError {
                what: "status",
                written: other.to_string(),
                expected: "open, closed, withdrawn or report_published",
            });
        }
    })
}

/// Where a consultation stands now: "draft", "upcoming", "open",
/// "reply_period", "closed", "withdrawn", "report_published"; "" when
/// unspecified.
pub fn phase(phase: ConsultationPhase) -> &'static str {
    match phase {
        ConsultationPhase::Draft => "draft",
        ConsultationPhase::Upcoming => "upcoming",
        ConsultationPhase::Open => "open",
        ConsultationPhase::ReplyPeriod => "reply_period",
        ConsultationPhase::Closed => "closed",
        ConsultationPhase::Withdrawn => "withdrawn",
        ConsultationPhase::ReportPublished => "report_published",
        ConsultationPhase::Unspecified => "",
    }
}

/// Every phase, in the order of a consultation's life.
pub const PHASES: [ConsultationPhase; 7] = [
    ConsultationPhase::Draft,
    ConsultationPhase::Upcoming,
    ConsultationPhase::Open,
    ConsultationPhase::ReplyPeriod,
    ConsultationPhase::Closed,
    ConsultationPhase::Withdrawn,
    ConsultationPhase::ReportPublished,
];

/// A phase by its name ([`phase`]); empty is unspecified.
pub fn parse_phase(text: &str) -> Result<ConsultationPhase, WordError> {
    let text = normal(text);
    if text.is_empty() {
        return Ok(ConsultationPhase::Unspecified);
    }
    PHASES
        .into_iter()
        .find(|p| phase(*p) == text)
        .ok_or(WordError {
            what: "status",
            written: text,
            expected: "draft, upcoming, open, reply_period, closed, withdrawn or report_published",
        })
}

// ---------------------------------------------------------- everything else

/// "government", "intergovernmental", "private-sector", "civil-society",
/// "technical-academic"; "unspecified".
pub fn stakeholder_group(group: StakeholderGroup) -> &'static str {
    match group {
        StakeholderGroup::Government => "government",
        StakeholderGroup::Intergovernmental => "intergovernmental",
        StakeholderGroup::PrivateSector => "private-sector",
        StakeholderGroup::CivilSociety => "civil-society",
        StakeholderGroup::TechnicalAcademic => "technical-academic",
        StakeholderGroup::Unspecified => "unspecified",
    }
}

/// A dashboard role: "viewer", "editor", "liaison-manager", "approver",
/// "admin"; "" when
/// unspecified.
pub fn role(role: proto::Role) -> &'static str {
    match role {
        proto::Role::Viewer => "viewer",
        proto::Role::Editor => "editor",
        proto::Role::LiaisonManager => "liaison-manager",
        proto::Role::Approver => "approver",
        proto::Role::Admin => "admin",
        proto::Role::Unspecified => "",
    }
}

/// An entry kind: "profile", "consultation", …; "" when unspecified.
pub fn entry_kind(kind: proto::EntryKind) -> &'static str {
    comity_core::EntryKind::from_proto(kind as i32).map_or("", comity_core::EntryKind::as_str)
}

// ----------------------------------------------------------------- recovery

/// One line on the recovery of a node's own log at start, for `comity
/// status`: empty when done; "recovering: …" while publishing waits;
/// "WARNING: …" when no partner that follows the node answered in time.
pub fn recovery(status: &proto::RecoveryStatus) -> String {
    match status.phase() {
        proto::RecoveryPhase::Recovering => format!(
            "recovering: asking partners for this node's own log ({}s of at most {}s); publishing waits",
            status.elapsed_secs, status.wait_secs
        ),
        proto::RecoveryPhase::Unconfirmed => format!(
            "WARNING: no partner that follows this node answered within {}s of start; it publishes without knowing whether partners hold more of its log (restored from a backup? then it may have forked it)",
            status.elapsed_secs
        ),
        proto::RecoveryPhase::Done | proto::RecoveryPhase::Unspecified => String::new(),
    }
}

// ----------------------------------------------------------------- evidence

/// "entries" (two signed headers at one seq) or "checkpoints" (two signed
/// notes); "" when unspecified.
pub fn evidence_kind(kind: proto::EvidenceKind) -> &'static str {
    match kind {
        proto::EvidenceKind::Entries => "entries",
        proto::EvidenceKind::Checkpoints => "checkpoints",
        proto::EvidenceKind::Unspecified => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_carry_their_own_purpose_and_deadline() {
        let r = parse_recipient("itu-t/sg17=action:2027-03-31 +02:00").unwrap();
        assert_eq!(r.to, "itu-t/sg17");
        assert_eq!(r.purpose(), LiaisonPurpose::Action);
        assert_eq!(r.deadline, "2027-03-31 +02:00");
        let r = parse_recipient("icann=information").unwrap();
        assert_eq!(
            (r.purpose(), r.deadline.as_str()),
            (LiaisonPurpose::Information, "")
        );
        let r = parse_recipient("ietf").unwrap();
        assert_eq!(
            (r.purpose(), r.deadline.as_str()),
            (LiaisonPurpose::Unspecified, "")
        );
        assert!(parse_recipient("ietf=soon:2027-03-31").is_err());
    }

    #[test]
    fn every_name_parses_back() {
        for p in [
            LiaisonPurpose::Action,
            LiaisonPurpose::Comment,
            LiaisonPurpose::Information,
            LiaisonPurpose::InResponse,
        ] {
            assert_eq!(parse_purpose(purpose(p)), Ok(p));
        }
        for r in [
            ReceiptStatus::Received,
            ReceiptStatus::AcceptedForAction,
            ReceiptStatus::ActionTaken,
            ReceiptStatus::ReplyComing,
        ] {
            assert_eq!(parse_receipt(receipt(r)), Ok(r));
        }
        for p in PHASES {
            assert_eq!(parse_phase(phase(p)), Ok(p));
        }
        assert_eq!(parse_purpose("For Action"), Ok(LiaisonPurpose::Action));
        let e = parse_purpose("urgent").unwrap_err();
        assert_eq!(
            e.to_string(),
            "purpose \"urgent\": use action, comment, information or in_response"
        );
    }
}
