//! The dashboard's routes and its read-only pages: what partners opened for
//! comment, what waits for this organisation, and the state of the
//! federation. Each handler asks the node (the same methods the local API
//! uses) and hands the result to `templates`.

use crate::{
    AppState, actions,
    ctx::{Ctx, OrPage, PageError, gate, remember_language, security_headers},
    templates,
};
use axum::{
    Router,
    extract::{Path, Query},
    http::{HeaderValue, StatusCode, header},
    middleware::{from_fn, from_fn_with_state},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use comity_core::{OrgId, proto, proto::list_liaisons_request::Box as LiaisonBox};
use comity_node::{Node, NodeError, accounts::Role};
use maud::Markup;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};

pub fn router(state: AppState) -> Router {
    let open = Router::new()
        .route("/login", get(actions::login_page).post(actions::login))
        .route("/static/style.css", get(stylesheet));
    let gated = Router::new()
        .route("/", get(|| async { Redirect::to("/consultations") }))
        .route("/federation", get(federation))
        .route(
            "/consultations",
            get(consultations).post(actions::publish_consultation),
        )
        .route("/consultations/new", get(new_consultation))
        .route("/consultations/{origin}/{uuid}", get(consultation))
        .route(
            "/consultations/{origin}/{uuid}/revise",
            post(actions::revise_consultation),
        )
        .route(
            "/consultations/{origin}/{uuid}/respond",
            post(actions::respond),
        )
        .route("/liaisons", get(liaisons))
        .route("/liaisons/new", get(new_liaison))
        .route("/liaisons/drafts", post(actions::draft_liaison))
        .route(
            "/liaisons/drafts/{id}/approve",
            post(actions::approve_liaison),
        )
        .route("/liaisons/drafts/{id}/post", post(actions::post_liaison))
        .route("/liaisons/{origin}/{uuid}", get(liaison))
        .route("/liaisons/{origin}/{uuid}/ack", post(actions::acknowledge))
        .route(
            "/liaisons/{origin}/{uuid}/reply",
            post(actions::reply_liaison),
        )
        .route("/attachments/{hash}", get(attachment))
        .route("/logout", post(actions::logout))
        .route_layer(from_fn_with_state(state.clone(), gate));
    open.merge(gated)
        .layer(from_fn(remember_language))
        .layer(from_fn(security_headers))
        .with_state(state)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        templates::STYLESHEET,
    )
        .into_response()
}

fn org_arg(ctx: &Ctx, text: &str) -> Result<OrgId, PageError> {
    OrgId::new(text).map_err(|e| ctx.error(StatusCode::NOT_FOUND, e.to_string()))
}

/// One row of the federation table.
pub struct FederationRow {
    pub org: String,
    pub profile: Option<proto::OrgProfile>,
    pub own: bool,
    pub reciprocal: bool,
    pub connected: bool,
    /// Who dialled (see `PeerView::dialled`); for this node's own row,
    /// "reachable" or "dial-out-only".
    pub dialled: &'static str,
    /// Per origin the peer holds ahead of us: (origin, ours, theirs).
    pub behind: Vec<(String, u64, u64)>,
    pub last_error: Option<String>,
    pub last_contact: Option<time::OffsetDateTime>,
}

async fn federation(ctx: Ctx) -> Result<Markup, PageError> {
    let node = &ctx.node;
    let ours: HashMap<OrgId, u64> = node
        .heads()
        .or_page(&ctx)?
        .into_iter()
        .map(|(o, h)| (o, h.seq))
        .collect();
    let mut rows = vec![FederationRow {
        org: node.org().to_string(),
        profile: Some(node.profile()),
        own: true,
        reciprocal: true,
        connected: true,
        dialled: if node.config().dial_out_only() {
            "dial-out-only"
        } else {
            "reachable"
        },
        behind: Vec::new(),
        last_error: None,
        last_contact: None,
    }];
    let mut views = node.peer_table().views();
    views.sort_by(|a, b| a.record.org.cmp(&b.record.org));
    for view in views {
        let behind = view
            .remote_heads
            .iter()
            .filter_map(|(origin, remote)| {
                let local = ours.get(origin).copied().unwrap_or(0);
                (*remote > local).then(|| (origin.to_string(), local, *remote))
            })
            .collect();
        rows.push(FederationRow {
            org: view.record.org.to_string(),
            profile: node
                .profile_for(&view.record.org, ctx.reader())
                .or_page(&ctx)?,
            own: false,
            reciprocal: view.reciprocal,
            connected: view.connected,
            dialled: view.dialled(),
            behind,
            last_error: view.last_error.clone(),
            last_contact: view.last_contact.map(time::OffsetDateTime::from),
        });
    }
    Ok(templates::federation(&ctx, &rows))
}

