//! `comity demo`: a small federation on loopback, so a newcomer sees entries
//! travel between organisations, directly and through relays, in seconds.
//! Every node is real: its own data directory, key, TLS port and local API
//! socket, so `comity status --data <dir>` works against it while it runs.

use crate::{Failure, commands::shutdown_signal};
use clap::Args;
use comity_core::{OrgId, dates, proto};
use comity_node::{Config, DataDir, Node, RunningNode};
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

#[derive(Args)]
pub struct DemoArgs {
    /// Organisations to start (the last one follows the first by key only,
    /// through relays).
    #[arg(long, value_delimiter = ',', default_value = "itu,ietf,icann,ripe-ncc")]
    orgs: Vec<OrgId>,
    /// Keep the nodes' data here instead of a temporary directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Start the federation, publish nothing.
    #[arg(long)]
    no_sample_data: bool,
    /// Publish, show propagation, then stop instead of waiting for Ctrl-C.
    #[arg(long, hide = true)]
    exit: bool,
}

fn name_of(org: &OrgId) -> (String, &'static str, &'static str) {
    let (name, group, region) = match org.as_str() {
        "itu" => (
            "International Telecommunication Union",
            "intergovernmental",
            "global",
        ),
        "ietf" => (
            "Internet Engineering Task Force",
            "technical-academic",
            "global",
        ),
        "icann" => (
            "Internet Corporation for Assigned Names and Numbers",
            "technical-academic",
            "global",
        ),
        "ripe-ncc" => (
            "RIPE NCC",
            "technical-academic",
            "Europe, Middle East, Central Asia",
        ),
        "afrinic" => ("AFRINIC", "technical-academic", "Africa"),
        "apnic" => ("APNIC", "technical-academic", "Asia-Pacific"),
        "arin" => ("ARIN", "technical-academic", "North America"),
        "lacnic" => (
            "LACNIC",
            "technical-academic",
            "Latin America and Caribbean",
        ),
        "isoc" => ("Internet Society", "civil-society", "global"),
        "w3c" => ("World Wide Web Consortium", "technical-academic", "global"),
        "igf" => ("Internet Governance Forum", "intergovernmental", "global"),
        other => return (other.to_uppercase(), "civil-society", "global"),
    };
    (name.to_string(), group, region)
}

struct DemoNode {
    data: DataDir,
    running: RunningNode,
}

impl DemoNode {
    fn node(&self) -> &Arc<Node> {
        self.running.node()
    }
}

async fn start_nodes(root: &std::path::Path, orgs: &[OrgId]) -> Result<Vec<DemoNode>, Failure> {
    let mut prepared = Vec::new();
    for org in orgs {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (name, group, region) = name_of(org);
        let mut config = Config::new(org.clone(), name, listener.local_addr()?);
        config.profile.stakeholder_group = Some(group.into());
        config.profile.region = Some(region.into());
        config.replication.heads_poll_secs = 2;
        config.replication.heartbeat_secs = 5;
        config.replication.backoff_max_secs = 10;
        let data = DataDir::new(root.join(org.as_str()));
        let key = data.init(&config)?;
        let node = Node::new(config.clone(), key, data.open_store(&config)?)?;
        prepared.push((data, node, listener));
    }
    // Full mesh, except that the last organisation follows the first by key
    // only, and the first does not know it: their entries travel through relays.
    let relayed = prepared.len() > 2;
    for (i, (_, node, _)) in prepared.iter().enumerate() {
        for (j, (_, other, _)) in prepared.iter().enumerate() {
            if i == j {
                continue;
            }
            let last = prepared.len() - 1;
            if relayed && i == 0 && j == last {
                continue;
            }
            let endpoint = (!(relayed && i == last && j == 0)).then(|| other.config().endpoint());
            node.add_peer(other.org().clone(), other.public_key(), endpoint)?;
        }
    }
    let mut nodes = Vec::new();
    for (data, node, listener) in prepared {
        let running = RunningNode::start(node, listener, Some(data.socket_path())).await?;
        nodes.push(DemoNode { data, running });
    }
    Ok(nodes)
}

