//! A poor link in user space, for kernels built without `sch_netem`.
//!
//! Two TUN devices, one for each end, and a task per direction that passes IP
//! packets from one to the other through what `tc qdisc … netem rate R delay D
//! loss L%` applies on egress: random loss, a rate limit with a bounded queue,
//! then a fixed delay. The kernels' TCP stacks at both ends see real loss,
//! real queueing and real round trips, so retransmission and congestion
//! control run as they would on such a link.
//!
//! It can also stand in for a firewall (or a NAT) in front of one end
//! ([`EmulatedLink::start_firewalled`]): packets that open a TCP connection
//! towards that end (SYN without ACK) are dropped, and everything else, the
//! connections that end opens itself included, passes.
//!
//! The devices are created in the caller's namespace; the caller moves each
//! into its own (the open file descriptors keep working across the move) and
//! addresses them as a point-to-point pair.

use rand::{Rng, SeedableRng, rngs::StdRng};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::mpsc,
    task::JoinHandle,
    time::{Instant, sleep_until},
};
use tun::AsyncDevice;

/// What the link does to the packets of each direction.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    pub bits_per_second: u64,
    /// Added to every packet after it has been clocked out at the rate.
    pub delay: Duration,
    /// The probability that a packet is lost, in [0, 1).
    pub loss: f64,
    /// The longest a packet waits for the rate limit; one that would wait
    /// longer is dropped, as at a full queue.
    pub max_queueing: Duration,
}

impl Impairment {
    /// How long `bytes` take to leave at the link's rate.
    fn serialisation(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.bits_per_second as f64)
    }
}

/// Packets seen by one direction of the link.
#[derive(Debug, Default)]
pub struct DirectionCounters {
    pub passed: AtomicU64,
    pub lost: AtomicU64,
    pub queue_full: AtomicU64,
    /// Connection attempts (TCP SYN without ACK) the firewall dropped.
    pub refused: AtomicU64,
}

/// Whether `packet` (IPv4) opens a TCP connection: SYN set, ACK clear.
fn opens_tcp_connection(packet: &[u8]) -> bool {
    let Some(&first) = packet.first() else {
        return false;
    };
    if first >> 4 != 4 || packet.get(9) != Some(&6) {
        return false;
    }
    let header = usize::from(first & 0x0f) * 4;
    packet
        .get(header + 13)
        .is_some_and(|flags| flags & 0x12 == 0x02)
}

/// A running emulated link; dropping it stops the tasks and removes both
/// devices.
pub struct EmulatedLink {
    /// `[a → b, b → a]`.
    pub counters: [Arc<DirectionCounters>; 2],
    tasks: Vec<JoinHandle<()>>,
}

impl EmulatedLink {
    /// Creates two TUN devices named `names` and starts passing packets
    /// between them under `impairment`, in both directions.
    pub fn start(names: &[String; 2], impairment: Impairment) -> Result<Self, String> {
        Self::start_firewalled(names, impairment, false)
    }

    /// As [`start`](Self::start); with `firewall_a`, every connection
    /// attempt towards the first device's end is dropped (see the module
    /// documentation), as a firewall or NAT in front of it would.
    pub fn start_firewalled(
        names: &[String; 2],
        impairment: Impairment,
        firewall_a: bool,
    ) -> Result<Self, String> {
        let open = |name: &str| {
            let mut config = tun::Configuration::default();
            config.tun_name(name);
            tun::create_as_async(&config)
                .map(Arc::new)
                .map_err(|e| format!("cannot create TUN device {name}: {e}"))
        };
        let (a, b) = (open(&names[0])?, open(&names[1])?);
        let counters = [
            Arc::new(DirectionCounters::default()),
            Arc::new(DirectionCounters::default()),
        ];
        let mut tasks = Vec::new();
        for (from, to, counters, firewall) in [
            (a.clone(), b.clone(), counters[0].clone(), false),
            (b, a, counters[1].clone(), firewall_a),
        ] {
            let (queued, delivering) = mpsc::unbounded_channel();
            tasks.push(tokio::spawn(clock_out(
                from, queued, impairment, counters, firewall,
            )));
            tasks.push(tokio::spawn(deliver(to, delivering)));
        }
        Ok(Self { counters, tasks })
    }
}

impl Drop for EmulatedLink {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Reads packets from `from`, drops connection attempts if `firewall`,
/// loses some, and queues the rest for delivery at the time the rate limit
/// and the delay allow.
async fn clock_out(
    from: Arc<AsyncDevice>,
    queued: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    impairment: Impairment,
    counters: Arc<DirectionCounters>,
    firewall: bool,
) {
    let mut rng = StdRng::from_entropy();
    let mut buf = vec![0u8; 65_536];
    // When the last packet accepted will have left at the link's rate.
    let mut link_free_at = Instant::now();
    loop {
        let n = match from.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                // The link is cut for good: say so, for the test's output.
                eprintln!("poor link: a direction stopped reading its device: {e}");
                return;
            }
        };
        if firewall && opens_tcp_connection(&buf[..n]) {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if rng.gen_bool(impairment.loss) {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let now = Instant::now();
        let starts = link_free_at.max(now);
        if starts - now > impairment.max_queueing {
            counters.queue_full.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        link_free_at = starts + impairment.serialisation(n);
        counters.passed.fetch_add(1, Ordering::Relaxed);
        // Delivery times only grow, so a FIFO channel keeps them in order.
        if queued
            .send((link_free_at + impairment.delay, buf[..n].to_vec()))
            .is_err()
        {
            return;
        }
    }
}

/// Writes each queued packet to `to` when its time comes.
async fn deliver(
    to: Arc<AsyncDevice>,
    mut delivering: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
) {
    while let Some((at, packet)) = delivering.recv().await {
        sleep_until(at).await;
        // A packet the stack refuses (the device is down, say) is lost, as on
        // a wire.
        let _ = to.send(&packet).await;
    }
}
