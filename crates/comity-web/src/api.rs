//! The JSON read API under `/api/v1/`: the CLI's lists and shows, for other
//! tools (ticket systems, chat bots, scripts).
//!
//! | route | mirrors |
//! | --- | --- |
//! | `GET /api/v1/status` | `comity status` (`StatusResponse`) |
//! | `GET /api/v1/peers` | `comity peer list` (`ListPeersResponse`) |
//! | `GET /api/v1/log?origin=&after_seq=&limit=` | `comity log` (`ListEntriesResponse`) |
//! | `GET /api/v1/consultations?open=&origin=&topic=&lang=&status=` | `comity consultation list` |
//! | `GET /api/v1/consultations/{origin}/{uuid}` | `comity consultation show` (`ConsultationView`) |
//! | `GET /api/v1/liaisons?box=inbox\|outbox\|awaiting_action\|overdue` | `comity liaison list` |
//! | `GET /api/v1/liaisons/{origin}/{uuid}` | `comity liaison show` (`LiaisonView`) |
//!
//! Field names are the proto messages' (snake_case); lists come wrapped in an
//! object named as in the proto response (`{"consultations": [...]}`);
//! timestamps are RFC 3339 in UTC, or null; hashes and entry ids are hex;
//! enums are their value names without prefix, lower case (`"open"`,
//! `"action"`); empty optional strings are null. The JSON shapes of the
//! documents are those of the CLI's `--json`.
//!
//! Errors are `{"error": "..."}` with 400 for bad input (unknown query
//! parameter, malformed origin or uuid, unknown box or status), 404 for a
//! document not held here or an unknown route, 403/409/500 as the node says.
//!
//! A restricted statement this node may not read appears only as its
//! redacted summary (`"redacted": true`, no statement). Statements this node
//! *may* read are shown whole: the router applies no authentication, so
//! whoever mounts it decides who may call it.

use axum::{
    Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use comity_core::{
    OrgId, SignedEntry, dates, document,
    proto::{self, list_liaisons_request::Box as LiaisonBox},
};
use comity_node::{Node, NodeError, peers};
use serde_json::{Value, json};
use std::{collections::HashMap, sync::Arc};

/// The `/api/v1` routes, with the node as state.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/peers", get(list_peers))
        .route("/api/v1/log", get(log))
        .route("/api/v1/consultations", get(list_consultations))
        .route(
            "/api/v1/consultations/{origin}/{uuid}",
            get(show_consultation),
        )
        .route("/api/v1/liaisons", get(list_liaisons))
        .route("/api/v1/liaisons/{origin}/{uuid}", get(show_liaison))
        .route("/api/v1", any(unknown_route))
        .route("/api/v1/", any(unknown_route))
        .route("/api/v1/{*rest}", any(unknown_route))
        .with_state(node)
}

// ---------------------------------------------------------------- plumbing

/// An error answered as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = match &e {
            NodeError::InvalidArgument(_)
            | NodeError::Document(_)
            | NodeError::Verify(_)
            | NodeError::WrongOrigin { .. }
            | NodeError::OwnOrigin => StatusCode::BAD_REQUEST,
            NodeError::NotFound(_) => StatusCode::NOT_FOUND,
            NodeError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            NodeError::FailedPrecondition(_)
            | NodeError::Frozen(_)
            | NodeError::Equivocation { .. } => StatusCode::CONFLICT,
            NodeError::Peer { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %e, "API request failed");
        }
        Self {
            status,
            message: e.to_string(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_request(e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(&json!({ "error": self.message }));
        *response.status_mut() = self.status;
        response
    }
}

fn json_response(value: &Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json")],
            format!(
                "{{\"error\":\"cannot render JSON: {}\"}}",
                e.to_string().replace('"', "'")
            ),
        )
            .into_response(),
    }
}

type ApiResult = Result<Response, ApiError>;

/// Runs store work off the async workers and renders its JSON.
async fn blocking(
    node: Arc<Node>,
    f: impl FnOnce(&Node) -> Result<Value, ApiError> + Send + 'static,
) -> ApiResult {
    let value = tokio::task::spawn_blocking(move || f(&node))
        .await
        .map_err(|e| ApiError::internal(format!("API task failed: {e}")))??;
    Ok(json_response(&value))
}

