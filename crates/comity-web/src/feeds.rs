//! Feeds for the tools people already use: Atom (RFC 4287) for feed readers
//! and iCalendar (RFC 5545) for calendars.
//!
//! - `GET /feeds/consultations.atom[?origin=ORG]`: consultations held here;
//! - `GET /feeds/liaisons.atom[?origin=ORG]`: liaison statements held here;
//! - `GET /calendar/deadlines.ics[?origin=ORG]`: one event per consultation
//!   close (and reply-period close) and per liaison deadline.
//!
//! Only **public** entries appear: a restricted statement is never in a feed,
//! not even on a node that may read it, because feeds are fetched without a
//! login. Each document appears once, at its latest revision:
//!
//! - an Atom entry's id is `urn:comity:<origin>:<uuid>`, stable across
//!   revisions, and its `updated` is the latest revision's time, so readers
//!   show a revision as an update of the same item;
//! - an event's UID is `urn:comity:<origin>:<uuid>:<which date>` and its
//!   SEQUENCE the document's revision, so an extension replaces the event.
//!
//! Links point at the dashboard pages `/consultations/<origin>/<uuid>` and
//! `/liaisons/<origin>/<uuid>` under [`Node::http_url`].
//!
//! The Atom XML is written by the `atom_syndication` crate; the calendar by
//! hand (it is a small line format): CRLF line ends, text escaped, lines
//! folded at 75 octets without splitting a UTF-8 character.

use atom_syndication as atom;
use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use comity_core::{
    EntryKind, OrgId, SignedEntry, dates,
    document::{self, first_text},
    entry::Audience,
    liaison,
    proto::{self, document::Body},
};
use comity_node::{Node, NodeError, words};
use std::{collections::HashMap, sync::Arc};
use time::OffsetDateTime;

const ATOM_TYPE: &str = "application/atom+xml; charset=utf-8";
const CALENDAR_TYPE: &str = "text/calendar; charset=utf-8";

/// The feed and calendar routes, with the node as state.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/feeds/consultations.atom", get(consultations_feed))
        .route("/feeds/liaisons.atom", get(liaisons_feed))
        .route("/calendar/deadlines.ics", get(deadlines_calendar))
        .with_state(node)
}

/// Why a feed could not be produced; plain text, as feed readers show it.
#[derive(Debug)]
struct FeedError(StatusCode, String);

impl From<NodeError> for FeedError {
    fn from(e: NodeError) -> Self {
        let status = crate::edge::status_of(&e);
        if status.is_server_error() {
            tracing::warn!(error = %e, "feed failed");
        }
        Self(status, e.to_string())
    }
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.1),
        )
            .into_response()
    }
}

/// `?origin=ORG`: the only parameter; others are ignored, as feed readers
/// sometimes add their own.
fn origin_filter(query: &HashMap<String, String>) -> Result<Option<OrgId>, FeedError> {
    match query.get("origin").map(|o| o.trim()) {
        None | Some("") => Ok(None),
        Some(text) => OrgId::new(text)
            .map(Some)
            .map_err(|e| FeedError(StatusCode::BAD_REQUEST, format!("origin: {e}"))),
    }
}

/// Where people reach the dashboard, without a trailing slash.
fn base_url(node: &Node) -> String {
    node.http_url()
        .unwrap_or_else(|| format!("http://{}", node.config().http.listen))
        .trim_end_matches('/')
        .to_string()
}

/// A public document held here, at its latest revision.
struct PublicDoc {
    origin: OrgId,
    uuid: String,
    /// The entry carrying the latest revision.
    latest: SignedEntry,
    /// When the first revision was published.
    first_published: Option<prost_types::Timestamp>,
    body: Body,
}

impl PublicDoc {
    fn updated(&self) -> prost_types::Timestamp {
        self.latest.created_at().copied().unwrap_or_default()
    }
    fn published(&self) -> prost_types::Timestamp {
        self.first_published.unwrap_or_else(|| self.updated())
    }
    fn atom_id(&self) -> String {
        format!("urn:comity:{}:{}", self.origin, self.uuid)
    }
}

