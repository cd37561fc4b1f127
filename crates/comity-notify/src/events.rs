//! Events, found by scanning the node's derived state (never by watching the
//! wire): what is new, what is due soon, what is late. Scanning is
//! idempotent; each event has a stable id, and the notifier remembers the ids
//! it has acted on, so that rescanning after every append, every minute or
//! after a restart finds each event exactly once.

use crate::NotifyError;
use comity_core::{
    OrgId, dates,
    dates::Deadline,
    document,
    entry::EntryKind,
    liaison,
    proto::{self, ActionState, ConsultationPhase, LiaisonPurpose, document::Body},
};
use comity_node::{Node, words};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A followed organisation opened a consultation.
    Consultation,
    /// A liaison statement addressed to us (to or cc) arrived.
    Liaison,
    /// A recipient acknowledged one of our liaison statements.
    Receipt,
    /// A deadline is `days_left` days away (0: today).
    Reminder,
    /// A deadline has passed and the action asked for is not taken.
    Overdue,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consultation => "consultation",
            Self::Liaison => "liaison",
            Self::Receipt => "receipt",
            Self::Reminder => "reminder",
            Self::Overdue => "overdue",
        }
    }
}

/// One notification, as posted to webhooks (this struct *is* the JSON body)
/// and rendered into e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id: the same event always has the same id, so it fires once.
    pub id: String,
    pub event: EventKind,
    /// The organisation whose node sends the notification.
    pub node: String,
    /// "consultation" or "liaison": what `origin`/`uuid` point at.
    pub document: String,
    /// The organisation whose log holds the document.
    pub origin: String,
    /// The document's uuid, stable across revisions.
    pub uuid: String,
    pub title: String,
    /// One line for people (and for chat webhooks that show `text`).
    pub text: String,
    /// The document's page on our dashboard, when the node serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The deadline as people write it, e.g. "2027-03-31 (AoE)", or a
    /// consultation's closing time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// The instant the deadline passes (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_at: Option<String>,
    /// Reminders and overdue: whole days left (negative once late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Liaisons: what the recipient is asked for ("action", "comment", …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Receipts: the organisation that acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Receipts: what it said ("received", …, "action_taken").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// On our own statements: the recipients still owing action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// When the node found the event (its clock, RFC 3339).
    pub detected_at: String,
}

/// How old news may be and still be news: a partner added today replicates
/// its whole history, and nobody wants mail about last year's statements.
const FRESH: Duration = Duration::days(30);

fn rfc3339(t: OffsetDateTime) -> String {
    dates::in_utc(t).format(&Rfc3339).unwrap_or_default()
}

fn asks_for_work(purpose: LiaisonPurpose) -> bool {
    matches!(purpose, LiaisonPurpose::Action | LiaisonPurpose::Comment)
}

/// The reminder due when `days_left` days remain: the tightest configured
/// threshold not below it. Moving through 14, 7, 3, 1, 0 fires each once; a
/// node that was off for a week fires only the one that is current.
pub fn reminder_threshold(days_left: i64, reminder_days: &[i64]) -> Option<i64> {
    if days_left < 0 {
        return None;
    }
    reminder_days
        .iter()
        .copied()
        .filter(|d| *d >= days_left)
        .min()
}

/// Everything that is an event now. The caller drops the ids already acted on.
pub fn detect(node: &Node, now: OffsetDateTime) -> Result<Vec<Event>, NotifyError> {
    let scan = Scan {
        node,
        own: node.org(),
        now,
        follows: node.follows().into_iter().collect(),
        reminder_days: {
            let mut days: Vec<i64> = node
                .config()
                .notifications
                .reminder_days
                .iter()
                .copied()
                .filter(|d| *d >= 0)
                .collect();
            days.sort_unstable();
            days.dedup();
            days
        },
        base_url: node.http_url(),
    };
    let mut events = Vec::new();
    scan.consultations(&mut events)?;
    scan.inbox(&mut events)?;
    scan.outbox(&mut events)?;
    let mut seen = HashSet::new();
    events.retain(|e| seen.insert(e.id.clone()));
    Ok(events)
}

