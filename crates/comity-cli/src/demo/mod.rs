//! `comity demo`: the federation of the organisations the WTPF-13 Opinion
//! names, on loopback, so a newcomer meets Comity in seconds. Every node is
//! real: its own data directory, key, TLS port, local API socket and
//! dashboard; they peer reciprocally, and one organisation is reached only
//! through relays. `comity status --data <dir>` works against any of them.
//! One organisation's notifier (W3C's, or the first's) e-mails a mailbox
//! inside the demo (`mail`), which prints each mail as it arrives: the
//! reminders a secretariat would get.

mod mail;
mod orgs;
mod samples;

use crate::{Failure, commands::shutdown_signal};
use clap::Args;
use comity_core::OrgId;
use comity_daemon::{Daemon, Listeners};
use comity_node::{Config, DataDir, Node, accounts};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::net::TcpListener;

/// The demo account on every node's dashboard.
pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "comity-demo";

#[derive(Args)]
pub struct DemoArgs {
    /// Organisations to start (default: all seventeen): itu, icann, ietf,
    /// afrinic, apnic, arin, lacnic, ripe-ncc, isoc, w3c, igf, kenya-igf,
    /// eurodig, m3aawg, apwg, apec-tel, ke-moict.
    #[arg(long, value_delimiter = ',')]
    orgs: Vec<OrgId>,
    /// Keep the nodes' data here instead of a temporary directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Start the federation, publish nothing.
    #[arg(long)]
    no_sample_data: bool,
    /// Stop after the sample data has propagated instead of waiting for Ctrl-C.
    #[arg(long, hide = true)]
    exit: bool,
}

struct DemoNode {
    data: DataDir,
    daemon: Daemon,
    dashboard: String,
}

impl DemoNode {
    fn node(&self) -> &Arc<Node> {
        self.daemon.node()
    }
}

fn config_for(
    org: &orgs::DemoOrg,
    listen: std::net::SocketAddr,
    http: std::net::SocketAddr,
) -> Result<Config, Failure> {
    let mut config = Config::new(OrgId::new(org.id)?, org.name, listen);
    config.profile.stakeholder_group = Some(
        org.group
            .parse()
            .map_err(|e: comity_node::config::StakeholderGroupError| e.to_string())?,
    );
    config.profile.region = Some(org.region.into());
    config.profile.country = org.country.map(str::to_string);
    config.profile.languages = org.languages.iter().map(|l| l.to_string()).collect();
    config.profile.groups = org.groups.iter().map(|g| g.to_string()).collect();
    config.replication.heads_poll_secs = 2;
    config.replication.heartbeat_secs = 5;
    config.replication.backoff_max_secs = 10;
    config.storage.cache_mb = 4;
    config.workflow.liaison_approval = true;
    config.http.listen = http;
    Ok(config)
}

/// Who dials whom: everyone, reciprocally, except the relayed organisation,
/// which dials only its relays and is dialled only by them; everyone else
/// pins it by key and gets its log through the relays.
fn endpoint_between(from: &str, to: &str) -> bool {
    let relayed = |a: &str, b: &str| a == orgs::RELAYED && !orgs::RELAYED_VIA.contains(&b);
    !relayed(from, to) && !relayed(to, from)
}

/// The organisation whose notifier mails the demo's mailbox: W3C is asked
/// for comment by a near deadline in the samples, so a reminder comes at once.
const MAILED: &str = "w3c";

/// Mail from `org`'s notifier to the demo's mailbox on `port` (set at every
/// start: the mailbox's port is new each time).
fn mail_to_sink(config: &mut Config, port: u16) {
    let org = config.org.clone();
    config.notifications.email = Some(comity_node::config::EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        security: "none".into(),
        username: None,
        password: None,
        from: format!("comity@{org}.demo.invalid"),
        to: vec![format!("liaisons@{org}.demo.invalid")],
    });
}

