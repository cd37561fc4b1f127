//! What every dashboard request knows about its reader: language, account
//! and session, and the errors pages answer with.

use crate::{
    AppState,
    auth::{self, LANG_COOKIE, session_cookie},
    i18n::Lang,
    model::{Ctx, User},
    templates,
};
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use comity_node::{
    NodeError,
    accounts::Role,
    tokens::{Grant, TokenError},
};
use serde::de::DeserializeOwned;

/// What only the dashboard's errors add to [`Ctx`].
impl Ctx {
    /// 403 unless the account has `role`.
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        if self.can(role) {
            Ok(())
        } else {
            Err(PageError::new(
                self,
                StatusCode::FORBIDDEN,
                self.ta("error-role", &[("role", self.t(&format!("role-{role}")))]),
            ))
        }
    }
    pub fn error(&self, status: StatusCode, message: impl Into<String>) -> PageError {
        PageError::new(self, status, message.into())
    }
}

/// The reader's language: `?lang=`, then the `lang` cookie, then
/// `Accept-Language`, then English.
pub fn language(parts: &Parts, jar: &CookieJar) -> Lang {
    query_lang(parts.uri.query())
        .or_else(|| jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value())))
        .or_else(|| {
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::En)
}

fn query_lang(query: Option<&str>) -> Option<Lang> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("lang="))
        .and_then(Lang::parse)
}

fn session_user(state: &AppState, jar: &CookieJar) -> Option<User> {
    let id = jar
        .get(&session_cookie(state.node.org()))?
        .value()
        .to_string();
    let session = state.sessions.get(&id, state.node.now().unix_timestamp())?;
    // The account as it is now: removed users are logged out, roles follow changes.
    match comity_node::accounts::user(&**state.node.store(), &session.user) {
        Ok(Some(account)) => Some(User {
            name: account.name,
            role: account.role,
            groups: account.groups,
            csrf: session.csrf,
            session: id,
        }),
        _ => {
            state.sessions.remove(&id);
            None
        }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        Ok(Ctx {
            lang: language(parts, &jar),
            user: session_user(state, &jar),
            path: parts.uri.path().to_string(),
            query: parts
                .uri
                .query()
                .unwrap_or_default()
                .split('&')
                .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
                .collect::<Vec<_>>()
                .join("&"),
            node: state.node.clone(),
        })
    }
}

/// Every dashboard page but the login page and the stylesheet: without
/// `public_pages`, a reader who is not logged in is sent to `/login`.
pub async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.node.config().http.public_pages {
        let jar = CookieJar::from_headers(request.headers());
        if session_user(&state, &jar).is_none() {
            return login_redirect(request.uri().path());
        }
    }
    next.run(request).await
}

/// The JSON API: for people logged in to this node's dashboard, even with
/// `public_pages` (it shows restricted statements this node may read), or
/// for scripts with an API token (`Authorization: Bearer <token>`, made by
/// `comity token create`). A request that carries a token is judged by the
/// token alone: missing, wrong or revoked is 401; a read-only token may
/// only `GET` (or `HEAD`), anything else is 403, before any handler runs.
pub async fn api_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(header::AUTHORIZATION) {
        let grant = match token_grant(&state.node, request.headers()) {
            Ok(grant) => grant,
            Err(e) => return json_error(StatusCode::UNAUTHORIZED, &e.to_string()),
        };
        let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
        if let Err(e) = grant.allow(
            is_read,
            &format!("{} {}", request.method(), request.uri().path()),
        ) {
            return json_error(StatusCode::FORBIDDEN, &e.to_string());
        }
        return next.run(request).await;
    }
    let jar = CookieJar::from_headers(request.headers());
    if session_user(&state, &jar).is_none() {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "log in to this node's dashboard first (the API uses its session cookie), \
             or send an API token as `Authorization: Bearer <token>` (`comity token create`)",
        );
    }
    next.run(request).await
}

