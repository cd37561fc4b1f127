//! The HTTP edge's two shared rules, so that pages, the JSON API, the feeds
//! and the metrics answer alike: which HTTP status a [`NodeError`] is, and
//! how a handler runs store work (every view reads sled, which blocks) off
//! the async workers.

use axum::http::StatusCode;
use comity_node::{Node, NodeError};
use std::sync::Arc;

/// The HTTP status of a node error, the same on every route: what the
/// reader got wrong is 4xx (a refused word or document 400, an unknown
/// document 404, a role too low 403, a state that forbids it, such as a
/// frozen origin, 409), a peer that failed is 502, a node still recovering
/// its own log at start is 503 (try again shortly), and the rest 500.
pub fn status_of(e: &NodeError) -> StatusCode {
    match e {
        NodeError::InvalidArgument(_)
        | NodeError::Word(_)
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
        NodeError::Recovering { .. } => StatusCode::SERVICE_UNAVAILABLE,
        NodeError::Store(_) | NodeError::DataDir(_) | NodeError::Internal(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Runs `f` (store work: views, lists, blobs) on the blocking pool, the
/// node's one way ([`comity_node::blocking::blocking`]), and waits for it.
pub async fn blocking<T: Send + 'static, E: From<NodeError> + Send + 'static>(
    node: &Arc<Node>,
    f: impl FnOnce(&Node) -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    let node = node.clone();
    comity_node::blocking::blocking(move || f(&node)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use comity_core::OrgId;

    #[test]
    fn a_frozen_origin_is_a_conflict_everywhere() {
        let org = OrgId::new("itu").unwrap();
        assert_eq!(status_of(&NodeError::Frozen(org)), StatusCode::CONFLICT);
        assert_eq!(
            status_of(&NodeError::NotFound("x".into())),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_of(&NodeError::Recovering {
                org: OrgId::new("itu").unwrap(),
                left_secs: 3
            }),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&NodeError::Internal("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