/// Query parameters, each allowed at most once; unknown ones are refused so
/// that a typo does not silently widen a list.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let Query(pairs) = query?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::bad_request(if allowed.is_empty() {
                    format!("unknown query parameter {key:?}: this route takes none")
                } else {
                    format!(
                        "unknown query parameter {key:?}: this route takes {}",
                        allowed.join(", ")
                    )
                }));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::bad_request(format!(
                    "query parameter {key:?} is given twice"
                )));
            }
        }
        Ok(Self(map))
    }

    fn text(&self, key: &str) -> String {
        self.0
            .get(key)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }

    fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.0.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) => match v.as_str() {
                "" | "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "{key} must be true or false, not {v:?}"
                ))),
            },
        }
    }

    fn number<T: std::str::FromStr + Default>(&self, key: &str) -> Result<T, ApiError> {
        match self.0.get(key).map(|v| v.trim()) {
            None | Some("") => Ok(T::default()),
            Some(v) => v.parse().map_err(|_| {
                ApiError::bad_request(format!("{key} must be a whole number, not {v:?}"))
            }),
        }
    }

    fn origin(&self) -> Result<Option<OrgId>, ApiError> {
        match self.text("origin") {
            o if o.is_empty() => Ok(None),
            o => OrgId::new(o)
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("origin: {e}"))),
        }
    }
}

/// `{origin}/{uuid}` from the path, checked.
fn doc_ref(origin: String, uuid: String, what: &str) -> Result<(OrgId, String), ApiError> {
    Ok(comity_node::workflow::parse_ref(
        Some(&proto::DocumentRef { origin, uuid }),
        what,
    )?)
}

async fn unknown_route() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such API route: see /api/v1/status, /api/v1/peers, /api/v1/log, \
                  /api/v1/consultations and /api/v1/liaisons"
            .into(),
    }
}

// ---------------------------------------------------------------- handlers

async fn status(
    State(node): State<Arc<Node>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    Params::parse(query, &[])?;
    blocking(node, |node| {
        let store = node.store();
        let mut heads = Vec::new();
        for (origin, head) in node.heads()? {
            heads.push(json!({
                "origin": origin.to_string(),
                "seq": head.seq,
                "hash": head.hash.to_hex(),
                "frozen": store.is_frozen(&origin).map_err(NodeError::from)?,
            }));
        }
        let equivocations: Vec<Value> = store
            .equivocations()
            .map_err(NodeError::from)?
            .iter()
            .map(|e| {
                json!({
                    "origin": e.origin.to_string(),
                    "seq": e.seq,
                    "held_id": e.held_id().to_hex(),
                    "conflicting_id": e.conflicting_id().to_hex(),
                    "reported_by": e.reported_by.to_string(),
                    "detected_at": time_json(Some(&prost_types::Timestamp {
                        seconds: e.detected_at,
                        nanos: 0,
                    })),
                })
            })
            .collect();
        Ok(json!({
            "org": node.org().to_string(),
            "key": node.public_key().to_string(),
            "endpoint": node.config().endpoint(),
            "listen": node.config().listen.to_string(),
            "heads": heads,
            "peers": peers_json(node)?,
            "equivocations": equivocations,
            "version": env!("CARGO_PKG_VERSION"),
            "http": opt_string(node.http_url()),
        }))
    })
    .await
}

async fn list_peers(
    State(node): State<Arc<Node>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    Params::parse(query, &[])?;
    blocking(node, |node| Ok(json!({ "peers": peers_json(node)? }))).await
}

async fn log(
    State(node): State<Arc<Node>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let params = Params::parse(query, &["origin", "after_seq", "limit"])?;
    let origin = params.origin()?;
    let after_seq: u64 = params.number("after_seq")?;
    let limit = match params.number::<u32>("limit")? {
        0 => usize::MAX,
        n => n as usize,
    };
    blocking(node, move |node| {
        let origins = match origin {
            Some(o) => vec![o],
            None => node.heads()?.into_iter().map(|(o, _)| o).collect(),
        };
        let mut entries = Vec::new();
        for origin in origins {
            let held = node
                .store()
                .entries_after(&origin, after_seq, limit)
                .map_err(NodeError::from)?;
            entries.extend(held.iter().map(entry_json));
        }
        Ok(json!({ "entries": entries }))
    })
    .await
}

const STATUSES: &[&str] = &[
    "draft",
    "upcoming",
    "open",
    "reply_period",
    "closed",
    "withdrawn",
    "report_published",
];

