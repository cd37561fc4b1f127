//! The dashboard's routes and its read-only pages: what partners opened for
//! comment, what waits for this organisation, and the state of the
//! federation. Each handler asks the node (the same methods the local API
//! uses) and hands the result to `templates`.

use crate::{
    AppState, actions,
    ctx::{OrPage, PageError, gate, remember_language, security_headers},
    edge,
    model::{ConsultationFilter, Cosigned, Ctx, DraftRow, FederationRow, PageQuery, Pager, Tab},
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
use comity_core::{
    OrgId, proto,
    proto::{ConsultationPhase, list_liaisons_request::Box as LiaisonBox},
};
use comity_node::{Node, NodeError, accounts::Role, words};
use maud::Markup;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};

pub fn router(state: AppState) -> Router {
    let open = Router::new()
        .route("/login", get(actions::login_page).post(actions::login))
        .route("/static/style.css", get(stylesheet))
        .route("/static/times.js", get(times_script));
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
        .route("/search", get(search))
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

async fn times_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        templates::TIMES_SCRIPT,
    )
        .into_response()
}

fn org_arg(ctx: &Ctx, text: &str) -> Result<OrgId, PageError> {
    OrgId::new(text).map_err(|e| ctx.error(StatusCode::NOT_FOUND, e.to_string()))
}

/// The checkpoint columns of one organisation's row.
fn checkpoint_cells(node: &Node, org: &OrgId) -> Result<(Option<u64>, Vec<Cosigned>), NodeError> {
    let size = node.checkpoint_of(org)?.map(|c| c.checkpoint.size);
    let cosigners = node
        .cosignatures_of(org)?
        .into_iter()
        .map(|(cosigner, size, at)| {
            let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(at).unwrap_or(0))
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            (cosigner.to_string(), size, at)
        })
        .collect();
    Ok((size, cosigners))
}

async fn federation(ctx: Ctx, Query(pq): Query<PageQuery>) -> Result<Markup, PageError> {
    let node = &ctx.node;
    let reader = ctx.reader();
    let mut views = node.peer_table().views();
    views.sort_by(|a, b| a.record.org.cmp(&b.record.org));
    let orgs: Vec<OrgId> = views.iter().map(|v| v.record.org.clone()).collect();
    let (ours, mut profiles, (checkpoint, cosigners), mut cells) =
        edge::blocking(node, move |node| {
            let ours: HashMap<OrgId, u64> =
                node.heads()?.into_iter().map(|(o, h)| (o, h.seq)).collect();
            let profiles = orgs
                .iter()
                .map(|org| node.profile_for(org, reader))
                .collect::<Result<Vec<_>, NodeError>>()?;
            let own = checkpoint_cells(node, node.org())?;
            let cells = orgs
                .iter()
                .map(|org| checkpoint_cells(node, org))
                .collect::<Result<Vec<_>, NodeError>>()?;
            Ok((ours, profiles.into_iter(), own, cells.into_iter()))
        })
        .await
        .or_page(&ctx)?;
    let mut rows = vec![FederationRow {
        org: node.org().to_string(),
        profile: Some(node.profile()),
        own: true,
        reciprocal: true,
        connected: true,
        // Reachable is what the node saw, not what it hopes: a partner's
        // live link into it (which offers that partner's log). A listening
        // node behind NAT says so only by nobody ever dialling in.
        dialled: if node.config().dial_out_only() {
            "dial-out-only"
        } else if views.iter().any(|v| v.offers_to_us) {
            "reachable"
        } else {
            "unconfirmed"
        },
        behind: Vec::new(),
        last_error: None,
        last_contact: None,
        checkpoint,
        cosigners,
    }];
    for view in views {
        let behind = view
            .remote_heads
            .iter()
            .filter_map(|(origin, remote)| {
                let local = ours.get(origin).copied().unwrap_or(0);
                (*remote > local).then(|| (origin.to_string(), local, *remote))
            })
            .collect();
        let (checkpoint, cosigners) = cells.next().unwrap_or_default();
        rows.push(FederationRow {
            org: view.record.org.to_string(),
            profile: profiles.next().flatten(),
            own: false,
            reciprocal: view.reciprocal,
            connected: view.connected,
            dialled: view.dialled(),
            behind,
            last_error: view.last_error.clone(),
            last_contact: view.last_contact.map(time::OffsetDateTime::from),
            checkpoint,
            cosigners,
        });
    }
    let paging = Pager::new(&pq, rows.len());
    Ok(templates::federation(&ctx, paging.slice(&rows), &paging))
}

