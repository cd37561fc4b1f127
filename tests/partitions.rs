//! Partitions and poor links between real `comity serve` processes, each in
//! its own network namespace, joined by veth pairs that the test creates,
//! cuts, restores and removes.
//!
//! - Five nodes in a full mesh of veth pairs (one /24 in 10.201.0.0/16 per
//!   pair); links are cut and restored at random, including a split into two
//!   halves; after healing, every node holds the same head for every origin
//!   within a bounded time, and every chain verifies with no gap and no
//!   duplicate.
//! - A poor link (256 kbit/s, 300 ms, 10% loss each way: `tc netem`, or where
//!   the kernel lacks `sch_netem` the same impairment emulated in user space
//!   between two TUN devices): a node catches up a backlog (500 entries;
//!   10,000 under `COMITY_FAULT_LONG=1`), and the test prints the time and
//!   the bytes that crossed the link.
//!
//! Both need root and `ip`; without them they print why and return.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{OrgId, PublicKey};
use rand::{Rng, seq::SliceRandom};
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use support::{ChildNode, fault_long, fault_size, temp_root, verify_store};

#[path = "support/link_emulator.rs"]
mod link_emulator;
use link_emulator::{EmulatedLink, Impairment};

/// The port every node listens on, inside its own namespace.
const PORT: u16 = 7443;