async fn list_consultations(
    State(node): State<Arc<Node>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let params = Params::parse(query, &["open", "origin", "topic", "lang", "status"])?;
    let lang = params.text("lang");
    if !lang.is_empty() {
        document::check_language_tag(&lang)
            .map_err(|e| ApiError::bad_request(format!("lang: {e}")))?;
    }
    let status = params.text("status");
    if !status.is_empty() && !STATUSES.contains(&status.as_str()) {
        return Err(ApiError::bad_request(format!(
            "status {status:?} is not one of {}",
            STATUSES.join(", ")
        )));
    }
    let filter = proto::ListConsultationsRequest {
        open: params.flag("open")?,
        origin: params.origin()?.map(|o| o.to_string()).unwrap_or_default(),
        topic: params.text("topic"),
        lang,
        status,
    };
    blocking(node, move |node| {
        let list = node.list_consultations(&filter)?;
        Ok(json!({
            "consultations": list.iter().map(consultation_summary_json).collect::<Vec<_>>(),
        }))
    })
    .await
}

async fn show_consultation(
    State(node): State<Arc<Node>>,
    Path((origin, uuid)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    Params::parse(query, &[])?;
    let (origin, uuid) = doc_ref(origin, uuid, "consultation")?;
    blocking(node, move |node| {
        Ok(consultation_view_json(
            &node.show_consultation(&origin, &uuid)?,
        ))
    })
    .await
}

async fn list_liaisons(
    State(node): State<Arc<Node>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let params = Params::parse(query, &["box"])?;
    let which = match params.text("box").replace('-', "_").as_str() {
        "inbox" => LiaisonBox::Inbox,
        "outbox" => LiaisonBox::Outbox,
        "awaiting_action" => LiaisonBox::AwaitingAction,
        "overdue" => LiaisonBox::Overdue,
        "" => {
            return Err(ApiError::bad_request(
                "choose a box: ?box=inbox, outbox, awaiting_action or overdue",
            ));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "box {other:?} is not one of inbox, outbox, awaiting_action, overdue"
            )));
        }
    };
    blocking(node, move |node| {
        let list = node.list_liaisons(which)?;
        Ok(json!({
            "liaisons": list.iter().map(liaison_summary_json).collect::<Vec<_>>(),
        }))
    })
    .await
}

async fn show_liaison(
    State(node): State<Arc<Node>>,
    Path((origin, uuid)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    Params::parse(query, &[])?;
    let (origin, uuid) = doc_ref(origin, uuid, "liaison")?;
    blocking(node, move |node| {
        Ok(liaison_view_json(&node.show_liaison(&origin, &uuid)?))
    })
    .await
}

// ------------------------------------------------------------------- JSON

/// A timestamp: RFC 3339 in UTC, or null when absent.
fn time_json(t: Option<&prost_types::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(dates::format_timestamp(t)))
}

/// An empty string as null.
fn opt_str(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_string())
    }
}

fn opt_string(s: Option<String>) -> Value {
    s.filter(|s| !s.is_empty())
        .map_or(Value::Null, Value::String)
}

/// A proto enum value name without its prefix, lower case.
fn enum_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

fn hash_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn texts_json(texts: &[proto::Text]) -> Value {
    Value::Array(
        texts
            .iter()
            .map(|t| json!({"lang": t.lang, "value": t.value}))
            .collect(),
    )
}

fn attachments_json(attachments: &[proto::AttachmentRef]) -> Value {
    Value::Array(
        attachments
            .iter()
            .map(|a| {
                json!({
                    "hash": hash_hex(&a.hash),
                    "size": a.size,
                    "media_type": a.media_type,
                    "name": a.name,
                })
            })
            .collect(),
    )
}

fn ref_json(r: Option<&proto::DocumentRef>) -> Value {
    match r {
        Some(r) if !r.origin.is_empty() || !r.uuid.is_empty() => {
            json!({"origin": r.origin, "uuid": r.uuid})
        }
        _ => Value::Null,
    }
}

fn contact_json(c: &proto::Contact) -> Value {
    json!({"name": c.name, "email": c.email, "role": c.role})
}

