//! Waiting between attempts: exponential backoff with jitter, from 200 ms up
//! to `replication.backoff_max_secs` (the brief warns against backing off
//! for days, which in effect defederates a peer), reset on success.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The delays between attempts, capped at `max`.
pub(super) fn backoff(max: Duration) -> impl Iterator<Item = Duration> + use<> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps `delay` unless cancelled first; returns false when cancelled.
pub(super) async fn pause(cancel: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}
