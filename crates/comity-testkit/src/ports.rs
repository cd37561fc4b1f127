//! Free loopback ports for nodes started as separate processes, and for
//! in-process nodes that are stopped and started again on their port; shared
//! by the test suite and the load harness.
//!
//! A port the kernel hands out (`bind :0`) is in the ephemeral range, so
//! between the moment it is released and the moment a node listens on it
//! (again), it can become the source port of another node's outgoing
//! connection: with 200 nodes dialling each other it did, and once in the
//! 15-node soak test. Ports below the range are never given to outgoing
//! connections, so they are tried in turn instead, from a starting point that
//! differs per process so that test binaries running at once rarely try the
//! same ones.

use std::sync::atomic::{AtomicU16, Ordering};

/// The lowest port tried.
const FIRST: u16 = 10_000;

/// A free TCP port on 127.0.0.1 below the kernel's ephemeral range.
pub fn free_loopback_port() -> std::io::Result<u16> {
    Ok(loopback_listener()?.local_addr()?.port())
}

/// A listener on 127.0.0.1 at a port below the kernel's ephemeral range:
/// for a node that keeps it while it runs and binds the same port again when
/// it restarts.
pub fn loopback_listener() -> std::io::Result<std::net::TcpListener> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let low = ephemeral_range_start();
    let span = low.saturating_sub(FIRST).max(1);
    let start = (std::process::id() % u32::from(span)) as u16;
    let _ = NEXT.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..span {
        let port = FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % span;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Ok(listener);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        format!("no free loopback port between {FIRST} and {low}"),
    ))
}

/// Where the kernel's ephemeral port range starts (Linux), or the usual
/// default.
fn ephemeral_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}
