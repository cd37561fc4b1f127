//! What one idle dial-out link costs on the wire: a node with no listening
//! socket (`--listen off`) dials one partner through a loopback proxy that
//! counts the bytes each way, and nothing is published for a while. What
//! crosses is the keep-alive traffic that holds a NAT mapping open: the
//! offer's heartbeats upstream, the heartbeats of this node's subscription
//! to the partner downstream, HTTP/2 PINGs both ways, and whatever
//! checkpoint gossip an idle pair still does. Counted as TCP payload (TLS
//! records); TCP/IP headers and ACKs come on top.

use crate::cluster::{self, NodeProc};
use anyhow::{Context, Result};
use serde::Serialize;
use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

#[derive(Serialize, Debug)]
pub struct IdleLink {
    /// How long the link was watched, idle.
    pub window_s: f64,
    /// TCP payload bytes per minute from the dial-out node to its partner.
    pub up_bytes_per_min: f64,
    /// ... and from the partner to the dial-out node.
    pub down_bytes_per_min: f64,
    /// TCP connections the dial-out node opened through the proxy in all
    /// (1 when the link held throughout).
    pub connections: u64,
    /// The node's `replication.heartbeat_secs` and the HTTP/2 PING interval.
    pub heartbeat_secs: u64,
    pub ping_secs: u64,
}

/// Bytes counted each way, and connections, by the proxy.
#[derive(Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
}

/// Copies `from` to `to`, adding each read to `count`, until either ends.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<Counts>,
    up: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let counter = if up { &count.up } else { &count.down };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A proxy on 127.0.0.1 to `target`, counting what passes: its address.
async fn counting_proxy(target: std::net::SocketAddr, counts: Arc<Counts>) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            counts.connections.fetch_add(1, Ordering::Relaxed);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pump(client_read, server_write, counts.clone(), true));
            tokio::spawn(pump(server_read, client_write, counts.clone(), false));
        }
    });
    Ok(format!("https://{addr}"))
}

/// Watches one idle dial-out link for `window` (after it has settled).
pub async fn measure(bin: &cluster::Bin, scratch: &Path, window: Duration) -> Result<IdleLink> {
    let root = tempfile::tempdir_in(scratch)?;
    let mut dialler = NodeProc::init_listening(bin, root.path(), "kenya-igf", false)?;
    let mut partner = NodeProc::init(bin, root.path(), "itu")?;
    let target: std::net::SocketAddr = partner
        .endpoint
        .trim_start_matches("https://")
        .parse()
        .context("the partner's endpoint")?;
    let counts = Arc::new(Counts::default());
    let proxied = counting_proxy(target, counts.clone()).await?;
    let mut p_api = partner.serve().await?;
    let mut d_api = dialler.serve().await?;
    // The partner knows the dial-out node by key only; the dial-out node
    // dials the partner through the proxy.
    cluster::add_peer(&mut p_api, &dialler).await?;
    d_api
        .add_peer(comity_core::proto::AddPeerRequest {
            org: partner.org.to_string(),
            key: partner.key.to_string(),
            endpoint: proxied,
            more_endpoints: Vec::new(),
        })
        .await?;
    let settle = Duration::from_secs(60);
    cluster::wait_for(&mut p_api, &dialler.org, 1, settle).await?;
    cluster::wait_for(&mut d_api, &partner.org, 1, settle).await?;
    // Let the first exchanges (profiles, checkpoints, their cosignatures) end.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (up0, down0) = (
        counts.up.load(Ordering::Relaxed),
        counts.down.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = start.elapsed().as_secs_f64();
    let per_min = |bytes: u64| bytes as f64 * 60.0 / elapsed;
    let result = IdleLink {
        window_s: elapsed,
        up_bytes_per_min: per_min(counts.up.load(Ordering::Relaxed) - up0),
        down_bytes_per_min: per_min(counts.down.load(Ordering::Relaxed) - down0),
        connections: counts.connections.load(Ordering::Relaxed),
        heartbeat_secs: comity_node::config::ReplicationConfig::default().heartbeat_secs,
        ping_secs: comity_tls::KEEPALIVE_INTERVAL.as_secs(),
    };
    drop((p_api, d_api));
    dialler.stop()?;
    partner.stop()?;
    Ok(result)
}
