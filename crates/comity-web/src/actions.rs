//! Logging in and out, and the write actions behind a login. Every action
//! takes its form through [`Posted`] (session and CSRF token checked), then
//! checks the account's role, calls the same node method the local API
//! calls, and redirects (303) to the page that shows the result.
//!
//! Roles: a viewer reads; an editor publishes and revises consultations,
//! responds, drafts and replies to liaison statements and acknowledges them;
//! an approver also approves and posts; an admin does all.

use crate::{
    AppState,
    auth::{self, login_cookie_name, session_cookie},
    ctx::{OrPage, PageError, Posted},
    edge,
    model::Ctx,
    templates,
};
use axum::{
    Form,
    extract::{ConnectInfo, FromRequestParts, Path, Query, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use comity_core::{SignedEntry, document, proto};
use comity_node::{NodeError, accounts::Role, words};
use serde::Deserialize;
use std::net::SocketAddr;

/// The client's address as the TCP connection gives it.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string()),
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// Where to go after logging in: a local path only. Browsers drop tabs and
/// newlines from a URL and read a backslash as a slash, so `/\t/evil.example`
/// or `/\\evil.example` would lead to another site: any control character or
/// backslash sends to the default page instead.
fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && next != "/login";
    if local { next } else { "/consultations" }
}

fn login_cookie(org: &comity_core::OrgId, token: String) -> Cookie<'static> {
    Cookie::build((login_cookie_name(org), token))
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::hours(1))
        .build()
}

/// The login page, with a fresh double-submit token.
fn login_form(ctx: &Ctx, next: &str, status: StatusCode, error: Option<String>) -> Response {
    let token = auth::token();
    let jar = CookieJar::new().add(login_cookie(ctx.node.org(), token.clone()));
    (
        status,
        jar,
        templates::login(ctx, &token, safe_next(next), error.as_deref()),
    )
        .into_response()
}

