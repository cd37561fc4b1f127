//! # comity-notify
//!
//! Notifications, so that people learn what happened in the federation
//! without watching a dashboard: a partner opened a consultation, a liaison
//! statement arrived for us, a partner acknowledged ours, a deadline is near
//! or has passed. They go to webhooks (JSON signed with HMAC-SHA256, for chat
//! and ticket systems) and to e-mail through SMTP.
//!
//! ## Why it is built this way
//!
//! - **Events are derived, not observed.** The [`Notifier`] rescans the
//!   node's derived state (the same views the CLI and dashboard show) after
//!   every durable append and once a minute against the node's clock. It never
//!   hooks into replication, so it cannot miss an entry that arrived while it
//!   was busy or stopped, and tests drive it by moving a `ManualClock`.
//! - **Each event fires once, ever.** Every event has a stable id (see
//!   [`events`]); ids acted on are remembered in the store (`notify-sent`),
//!   so a rescan, a restart or a second scan of the same day finds nothing new.
//! - **Deliveries are never lost.** A delivery per event and destination is
//!   written to the store (`notify-queue`) and flushed *before* it is tried;
//!   it is removed only after the destination accepted it. Failures are
//!   retried with exponential backoff (capped at an hour); pending deliveries
//!   resume at start. Delivery is at least once: a receiver may see a
//!   delivery id twice after a crash, and should deduplicate on it.
//! - **Secrets stay in the configuration.** Queued deliveries name their
//!   destination (webhook URL, or "email"); the HMAC secret and SMTP
//!   credentials are read from the configuration at each attempt.
//!
//! ## Event ids
//!
//! | event | id |
//! | --- | --- |
//! | new consultation of a followed organisation | `consultation:<origin>:<uuid>` |
//! | liaison statement addressed to us | `liaison:<origin>:<uuid>` |
//! | receipt for one of our statements | `receipt:<by>:<seq>` (the receipt's entry) |
//! | deadline reminder | `reminder:<origin>:<uuid>:<days>:<deadline date>` |
//! | overdue, once a day | `overdue:<origin>:<uuid>:<date>` |
//!
//! The deadline date is part of a reminder's id, so a revised deadline
//! reminds again.
//!
//! ## Webhook requests
//!
//! `POST` with the [`Event`] as JSON body and the headers
//! `X-Comity-Signature: sha256=<hex HMAC-SHA256 of the body>`,
//! `X-Comity-Event: <event>` and `X-Comity-Delivery: <delivery id>`. Any 2xx
//! answer is a success; redirects are not followed.

pub mod deliver;
pub mod events;
pub mod queue;

pub use deliver::signature;
pub use events::{Event, EventKind};
pub use queue::{Delivery, Destination};

use comity_node::{Node, NodeError};
use comity_store::StoreError;
use std::{
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::{sync::Notify, task::JoinHandle};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored notification record is corrupt: {0}")]
    Corrupt(String),
    #[error("notifications: {0}")]
    Internal(String),
}

/// Timing, adjustable for tests.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// How often the state is rescanned without an append (reminders and
    /// overdue depend on the clock alone).
    pub tick: Duration,
    /// The first retry delay; doubled after each failure.
    pub retry_initial: Duration,
    /// The longest retry delay.
    pub retry_max: Duration,
    /// How long one webhook request or SMTP session may take.
    pub timeout: Duration,
    /// The shortest time between two scans that appends trigger: a scan
    /// reads every document, so a burst of appends is one scan, not one
    /// per append.
    pub min_rescan: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(60),
            retry_initial: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
            min_rescan: Duration::from_secs(1),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// New events found (and queued, once per destination).
    pub events: Vec<String>,
    /// Deliveries that succeeded.
    pub delivered: usize,
    /// Deliveries that failed and wait for a retry.
    pub failed: usize,
}