/// `/metrics` with `[http] metrics_require_token`: only with a valid API
/// token (read-only will do). Without the switch, open as before.
pub async fn metrics_gate(
    State(node): State<std::sync::Arc<comity_node::Node>>,
    request: Request,
    next: Next,
) -> Response {
    if node.config().http.metrics_require_token
        && let Err(e) = token_grant(&node, request.headers())
    {
        let mut response = (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(request).await
}

/// The API token in the `Authorization` header, checked against the node's.
fn token_grant(
    node: &comity_node::Node,
    headers: &axum::http::HeaderMap,
) -> Result<Grant, TokenError> {
    let value = match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(value.to_str().map_err(|_| TokenError::Invalid)?),
        None => None,
    };
    let tokens = node.api_tokens().ok_or(TokenError::Invalid)?;
    tokens.check_header(value)
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

pub fn login_redirect(path: &str) -> Response {
    let next: String =
        percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC).to_string();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// Sets the `lang` cookie when a page was asked for with `?lang=`.
pub async fn remember_language(request: Request, next: Next) -> Response {
    let chosen = query_lang(request.uri().query());
    let mut response = next.run(request).await;
    if let Some(lang) = chosen {
        let cookie = Cookie::build((LANG_COOKIE, lang.code()))
            .path("/")
            .max_age(time::Duration::days(365))
            .same_site(SameSite::Lax)
            .http_only(true)
            .build();
        if let Ok(value) = cookie.to_string().parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Headers every dashboard page carries: no framing, no sniffing, no script
/// but this site's own (`/static/times.js`).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers
            .entry(name)
            .or_insert(axum::http::HeaderValue::from_static(value));
    }
    response
}

/// A page that could not be shown, with its status code (boxed: it travels
/// in every handler's `Result`).
pub struct PageError(Box<PageErrorInner>);

struct PageErrorInner {
    status: StatusCode,
    lang: Lang,
    message: String,
    user: Option<User>,
    path: String,
    org: String,
}

impl PageError {
    pub fn new(ctx: &Ctx, status: StatusCode, message: String) -> Self {
        Self(Box::new(PageErrorInner {
            status,
            lang: ctx.lang,
            message,
            user: ctx.user.clone(),
            path: ctx.path.clone(),
            org: ctx.node.org().to_string(),
        }))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = templates::error_page(
            e.lang,
            e.user.as_ref(),
            &e.path,
            &e.org,
            e.status,
            &e.message,
        );
        (e.status, body).into_response()
    }
}

/// Turns a node error into the page a person sees.
pub trait OrPage<T> {
    fn or_page(self, ctx: &Ctx) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, NodeError> {
    fn or_page(self, ctx: &Ctx) -> Result<T, PageError> {
        self.map_err(|e| {
            let status = crate::edge::status_of(&e);
            if status.is_server_error() {
                tracing::error!(error = %e, "dashboard request failed");
            }
            ctx.error(status, e.to_string())
        })
    }
}

/// A form posted by a logged-in account, its CSRF token checked. Every write
/// action takes its form through this, so none can skip the check.
pub struct Posted<T> {
    pub ctx: Ctx,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Ok(ctx) = Ctx::from_request_parts(&mut parts, state).await;
        let Some(user) = ctx.user.clone() else {
            // Not back to a POST-only address after logging in.
            return Err(Redirect::to("/login").into_response());
        };
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let csrf = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
            .map(|f| f.csrf)
            .unwrap_or_default();
        if !auth::same_token(&csrf, &user.csrf) {
            return Err(ctx
                .error(StatusCode::FORBIDDEN, ctx.t("error-csrf"))
                .into_response());
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
            ctx.error(
                StatusCode::BAD_REQUEST,
                ctx.ta("error-form", &[("detail", e.to_string())]),
            )
            .into_response()
        })?;
        Ok(Posted { ctx, form })
    }
}