/// The filters of the consultations page, as the GET form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct ConsultationFilter {
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub topic: String,
    /// The language of the documents (`lang` is the interface's).
    #[serde(default)]
    pub language: String,
    /// Empty: open now (including a reply period); "all": any.
    #[serde(default)]
    pub status: String,
}

async fn consultations(
    ctx: Ctx,
    Query(filter): Query<ConsultationFilter>,
) -> Result<Markup, PageError> {
    let node = &ctx.node;
    let (open, status) = match filter.status.as_str() {
        "" | "open" => (true, String::new()),
        "all" => (false, String::new()),
        other => (false, other.to_string()),
    };
    let request = proto::ListConsultationsRequest {
        open,
        origin: filter.org.trim().to_string(),
        topic: filter.topic.trim().to_string(),
        lang: filter.language.trim().to_string(),
        status,
    };
    let list = node
        .list_consultations_for(&request, ctx.reader())
        .or_page(&ctx)?;
    let all = node
        .list_consultations_for(&proto::ListConsultationsRequest::default(), ctx.reader())
        .or_page(&ctx)?;
    let topics: BTreeSet<String> = all.iter().flat_map(|c| c.topics.clone()).collect();
    let mut orgs: BTreeSet<String> = node.follows().iter().map(ToString::to_string).collect();
    orgs.insert(node.org().to_string());
    Ok(templates::consultations(
        &ctx,
        &filter,
        &list,
        &orgs.into_iter().collect::<Vec<_>>(),
        &topics.into_iter().collect::<Vec<_>>(),
    ))
}

async fn new_consultation(ctx: Ctx) -> Result<Markup, PageError> {
    ctx.require(Role::Editor)?;
    Ok(templates::new_consultation(&ctx))
}

async fn consultation(
    ctx: Ctx,
    Path((origin, uuid)): Path<(String, String)>,
) -> Result<Markup, PageError> {
    let origin = org_arg(&ctx, &origin)?;
    let view = ctx
        .node
        .show_consultation_for(&origin, &uuid, ctx.reader())
        .or_page(&ctx)?;
    Ok(templates::consultation(&ctx, &origin, &view))
}

#[derive(Debug, Default, Deserialize)]
pub struct LiaisonsQuery {
    #[serde(default, rename = "box")]
    pub which: String,
}

/// A tab of the liaisons page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Inbox,
    Outbox,
    Awaiting,
    Overdue,
    Drafts,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Inbox,
        Tab::Outbox,
        Tab::Awaiting,
        Tab::Overdue,
        Tab::Drafts,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Tab::Inbox => "inbox",
            Tab::Outbox => "outbox",
            Tab::Awaiting => "awaiting",
            Tab::Overdue => "overdue",
            Tab::Drafts => "drafts",
        }
    }
    fn parse(text: &str) -> Tab {
        Tab::ALL
            .into_iter()
            .find(|t| t.name() == text)
            .unwrap_or(Tab::Inbox)
    }
}

/// A local draft, decoded for the drafts tab.
pub struct DraftRow {
    pub id: String,
    pub statement: proto::LiaisonStatement,
    pub restricted: bool,
    pub approved_by: Option<String>,
    pub posted_seq: Option<u64>,
}