/// Finds events on one node and delivers them.
pub struct Notifier {
    node: Arc<Node>,
    options: NotifierOptions,
    http: reqwest::Client,
    /// One pass at a time: a test's `run_once` and the background loop never
    /// send the same delivery together.
    pass: tokio::sync::Mutex<()>,
    wake: Notify,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("org", self.node.org())
            .field("options", &self.options)
            .finish()
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NotifyError> + Send + 'static,
) -> Result<T, NotifyError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NotifyError::Internal(format!("blocking task failed: {e}")))?
}

impl Notifier {
    pub fn new(node: Arc<Node>) -> Result<Arc<Self>, NotifyError> {
        Self::with_options(node, NotifierOptions::default())
    }

    pub fn with_options(
        node: Arc<Node>,
        options: NotifierOptions,
    ) -> Result<Arc<Self>, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("comity/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Internal(format!("HTTP client: {e}")))?;
        Ok(Arc::new(Self {
            node,
            options,
            http,
            pass: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
        }))
    }

    /// Starts notifying for `node` in the background until `shutdown`
    /// resolves; pending deliveries are resumed first.
    pub fn spawn(
        node: Arc<Node>,
        shutdown: impl Future + Send + 'static,
    ) -> Result<JoinHandle<()>, NotifyError> {
        Ok(Self::new(node)?.start(shutdown))
    }

    /// Runs this notifier in the background until `shutdown` resolves. A
    /// delivery cut short by shutdown stays queued and is retried at the
    /// next start.
    pub fn start(self: &Arc<Self>, shutdown: impl Future + Send + 'static) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run(shutdown).await })
    }