fn entry_json(entry: &SignedEntry) -> Value {
    let summary = if entry.is_redacted() {
        "(restricted)".to_string()
    } else {
        document::decode_for(entry)
            .map(|body| document::summary(&body))
            .unwrap_or_default()
    };
    json!({
        "origin": entry.origin().to_string(),
        "seq": entry.seq(),
        "kind": entry.kind().as_str(),
        "id": entry.id().to_hex(),
        "created_at": time_json(entry.created_at()),
        "payload_size": entry.payload_size(),
        "redacted": entry.is_redacted(),
        "summary": summary,
    })
}

fn peers_json(node: &Node) -> Result<Vec<Value>, ApiError> {
    let ours: HashMap<OrgId, u64> = node.heads()?.into_iter().map(|(o, h)| (o, h.seq)).collect();
    Ok(node
        .peer_table()
        .views()
        .iter()
        .map(|view| {
            let lag: Vec<Value> = peers::lag(view, &ours)
                .into_iter()
                .map(|(origin, local_seq, remote_seq)| {
                    json!({
                        "origin": origin.to_string(),
                        "local_seq": local_seq,
                        "remote_seq": remote_seq,
                        "behind": remote_seq.saturating_sub(local_seq),
                    })
                })
                .collect();
            json!({
                "org": view.record.org.to_string(),
                "key": view.record.key.to_string(),
                "endpoint": opt_string(view.record.endpoint.clone()),
                "connected": view.connected,
                "reciprocal": view.reciprocal,
                "last_error": opt_string(view.last_error.clone()),
                "last_contact": time_json(
                    view.last_contact
                        .map(prost_types::Timestamp::from)
                        .as_ref(),
                ),
                "lag": lag,
                "serving": view.serving.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "failures": view.failures,
            })
        })
        .collect())
}

fn consultation_summary_json(s: &proto::ConsultationSummary) -> Value {
    json!({
        "origin": s.origin,
        "uuid": s.uuid,
        "revision": s.revision,
        "title": texts_json(&s.title),
        "opens_at": time_json(s.opens_at.as_ref()),
        "closes_at": time_json(s.closes_at.as_ref()),
        "status": s.status,
        "topics": s.topics,
        "responses": s.responses,
        "seq": s.seq,
    })
}

fn consultation_status_name(status: i32) -> String {
    proto::ConsultationStatus::try_from(status).map_or_else(
        |_| status.to_string(),
        |s| enum_name(s.as_str_name(), "CONSULTATION_STATUS_"),
    )
}

fn consultation_json(c: &proto::Consultation) -> Value {
    json!({
        "uuid": c.uuid,
        "revision": c.revision,
        "title": texts_json(&c.title),
        "summary": texts_json(&c.summary),
        "opens_at": time_json(c.opens_at.as_ref()),
        "closes_at": time_json(c.closes_at.as_ref()),
        "status": consultation_status_name(c.status),
        "topics": c.topics,
        "body": texts_json(&c.body),
        "link": opt_str(&c.link),
        "questions": c.questions.iter().map(|q| json!({
            "number": q.number,
            "text": texts_json(&q.text),
        })).collect::<Vec<_>>(),
        "reply_closes_at": time_json(c.reply_closes_at.as_ref()),
        "eligibility": c.eligibility.as_ref().map(|e| json!({
            "scope": proto::eligibility::Scope::try_from(e.scope).map_or_else(
                |_| e.scope.to_string(),
                |s| enum_name(s.as_str_name(), "SCOPE_"),
            ),
            "orgs": e.orgs,
        })),
        "attachments": attachments_json(&c.attachments),
        "contact": c.contact.as_ref().map(contact_json),
        "report": c.report.as_ref().map(|r| json!({
            "summary": texts_json(&r.summary),
            "attachments": attachments_json(&r.attachments),
            "published_at": time_json(r.published_at.as_ref()),
        })),
    })
}

fn revision_json(r: &proto::RevisionView) -> Value {
    json!({
        "revision": r.revision,
        "seq": r.seq,
        "id": r.id,
        "created_at": time_json(r.created_at.as_ref()),
        "closes_at": time_json(r.closes_at.as_ref()),
        "status": opt_str(&r.status),
    })
}

fn response_json(r: &proto::ResponseView) -> Value {
    json!({
        "origin": r.origin,
        "seq": r.seq,
        "id": r.id,
        "uuid": r.uuid,
        "text": texts_json(&r.text),
        "on_behalf_of": opt_str(&r.on_behalf_of),
        "replies_to": ref_json(r.replies_to.as_ref()),
        "late": r.late,
        "created_at": time_json(r.created_at.as_ref()),
        "stakeholder_group": opt_str(&r.stakeholder_group),
        "region": opt_str(&r.region),
        "attachments": attachments_json(&r.attachments),
    })
}

