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
//! | `GET /api/v1/search?q=&origin=&kind=&lang=&prefer_lang=&offset=&limit=` | `comity search` |
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
    OrgId, SignedEntry, document,
    proto::{self, ConsultationPhase, list_liaisons_request::Box as LiaisonBox},
};
use comity_node::{
    Node, NodeError,
    json::{
        self, Dialect, consultation_summary_json, consultation_view_json, liaison_view_json,
        opt_string, peers_json, time_json,
    },
    words,
};
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
        .route("/api/v1/search", get(search))
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
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = crate::edge::status_of(&e);
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
    let value = crate::edge::blocking(&node, f).await?;
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
                  /api/v1/consultations, /api/v1/liaisons and /api/v1/search"
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
    let phase = if status.is_empty() {
        ConsultationPhase::Unspecified
    } else {
        words::PHASES
            .into_iter()
            .find(|p| words::phase(*p) == status)
            .ok_or_else(|| {
                let names: Vec<&str> = words::PHASES.into_iter().map(words::phase).collect();
                ApiError::bad_request(format!(
                    "status {status:?} is not one of {}",
                    names.join(", ")
                ))
            })?
    };
    let filter = proto::ListConsultationsRequest {
        open: params.flag("open")?,
        origin: params.origin()?.map(|o| o.to_string()).unwrap_or_default(),
        topic: params.text("topic"),
        lang,
        phase: phase as i32,
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
            Dialect::Api,
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
            "liaisons": list
                .iter()
                .map(|s| json::liaison_summary_json(s, Dialect::Api))
                .collect::<Vec<_>>(),
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
        Ok(liaison_view_json(
            &node.show_liaison(&origin, &uuid)?,
            Dialect::Api,
        ))
    })
    .await
}

// ------------------------------------------------------------------- JSON
//
// The shapes are `comity_node::json`'s, shared with the CLI's `--json`.

/// A held entry as the local API summarises it for `comity log`.
fn entry_json(entry: &SignedEntry) -> Value {
    json::entry_json(&comity_node::local_api::summarise(entry), Dialect::Api)
}

/// Full-text search, as the node's own people read (the API is for them):
/// `{"total", "offset", "limit", "hits": [{score, origin, kind, uuid,
/// revision, seq, entry_id, created_at, title: {lang, text}, snippet:
/// {lang, fragment, highlights: [{start, end}], html}}]}`. `html` is the
/// fragment HTML-escaped with the words found in `<mark>`.
async fn search(
    State(node): State<Arc<Node>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let params = Params::parse(
        query,
        &[
            "q",
            "origin",
            "kind",
            "lang",
            "prefer_lang",
            "offset",
            "limit",
        ],
    )?;
    let kind = match params.text("kind").as_str() {
        "" => proto::EntryKind::Unspecified,
        "consultation" => proto::EntryKind::Consultation,
        "response" => proto::EntryKind::Response,
        "liaison" => proto::EntryKind::Liaison,
        other => {
            return Err(ApiError::bad_request(format!(
                "kind {other:?} is not one of consultation, response, liaison"
            )));
        }
    };
    let request = proto::SearchRequest {
        query: params.text("q"),
        origin: params.origin()?.map(|o| o.to_string()).unwrap_or_default(),
        kind: kind as i32,
        lang: params.text("lang"),
        prefer_lang: params.text("prefer_lang"),
        offset: params.number("offset")?,
        limit: params.number("limit")?,
    };
    let query = comity_node::search::query_of(&request)?;
    let results = node.search(query, comity_node::views::Reader::Node).await?;
    let value = serde_json::to_value(&results)
        .map_err(|e| ApiError::from(NodeError::Internal(format!("rendering results: {e}"))))?;
    Ok(json_response(&value))
}