pub async fn login_page(ctx: Ctx, Query(q): Query<LoginQuery>) -> Response {
    if ctx.user.is_some() {
        return Redirect::to(safe_next(&q.next)).into_response();
    }
    login_form(&ctx, &q.next, StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = jar
        .get(&login_cookie_name(state.node.org()))
        .map(|c| c.value().to_string());
    if !expected.is_some_and(|t| auth::same_token(&t, &form.csrf)) {
        return ctx
            .error(StatusCode::FORBIDDEN, ctx.t("error-csrf"))
            .into_response();
    }
    let name = form.username.trim().to_string();
    let name_key = format!("name:{}", name.to_lowercase());
    let keys = [name_key.clone(), format!("ip:{ip}")];
    // Counted as a failure from now until it succeeds: attempts at the
    // same time cannot all get past the limit before any is counted.
    let Some(attempt) = state.limiter.reserve(&keys) else {
        tracing::warn!(%ip, account = %name, "login rate limit reached");
        return login_form(
            &ctx,
            &form.next,
            StatusCode::TOO_MANY_REQUESTS,
            Some(ctx.t("login-too-many")),
        );
    };
    let checked = state
        .node
        .password_checks()
        .authenticate(state.node.store().clone(), name.clone(), form.password)
        .await;
    let account = match checked {
        Ok(Some(account)) => account,
        Ok(None) => {
            // The attempt stays counted: a wrong password.
            drop(attempt);
            tracing::info!(%ip, account = %name, "login failed");
            return login_form(
                &ctx,
                &form.next,
                StatusCode::UNAUTHORIZED,
                Some(ctx.t("login-failed")),
            );
        }
        Err(e) => {
            state.limiter.release(attempt);
            return Err::<(), _>(e).or_page(&ctx).into_response();
        }
    };
    state.limiter.succeeded(attempt, &name_key);
    if let Some(old) = jar.get(&session_cookie(state.node.org())) {
        state.sessions.remove(old.value());
    }
    let id = state
        .sessions
        .create(&account.name, state.node.now().unix_timestamp());
    tracing::info!(account = %account.name, role = %account.role, "logged in");
    let session = Cookie::build((session_cookie(state.node.org()), id))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.node.config().http.secure_cookies)
        .max_age(time::Duration::seconds(auth::SESSION_TTL.as_secs() as i64))
        .build();
    let jar = jar
        .remove(Cookie::build(login_cookie_name(state.node.org())).path("/login"))
        .add(session);
    (jar, Redirect::to(safe_next(&form.next))).into_response()
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn logout(State(state): State<AppState>, posted: Posted<Empty>) -> Response {
    if let Some(user) = &posted.ctx.user {
        state.sessions.remove(&user.session);
    }
    let jar = CookieJar::new().remove(Cookie::build(session_cookie(state.node.org())).path("/"));
    (jar, Redirect::to("/login")).into_response()
}

fn see_other(path: String) -> Response {
    Redirect::to(&path).into_response()
}

fn uuid_of(entry: &SignedEntry) -> String {
    document::decode_for(entry)
        .ok()
        .and_then(|body| document::uuid_of(&body))
        .unwrap_or_default()
}

/// A comma- or line-separated list as typed in one field.
fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PublishForm {
    title: String,
    summary: String,
    lang: String,
    opens: String,
    closes: String,
    reply_closes: String,
    topics: String,
    body: String,
    link: String,
    questions: String,
    contact_name: String,
    contact_email: String,
}

pub async fn publish_consultation(
    Posted { ctx, form }: Posted<PublishForm>,
) -> Result<Response, PageError> {
    ctx.require(Role::Editor)?;
    let contact = (!form.contact_name.trim().is_empty() || !form.contact_email.trim().is_empty())
        .then(|| proto::Contact {
            name: form.contact_name.trim().to_string(),
            email: form.contact_email.trim().to_string(),
            role: String::new(),
        });
    let request = proto::PublishConsultationRequest {
        title: form.title.trim().to_string(),
        summary: form.summary.trim().to_string(),
        lang: form.lang,
        opens: form.opens,
        closes: form.closes,
        topics: list(&form.topics),
        body: form.body,
        link: form.link.trim().to_string(),
        questions: lines(&form.questions),
        reply_closes: form.reply_closes,
        contact,
        ..Default::default()
    };
    let entry = ctx.node.publish_consultation(request).await.or_page(&ctx)?;
    tracing::info!(account = ?ctx.user.as_ref().map(|u| &u.name), seq = entry.seq(), "consultation published from the dashboard");
    Ok(see_other(format!(
        "/consultations/{}/{}",
        entry.origin(),
        uuid_of(&entry)
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReviseForm {
    closes: String,
    status: String,
    reply_closes: String,
    report: String,
    lang: String,
    title: String,
}

pub async fn revise_consultation(
    Path((origin, uuid)): Path<(String, String)>,
    Posted { ctx, form }: Posted<ReviseForm>,
) -> Result<Response, PageError> {
    ctx.require(Role::Editor)?;
    if origin != ctx.node.org().as_str() {
        return Err(ctx.error(StatusCode::FORBIDDEN, ctx.t("error-not-own")));
    }
    let lang = if form.lang.trim().is_empty() {
        "en".to_string()
    } else {
        form.lang.trim().to_string()
    };
    let titles = if form.title.trim().is_empty() {
        Vec::new()
    } else {
        vec![proto::Text {
            lang: lang.clone(),
            value: form.title.trim().to_string(),
        }]
    };
    let status = match form.status.trim() {
        "" => proto::ConsultationStatus::Unspecified,
        written => words::parse_consultation_status(written)
            .map_err(NodeError::from)
            .or_page(&ctx)?,
    };
    let request = proto::ReviseConsultationRequest {
        uuid: uuid.clone(),
        closes: form.closes,
        status: status as i32,
        reply_closes: form.reply_closes,
        report: form.report,
        lang,
        titles,
        ..Default::default()
    };
    ctx.node.revise_consultation(request).await.or_page(&ctx)?;
    Ok(see_other(format!("/consultations/{origin}/{uuid}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RespondForm {
    text: String,
    lang: String,
    on_behalf_of: String,
    reply_to: String,
}

pub async fn respond(
    Path((origin, uuid)): Path<(String, String)>,
    Posted { ctx, form }: Posted<RespondForm>,
) -> Result<Response, PageError> {
    ctx.require(Role::Editor)?;
    let reply_to = form
        .reply_to
        .split_once('/')
        .map(|(o, u)| proto::DocumentRef {
            origin: o.trim().to_string(),
            uuid: u.trim().to_string(),
        });
    let request = proto::RespondRequest {
        consultation: Some(proto::DocumentRef {
            origin: origin.clone(),
            uuid: uuid.clone(),
        }),
        text: form.text,
        lang: form.lang,
        on_behalf_of: form.on_behalf_of,
        reply_to,
        attachments: Vec::new(),
    };
    ctx.node.respond(request).await.or_page(&ctx)?;
    Ok(see_other(format!(
        "/consultations/{origin}/{uuid}#responses"
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LiaisonForm {
    title: String,
    from: String,
    to: String,
    cc: String,
    purpose: String,
    deadline: String,
    body: String,
    lang: String,
    restricted: Option<String>,
    identifiers: String,
}

pub async fn draft_liaison(
    Posted { ctx, form }: Posted<LiaisonForm>,
) -> Result<Response, PageError> {
    ctx.require(Role::Editor)?;
    let recipients = |text: &str| -> Result<Vec<proto::Recipient>, NodeError> {
        list(text)
            .iter()
            .map(|r| words::parse_recipient(r).map_err(NodeError::from))
            .collect()
    };
    let request = proto::DraftLiaisonRequest {
        from: list(&form.from),
        to: recipients(&form.to).or_page(&ctx)?,
        cc: recipients(&form.cc).or_page(&ctx)?,
        purpose: words::parse_purpose(&form.purpose)
            .map_err(NodeError::from)
            .or_page(&ctx)? as i32,
        deadline: form.deadline,
        title: form.title.trim().to_string(),
        body: form.body,
        lang: form.lang,
        restricted: form.restricted.is_some(),
        other_identifiers: list(&form.identifiers),
        ..Default::default()
    };
    edge::blocking(&ctx.node, move |node| node.draft_liaison(request))
        .await
        .or_page(&ctx)?;
    Ok(see_other("/liaisons?box=drafts".into()))
}

pub async fn approve_liaison(
    Path(id): Path<String>,
    Posted { ctx, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    ctx.require(Role::LiaisonManager)?;
    let by = ctx
        .user
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_default();
    edge::blocking(&ctx.node, move |node| {
        node.check_sender_named(&id, &by)?;
        node.approve_liaison(&id, &by)
    })
    .await
    .or_page(&ctx)?;
    Ok(see_other("/liaisons?box=drafts".into()))
}

pub async fn post_liaison(
    Path(id): Path<String>,
    Posted { ctx, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    ctx.require(Role::LiaisonManager)?;
    let by = ctx
        .user
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let checked = id.clone();
    edge::blocking(&ctx.node, move |node| {
        node.check_sender_named(&checked, &by)
    })
    .await
    .or_page(&ctx)?;
    let entry = ctx.node.post_liaison(&id).await.or_page(&ctx)?;
    Ok(see_other(format!(
        "/liaisons/{}/{}",
        entry.origin(),
        uuid_of(&entry)
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AckForm {
    status: String,
    note: String,
}

pub async fn acknowledge(
    Path((origin, uuid)): Path<(String, String)>,
    Posted { ctx, form }: Posted<AckForm>,
) -> Result<Response, PageError> {
    ctx.require(Role::Editor)?;
    let request = proto::AcknowledgeRequest {
        liaison: Some(proto::DocumentRef {
            origin: origin.clone(),
            uuid: uuid.clone(),
        }),
        status: words::parse_receipt(&form.status)
            .map_err(NodeError::from)
            .or_page(&ctx)? as i32,
        note: form.note.trim().to_string(),
    };
    ctx.node.acknowledge(request).await.or_page(&ctx)?;
    Ok(see_other(format!("/liaisons/{origin}/{uuid}#recipients")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReplyForm {
    title: String,
    body: String,
    lang: String,
}

pub async fn reply_liaison(
    Path((origin, uuid)): Path<(String, String)>,
    Posted { ctx, form }: Posted<ReplyForm>,
) -> Result<Response, PageError> {
    ctx.require(Role::Editor)?;
    let request = proto::ReplyLiaisonRequest {
        original: Some(proto::DocumentRef { origin, uuid }),
        body: form.body,
        lang: form.lang,
        title: form.title.trim().to_string(),
        ..Default::default()
    };
    edge::blocking(&ctx.node, move |node| node.reply_liaison(request))
        .await
        .or_page(&ctx)?;
    Ok(see_other("/liaisons?box=drafts".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next("/liaisons"), "/liaisons");
        assert_eq!(safe_next("//evil.example"), "/consultations");
        assert_eq!(safe_next("https://evil.example"), "/consultations");
        assert_eq!(safe_next("/\\evil"), "/consultations");
        assert_eq!(safe_next("/\t/evil.example"), "/consultations");
        assert_eq!(safe_next("/\u{85}/evil.example"), "/consultations");
    }

    #[test]
    fn lists_split_on_commas_and_lines() {
        assert_eq!(
            list("itu, ietf/ccamp\nicann,"),
            ["itu", "ietf/ccamp", "icann"]
        );
    }
}