async fn liaisons(ctx: Ctx, Query(q): Query<LiaisonsQuery>) -> Result<Markup, PageError> {
    use prost::Message;
    let tab = Tab::parse(&q.which);
    if tab == Tab::Drafts {
        if ctx.user.is_none() {
            return Err(ctx.error(StatusCode::FORBIDDEN, ctx.t("error-login-needed")));
        }
        let mut drafts = Vec::new();
        for d in ctx
            .node
            .store()
            .drafts()
            .map_err(NodeError::from)
            .or_page(&ctx)?
        {
            let Ok(statement) = proto::LiaisonStatement::decode(d.statement.as_slice()) else {
                continue;
            };
            drafts.push(DraftRow {
                id: d.id,
                statement,
                restricted: d.restricted,
                approved_by: d.approved_by,
                posted_seq: d.posted_seq,
            });
        }
        drafts.sort_by_key(|d| d.posted_seq.is_some());
        return Ok(templates::liaisons(&ctx, tab, &[], &drafts));
    }
    let which = match tab {
        Tab::Outbox => LiaisonBox::Outbox,
        Tab::Awaiting => LiaisonBox::AwaitingAction,
        Tab::Overdue => LiaisonBox::Overdue,
        _ => LiaisonBox::Inbox,
    };
    let list = ctx
        .node
        .list_liaisons_for(which, ctx.reader())
        .or_page(&ctx)?;
    Ok(templates::liaisons(&ctx, tab, &list, &[]))
}

async fn new_liaison(ctx: Ctx) -> Result<Markup, PageError> {
    ctx.require(Role::Editor)?;
    Ok(templates::new_liaison(&ctx))
}

async fn liaison(
    ctx: Ctx,
    Path((origin, uuid)): Path<(String, String)>,
) -> Result<Markup, PageError> {
    let origin = org_arg(&ctx, &origin)?;
    let view = ctx
        .node
        .show_liaison_for(&origin, &uuid, ctx.reader())
        .or_page(&ctx)?;
    Ok(templates::liaison(&ctx, &origin, &uuid, &view))
}

#[derive(Debug, Default, Deserialize)]
pub struct AttachmentQuery {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub media_type: String,
}

/// Media types a browser may be told; anything else is served as bytes.
const SAFE_TYPES: &[&str] = &[
    "application/pdf",
    "text/plain",
    "text/csv",
    "image/png",
    "image/jpeg",
    "image/gif",
    "application/zip",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
];

/// A file name safe for a header: its last path segment, no control
/// characters or quotes.
fn file_name(name: &str, fallback: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .take(200)
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    if clean.is_empty() {
        fallback.to_string()
    } else {
        clean
    }
}

/// `/attachments/{hash}`: the blob with that BLAKE3 hash, fetched from a
/// peer first when not held here, for a reader who may read some document
/// naming it (anyone else gets 404, as for a hash nobody names). The hash is
/// the link, so the response never changes and may be cached for good.
async fn attachment(
    ctx: Ctx,
    Path(hash): Path<String>,
    Query(q): Query<AttachmentQuery>,
) -> Result<Response, PageError> {
    let hash = Node::parse_hash(&hash).or_page(&ctx)?;
    ctx.node
        .attachment_for(&hash, ctx.reader())
        .await
        .or_page(&ctx)?;
    let bytes = ctx
        .node
        .store()
        .blob(&hash)
        .map_err(NodeError::from)
        .or_page(&ctx)?
        .ok_or_else(|| ctx.error(StatusCode::NOT_FOUND, ctx.t("error-not-found")))?;
    let hex = hash.to_hex();
    let name = file_name(&q.name, &hex);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let media_type = if SAFE_TYPES.contains(&q.media_type.as_str()) {
        q.media_type.as_str()
    } else {
        "application/octet-stream"
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(media_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{hex}\"")) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(file_name("../../etc/passwd", "h"), "passwd");
        assert_eq!(file_name("a\"b;c\r\n.pdf", "h"), "abc.pdf");
        assert_eq!(file_name("", "h"), "h");
        assert_eq!(file_name(".hidden", "h"), "hidden");
    }
}