/// Every public document of `kind`, latest revision first; restricted and
/// redacted ones are left out.
fn public_documents(
    node: &Node,
    kind: EntryKind,
    origin: Option<&OrgId>,
) -> Result<Vec<PublicDoc>, NodeError> {
    let store = node.store();
    let mut docs = Vec::new();
    for doc in store.documents(kind)? {
        if origin.is_some_and(|o| o != &doc.origin) {
            continue;
        }
        let Some(latest) = store.entry(&doc.origin, doc.seq)? else {
            continue;
        };
        if !matches!(latest.audience(), Audience::Public) || latest.is_redacted() {
            continue;
        }
        let Ok(body) = document::decode_for(&latest) else {
            continue;
        };
        let first_published = match store
            .document_revisions(kind, &doc.origin, &doc.uuid)?
            .first()
        {
            Some(&seq) => store
                .entry(&doc.origin, seq)?
                .and_then(|e| e.created_at().copied()),
            None => None,
        };
        docs.push(PublicDoc {
            origin: doc.origin,
            uuid: doc.uuid,
            latest,
            first_published,
            body,
        });
    }
    docs.sort_by_key(|d| {
        let t = d.updated();
        std::cmp::Reverse((t.seconds, t.nanos))
    });
    Ok(docs)
}

/// Organisation names from their profiles, looked up once per origin.
struct Names<'a> {
    node: &'a Node,
    cache: HashMap<OrgId, String>,
}

impl<'a> Names<'a> {
    fn new(node: &'a Node) -> Self {
        Self {
            node,
            cache: HashMap::new(),
        }
    }

    fn of(&mut self, org: &OrgId) -> String {
        if let Some(name) = self.cache.get(org) {
            return name.clone();
        }
        let name = self
            .node
            .profile_of(org)
            .ok()
            .flatten()
            .map(|p| first_text(&p.names))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| org.to_string());
        self.cache.insert(org.clone(), name.clone());
        name
    }
}

/// The English text, else the first non-empty one, with its language.
fn pick_text(texts: &[proto::Text]) -> Option<&proto::Text> {
    texts
        .iter()
        .find(|t| t.lang == "en" && !t.value.trim().is_empty())
        .or_else(|| texts.iter().find(|t| !t.value.trim().is_empty()))
}

fn day(t: Option<&prost_types::Timestamp>) -> String {
    t.map(dates::format_day_or_time).unwrap_or_default()
}

// ------------------------------------------------------------------ Atom

fn atom_time(t: &prost_types::Timestamp) -> atom::FixedDateTime {
    dates::format_timestamp(t)
        .parse()
        .unwrap_or_else(|_| atom::FixedDateTime::default())
}

fn text(value: String, lang: Option<&str>) -> atom::Text {
    atom::Text {
        value,
        lang: lang.filter(|l| !l.is_empty()).map(str::to_string),
        ..atom::Text::plain("")
    }
}

fn link(href: String, rel: &str, mime_type: &str) -> atom::Link {
    atom::Link {
        href,
        rel: rel.to_string(),
        mime_type: Some(mime_type.to_string()),
        ..Default::default()
    }
}

fn person(name: String, uri: Option<String>) -> atom::Person {
    atom::Person {
        name,
        uri,
        ..Default::default()
    }
}

/// What a feed is about, for its id, title and links.
struct FeedSpec<'a> {
    /// "consultations" or "liaisons".
    what: &'a str,
    title: &'a str,
    origin: Option<&'a OrgId>,
}

