//! Counters a node keeps about itself, for `/metrics`: they start at 0 when
//! the node starts.

/// Counters a node keeps about itself.
#[derive(Debug, Default)]
pub struct Counters {
    /// Entries of followed logs verified and stored.
    pub ingested: std::sync::atomic::AtomicU64,
    /// Entries appended to the own log.
    pub published: std::sync::atomic::AtomicU64,
    /// Batches refused from peers (bad signature, gap, …).
    pub rejected: std::sync::atomic::AtomicU64,
    /// gRPC requests served (federation and local API).
    pub grpc_requests: std::sync::atomic::AtomicU64,
    /// HTTP requests served by the dashboard, feeds and API.
    pub http_requests: std::sync::atomic::AtomicU64,
    /// HTTP connections open now.
    pub http_connections: std::sync::atomic::AtomicU64,
    /// HTTP connections closed at once: `http.max_connections` were open.
    pub http_connections_refused: std::sync::atomic::AtomicU64,
}
