//! Restore that cannot fork (issue 13): at start, before it signs anything
//! (its profile included), a node with partners it can dial is
//! *recovering*. It asks each of them for their head of its own log
//! (`Hello` carries every head) and their checkpoint of it, and fetches and
//! verifies any of its own entries it lacks. This is the one place a node
//! ingests its own origin.
//!
//! It leaves recovery, and may publish again, once a partner that follows
//! it has answered (and everything that partner held of its log is stored
//! here), or after `replication.recovery_wait_secs` (60 by default) with
//! nobody answering: then it logs a loud `RECOVERY` warning and says so in
//! `comity status`, because a node restored from a backup that publishes
//! now may fork its log. A node with no partner to dial has nobody to ask
//! and skips it; so does `comity serve --no-recover`. A publish while
//! recovering is refused ([`NodeError::Recovering`], gRPC `UNAVAILABLE`).

use crate::{error::NodeError, node::Node, protocol, replication::link};
use comity_core::{Ingest, OrgId, PublicKey, SignedEntry, proto, verify};
use proto::{SubscribeRequest, subscribe_event::Event};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

pub use crate::trust::Recovery;

impl Node {
    /// Where recovery stands.
    pub fn recovery(&self) -> Recovery {
        self.recovery_state().get()
    }

    /// Where recovery stands, as the local API gives it.
    pub fn recovery_status(&self) -> proto::RecoveryStatus {
        use proto::RecoveryPhase as P;
        let (phase, elapsed_secs, wait_secs) = match self.recovery() {
            Recovery::Done => (P::Done, 0, 0),
            Recovery::Recovering { since, until } => (
                P::Recovering,
                since.elapsed().as_secs(),
                until.saturating_duration_since(since).as_secs(),
            ),
            Recovery::Unconfirmed { waited_secs } => (P::Unconfirmed, waited_secs, 0),
        };
        proto::RecoveryStatus {
            phase: phase as i32,
            elapsed_secs,
            wait_secs,
        }
    }

    /// One line for `comity status` (empty when there is nothing to say).
    pub fn recovery_line(&self) -> String {
        crate::words::recovery(&self.recovery_status())
    }

    /// Refuses an append while recovering.
    pub(crate) fn check_recovered(&self) -> Result<(), NodeError> {
        match self.recovery() {
            Recovery::Recovering { until, .. } => Err(NodeError::Recovering {
                org: self.org().clone(),
                left_secs: until.saturating_duration_since(Instant::now()).as_secs() + 1,
            }),
            _ => Ok(()),
        }
    }

    /// Enters recovery when it is on and some partner can be dialled;
    /// returns whether it did.
    pub(crate) fn begin_recovery(&self) -> bool {
        let dialable = self
            .peer_table()
            .views()
            .iter()
            .any(|v| v.record.endpoint.is_some());
        if !self.config().replication.recover || !dialable {
            if !self.config().replication.recover {
                tracing::warn!("recovery skipped (--no-recover): publishing at once");
            }
            return false;
        }
        let since = Instant::now();
        self.recovery_state().set(Recovery::Recovering {
            since,
            until: since + self.config().replication.recovery_wait(),
        });
        tracing::info!("recovering: asking partners for this node's own log before publishing");
        true
    }
}