async fn start_nodes(
    root: &Path,
    chosen: &[&'static orgs::DemoOrg],
    mailbox: u16,
) -> Result<Vec<DemoNode>, Failure> {
    let mailed = chosen
        .iter()
        .find(|o| o.id == MAILED)
        .or(chosen.first())
        .map(|o| o.id);
    let mut prepared = Vec::new();
    for org in chosen {
        let data = DataDir::new(root.join(org.id));
        // A directory kept from an earlier demo (--data) is started again as
        // it was, on the same ports; a new one gets fresh ports and keys.
        let (config, key, federation, http) = if data.is_initialised() {
            let config = data.load_config()?;
            let store_key = data.load_key()?;
            let federation = TcpListener::bind(config.listen).await?;
            let http = TcpListener::bind(config.http.listen).await?;
            (config, store_key, federation, http)
        } else {
            let federation = TcpListener::bind("127.0.0.1:0").await?;
            let http = TcpListener::bind("127.0.0.1:0").await?;
            let config = config_for(org, federation.local_addr()?, http.local_addr()?)?;
            let key = data.init(&config)?;
            (config, key, federation, http)
        };
        let mut config = config;
        if Some(org.id) == mailed {
            mail_to_sink(&mut config, mailbox);
        }
        let store = data.open_store(&config)?;
        let key = data
            .load_key_recovering(&config.org, &*store)
            .unwrap_or(key);
        if accounts::user(&*store, DEMO_USER)?.is_none() {
            accounts::add_user(&*store, DEMO_USER, accounts::Role::Admin, DEMO_PASSWORD, 0)?;
        }
        let options = comity_node::node::NodeOptions {
            key_files: Some(data.key_files()),
            search_dir: Some(data.search_path()),
            ..Default::default()
        };
        let node = Node::with_options(config, key, store, options)?;
        prepared.push((data, node, federation, http));
    }
    for (_, node, _, _) in &prepared {
        for (_, other, _, _) in &prepared {
            if node.org() == other.org() {
                continue;
            }
            let dial = endpoint_between(node.org().as_str(), other.org().as_str());
            node.add_peer(
                other.org().clone(),
                other.public_key(),
                dial.then(|| other.config().endpoint()),
            )?;
        }
    }
    let mut nodes = Vec::new();
    for (data, node, federation, http) in prepared {
        let dashboard = node.http_url().unwrap_or_default();
        // As `comity serve` runs it: node, dashboard and notifier.
        let listeners = Listeners {
            federation: Some(federation),
            http: Some(http),
            socket: Some(data.socket_path()),
            local_api_tcp: None,
        };
        let daemon = Daemon::start(node, listeners).await?;
        nodes.push(DemoNode {
            data,
            daemon,
            dashboard,
        });
    }
    Ok(nodes)
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

/// Waits (up to `deadline`) until no node is still recovering its own log
/// from its partners (issue 13): a node publishes only after that.
async fn wait_recovered(nodes: &[DemoNode], deadline: Duration) {
    let start = Instant::now();
    while start.elapsed() < deadline {
        let recovering = nodes.iter().any(|n| {
            matches!(
                n.node().recovery(),
                comity_node::recovery::Recovery::Recovering { .. }
            )
        });
        if !recovering {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every node holds every other node's log up to what its origin holds.
async fn wait_converged(nodes: &[DemoNode], deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        let heads: Vec<(OrgId, u64)> = nodes
            .iter()
            .map(|n| {
                (
                    n.node().org().clone(),
                    n.node()
                        .store()
                        .head(n.node().org())
                        .ok()
                        .flatten()
                        .map_or(0, |h| h.seq),
                )
            })
            .collect();
        let converged = nodes.iter().all(|n| {
            heads.iter().all(|(origin, seq)| {
                n.node()
                    .store()
                    .head(origin)
                    .ok()
                    .flatten()
                    .map_or(0, |h| h.seq)
                    >= *seq
            })
        });
        if converged {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn chosen(args: &DemoArgs) -> Result<Vec<&'static orgs::DemoOrg>, Failure> {
    if args.orgs.is_empty() {
        return Ok(orgs::ORGS.iter().collect());
    }
    let known: Vec<&str> = orgs::ORGS.iter().map(|o| o.id).collect();
    let chosen = args
        .orgs
        .iter()
        .map(|id| {
            orgs::find(id.as_str()).ok_or_else(|| {
                Failure::from(format!(
                    "the demo has no organisation {id}; choose among {}",
                    known.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if chosen.len() < 2 {
        return Err("a demo needs at least two organisations".into());
    }
    Ok(chosen)
}

pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    crate::logging::init("warn");
    let chosen = chosen(&args)?;
    let temp;
    let root = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("comity-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let started = Instant::now();
    let mailbox = mail::MailSink::start(|m| {
        println!("  mail to {}: {}", m.to.join(", "), m.subject);
    })
    .await?;
    let nodes = start_nodes(&root, &chosen, mailbox.port).await?;
    wait_connected(&nodes, Duration::from_secs(15)).await;
    // Each node asked its partners for its own log first; the bound is the
    // node's own (`replication.recovery_wait_secs`), after which it
    // publishes anyway, with a warning.
    wait_recovered(&nodes, Duration::from_secs(65)).await;
    println!(
        "Comity demo: {} organisations on loopback, connected in {:.1} s",
        nodes.len(),
        started.elapsed().as_secs_f64()
    );
    let fresh = nodes.iter().all(|n| {
        n.node()
            .store()
            .head(n.node().org())
            .ok()
            .flatten()
            .is_none_or(|h| h.seq <= 1)
    });
    if !args.no_sample_data && fresh {
        let by_org = nodes
            .iter()
            .map(|n| (n.node().org().to_string(), n.node().clone()))
            .collect();
        let published = samples::publish(&by_org).await?;
        let converged = wait_converged(&nodes, Duration::from_secs(30)).await;
        println!(
            "published {published} sample documents; {} after {:.1} s",
            if converged {
                "every node holds every log"
            } else {
                "still propagating"
            },
            started.elapsed().as_secs_f64()
        );
    }
    println!("\n  {:<10} {:<28} data", "org", "dashboard");
    for n in &nodes {
        let relayed = if n.node().org().as_str() == orgs::RELAYED {
            "  (reached only through relays)"
        } else {
            ""
        };
        println!(
            "  {:<10} {:<28} {}{relayed}",
            n.node().org(),
            n.dashboard,
            n.data.root().display()
        );
    }
    println!("\nLog in to any dashboard as {DEMO_USER} / {DEMO_PASSWORD}.");
    if let Some(n) = nodes
        .iter()
        .find(|n| n.node().org().as_str() == "ietf")
        .or(nodes.first())
    {
        println!(
            "Or use the CLI: comity liaison list --inbox --data {}",
            n.data.root().display()
        );
    }
    let mailed = nodes
        .iter()
        .find(|n| n.node().config().notifications.email.is_some())
        .map(|n| n.node().org().to_string());
    if let Some(org) = &mailed {
        println!("{org}'s notifier e-mails a mailbox inside the demo; its mails show here:");
    }
    if !args.exit {
        println!("Press Ctrl-C to stop.");
        shutdown_signal().await;
    } else if mailed.is_some() && !args.no_sample_data {
        // Scripted runs (and the test) stop once a reminder is shown (the
        // notifier's subject for one: "[Comity org] Due in 11 days: ...").
        let reminder = |m: &mail::Mail| m.subject.contains("] Due ");
        if !mailbox.wait_for(reminder, Duration::from_secs(30)).await {
            println!("  (no reminder mail within 30 s)");
        }
    }
    for n in nodes {
        n.daemon.shutdown().await?;
    }
    Ok(())
}