struct Scan<'a> {
    node: &'a Node,
    own: &'a OrgId,
    now: OffsetDateTime,
    follows: HashSet<OrgId>,
    reminder_days: Vec<i64>,
    base_url: Option<String>,
}

/// What every event about one document shares.
struct Doc {
    document: &'static str,
    origin: String,
    uuid: String,
    title: String,
}

impl Scan<'_> {
    fn fresh(&self, created_at: Option<&prost_types::Timestamp>) -> bool {
        created_at
            .and_then(dates::from_timestamp)
            // Past the end of the calendar is never old.
            .is_none_or(|t| t.checked_add(FRESH).is_none_or(|t| t >= self.now))
    }

    fn event(&self, id: String, kind: EventKind, doc: &Doc, text: String) -> Event {
        Event {
            id,
            event: kind,
            node: self.own.to_string(),
            document: doc.document.to_string(),
            origin: doc.origin.clone(),
            uuid: doc.uuid.clone(),
            title: doc.title.clone(),
            text,
            url: self.base_url.as_ref().map(|base| {
                format!(
                    "{}/{}s/{}/{}",
                    base.trim_end_matches('/'),
                    doc.document,
                    doc.origin,
                    doc.uuid
                )
            }),
            deadline: None,
            deadline_at: None,
            days_left: None,
            purpose: None,
            by: None,
            status: None,
            recipients: Vec::new(),
            detected_at: rfc3339(self.now),
        }
    }

    /// A reminder at the current threshold, and overdue once a day.
    fn deadline_events(
        &self,
        doc: &Doc,
        deadline: &Deadline,
        shown: String,
        recipients: &[String],
        overdue: bool,
        out: &mut Vec<Event>,
    ) {
        let days_left = deadline.days_left(self.now);
        let with_deadline = |mut e: Event| {
            e.deadline = Some(shown.clone());
            e.deadline_at = Some(rfc3339(deadline.ends_at()));
            e.days_left = Some(days_left);
            e.recipients = recipients.to_vec();
            e
        };
        if !deadline.is_overdue(self.now)
            && let Some(days) = reminder_threshold(days_left, &self.reminder_days)
        {
            let when = match days_left {
                0 => "today".to_string(),
                1 => "tomorrow".to_string(),
                n => format!("in {n} days"),
            };
            let id = format!(
                "reminder:{}:{}:{days}:{}",
                doc.origin, doc.uuid, deadline.date
            );
            let text = format!("Reminder: \"{}\" is due {when} ({shown})", doc.title);
            out.push(with_deadline(self.event(
                id,
                EventKind::Reminder,
                doc,
                text,
            )));
        }
        if overdue && deadline.is_overdue(self.now) {
            let day = dates::in_offset(self.now, deadline.offset()).date();
            let id = format!("overdue:{}:{}:{day}", doc.origin, doc.uuid);
            let who = if recipients.is_empty() {
                String::new()
            } else {
                format!("; awaiting action from {}", recipients.join(", "))
            };
            let text = format!("Overdue: \"{}\" was due {shown}{who}", doc.title);
            out.push(with_deadline(self.event(id, EventKind::Overdue, doc, text)));
        }
    }

    /// New consultations of followed organisations, and reminders of those
    /// still open that we have not answered.
    fn consultations(&self, out: &mut Vec<Event>) -> Result<(), NotifyError> {
        let store = self.node.store();
        for d in store.documents(EntryKind::Consultation)? {
            if &d.origin == self.own || !self.follows.contains(&d.origin) {
                continue;
            }
            let Some((_, Some(Body::Consultation(c)))) =
                self.node
                    .load_document(EntryKind::Consultation, &d.origin, &d.uuid)?
            else {
                continue;
            };
            let phase = self.node.consultation_phase(&c);
            let doc = Doc {
                document: "consultation",
                origin: d.origin.to_string(),
                uuid: d.uuid.clone(),
                title: pick_text(&c.title),
            };
            let closes = c.closes_at.as_ref().and_then(dates::from_timestamp);
            if matches!(phase, ConsultationPhase::Upcoming | ConsultationPhase::Open) {
                let mut e = self.event(
                    format!("consultation:{}:{}", doc.origin, doc.uuid),
                    EventKind::Consultation,
                    &doc,
                    format!("New consultation from {}: \"{}\"", doc.origin, doc.title),
                );
                e.deadline = closes.map(rfc3339);
                e.deadline_at = e.deadline.clone();
                e.status = Some(words::phase(phase).to_string());
                out.push(e);
            }
            let answered = store
                .responses_to(&d.origin, &d.uuid)?
                .iter()
                .any(|r| &r.origin == self.own);
            if phase == ConsultationPhase::Open
                && !answered
                && let Some(closes) = closes
            {
                // Days counted Anywhere-on-Earth, as the closing day is written.
                let deadline = Deadline {
                    date: dates::in_offset(closes, dates::AOE).date(),
                    zone: None,
                };
                self.deadline_events(&doc, &deadline, rfc3339(closes), &[], false, out);
            }
        }
        Ok(())
    }

    fn statement(
        &self,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Option<(comity_core::SignedEntry, proto::LiaisonStatement)>, NotifyError> {
        Ok(
            match self.node.load_document(EntryKind::Liaison, origin, uuid)? {
                Some((entry, Some(Body::Liaison(s))))
                    if s.state != proto::LiaisonState::Withdrawn as i32 =>
                {
                    Some((entry, s))
                }
                _ => None,
            },
        )
    }

    fn liaison_doc(origin: &OrgId, s: &proto::LiaisonStatement) -> Doc {
        Doc {
            document: "liaison",
            origin: origin.to_string(),
            uuid: s.uuid.clone(),
            title: s.title.clone(),
        }
    }

    /// Statements addressed to us: new ones, reminders and overdue until we
    /// report the action taken.
    fn inbox(&self, out: &mut Vec<Event>) -> Result<(), NotifyError> {
        for d in self.node.store().liaisons_addressed_to(self.own)? {
            let Some((entry, s)) = self.statement(&d.origin, &d.uuid)? else {
                continue;
            };
            let doc = Self::liaison_doc(&d.origin, &s);
            let recipients = self.node.recipient_states(&d.origin, &s)?;
            let ours: Vec<_> = recipients
                .iter()
                .filter(|r| r.org == self.own.as_str())
                .collect();
            let purpose = ours
                .iter()
                .map(|r| r.purpose())
                .find(|p| asks_for_work(*p))
                .or_else(|| ours.first().map(|r| r.purpose()))
                .unwrap_or_else(|| liaison::purpose(&s));
            let purpose = words::purpose(purpose).to_string();
            // Ours: our own deadline where the statement gives us one
            // (per-recipient), else the statement's; none for information.
            let deadline =
                s.to.iter()
                    .chain(&s.cc)
                    .filter(|a| a.org == self.own.as_str())
                    .filter_map(|a| liaison::effective_deadline(&s, a))
                    .min_by_key(Deadline::ends_at);
            if &d.origin != self.own && self.fresh(entry.created_at()) {
                let mut e = self.event(
                    format!("liaison:{}:{}", doc.origin, doc.uuid),
                    EventKind::Liaison,
                    &doc,
                    format!(
                        "Liaison statement from {} for {}: \"{}\"",
                        doc.origin,
                        purpose.replace('_', " "),
                        doc.title
                    ),
                );
                e.purpose = Some(purpose.clone());
                e.deadline = deadline.map(|d| d.to_string());
                e.deadline_at = deadline.map(|d| rfc3339(d.ends_at()));
                out.push(e);
            }
            let pending = ours.iter().any(|r| {
                asks_for_work(r.purpose()) && r.action_state() != ActionState::ActionTaken
            });
            if let (true, Some(deadline)) = (pending, deadline) {
                let overdue = ours.iter().any(|r| r.overdue);
                let before = out.len();
                self.deadline_events(&doc, &deadline, deadline.to_string(), &[], overdue, out);
                for e in &mut out[before..] {
                    e.purpose = Some(purpose.clone());
                }
            }
        }
        Ok(())
    }

    /// Our own statements: receipts for them, and reminders and overdue while
    /// a recipient owes action.
    fn outbox(&self, out: &mut Vec<Event>) -> Result<(), NotifyError> {
        let store = self.node.store();
        for d in store.documents(EntryKind::Liaison)? {
            if &d.origin != self.own {
                continue;
            }
            let Some((_, s)) = self.statement(&d.origin, &d.uuid)? else {
                continue;
            };
            let doc = Self::liaison_doc(&d.origin, &s);
            for pos in store.receipts_for(&d.origin, &d.uuid)? {
                if &pos.origin == self.own {
                    continue;
                }
                let Some(entry) = store.entry(&pos.origin, pos.seq)? else {
                    continue;
                };
                if entry.is_redacted() || !self.fresh(entry.created_at()) {
                    continue;
                }
                let Ok(Body::Receipt(r)) = document::decode_for(&entry) else {
                    continue;
                };
                let status = words::receipt(r.status());
                let mut e = self.event(
                    format!("receipt:{}:{}", pos.origin, pos.seq),
                    EventKind::Receipt,
                    &doc,
                    format!(
                        "{} acknowledged \"{}\": {}",
                        pos.origin,
                        doc.title,
                        status.replace('_', " ")
                    ),
                );
                e.by = Some(pos.origin.to_string());
                e.status = Some(status.to_string());
                out.push(e);
            }
            // Recipients owing action, by deadline: each recipient has its
            // own or the statement's, so one statement may remind twice.
            let recipients = self.node.recipient_states(&d.origin, &s)?;
            let addressees = s.to.iter().chain(&s.cc);
            let mut by_deadline: Vec<(Deadline, Vec<String>, Vec<String>)> = Vec::new();
            for (a, r) in addressees.zip(&recipients) {
                if r.org == self.own.as_str()
                    || !asks_for_work(r.purpose())
                    || r.action_state() == ActionState::ActionTaken
                {
                    continue;
                }
                let Some(deadline) = liaison::effective_deadline(&s, a) else {
                    continue;
                };
                let who = display(&r.org, &r.group);
                let late = r.overdue.then(|| who.clone());
                match by_deadline.iter_mut().find(|(d, _, _)| *d == deadline) {
                    Some((_, owing, overdue)) => {
                        owing.push(who);
                        overdue.extend(late);
                    }
                    None => by_deadline.push((deadline, vec![who], late.into_iter().collect())),
                }
            }
            for (deadline, owing, late) in by_deadline {
                let before = out.len();
                self.deadline_events(
                    &doc,
                    &deadline,
                    deadline.to_string(),
                    &owing,
                    !late.is_empty(),
                    out,
                );
                // A recipient's own deadline gets overdue events of its own
                // (the statement's keep their ids of old).
                let own_deadline = liaison::deadline(&s) != Some(deadline);
                for e in &mut out[before..] {
                    if e.event == EventKind::Overdue {
                        e.recipients = late.clone();
                        if own_deadline {
                            e.id = format!("{}:{}", e.id, deadline.date);
                        }
                    }
                    e.purpose = Some(words::purpose(liaison::purpose(&s)).to_string());
                }
            }
        }
        Ok(())
    }
}

fn display(org: &str, group: &str) -> String {
    if group.is_empty() {
        org.to_string()
    } else {
        format!("{org}/{group}")
    }
}

/// English when there is one, else the first language given.
fn pick_text(texts: &[proto::Text]) -> String {
    texts
        .iter()
        .find(|t| t.lang == "en" || t.lang.starts_with("en-"))
        .or_else(|| texts.first())
        .map(|t| t.value.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_is_reached_once_as_days_go_by() {
        let days = [0, 1, 3, 7, 14];
        let fired: Vec<_> = (-2..=20)
            .rev()
            .filter_map(|left| reminder_threshold(left, &days))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(fired, vec![0, 1, 3, 7, 14]);
        assert_eq!(reminder_threshold(20, &days), None);
        assert_eq!(reminder_threshold(5, &days), Some(7));
        assert_eq!(reminder_threshold(-1, &days), None);
    }
}