async fn consultations(
    ctx: Ctx,
    Query(filter): Query<ConsultationFilter>,
    Query(pq): Query<PageQuery>,
) -> Result<Markup, PageError> {
    let node = &ctx.node;
    // A phase that names none matches nothing.
    let (open, phase) = match filter.status.as_str() {
        "" | "open" => (true, Some(ConsultationPhase::Unspecified)),
        "all" => (false, Some(ConsultationPhase::Unspecified)),
        other => (
            false,
            words::PHASES
                .into_iter()
                .find(|p| words::phase(*p) == other),
        ),
    };
    let request = phase.map(|phase| proto::ListConsultationsRequest {
        open,
        origin: filter.org.trim().to_string(),
        topic: filter.topic.trim().to_string(),
        lang: filter.language.trim().to_string(),
        phase: phase as i32,
    });
    let reader = ctx.reader();
    let (list, all) = edge::blocking(node, move |node| {
        let list = match request {
            Some(request) => node.list_consultations_for(&request, reader)?,
            None => Vec::new(),
        };
        let all =
            node.list_consultations_for(&proto::ListConsultationsRequest::default(), reader)?;
        Ok::<_, NodeError>((list, all))
    })
    .await
    .or_page(&ctx)?;
    let topics: BTreeSet<String> = all.iter().flat_map(|c| c.topics.clone()).collect();
    let mut orgs: BTreeSet<String> = node.follows().iter().map(ToString::to_string).collect();
    orgs.insert(node.org().to_string());
    let paging = Pager::new(&pq, list.len());
    Ok(templates::consultations(
        &ctx,
        &filter,
        paging.slice(&list),
        &paging,
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
    let (org, reader) = (origin.clone(), ctx.reader());
    let view = edge::blocking(&ctx.node, move |node| {
        node.show_consultation_for(&org, &uuid, reader)
    })
    .await
    .or_page(&ctx)?;
    Ok(templates::consultation(&ctx, &origin, &view))
}

#[derive(Debug, Default, Deserialize)]
pub struct LiaisonsQuery {
    #[serde(default, rename = "box")]
    pub which: String,
}

async fn liaisons(
    ctx: Ctx,
    Query(q): Query<LiaisonsQuery>,
    Query(pq): Query<PageQuery>,
) -> Result<Markup, PageError> {
    use prost::Message;
    let tab = Tab::parse(&q.which);
    if tab == Tab::Drafts {
        if ctx.user.is_none() {
            return Err(ctx.error(StatusCode::FORBIDDEN, ctx.t("error-login-needed")));
        }
        let mut drafts = Vec::new();
        for d in edge::blocking(&ctx.node, |node| {
            node.store().drafts().map_err(NodeError::from)
        })
        .await
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
        let paging = Pager::new(&pq, 0);
        return Ok(templates::liaisons(&ctx, tab, &[], &paging, &drafts));
    }
    let which = match tab {
        Tab::Outbox => LiaisonBox::Outbox,
        Tab::Awaiting => LiaisonBox::AwaitingAction,
        Tab::Overdue => LiaisonBox::Overdue,
        _ => LiaisonBox::Inbox,
    };
    let reader = ctx.reader();
    let list = edge::blocking(&ctx.node, move |node| node.list_liaisons_for(which, reader))
        .await
        .or_page(&ctx)?;
    let paging = Pager::new(&pq, list.len());
    Ok(templates::liaisons(
        &ctx,
        tab,
        paging.slice(&list),
        &paging,
        &[],
    ))
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
    let (org, id, reader) = (origin.clone(), uuid.clone(), ctx.reader());
    let view = edge::blocking(&ctx.node, move |node| {
        node.show_liaison_for(&org, &id, reader)
    })
    .await
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
    let bytes = edge::blocking(&ctx.node, move |node| {
        node.store().blob(&hash).map_err(NodeError::from)
    })
    .await
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

/// `/search?q=`: what the reader may read (everything held when logged in,
/// public documents otherwise), titles and snippets in the reader's
/// language when a document has it.
#[derive(Deserialize, Default)]
struct SearchForm {
    #[serde(default)]
    q: String,
}

async fn search(ctx: Ctx, Query(form): Query<SearchForm>) -> Result<Markup, PageError> {
    let q = form.q.trim().to_string();
    let results = if q.is_empty() {
        None
    } else {
        let mut query = comity_node::search::SearchQuery::new(q.clone());
        query.prefer_lang = Some(ctx.lang.code().to_string());
        query.limit = 50;
        Some(ctx.node.search(query, ctx.reader()).await.or_page(&ctx)?)
    };
    let answered = match &results {
        Some(r) => consultations_answered(&ctx, &r.hits).await.or_page(&ctx)?,
        None => HashMap::new(),
    };
    Ok(templates::search(&ctx, &q, results.as_ref(), &answered))
}

/// For each hit that is a response, by entry id, the consultation it
/// answers: a response has no page of its own, so its hit leads there.
async fn consultations_answered(
    ctx: &Ctx,
    hits: &[comity_node::search::Hit],
) -> Result<HashMap<String, proto::DocumentRef>, NodeError> {
    let responses: Vec<(String, String, u64)> = hits
        .iter()
        .filter(|h| h.kind == comity_node::search::DocKind::Response)
        .map(|h| (h.entry_id.clone(), h.origin.clone(), h.seq))
        .collect();
    if responses.is_empty() {
        return Ok(HashMap::new());
    }
    let reader = ctx.reader();
    edge::blocking(&ctx.node, move |node| {
        let mut answered = HashMap::new();
        for (id, origin, seq) in responses {
            let Ok(origin) = OrgId::new(origin) else {
                continue;
            };
            if let Some(c) = node.consultation_answered(&origin, seq, reader)? {
                answered.insert(id, c);
            }
        }
        Ok(answered)
    })
    .await
}