/// Waits until `node` holds `origin` up to `seq`.
async fn wait_for(node: &Node, origin: &OrgId, seq: u64, deadline: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut appended = node.appended();
    loop {
        if node
            .store()
            .head(origin)
            .ok()
            .flatten()
            .is_some_and(|h| h.seq >= seq)
        {
            return Some(start.elapsed());
        }
        let left = deadline.checked_sub(start.elapsed())?;
        if tokio::time::timeout(left, appended.changed())
            .await
            .is_err()
        {
            return None;
        }
    }
}

/// Waits (up to `deadline`) until every node is connected to every peer it dials.
async fn wait_connected(nodes: &[DemoNode], deadline: Duration) {
    let start = Instant::now();
    while start.elapsed() < deadline {
        let all = nodes.iter().all(|n| {
            n.node()
                .peer_table()
                .views()
                .iter()
                .all(|p| p.record.endpoint.is_none() || p.connected)
        });
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn publish_sample(nodes: &[DemoNode]) -> Result<(), Failure> {
    let publisher = nodes[0].node();
    let title = "Developmental Aspects of the Internet";
    let closes = dates::parse_end("2027-01-11")?;
    let consultation = proto::Consultation {
        uuid: comity_core::document::new_uuid(),
        revision: 1,
        title: vec![
            proto::Text {
                lang: "en".into(),
                value: title.into(),
            },
            proto::Text {
                lang: "fr".into(),
                value: "Aspects de l'Internet liés au développement".into(),
            },
        ],
        summary: vec![proto::Text {
            lang: "en".into(),
            value:
                "Open consultation ahead of the CWG-Internet meeting; all stakeholders may respond."
                    .into(),
        }],
        closes_at: Some(dates::to_timestamp(closes)),
        status: proto::ConsultationStatus::Open as i32,
        topics: vec!["development".into(), "internet-governance".into()],
        ..Default::default()
    };
    let entry = publisher
        .publish(proto::document::Body::Consultation(consultation))
        .await?;
    println!(
        "\n{} published consultation \"{title}\" as seq {}; waiting for it to arrive…",
        publisher.org(),
        entry.seq()
    );
    let seq = entry.seq();
    let arrivals = nodes[1..].iter().map(|other| async move {
        let node = other.node();
        let relayed = node
            .peer_table()
            .views()
            .iter()
            .any(|p| &p.record.org == publisher.org() && p.record.endpoint.is_none());
        let took = wait_for(node, publisher.org(), seq, Duration::from_secs(30)).await;
        (node.org().clone(), relayed, took)
    });
    for (org, relayed, took) in futures::future::join_all(arrivals).await {
        let route = if relayed {
            "through relays"
        } else {
            "directly"
        };
        match took {
            Some(took) => println!(
                "  {org:<10} holds it after {:>7.1} ms ({route})",
                took.as_secs_f64() * 1000.0
            ),
            None => println!("  {org:<10} does not hold it yet after 30 s"),
        }
    }
    Ok(())
}

pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    crate::logging::init("warn");
    if args.orgs.len() < 2 {
        return Err("a demo needs at least two organisations".into());
    }
    let temp;
    let root = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("comity-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let started = Instant::now();
    let nodes = start_nodes(&root, &args.orgs).await?;
    println!(
        "Comity demo: {} organisations on loopback, started in {:.1} s",
        nodes.len(),
        started.elapsed().as_secs_f64()
    );
    for n in &nodes {
        let node = n.node();
        println!(
            "  {:<10} {}  {}",
            node.org(),
            node.config().endpoint(),
            n.data.root().display()
        );
    }
    if !args.no_sample_data {
        wait_connected(&nodes, Duration::from_secs(10)).await;
        publish_sample(&nodes).await?;
    }
    let example = nodes
        .last()
        .map(|n| n.data.root().display().to_string())
        .unwrap_or_default();
    println!(
        "\nTry, in another terminal:\n  comity status --data {example}\n  comity log --data {example}\n  comity publish consultation --data {} --title \"...\" --closes 2027-03-31",
        nodes[0].data.root().display()
    );
    if !args.exit {
        println!("\nPress Ctrl-C to stop.");
        shutdown_signal().await;
    }
    for n in nodes {
        n.running.shutdown().await?;
    }
    Ok(())
}
