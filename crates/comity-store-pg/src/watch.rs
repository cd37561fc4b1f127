//! Appends made by other writers of the database (replicas of this node):
//! told to the watchers of [`LogStore::watch_appends`] so that the node's
//! live tails wake for entries it did not append itself.
//!
//! Two paths, both running on the store's runtime once a watcher asks:
//!
//! - **LISTEN/NOTIFY.** A trigger on `heads` (migration 2) notifies
//!   `comity_appended_<schema>` with `"<origin> <seq>"` when a head moves, at
//!   commit. One connection of its own LISTENs there, reconnecting after a
//!   failure.
//! - **Polling, the fallback.** Every `poll_every`, the heads are read and
//!   told too: a notification lost while the listening connection was down
//!   (or a database without LISTEN/NOTIFY) delays a tail, never loses it.
//!
//! Watchers are told a head seq; telling one twice, or an old one, is
//! harmless (the node keeps the highest).
//!
//! [`LogStore::watch_appends`]: comity_store::LogStore::watch_appends

use crate::{PgError, from_sql, index, sql};
use comity_core::OrgId;
use comity_store::AppendWatcher;
use deadpool_postgres::Pool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// Everything the watch tasks share.
#[derive(Clone)]
pub(crate) struct Watch {
    pub watchers: Arc<Mutex<Vec<AppendWatcher>>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self {
            watchers: Arc::default(),
        }
    }

    fn tell(&self, origin: &OrgId, seq: u64) {
        let watchers = match self.watchers.lock() {
            Ok(w) => w.clone(),
            Err(_) => return,
        };
        for watcher in watchers {
            watcher(origin, seq);
        }
    }
}

/// The channel the heads of `schema` are announced on.
pub(crate) fn channel(schema: &str) -> String {
    format!("comity_appended_{schema}")
}

/// Reads every head and tells the watchers, every `every`, forever.
pub(crate) async fn poll(pool: Pool, watch: Watch, every: Duration) {
    // The first poll one period from now: what is held at the start, the
    // node read itself when it opened the store.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let heads = async {
            let client = pool.get().await?;
            let rows = sql!(client, query, "SELECT origin, seq FROM heads", &[]);
            let mut heads = Vec::with_capacity(rows.len());
            for row in rows {
                heads.push((index::org(row.get(0))?, from_sql(row.get(1), "head seq")?));
            }
            Ok::<_, PgError>(heads)
        }
        .await;
        match heads {
            Ok(heads) => {
                for (origin, seq) in heads {
                    watch.tell(&origin, seq);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot poll the heads yet"),
        }
    }
}

/// LISTENs on `channel` over a connection of its own, forever, telling the
/// watchers of every head announced; reconnects after a failure.
pub(crate) async fn listen(config: tokio_postgres::Config, channel: String, watch: Watch) {
    loop {
        match listen_once(&config, &channel, &watch).await {
            Ok(()) => tracing::debug!("the LISTEN connection closed; reconnecting"),
            Err(e) => tracing::debug!(error = %e, "LISTEN failed; polling covers it, retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    watch: &Watch,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for the LISTEN to be answered, and its
    // notifications come from polling it: one task does both.
    let pump = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "the LISTEN connection failed");
                    break;
                }
                None => break,
            }
        }
    });
    let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
    client.batch_execute(&format!("LISTEN {quoted}")).await?;
    while let Some(payload) = rx.recv().await {
        let Some((origin, seq)) = payload.split_once(' ') else {
            continue;
        };
        if let (Ok(origin), Ok(seq)) = (OrgId::new(origin), seq.parse::<u64>()) {
            watch.tell(&origin, seq);
        }
    }
    pump.abort();
    drop(client);
    Ok(())
}
