//! Blocking store work (fsync, big scans) off the async workers: the one way
//! the node, and the HTTP side over it, run it from async code.

use crate::error::NodeError;

/// Runs `f` on tokio's blocking pool and waits for it.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Internal(format!("blocking task failed: {e}")))?
}