    /// Rescans now (after moving a test clock, for instance).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    async fn run(self: Arc<Self>, shutdown: impl Future + Send) {
        tokio::pin!(shutdown);
        if self.destinations().is_empty() {
            // Nobody to tell: no scanning (it reads every document), nothing
            // remembered. Deliveries queued for destinations configured
            // before are dropped by one delivery pass.
            tracing::info!("notifications: no webhook or e-mail configured");
            if let Err(e) = self.deliver(true).await {
                tracing::warn!("notifications: {e}");
            }
            tokio::select! {
                _ = &mut shutdown => return,
            }
        }
        let mut appended = self.node.appended();
        let mut resume = true;
        loop {
            appended.mark_unchanged();
            let last_scan = tokio::time::Instant::now();
            let pass = async {
                if let Err(e) = self.pass(resume).await {
                    tracing::warn!("notifications: {e}");
                }
            };
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                () = pass => {}
            }
            resume = false;
            let wait = self.next_wake().await;
            let mut burst = false;
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                changed = appended.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    burst = true;
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            if burst {
                // Appends in a burst share one scan.
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return,
                    () = tokio::time::sleep_until(last_scan + self.options.min_rescan) => {}
                }
            }
        }
    }

    /// How long to sleep: until the next tick or the next retry due.
    async fn next_wake(&self) -> Duration {
        let tick = self.options.tick;
        match self.pending().await {
            Ok(pending) => pending
                .iter()
                .map(|d| {
                    Duration::from_millis(d.next_attempt_ms.saturating_sub(now_ms()).max(0) as u64)
                })
                .min()
                .map_or(tick, |due| due.min(tick)),
            Err(_) => tick,
        }
    }

    /// One pass: find new events, queue them, deliver what is due.
    pub async fn run_once(&self) -> Result<PassReport, NotifyError> {
        self.pass(false).await
    }

    async fn pass(&self, resume_all: bool) -> Result<PassReport, NotifyError> {
        let _pass = self.pass.lock().await;
        let events = self.queue_new_events().await?;
        let (delivered, failed) = self.deliver(resume_all).await?;
        Ok(PassReport {
            events,
            delivered,
            failed,
        })
    }

    /// The destinations configured now, one per distinct webhook URL.
    fn destinations(&self) -> Vec<Destination> {
        let config = &self.node.config().notifications;
        let mut list: Vec<Destination> = Vec::new();
        for hook in &config.webhooks {
            let d = Destination::Webhook {
                url: hook.url.clone(),
            };
            if !list.contains(&d) {
                list.push(d);
            }
        }
        if config.email.is_some() {
            list.push(Destination::Email);
        }
        list
    }

    /// Scans, and for each event not seen before queues a delivery per
    /// destination and remembers the event, durably, before anything is sent.
    async fn queue_new_events(&self) -> Result<Vec<String>, NotifyError> {
        let node = self.node.clone();
        let destinations = self.destinations();
        blocking(move || {
            let now = node.now();
            let store = node.store().clone();
            let mut new = Vec::new();
            for event in events::detect(&node, now)? {
                if queue::is_sent(&*store, &event.id)? {
                    continue;
                }
                for destination in &destinations {
                    let delivery = Delivery::new(event.clone(), destination.clone(), now_ms());
                    queue::put(&*store, &delivery)?;
                }
                let record = queue::SentRecord {
                    at: event.detected_at.clone(),
                    deliveries: destinations.len(),
                };
                queue::mark_sent(&*store, &event.id, &record)?;
                tracing::info!(event = %event.id, destinations = destinations.len(), "notification queued");
                new.push(event.id);
            }
            if !new.is_empty() {
                store.flush()?;
            }
            Ok(new)
        })
        .await
    }

    /// Every delivery still queued, soonest due first.
    pub async fn pending(&self) -> Result<Vec<Delivery>, NotifyError> {
        let store = self.node.store().clone();
        blocking(move || queue::pending(&*store)).await
    }

    /// Tries every delivery that is due (or all, when resuming at start).
    async fn deliver(&self, all: bool) -> Result<(usize, usize), NotifyError> {
        let (mut delivered, mut failed) = (0, 0);
        for mut delivery in self.pending().await? {
            if !all && delivery.next_attempt_ms > now_ms() {
                continue;
            }
            let result = self.send(&delivery).await;
            let store = self.node.store().clone();
            match result {
                Ok(()) => {
                    tracing::info!(event = %delivery.event.id, to = %delivery.destination.key(), "notification delivered");
                    delivered += 1;
                    blocking(move || {
                        queue::remove(&*store, &delivery.id)?;
                        Ok(store.flush()?)
                    })
                    .await?;
                }
                Err(deliver::SendError::Gone) => {
                    tracing::warn!(event = %delivery.event.id, to = %delivery.destination.key(), "destination no longer configured: notification dropped");
                    blocking(move || {
                        queue::remove(&*store, &delivery.id)?;
                        Ok(store.flush()?)
                    })
                    .await?;
                }
                Err(deliver::SendError::Failed(error)) => {
                    failed += 1;
                    delivery.attempts = delivery.attempts.saturating_add(1);
                    let delay = self.backoff(delivery.attempts);
                    delivery.next_attempt_ms = now_ms() + delay.as_millis() as i64;
                    tracing::warn!(
                        event = %delivery.event.id, to = %delivery.destination.key(),
                        attempts = delivery.attempts, retry_in = ?delay,
                        "notification not delivered: {error}"
                    );
                    delivery.last_error = Some(error);
                    blocking(move || {
                        queue::put(&*store, &delivery)?;
                        Ok(store.flush()?)
                    })
                    .await?;
                }
            }
        }
        Ok((delivered, failed))
    }

    /// `retry_initial × 2^(attempts-1)`, at most `retry_max`.
    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        self.options
            .retry_initial
            .saturating_mul(factor)
            .min(self.options.retry_max)
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), deliver::SendError> {
        let config = &self.node.config().notifications;
        match &delivery.destination {
            Destination::Webhook { url } => {
                let hook = config
                    .webhooks
                    .iter()
                    .find(|h| &h.url == url)
                    .ok_or(deliver::SendError::Gone)?;
                deliver::webhook(&self.http, hook, &delivery.id, &delivery.event).await
            }
            Destination::Email => {
                let email = config.email.as_ref().ok_or(deliver::SendError::Gone)?;
                deliver::email(email, &delivery.event, self.options.timeout).await
            }
        }
    }
}