/// Recovers the own log (see the module documentation), then publishes the
/// profile if it changed.
pub(crate) async fn recover(node: Arc<Node>, stop: CancellationToken) {
    let wait = node.config().replication.recovery_wait();
    let started = Instant::now();
    let mut confirmed_by = None;
    while confirmed_by.is_none() && started.elapsed() < wait {
        let peers: Vec<_> = node
            .peer_table()
            .views()
            .into_iter()
            .filter_map(|v| {
                v.record
                    .endpoint
                    .clone()
                    .map(|e| (v.record.org.clone(), e, v.record.key))
            })
            .collect();
        let asks = peers.iter().map(|(org, endpoint, key)| {
            let node = node.clone();
            async move { (org.clone(), ask(&node, org, endpoint, *key).await) }
        });
        // Each round ends by the bound, whatever the partners do.
        let left = wait.saturating_sub(started.elapsed());
        let answers = tokio::select! {
            _ = stop.cancelled() => return,
            answers = tokio::time::timeout(left, futures::future::join_all(asks)) => {
                answers.unwrap_or_default()
            }
        };
        for (org, answer) in answers {
            match answer {
                Ok(true) => confirmed_by = Some(org),
                Ok(false) => {
                    tracing::debug!(peer = %org, "answered, but does not follow this node")
                }
                Err(error) => tracing::debug!(peer = %org, %error, "no recovery answer"),
            }
        }
        if confirmed_by.is_none() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
    let held = node.durable_head(node.org());
    match confirmed_by {
        Some(peer) => {
            node.recovery_state().set(Recovery::Done);
            tracing::info!(%peer, head = held, "recovered: a partner that follows this node confirmed its own log");
        }
        None => {
            let waited_secs = wait.as_secs();
            node.recovery_state()
                .set(Recovery::Unconfirmed { waited_secs });
            tracing::warn!(
                waited_secs,
                head = held,
                "RECOVERY: no partner that follows this node answered; publishing anyway. If this node was restored from a backup, its next entries may fork its log"
            );
        }
    }
    if let Err(error) = node.publish_profile_if_changed().await {
        tracing::warn!(%error, "cannot publish the profile after recovery");
    }
    // Checkpoints of the own log were held back while recovering: sign one
    // now, whether or not anything is published next.
    if let Err(error) = node.sign_own_checkpoint().await {
        tracing::warn!(%error, "cannot sign a checkpoint of the own log");
    }
}

/// Asks one partner for its head and checkpoint of the own log and fetches
/// what it holds beyond ours. Returns whether it follows this node (its
/// answer then confirms recovery).
async fn ask(
    node: &Arc<Node>,
    org: &OrgId,
    endpoint: &str,
    key: PublicKey,
) -> Result<bool, String> {
    let (channel, hello) = link::connect(node, org, endpoint, key)
        .await
        .map_err(|e| e.to_string())?;
    let own = node.org().clone();
    let theirs = hello
        .heads
        .iter()
        .find(|h| h.origin == own.as_str())
        .map_or(0, |h| h.seq);
    let deadline = node.config().replication.call_deadline();
    let mut client = protocol::federation_client(channel, node.config().limits.max_message_bytes);
    // Their checkpoint of the own log: a size beyond what they serve shows
    // up in the log and in status. Asked only of a peer that announces it.
    if protocol::has_capability(&hello.capabilities, protocol::CHECKPOINTS)
        && let Ok(Ok(answer)) = tokio::time::timeout(
            deadline,
            client.checkpoints(proto::CheckpointsRequest {
                notes: Vec::new(),
                changes_only: false,
            }),
        )
        .await
    {
        let _ = node.absorb_notes(org, answer.into_inner().notes).await;
    }
    if theirs > node.durable_head(&own) {
        fetch_own(node, org, &mut client, theirs, deadline).await?;
    }
    Ok(hello.follows_you)
}

/// Pulls the own log from `peer` up to `target`, verifying each entry
/// against the chain held (signature by the own key, rotations followed).
async fn fetch_own(
    node: &Arc<Node>,
    peer: &OrgId,
    client: &mut proto::federation_client::FederationClient<tonic::transport::Channel>,
    target: u64,
    deadline: Duration,
) -> Result<(), String> {
    let own = node.org().clone();
    let store = node.store().clone();
    let mut head = store.head(&own).map_err(|e| e.to_string())?;
    let request = SubscribeRequest {
        origin: own.to_string(),
        after_seq: head.map_or(0, |h| h.seq),
        refused: None,
    };
    let mut stream = tokio::time::timeout(deadline, client.subscribe(request))
        .await
        .map_err(|_| "no answer to subscribe".to_string())?
        .map_err(|s| s.message().to_string())?
        .into_inner();
    // The key that signs the entries after the held head: that of the
    // latest rotation held. Without one, the held log is as this node's
    // first key signed it, and that is either its key now or, restored
    // from a backup taken before a rotation, the key that rotation
    // replaced (`identity.key.previous`): the first entry fetched tells
    // which. Rotations fetched are followed from there.
    let held_key = store
        .current_key(&own)
        .map_err(|e| e.to_string())?
        .map(|(_, key)| key);
    let mut candidates = vec![held_key.unwrap_or_else(|| node.public_key())];
    if held_key.is_none()
        && let Some(previous) = node
            .key_files()
            .map(|files| files.load_previous())
            .transpose()
            .map_err(|e| e.to_string())?
            .flatten()
    {
        candidates.push(previous.public());
    }
    let mut key: Option<PublicKey> = None;
    while head.map_or(0, |h| h.seq) < target {
        let event = tokio::time::timeout(deadline, stream.message())
            .await
            .map_err(|_| "the partner stopped sending the own log".to_string())?
            .map_err(|s| s.message().to_string())?
            .ok_or("the partner closed the stream")?;
        let wire = match event.event {
            Some(Event::Entry(wire)) => wire,
            Some(Event::Heartbeat(beat)) => {
                if beat.head_seq <= head.map_or(0, |h| h.seq) {
                    // It serves nothing more than held here (its heads
                    // counted entries not yet on its disk).
                    return Ok(());
                }
                continue;
            }
            None => return Err("an empty event".into()),
        };
        let entry = SignedEntry::decode(wire).map_err(|e| e.to_string())?;
        let tried: Vec<PublicKey> = match key {
            Some(key) => vec![key],
            None => candidates.clone(),
        };
        let mut verdict = Err(String::from("no key to check it with"));
        for candidate in tried {
            verdict = match verify::verify_for_ingest(&entry, Some(&candidate), head, |_| None) {
                Ok(Ingest::Append) => Ok(candidate),
                Ok(other) => Err(format!("seq {} is not next: {other:?}", entry.seq())),
                Err(e) => Err(format!("seq {}: {e}", entry.seq())),
            };
            if verdict.is_ok() {
                break;
            }
        }
        key = Some(verdict?);
        if let Some(rotated) = verify::rotated_key(&entry) {
            key = Some(rotated);
        }
        let stored = entry.clone();
        let store = store.clone();
        let durability = node.durability().clone();
        crate::blocking::blocking(move || {
            store.append(&stored)?;
            store.flush()?;
            durability.flushed(stored.origin(), stored.seq());
            Ok::<_, NodeError>(())
        })
        .await
        .map_err(|e| e.to_string())?;
        head = Some(entry.head());
        tracing::info!(%peer, seq = entry.seq(), "recovered an own entry from a partner");
    }
    if let Some(key) = key
        && key != node.public_key()
    {
        tracing::error!(
            log_key = %key,
            "RECOVERY: the own log rotated to a key this node does not hold: entries it signs now will be refused. Restore the current identity.key"
        );
    }
    Ok(())
}
