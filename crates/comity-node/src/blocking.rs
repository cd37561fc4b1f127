//! Blocking store work (fsync, big scans) off the async workers: the one way
//! the node, and the HTTP side over it, run it from async code.

use crate::error::NodeError;

/// Runs `f` on tokio's blocking pool and waits for it; a task that panicked
/// is an internal error. `E` is the caller's error (the HTTP side's own).
pub async fn blocking<T: Send + 'static, E: From<NodeError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(NodeError::Internal(format!("blocking task failed: {e}"))))?
}
