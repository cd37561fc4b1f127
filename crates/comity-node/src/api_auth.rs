//! The API-token check in front of the local API's loopback TCP listener
//! (`[local_api] tcp`). The Unix socket needs none: its mode 0600 already
//! limits it to the node's own account.
//!
//! A tower layer rather than a tonic interceptor: the read-only rule needs
//! the RPC's path, which an interceptor does not see. Every request is
//! checked before any service runs, so a refused call changes nothing:
//!
//! - `grpc.health.v1.Health` is open to anyone who can reach the port: it
//!   tells only whether the node serves, and probes (Kubernetes' gRPC probe,
//!   `grpc_health_probe`, load balancers) cannot send a token;
//! - everything else needs `authorization: Bearer <token>` of a live token
//!   (`crate::tokens`): missing, wrong or revoked is `UNAUTHENTICATED`;
//! - a read-only token may call reflection and the read RPCs
//!   ([`crate::tokens::READ_RPCS`]); any other `comity.v1.Node` RPC is
//!   `PERMISSION_DENIED`.

use crate::tokens::{ApiTokens, READ_RPCS, TokenError};
use std::task::{Context, Poll};
use tonic::{Status, body::Body};

const HEALTH: &str = "grpc.health.v1.Health";
const NODE: &str = "comity.v1.Node";

/// Whether a call to `path` (`/package.Service/Method`) with this
/// `authorization` value may go on.
pub fn authorise(
    tokens: Option<&ApiTokens>,
    path: &str,
    authorization: Option<&str>,
) -> Result<(), Status> {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    if service == HEALTH {
        return Ok(());
    }
    let Some(tokens) = tokens else {
        return Err(Status::unauthenticated(
            "this node was started without an API token directory: no token is accepted",
        ));
    };
    let grant = tokens
        .check_header(authorization)
        .map_err(|e| Status::unauthenticated(e.to_string()))?;
    let is_read = service != NODE || READ_RPCS.contains(&method);
    grant.allow(is_read, method).map_err(|e| match e {
        TokenError::ReadOnly { .. } => Status::permission_denied(e.to_string()),
        other => Status::unauthenticated(other.to_string()),
    })
}

/// The layer: [`authorise`] each request against the node's tokens.
#[derive(Debug, Clone)]
pub struct TokenLayer {
    tokens: Option<ApiTokens>,
}

impl TokenLayer {
    pub fn new(tokens: Option<ApiTokens>) -> Self {
        Self { tokens }
    }
}

impl<S> tower::Layer<S> for TokenLayer {
    type Service = TokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenService {
            tokens: self.tokens.clone(),
            inner,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenService<S> {
    tokens: Option<ApiTokens>,
    inner: S,
}

impl<S> tower::Service<http::Request<Body>> for TokenService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::Either<
        futures::future::Ready<Result<Self::Response, Self::Error>>,
        S::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match authorise(self.tokens.as_ref(), request.uri().path(), authorization) {
            Ok(()) => futures::future::Either::Right(self.inner.call(request)),
            Err(status) => {
                tracing::debug!(path = request.uri().path(), code = ?status.code(), "local API call refused");
                futures::future::Either::Left(futures::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn health_is_open_reads_need_a_token_writes_a_full_one() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = ApiTokens::in_data_dir(dir.path());
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let (_, full) = tokens.create("full", false, now).unwrap();
        let (_, read) = tokens.create("read", true, now).unwrap();
        let t = Some(&tokens);
        let bearer = |s: &str| format!("Bearer {s}");
        let code = |r: Result<(), Status>| r.err().map(|s| s.code());

        assert_eq!(
            code(authorise(t, "/grpc.health.v1.Health/Check", None)),
            None
        );
        assert_eq!(
            code(authorise(None, "/grpc.health.v1.Health/Check", None)),
            None
        );
        for path in [
            "/comity.v1.Node/Status",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert_eq!(code(authorise(t, path, None)), Some(Code::Unauthenticated));
            assert_eq!(
                code(authorise(t, path, Some("Bearer comity_wrong"))),
                Some(Code::Unauthenticated)
            );
            assert_eq!(
                code(authorise(t, path, Some(&read))),
                Some(Code::Unauthenticated)
            );
            assert_eq!(code(authorise(t, path, Some(&bearer(&read)))), None);
            assert_eq!(code(authorise(t, path, Some(&bearer(&full)))), None);
            assert_eq!(
                code(authorise(None, path, Some(&bearer(&full)))),
                Some(Code::Unauthenticated)
            );
        }
        for write in [
            "/comity.v1.Node/PublishConsultation",
            "/comity.v1.Node/AddUser",
        ] {
            assert_eq!(
                code(authorise(t, write, Some(&bearer(&read)))),
                Some(Code::PermissionDenied)
            );
            assert_eq!(code(authorise(t, write, Some(&bearer(&full)))), None);
        }
    }
}