/// Runs `ip args…`; the error carries its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Network namespaces this test created; removed (with their veths) on drop,
/// also when the test panics.
struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    /// Creates `n` namespaces with loopback up, or says why it cannot.
    fn create(tag: &str, n: usize) -> Result<Self, String> {
        let mut spaces = Self { names: Vec::new() };
        for i in 0..n {
            let name = format!("comity-{tag}-{}-{i}", std::process::id());
            ip(&["netns", "add", &name])?;
            spaces.names.push(name.clone());
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
        }
        Ok(spaces)
    }

    fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Joins namespaces `a` and `b` with a veth pair named `to<b>` in `a` and
    /// `to<a>` in `b`, addressed 10.201.<net>.1 and .2; returns both addresses.
    fn link(&self, a: usize, b: usize, net: u8) -> Result<(String, String), String> {
        let (ns_a, ns_b) = (self.name(a), self.name(b));
        let (if_a, if_b) = (format!("to{b}"), format!("to{a}"));
        ip(&[
            "link", "add", &if_a, "netns", ns_a, "type", "veth", "peer", "name", &if_b, "netns",
            ns_b,
        ])?;
        let (addr_a, addr_b) = (format!("10.201.{net}.1"), format!("10.201.{net}.2"));
        for (ns, ifname, addr) in [(ns_a, &if_a, &addr_a), (ns_b, &if_b, &addr_b)] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                ifname,
            ])?;
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        Ok((addr_a, addr_b))
    }

    /// Brings the link between `a` and `b` up or down, at both ends.
    fn set_link(&self, a: usize, b: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        for (ns, ifname) in [
            (self.name(a), format!("to{b}")),
            (self.name(b), format!("to{a}")),
        ] {
            ip(&["-n", ns, "link", "set", &ifname, state]).unwrap();
        }
    }

    /// A counter of interface `ifname` in namespace `ns` (e.g. `rx_bytes`).
    fn counter(&self, i: usize, ifname: &str, counter: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", self.name(i), "cat"])
            .arg(format!("/sys/class/net/{ifname}/statistics/{counter}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in self.names.drain(..) {
            // Deleting a namespace deletes the veth ends inside it.
            if let Err(e) = ip(&["netns", "del", &name]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Why namespaces cannot be used here, if they cannot.
fn cannot_use_namespaces(tag: &str) -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        });
    if uid.as_deref() != Some("0") {
        return Some("not running as root".into());
    }
    if let Err(e) = run("ip", &["-V"]) {
        return Some(format!("no usable `ip`: {e}"));
    }
    match Namespaces::create(&format!("probe-{tag}"), 1) {
        Ok(_) => None,
        Err(e) => Some(format!("cannot create a network namespace: {e}")),
    }
}

macro_rules! skip_without_namespaces {
    ($test:literal) => {
        if let Some(why) = cannot_use_namespaces($test) {
            eprintln!("SKIPPED {}: {why}", $test);
            return;
        }
    };
}

async fn publish_via(node: &ChildNode, title: String) -> Option<u64> {
    support::publish_through(&node.data.socket_path(), title)
        .await
        .map(|(seq, _)| seq)
}

/// Each node's own head, as it reports it.
async fn own_heads(nodes: &[ChildNode]) -> BTreeMap<String, u64> {
    let mut heads = BTreeMap::new();
    for node in nodes {
        let own = node.heads().await.unwrap()[node.org.as_str()];
        heads.insert(node.org.to_string(), own);
    }
    heads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_random_partitions_heal_every_node_holds_every_log_exactly() {
    skip_without_namespaces!("partitions");
    const N: usize = 5;
    let rounds = fault_size(6, 40);
    let root = temp_root();
    let spaces = Namespaces::create("part", N).unwrap();
    // A full mesh of veth pairs: node i reaches node j at `address[i][j]`.
    let links: Vec<(usize, usize)> = (0..N)
        .flat_map(|a| (a + 1..N).map(move |b| (a, b)))
        .collect();
    let mut address = vec![vec![String::new(); N]; N];
    for &(a, b) in &links {
        let net = (10 * a + b) as u8;
        let (addr_a, addr_b) = spaces.link(a, b, net).unwrap();
        address[b][a] = addr_a;
        address[a][b] = addr_b;
    }
    let listen = SocketAddr::from(([0, 0, 0, 0], PORT));
    let mut nodes: Vec<ChildNode> = (0..N)
        .map(|i| {
            let first_link = address[(i + 1) % N][i].clone();
            ChildNode::init(root.path(), &format!("org{i}"), listen, |c| {
                c.endpoint = Some(format!("https://{first_link}:{PORT}").parse().unwrap());
            })
            .in_netns(spaces.name(i))
        })
        .collect();
    let keys: BTreeMap<OrgId, PublicKey> = nodes.iter().map(|n| (n.org.clone(), n.key)).collect();
    for i in 0..N {
        for j in 0..N {
            if i != j {
                let endpoint = format!("https://{}:{PORT}", address[i][j]);
                let (org, key) = (nodes[j].org.clone(), nodes[j].key);
                nodes[i].pin(&org, key, Some(endpoint.parse().unwrap()));
            }
        }
    }
    for node in &mut nodes {
        node.spawn();
    }
    for node in &mut nodes {
        node.wait_ready().await;
    }
    let nodes = Arc::new(nodes);

    // Every node publishes, at random, all through the partitions.
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (nodes, stop, published) = (nodes.clone(), stop.clone(), published.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let at = rand::thread_rng().gen_range(0..N);
                if publish_via(&nodes[at], format!("partitioned {i}"))
                    .await
                    .is_some()
                {
                    published.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };

    let started = Instant::now();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..N).collect();
        order.shuffle(&mut rand::thread_rng());
        let split = round % 2 == 1;
        let down: Vec<(usize, usize)> = if split {
            // Two halves: no link crosses between them.
            let half = &order[..2];
            links
                .iter()
                .copied()
                .filter(|(a, b)| half.contains(a) != half.contains(b))
                .collect()
        } else {
            links
                .iter()
                .copied()
                .filter(|_| rand::thread_rng().gen_bool(0.4))
                .collect()
        };
        for &(a, b) in &links {
            spaces.set_link(a, b, !down.contains(&(a, b)));
        }
        let what = if split {
            format!("split {:?} | {:?}", &order[..2], &order[2..])
        } else {
            format!("{} of {} links cut", down.len(), links.len())
        };
        eprintln!("round {round}: {what}");
        let hold = rand::thread_rng().gen_range(1500..3500);
        tokio::time::sleep(Duration::from_millis(hold)).await;
    }
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();

    // Heal, and wait until everyone holds everyone's head.
    for &(a, b) in &links {
        spaces.set_link(a, b, true);
    }
    let expected = own_heads(&nodes).await;
    let bound = Duration::from_secs(if fault_long() { 120 } else { 60 });
    let healed = Instant::now();
    loop {
        let mut behind = Vec::new();
        for node in nodes.iter() {
            let heads = node.heads().await.unwrap_or_default();
            if heads != expected {
                behind.push(format!("{}: {heads:?}", node.org));
            }
        }
        if behind.is_empty() {
            break;
        }
        assert!(
            healed.elapsed() < bound,
            "not converged {bound:?} after healing; expected {expected:?}, got {behind:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let converged = healed.elapsed();
    let mut nodes = Arc::try_unwrap(nodes).ok().unwrap();
    for node in &mut nodes {
        node.terminate();
    }
    for node in &nodes {
        let store = node.open_store();
        let heads = verify_store(node.org.as_str(), &store, &keys);
        let heads: BTreeMap<String, u64> =
            heads.into_iter().map(|(o, s)| (o.to_string(), s)).collect();
        assert_eq!(heads, expected, "{} after healing", node.org);
        assert!(
            comity_store::LogStore::equivocations(&store)
                .unwrap()
                .is_empty(),
            "{} saw an equivocation",
            node.org
        );
    }
    eprintln!(
        "partitions: {rounds} rounds in {:?}, {} entries published, converged {converged:?} \
         after healing; heads {expected:?}",
        started.elapsed() - converged,
        published.load(Ordering::Relaxed)
    );
}

/// The poor link the issue describes: 256 kbit/s, 300 ms, 10 % loss, on
/// egress at both ends.
const POOR: Impairment = Impairment {
    bits_per_second: 256_000,
    delay: Duration::from_millis(300),
    loss: 0.10,
    max_queueing: Duration::from_secs(2),
};

/// [`POOR`] as `tc netem` parameters, which also describe it in the output.
fn poor_as_netem() -> Vec<String> {
    vec![
        "rate".into(),
        format!("{}bit", POOR.bits_per_second),
        "delay".into(),
        format!("{}ms", POOR.delay.as_millis()),
        "loss".into(),
        format!("{}%", POOR.loss * 100.0),
    ]
}

/// Shapes egress of `ifname` in namespace `i` with `tc netem` as [`POOR`].
fn netem(spaces: &Namespaces, i: usize, ifname: &str) -> Result<(), String> {
    let mut args: Vec<String> = [
        "-n",
        spaces.name(i),
        "qdisc",
        "add",
        "dev",
        ifname,
        "root",
        "netem",
    ]
    .map(String::from)
    .to_vec();
    args.extend(poor_as_netem());
    run("tc", &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Joins namespaces 0 and 1 by a poor link, addressed as [`Namespaces::link`]
/// does: a veth pair under `tc netem` where the kernel has `sch_netem`, else
/// two TUN devices and [`EmulatedLink`] passing packets between them with
/// the same rate, delay and loss. Returns the addresses, what was applied,
/// and the emulator to keep alive.
fn poor_link(spaces: &Namespaces) -> (String, String, String, Option<EmulatedLink>) {
    let (addr_a, addr_b) = spaces.link(0, 1, 1).unwrap();
    let Err(no_netem) = netem(spaces, 0, "to1").and_then(|()| netem(spaces, 1, "to0")) else {
        return (
            addr_a,
            addr_b,
            format!("tc netem {}", poor_as_netem().join(" ")),
            None,
        );
    };
    ip(&["-n", spaces.name(0), "link", "del", "to1"]).unwrap();
    let pid = std::process::id();
    let names = [format!("cpl{pid}a"), format!("cpl{pid}b")];
    let link = EmulatedLink::start(&names, POOR).unwrap();
    for (i, name, ifname, addr, peer) in [
        (0, &names[0], "to1", &addr_a, &addr_b),
        (1, &names[1], "to0", &addr_b, &addr_a),
    ] {
        let ns = spaces.name(i);
        ip(&["link", "set", name, "netns", ns]).unwrap();
        ip(&["-n", ns, "link", "set", name, "name", ifname]).unwrap();
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            addr,
            "peer",
            &format!("{peer}/32"),
            "dev",
            ifname,
        ])
        .unwrap();
        ip(&["-n", ns, "link", "set", ifname, "up"]).unwrap();
    }
    let applied = format!(
        "user-space emulation over TUN, {} (no netem here: {no_netem})",
        poor_as_netem().join(" ")
    );
    (addr_a, addr_b, applied, Some(link))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_catches_up_over_a_poor_link() {
    skip_without_namespaces!("poor-link");
    let backlog = fault_size(500, 10_000);
    let root = temp_root();
    let spaces = Namespaces::create("poor", 2).unwrap();
    let (addr_a, addr_b, applied, emulator) = poor_link(&spaces);
    let listen = SocketAddr::from(([0, 0, 0, 0], PORT));
    // Patient timings: 600 ms round trips, retransmissions after loss.
    let patient = |c: &mut comity_node::Config| {
        c.replication.heartbeat_secs = 5;
        c.limits.connect_timeout_secs = 30;
        c.limits.handshake_timeout_secs = 30;
    };
    // What the links and subscriptions did, should the catch-up stall.
    let logged = "warn,comity_node::peers=debug";
    let mut publisher = ChildNode::init(root.path(), "poor-pub", listen, |c| {
        patient(c);
        c.endpoint = Some(format!("https://{addr_a}:{PORT}").parse().unwrap());
    })
    .in_netns(spaces.name(0))
    .log_filter(logged);
    let mut follower = ChildNode::init(root.path(), "poor-fol", listen, |c| {
        patient(c);
        c.endpoint = Some(format!("https://{addr_b}:{PORT}").parse().unwrap());
    })
    .in_netns(spaces.name(1))
    .log_filter(logged);
    publisher.pin(&follower.org, follower.key, None);
    follower.pin(
        &publisher.org,
        publisher.key,
        Some(format!("https://{addr_a}:{PORT}").parse().unwrap()),
    );
    publisher.start().await;
    let t = Instant::now();
    let mut last = 0;
    for i in 0..backlog {
        last = publish_via(&publisher, format!("Backlog consultation {i}"))
            .await
            .unwrap();
    }
    eprintln!(
        "poor link: {backlog} entries published in {:?}",
        t.elapsed()
    );

    let counters = |spaces: &Namespaces| {
        (
            spaces.counter(1, "to0", "rx_bytes"),
            spaces.counter(1, "to0", "tx_bytes"),
        )
    };
    let (rx0, tx0) = counters(&spaces);
    let start = Instant::now();
    follower.start().await;
    let within = Duration::from_secs(if fault_long() { 3600 } else { 300 });
    loop {
        let held = follower
            .heads()
            .await
            .and_then(|h| h.get(publisher.org.as_str()).copied())
            .unwrap_or(0);
        if held >= last {
            break;
        }
        if start.elapsed() > within {
            let packets = emulator.as_ref().map(|link| {
                let [to_follower, to_publisher] = &link.counters;
                format!(
                    "packets to the follower {to_follower:?}, to the publisher {to_publisher:?}"
                )
            });
            panic!(
                "the follower holds {held} of {last} after {within:?} over {applied}; {}\n\
                 publisher's log:\n{}\nfollower's log:\n{}",
                packets.unwrap_or_default(),
                publisher.log_tail(),
                follower.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = start.elapsed();
    let (rx1, tx1) = counters(&spaces);
    let (rx, tx) = (rx1 - rx0, tx1 - tx0);
    eprintln!(
        "poor link ({applied}): caught up {last} entries in {took:.1?} \
         ({:.0} entries/s); {rx} bytes in, {tx} bytes out at the follower \
         ({:.0} bytes per entry)",
        last as f64 / took.as_secs_f64(),
        rx as f64 / last as f64
    );
    if let Some(link) = &emulator {
        let [to_follower, to_publisher] = &link.counters;
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        eprintln!(
            "poor link: packets to the follower {} passed, {} lost, {} dropped at a full \
             queue; to the publisher {} passed, {} lost, {} dropped at a full queue",
            count(&to_follower.passed),
            count(&to_follower.lost),
            count(&to_follower.queue_full),
            count(&to_publisher.passed),
            count(&to_publisher.lost),
            count(&to_publisher.queue_full),
        );
        assert!(
            count(&to_follower.lost) > 0 && count(&to_publisher.lost) > 0,
            "the emulated link lost nothing: the nodes did not talk over it"
        );
    }
    publisher.terminate();
    follower.terminate();
    let store = follower.open_store();
    let keys = BTreeMap::from([
        (publisher.org.clone(), publisher.key),
        (follower.org.clone(), follower.key),
    ]);
    let heads = verify_store("follower", &store, &keys);
    assert_eq!(heads[&publisher.org], last);
}

// ------------------------------------------------------------ reach (issue 12)

/// How long a dial-out node's publishes may take to reach its partners, and
/// theirs to reach it, on a clean link: the bound the NAT test states.
/// Measured well under a second; generous for small shared machines.
const REACH_BOUND: Duration = Duration::from_secs(30);

/// A link as clean as a LAN, for the firewall alone.
const CLEAN: Impairment = Impairment {
    bits_per_second: 1_000_000_000,
    delay: Duration::ZERO,
    loss: 0.0,
    max_queueing: Duration::from_secs(1),
};

/// Joins namespaces `a` and `b` by two TUN devices and [`EmulatedLink`]
/// under `impairment`, with a firewall in front of `a` that drops every
/// connection attempt towards it (as a NAT does); addressed 10.201.<net>.1
/// (`a`) and .2 (`b`). Returns both addresses and the link to keep alive.
fn firewalled_link(
    spaces: &Namespaces,
    a: usize,
    b: usize,
    net: u8,
    impairment: Impairment,
) -> (String, String, EmulatedLink) {
    let pid = std::process::id();
    let names = [format!("fw{net}{pid}a"), format!("fw{net}{pid}b")];
    let link = EmulatedLink::start_firewalled(&names, impairment, true).unwrap();
    let (addr_a, addr_b) = (format!("10.201.{net}.1"), format!("10.201.{net}.2"));
    for (i, name, ifname, addr, peer) in [
        (a, &names[0], format!("to{b}"), &addr_a, &addr_b),
        (b, &names[1], format!("to{a}"), &addr_b, &addr_a),
    ] {
        let ns = spaces.name(i);
        ip(&["link", "set", name, "netns", ns]).unwrap();
        ip(&["-n", ns, "link", "set", name, "name", &ifname]).unwrap();
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            addr,
            "peer",
            &format!("{peer}/32"),
            "dev",
            &ifname,
        ])
        .unwrap();
        ip(&["-n", ns, "link", "set", &ifname, "up"]).unwrap();
    }
    (addr_a, addr_b, link)
}

fn endpoint_at(addr: &str) -> comity_node::protocol::Endpoint {
    format!("https://{addr}:{PORT}").parse().unwrap()
}

/// Publishes `n` entries through `node`'s local API; returns the last seq.
async fn publish_n(node: &ChildNode, n: usize, what: &str) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = publish_via(node, format!("{what} {i}")).await.unwrap();
    }
    last
}

/// Stops every node and checks each store: every log held once, 1..=head,
/// chained and signed; returns each node's heads.
fn stop_and_verify(nodes: &mut [&mut ChildNode]) -> Vec<BTreeMap<OrgId, u64>> {
    let keys: BTreeMap<OrgId, PublicKey> = nodes.iter().map(|n| (n.org.clone(), n.key)).collect();
    nodes
        .iter_mut()
        .map(|node| {
            node.terminate();
            let store = node.open_store();
            verify_store(node.org.as_str(), &store, &keys)
        })
        .collect()
}

/// Issue 12: `kenya-igf` runs in a namespace whose firewall drops every
/// inbound connection (its partners' attempts to dial it are counted as
/// they are dropped), with `[network] listen = "off"`; `itu` and `ietf`
/// run outside it. Its publishes reach both within [`REACH_BOUND`], and
/// theirs reach it; a SIGKILL and restart of either side resumes with no
/// gap and no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_a_firewall_that_drops_every_inbound_connection_takes_full_part() {
    skip_without_namespaces!("nat");
    let root = temp_root();
    let spaces = Namespaces::create("nat", 3).unwrap();
    let (kenya_to_itu, itu_addr, to_itu) = firewalled_link(&spaces, 0, 1, 11, CLEAN);
    let (_, ietf_addr, _to_ietf) = firewalled_link(&spaces, 0, 2, 12, CLEAN);
    let (itu_to_ietf, ietf_to_itu) = spaces.link(1, 2, 13).unwrap();
    let listen = SocketAddr::from(([0, 0, 0, 0], PORT));
    let logged = "warn,comity_node::replication=info";
    let mut kenya = ChildNode::init(root.path(), "kenya-igf", listen, |c| {
        c.network.listen = comity_node::config::Listen::Off;
    })
    .in_netns(spaces.name(0))
    .log_filter(logged);
    let mut itu = ChildNode::init(root.path(), "itu", listen, |c| {
        c.endpoint = Some(endpoint_at(&itu_addr));
    })
    .in_netns(spaces.name(1))
    .log_filter(logged);
    let mut ietf = ChildNode::init(root.path(), "ietf", listen, |c| {
        c.endpoint = Some(endpoint_at(&ietf_addr));
    })
    .in_netns(spaces.name(2))
    .log_filter(logged);
    kenya.pin(&itu.org, itu.key, Some(endpoint_at(&itu_addr)));
    kenya.pin(&ietf.org, ietf.key, Some(endpoint_at(&ietf_addr)));
    // itu tries to dial kenya-igf (the firewall drops it); ietf knows it by
    // key only.
    itu.pin(&kenya.org, kenya.key, Some(endpoint_at(&kenya_to_itu)));
    ietf.pin(&kenya.org, kenya.key, None);
    itu.pin(&ietf.org, ietf.key, Some(endpoint_at(&ietf_to_itu)));
    ietf.pin(&itu.org, itu.key, Some(endpoint_at(&itu_to_ietf)));
    for node in [&mut kenya, &mut itu, &mut ietf] {
        node.start().await;
    }

    let start = Instant::now();
    let mut kenya_head = publish_n(&kenya, 10, "From behind the firewall").await;
    itu.wait_for_seq(&kenya.org, kenya_head, REACH_BOUND).await;
    ietf.wait_for_seq(&kenya.org, kenya_head, REACH_BOUND).await;
    eprintln!(
        "nat: kenya-igf's publishes reached itu and ietf in {:?} (bound {REACH_BOUND:?})",
        start.elapsed()
    );
    let start = Instant::now();
    let mut itu_head = publish_n(&itu, 5, "From outside").await;
    let ietf_head = publish_n(&ietf, 5, "From outside").await;
    kenya.wait_for_seq(&itu.org, itu_head, REACH_BOUND).await;
    kenya.wait_for_seq(&ietf.org, ietf_head, REACH_BOUND).await;
    eprintln!("nat: theirs reached kenya-igf in {:?}", start.elapsed());
    let refused = to_itu.counters[1].refused.load(Ordering::Relaxed);
    assert!(
        refused > 0,
        "the firewall dropped none of itu's attempts to dial kenya-igf"
    );

    // The node behind the firewall dies and comes back.
    kenya.kill();
    itu_head = publish_n(&itu, 3, "While kenya-igf was down").await;
    kenya.start().await;
    kenya_head = publish_n(&kenya, 3, "After a restart").await;
    kenya.wait_for_seq(&itu.org, itu_head, REACH_BOUND).await;
    itu.wait_for_seq(&kenya.org, kenya_head, REACH_BOUND).await;
    ietf.wait_for_seq(&kenya.org, kenya_head, REACH_BOUND).await;

    // A partner dies and comes back.
    itu.kill();
    kenya_head = publish_n(&kenya, 3, "While itu was down").await;
    ietf.wait_for_seq(&kenya.org, kenya_head, REACH_BOUND).await;
    itu.start().await;
    itu.wait_for_seq(&kenya.org, kenya_head, REACH_BOUND).await;

    let heads = stop_and_verify(&mut [&mut kenya, &mut itu, &mut ietf]);
    for (node, held) in ["kenya-igf", "itu", "ietf"].iter().zip(&heads) {
        assert_eq!(
            held[&OrgId::new("kenya-igf").unwrap()],
            kenya_head,
            "{node}"
        );
        assert_eq!(held[&OrgId::new("itu").unwrap()], itu_head, "{node}");
        assert_eq!(held[&OrgId::new("ietf").unwrap()], ietf_head, "{node}");
    }
}

/// Issue 12, over the emulated poor link ([`POOR`]: 256 kbit/s, 300 ms,
/// 10 % loss each way) with the firewall in front of the dial-out node:
/// each side publishes 1,000 entries while the other is down, then both
/// run and catch up, each way, over the one connection the dial-out node
/// opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_out_node_catches_up_both_ways_over_a_poor_firewalled_link() {
    skip_without_namespaces!("nat-poor");
    let backlog = 1_000;
    let root = temp_root();
    let spaces = Namespaces::create("natp", 2).unwrap();
    let (_, itu_addr, link) = firewalled_link(&spaces, 0, 1, 14, POOR);
    let listen = SocketAddr::from(([0, 0, 0, 0], PORT));
    let patient = |c: &mut comity_node::Config| {
        c.replication.heartbeat_secs = 5;
        c.limits.connect_timeout_secs = 30;
        c.limits.handshake_timeout_secs = 30;
    };
    let logged = "warn,comity_node::replication=info";
    let mut kenya = ChildNode::init(root.path(), "kenya-igf", listen, |c| {
        patient(c);
        c.network.listen = comity_node::config::Listen::Off;
    })
    .in_netns(spaces.name(0))
    .log_filter(logged);
    let mut itu = ChildNode::init(root.path(), "itu", listen, |c| {
        patient(c);
        c.endpoint = Some(endpoint_at(&itu_addr));
    })
    .in_netns(spaces.name(1))
    .log_filter(logged);
    kenya.pin(&itu.org, itu.key, Some(endpoint_at(&itu_addr)));
    itu.pin(&kenya.org, kenya.key, None);

    kenya.start().await;
    let kenya_head = publish_n(&kenya, backlog, "Backlog behind the firewall").await;
    kenya.terminate();
    itu.start().await;
    let itu_head = publish_n(&itu, backlog, "Backlog outside").await;

    let start = Instant::now();
    kenya.start().await;
    let within = Duration::from_secs(300);
    itu.wait_for_seq(&kenya.org, kenya_head, within).await;
    kenya.wait_for_seq(&itu.org, itu_head, within).await;
    let [out, back] = &link.counters;
    let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "nat over a poor link ({}): {backlog} entries each way caught up in {:.1?}; packets \
         out of the firewalled side {} passed, {} lost; into it {} passed, {} lost",
        poor_as_netem().join(" "),
        start.elapsed(),
        count(&out.passed),
        count(&out.lost),
        count(&back.passed),
        count(&back.lost),
    );
    assert!(
        count(&out.lost) > 0 && count(&back.lost) > 0,
        "the emulated link lost nothing: the nodes did not talk over it"
    );
    let heads = stop_and_verify(&mut [&mut kenya, &mut itu]);
    for held in &heads {
        assert_eq!(held[&OrgId::new("kenya-igf").unwrap()], kenya_head);
        assert_eq!(held[&OrgId::new("itu").unwrap()], itu_head);
    }
}