fn rows_json(rows: &[proto::ParticipationRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| json!({"key": r.key, "responses": r.responses}))
            .collect(),
    )
}

fn consultation_view_json(v: &proto::ConsultationView) -> Value {
    json!({
        "summary": v.summary.as_ref().map(consultation_summary_json),
        "current": v.current.as_ref().map(consultation_json),
        "revisions": v.revisions.iter().map(revision_json).collect::<Vec<_>>(),
        "responses": v.responses.iter().map(response_json).collect::<Vec<_>>(),
        "by_stakeholder_group": rows_json(&v.by_stakeholder_group),
        "by_region": rows_json(&v.by_region),
    })
}

fn purpose_name(purpose: i32) -> String {
    proto::LiaisonPurpose::try_from(purpose).map_or_else(
        |_| purpose.to_string(),
        |p| enum_name(p.as_str_name(), "LIAISON_PURPOSE_"),
    )
}

fn addressee_json(a: &proto::Addressee) -> Value {
    json!({
        "org": a.org,
        "group": opt_str(&a.group),
        "purpose": if a.purpose == 0 { Value::Null } else { Value::String(purpose_name(a.purpose)) },
    })
}

fn statement_json(s: &proto::LiaisonStatement) -> Value {
    json!({
        "uuid": s.uuid,
        "revision": s.revision,
        "title": s.title,
        "from_groups": s.from_groups,
        "to": s.to.iter().map(addressee_json).collect::<Vec<_>>(),
        "cc": s.cc.iter().map(addressee_json).collect::<Vec<_>>(),
        "purpose": purpose_name(s.purpose),
        "deadline": s.deadline.as_ref().map(|d| json!({"date": d.date, "zone": opt_str(&d.zone)})),
        "body": s.body.as_ref().map(|b| json!({"lang": b.lang, "value": b.value})),
        "attachments": attachments_json(&s.attachments),
        "in_reply_to": ref_json(s.in_reply_to.as_ref()),
        "contacts": s.contacts.iter().map(contact_json).collect::<Vec<_>>(),
        "other_identifiers": s.other_identifiers,
        "state": proto::LiaisonState::try_from(s.state).map_or_else(
            |_| s.state.to_string(),
            |st| enum_name(st.as_str_name(), "LIAISON_STATE_"),
        ),
    })
}

fn liaison_summary_json(s: &proto::LiaisonSummary) -> Value {
    json!({
        "origin": s.origin,
        "uuid": s.uuid,
        "seq": s.seq,
        "title": s.title,
        "purpose": opt_str(&s.purpose),
        "from": s.from,
        "to": s.to,
        "cc": s.cc,
        "deadline": opt_str(&s.deadline),
        "overdue": s.overdue,
        "action_state": opt_str(&s.action_state),
        "restricted": s.restricted,
        "redacted": s.redacted,
        "created_at": time_json(s.created_at.as_ref()),
    })
}

fn receipt_json(r: &proto::ReceiptView) -> Value {
    json!({
        "origin": r.origin,
        "seq": r.seq,
        "id": r.id,
        "status": r.status,
        "note": opt_str(&r.note),
        "created_at": time_json(r.created_at.as_ref()),
    })
}

fn recipient_json(r: &proto::RecipientState) -> Value {
    json!({
        "org": r.org,
        "group": opt_str(&r.group),
        "purpose": r.purpose,
        "cc": r.cc,
        "action_state": r.action_state,
        "overdue": r.overdue,
        "receipts": r.receipts.iter().map(receipt_json).collect::<Vec<_>>(),
    })
}

fn liaison_view_json(v: &proto::LiaisonView) -> Value {
    json!({
        "summary": v.summary.as_ref().map(liaison_summary_json),
        "statement": v.statement.as_ref().map(statement_json),
        "recipients": v.recipients.iter().map(recipient_json).collect::<Vec<_>>(),
        "replies": v.replies.iter().map(liaison_summary_json).collect::<Vec<_>>(),
        "in_reply_to": v.in_reply_to.as_ref().map(liaison_summary_json),
        "revisions": v.revisions.iter().map(revision_json).collect::<Vec<_>>(),
    })
}