fn feed(node: &Node, spec: &FeedSpec<'_>, entries: Vec<atom::Entry>) -> atom::Feed {
    let base = base_url(node);
    let our_name = node.config().name.clone();
    let (id, self_href, title) = match spec.origin {
        None => (
            format!("urn:comity:{}:feed:{}", node.org(), spec.what),
            format!("{base}/feeds/{}.atom", spec.what),
            format!("{} — {}", spec.title, our_name),
        ),
        Some(origin) => (
            format!(
                "urn:comity:{}:feed:{}:origin:{origin}",
                node.org(),
                spec.what
            ),
            format!("{base}/feeds/{}.atom?origin={origin}", spec.what),
            format!("{} from {origin} — {}", spec.title, our_name),
        ),
    };
    let updated = entries
        .iter()
        .map(|e| e.updated)
        .max()
        .unwrap_or_else(|| atom_time(&dates::to_timestamp(node.now())));
    atom::Feed {
        title: text(title, None),
        id,
        updated,
        authors: vec![person(our_name, Some(base.clone()))],
        generator: Some(atom::Generator {
            value: "Comity".into(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
        links: vec![
            link(self_href, "self", "application/atom+xml"),
            link(format!("{base}/{}", spec.what), "alternate", "text/html"),
        ],
        entries,
        ..Default::default()
    }
}

fn atom_response(feed: &atom::Feed) -> Result<Response, FeedError> {
    let bytes = feed.write_to(Vec::new()).map_err(|e| {
        FeedError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the feed: {e}"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, ATOM_TYPE)], bytes).into_response())
}

fn consultation_entry(
    node: &Node,
    base: &str,
    names: &mut Names<'_>,
    doc: &PublicDoc,
    c: &proto::Consultation,
) -> atom::Entry {
    let title = pick_text(&c.title);
    let author = names.of(&doc.origin);
    let mut details = vec![
        format!("Consultation of {author}."),
        format!(
            "Status: {}.",
            words::phase(node.consultation_phase(c)).replace('_', " ")
        ),
    ];
    if c.opens_at.is_some() {
        details.push(format!("Opens: {}.", day(c.opens_at.as_ref())));
    }
    details.push(format!("Closes: {}.", day(c.closes_at.as_ref())));
    if c.reply_closes_at.is_some() {
        details.push(format!(
            "Reply period closes: {}.",
            day(c.reply_closes_at.as_ref())
        ));
    }
    if !c.topics.is_empty() {
        details.push(format!("Topics: {}.", c.topics.join(", ")));
    }
    let body = pick_text(&c.body);
    let mut content = details.join("\n");
    if let Some(body) = body {
        content.push_str("\n\n");
        content.push_str(&body.value);
    }
    let summary = match pick_text(&c.summary) {
        Some(s) => text(s.value.clone(), Some(&s.lang)),
        None => text(
            format!(
                "Consultation of {author}; comments close {}.",
                day(c.closes_at.as_ref())
            ),
            None,
        ),
    };
    let mut links = vec![link(
        format!("{base}/consultations/{}/{}", doc.origin, doc.uuid),
        "alternate",
        "text/html",
    )];
    if !c.link.is_empty() {
        links.push(atom::Link {
            href: c.link.clone(),
            rel: "related".into(),
            ..Default::default()
        });
    }
    atom::Entry {
        title: text(
            title
                .map(|t| t.value.clone())
                .unwrap_or_else(|| doc.uuid.clone()),
            title.map(|t| t.lang.as_str()),
        ),
        id: doc.atom_id(),
        updated: atom_time(&doc.updated()),
        published: Some(atom_time(&doc.published())),
        authors: vec![person(author, None)],
        categories: c
            .topics
            .iter()
            .map(|t| atom::Category {
                term: t.clone(),
                ..Default::default()
            })
            .collect(),
        links,
        summary: Some(summary),
        content: Some(atom::Content {
            value: Some(content),
            content_type: Some("text".into()),
            lang: body.map(|b| b.lang.clone()).filter(|l| !l.is_empty()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn liaison_entry(
    base: &str,
    names: &mut Names<'_>,
    doc: &PublicDoc,
    s: &proto::LiaisonStatement,
) -> atom::Entry {
    let author = names.of(&doc.origin);
    let purpose = liaison::purpose_name(liaison::purpose(s));
    let from = if s.from_groups.is_empty() {
        doc.origin.to_string()
    } else {
        s.from_groups.join(", ")
    };
    let to: Vec<String> = s.to.iter().map(liaison::display_addressee).collect();
    let mut summary = format!("For {purpose}, from {from} to {}", to.join(", "));
    if !s.cc.is_empty() {
        let cc: Vec<String> = s.cc.iter().map(liaison::display_addressee).collect();
        summary.push_str(&format!(" (cc {})", cc.join(", ")));
    }
    if let Some(deadline) = liaison::earliest_deadline(s) {
        summary.push_str(&format!("; deadline {deadline}"));
    }
    summary.push('.');
    if s.state == proto::LiaisonState::Withdrawn as i32 {
        summary.push_str(" Withdrawn.");
    }
    atom::Entry {
        title: text(s.title.clone(), s.body.as_ref().map(|b| b.lang.as_str())),
        id: doc.atom_id(),
        updated: atom_time(&doc.updated()),
        published: Some(atom_time(&doc.published())),
        authors: vec![person(author, None)],
        categories: vec![atom::Category {
            term: purpose.replace(' ', "_"),
            ..Default::default()
        }],
        links: vec![link(
            format!("{base}/liaisons/{}/{}", doc.origin, doc.uuid),
            "alternate",
            "text/html",
        )],
        summary: Some(text(summary, None)),
        content: s
            .body
            .as_ref()
            .filter(|b| !b.value.trim().is_empty())
            .map(|b| atom::Content {
                value: Some(b.value.clone()),
                content_type: Some("text".into()),
                lang: Some(b.lang.clone()).filter(|l| !l.is_empty()),
                ..Default::default()
            }),
        ..Default::default()
    }
}

/// Runs store work off the async workers.
async fn blocking<T: Send + 'static>(
    node: Arc<Node>,
    f: impl FnOnce(&Node) -> Result<T, FeedError> + Send + 'static,
) -> Result<T, FeedError> {
    crate::edge::blocking(&node, f).await
}

async fn consultations_feed(
    State(node): State<Arc<Node>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, FeedError> {
    let origin = origin_filter(&query)?;
    let feed = blocking(node, move |node| {
        let base = base_url(node);
        let mut names = Names::new(node);
        let entries = public_documents(node, EntryKind::Consultation, origin.as_ref())?
            .iter()
            .filter_map(|doc| match &doc.body {
                Body::Consultation(c) => Some(consultation_entry(node, &base, &mut names, doc, c)),
                _ => None,
            })
            .collect();
        let spec = FeedSpec {
            what: "consultations",
            title: "Consultations",
            origin: origin.as_ref(),
        };
        Ok(feed(node, &spec, entries))
    })
    .await?;
    atom_response(&feed)
}

async fn liaisons_feed(
    State(node): State<Arc<Node>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, FeedError> {
    let origin = origin_filter(&query)?;
    let feed = blocking(node, move |node| {
        let base = base_url(node);
        let mut names = Names::new(node);
        let entries = public_documents(node, EntryKind::Liaison, origin.as_ref())?
            .iter()
            .filter_map(|doc| match &doc.body {
                Body::Liaison(s) if is_sent(s) => Some(liaison_entry(&base, &mut names, doc, s)),
                _ => None,
            })
            .collect();
        let spec = FeedSpec {
            what: "liaisons",
            title: "Liaison statements",
            origin: origin.as_ref(),
        };
        Ok(feed(node, &spec, entries))
    })
    .await?;
    atom_response(&feed)
}

/// Only posted (and withdrawn) statements travel; anything else in a log is
/// malformed, and left out.
fn is_sent(s: &proto::LiaisonStatement) -> bool {
    s.state == proto::LiaisonState::Posted as i32
        || s.state == proto::LiaisonState::Withdrawn as i32
}

// -------------------------------------------------------------- iCalendar

/// An iCalendar object being written: content lines, folded, CRLF-ended.
#[derive(Default)]
struct Ics {
    out: String,
}

impl Ics {
    /// One content line, folded so that no physical line exceeds 75 octets
    /// (RFC 5545 §3.1); continuation lines start with one space. A fold
    /// never splits a UTF-8 character or a backslash escape.
    fn line(&mut self, content: &str) {
        let mut width = 0;
        let mut chars = content.chars();
        while let Some(c) = chars.next() {
            let mut unit = String::from(c);
            if c == '\\'
                && let Some(next) = chars.next()
            {
                unit.push(next);
            }
            if width + unit.len() > 75 {
                self.out.push_str("\r\n ");
                width = 1;
            }
            self.out.push_str(&unit);
            width += unit.len();
        }
        self.out.push_str("\r\n");
    }

    fn prop(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{value}"));
    }

    fn text(&mut self, name: &str, value: &str) {
        self.prop(name, &escape_text(value));
    }
}

/// TEXT values (RFC 5545 §3.3.11): backslash, semicolon, comma and newline
/// escaped; other control characters dropped.
fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A UTC DATE-TIME (form #2): `20270401T115959Z`.
fn ics_time(t: OffsetDateTime) -> String {
    let t = dates::in_utc(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn ics_timestamp(t: &prost_types::Timestamp) -> String {
    ics_time(dates::from_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// One deadline, as a VEVENT.
struct Event {
    uid: String,
    sequence: u32,
    /// Last revision of the document: DTSTAMP and LAST-MODIFIED.
    stamp: prost_types::Timestamp,
    created: prost_types::Timestamp,
    start: OffsetDateTime,
    summary: String,
    description: String,
    url: String,
    cancelled: bool,
    category: &'static str,
}

impl Event {
    fn write(&self, ics: &mut Ics) {
        ics.prop("BEGIN", "VEVENT");
        ics.text("UID", &self.uid);
        ics.prop("SEQUENCE", &self.sequence.to_string());
        ics.prop("DTSTAMP", &ics_timestamp(&self.stamp));
        ics.prop("CREATED", &ics_timestamp(&self.created));
        ics.prop("LAST-MODIFIED", &ics_timestamp(&self.stamp));
        ics.prop("DTSTART", &ics_time(self.start));
        ics.text("SUMMARY", &self.summary);
        ics.text("DESCRIPTION", &self.description);
        ics.prop("URL", &self.url);
        ics.text("CATEGORIES", self.category);
        ics.prop(
            "STATUS",
            if self.cancelled {
                "CANCELLED"
            } else {
                "CONFIRMED"
            },
        );
        ics.prop("TRANSP", "TRANSPARENT");
        ics.prop("END", "VEVENT");
    }
}

fn consultation_events(
    base: &str,
    names: &mut Names<'_>,
    doc: &PublicDoc,
    c: &proto::Consultation,
) -> Vec<Event> {
    let title = first_text(&c.title);
    let author = names.of(&doc.origin);
    let url = format!("{base}/consultations/{}/{}", doc.origin, doc.uuid);
    let cancelled = c.status == proto::ConsultationStatus::Withdrawn as i32;
    let summary = pick_text(&c.summary).map(|s| s.value.clone());
    let mut events = Vec::new();
    let dates = [
        (c.closes_at.as_ref(), "closes", "Consultation closes"),
        (
            c.reply_closes_at.as_ref(),
            "reply-closes",
            "Reply period closes",
        ),
    ];
    for (at, which, label) in dates {
        let Some(start) = at.and_then(dates::from_timestamp) else {
            continue;
        };
        let mut description = format!(
            "{label} {}: consultation of {author}, revision {}.",
            day(at),
            c.revision
        );
        if let Some(summary) = &summary {
            description.push_str("\n\n");
            description.push_str(summary);
        }
        events.push(Event {
            uid: format!("{}:{which}", doc.atom_id()),
            sequence: c.revision,
            stamp: doc.updated(),
            created: doc.published(),
            start,
            summary: format!("{label}: {title} ({})", doc.origin),
            description,
            url: url.clone(),
            cancelled,
            category: "Consultation",
        });
    }
    events
}

fn liaison_event(
    base: &str,
    names: &mut Names<'_>,
    doc: &PublicDoc,
    s: &proto::LiaisonStatement,
) -> Option<Event> {
    // The earliest any recipient has (its own, else the statement's).
    let deadline = liaison::earliest_deadline(s)?;
    let purpose = liaison::needs_deadline(s).unwrap_or_else(|| liaison::purpose(s));
    let purpose = liaison::purpose_name(purpose);
    let to: Vec<String> = s.to.iter().map(liaison::display_addressee).collect();
    let from = if s.from_groups.is_empty() {
        names.of(&doc.origin)
    } else {
        s.from_groups.join(", ")
    };
    Some(Event {
        uid: format!("{}:deadline", doc.atom_id()),
        sequence: s.revision,
        stamp: doc.updated(),
        created: doc.published(),
        start: deadline.ends_at(),
        summary: format!("Liaison deadline ({purpose}): {} ({})", s.title, doc.origin),
        description: format!(
            "Liaison statement from {from} to {}, for {purpose}. Deadline {deadline}.",
            to.join(", ")
        ),
        url: format!("{base}/liaisons/{}/{}", doc.origin, doc.uuid),
        cancelled: s.state == proto::LiaisonState::Withdrawn as i32,
        category: "Liaison",
    })
}

fn calendar(node: &Node, origin: Option<&OrgId>) -> Result<String, NodeError> {
    let base = base_url(node);
    let mut names = Names::new(node);
    let mut events = Vec::new();
    for doc in public_documents(node, EntryKind::Consultation, origin)? {
        if let Body::Consultation(c) = &doc.body {
            events.extend(consultation_events(&base, &mut names, &doc, c));
        }
    }
    for doc in public_documents(node, EntryKind::Liaison, origin)? {
        if let Body::Liaison(s) = &doc.body
            && is_sent(s)
        {
            events.extend(liaison_event(&base, &mut names, &doc, s));
        }
    }
    events.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.uid.cmp(&b.uid)));
    let mut ics = Ics::default();
    ics.prop("BEGIN", "VCALENDAR");
    ics.prop("VERSION", "2.0");
    ics.prop(
        "PRODID",
        &format!("-//Comity//Comity {}//EN", env!("CARGO_PKG_VERSION")),
    );
    ics.prop("CALSCALE", "GREGORIAN");
    let name = match origin {
        None => format!("Deadlines — {}", node.config().name),
        Some(o) => format!("Deadlines of {o} — {}", node.config().name),
    };
    ics.text("X-WR-CALNAME", &name);
    for event in &events {
        event.write(&mut ics);
    }
    ics.prop("END", "VCALENDAR");
    Ok(ics.out)
}

async fn deadlines_calendar(
    State(node): State<Arc<Node>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, FeedError> {
    let origin = origin_filter(&query)?;
    let body = blocking(node, move |node| Ok(calendar(node, origin.as_ref())?)).await?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CALENDAR_TYPE),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let mut ics = Ics::default();
        let value = "é".repeat(100);
        ics.text("SUMMARY", &value);
        for line in ics.out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        let unfolded = ics.out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("SUMMARY:{value}\r\n"));
    }

    #[test]
    fn folds_never_split_an_escape() {
        for shift in 0..3 {
            let mut ics = Ics::default();
            ics.text(
                "SUMMARY",
                &format!("{}{}", "x".repeat(shift), ";,".repeat(60)),
            );
            for line in ics.out.split("\r\n").filter(|l| !l.is_empty()) {
                assert!(line.len() <= 75, "{line}");
                let trailing = line.len() - line.trim_end_matches('\\').len();
                assert_eq!(trailing % 2, 0, "a fold splits an escape: {line}");
            }
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
    }

    #[test]
    fn times_are_utc() {
        let t = dates::parse_end("2027-03-31").unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(ics_time(t), "20270401T115959Z");
    }
}
