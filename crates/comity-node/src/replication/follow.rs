//! The follow task of one followed origin: it pulls that origin's log from
//! the best source (the origin itself when reachable, otherwise whichever
//! relay holds the most) and switches when that source fails, falls behind
//! or breaks its promise. Batches are checked while the one before is being
//! stored: ingest's two stages, pipelined.
//!
//! A source must deliver what it advertises: every call has a deadline, and
//! a source that advertises more of a log than this node holds must move the
//! held head within three heartbeat periods, or it is passed over and
//! believed no further.

use super::backoff::{backoff, pause};
use crate::{
    blobs,
    error::NodeError,
    ingest::Checked,
    node::Node,
    peers::{Source, SourceChanges},
    protocol,
};
use comity_core::{OrgId, proto};
use futures::FutureExt;
use proto::{SubscribeRequest, subscribe_event::Event};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Entries one subscription may serve that this node already holds before the
/// source is judged to be looping. An honest source serves each entry after
/// the requested seq once; a few duplicates can come from a source switch.
const MAX_DUPLICATES: usize = 1024;

enum PullEnd {
    Cancelled,
    Switch,
}

/// Why a pull from one source ended, each kind calling for its own answer
/// ([`PullError::verdict`]).
#[derive(Debug, thiserror::Error)]
enum PullError {
    /// The source served an entry this node refuses.
    #[error("{0}")]
    Refused(NodeError),
    #[error("empty event on subscription")]
    EmptyEvent,
    #[error("served {0} duplicate entries this node already holds: the stream repeats itself")]
    Repeats(usize),
    /// The source advertised more than this node holds and served none of it in time.
    #[error(
        "advertised {origin} up to seq {promised} but served nothing after seq {held} for {secs}s"
    )]
    Undelivered {
        origin: OrgId,
        promised: u64,
        held: u64,
        secs: u64,
    },
    #[error("did not answer a subscription to {origin} in {secs}s")]
    Unanswered { origin: OrgId, held: u64, secs: u64 },
    #[error("subscribe: {}", .0.message())]
    Subscribe(tonic::Status),
    #[error("{}", stream_error(.0))]
    Stream(tonic::Status),
    #[error("stream closed by peer")]
    Closed,
    #[error("silent for {0}s: no heartbeat")]
    Silent(u64),
    /// Our side cannot go on (frozen origin, store failure).
    #[error("{0}")]
    Local(NodeError),
    #[error("ingest task failed: {0}")]
    Task(tokio::task::JoinError),
}

/// What the follow task does about a pull that ended in error.
enum Verdict {
    /// The source served something invalid: pass it over.
    BadEntry,
    /// The source advertised more than this node held (`held`) and did not
    /// deliver, or did not answer: it loses its standing.
    NoProgress { held: u64 },
    /// The stream broke: the link is suspect.
    Stream,
    /// Our side cannot go on.
    Local,
}

impl PullError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::Refused(_) | Self::EmptyEvent | Self::Repeats(_) => Verdict::BadEntry,
            Self::Undelivered { held, .. } | Self::Unanswered { held, .. } => {
                Verdict::NoProgress { held: *held }
            }
            Self::Subscribe(_) | Self::Stream(_) | Self::Closed | Self::Silent(_) => {
                Verdict::Stream
            }
            Self::Local(_) | Self::Task(_) => Verdict::Local,
        }
    }

    /// An ingest error, as the source's fault or as ours.
    fn ingest(error: NodeError) -> Self {
        match error {
            NodeError::Store(_) | NodeError::Internal(_) => Self::Local(error),
            refused => Self::Refused(refused),
        }
    }
}

/// Follows one origin's log from the best available source. Attachments
/// the entries name, and refusals reported to the origin, are fetched and
/// sent by tasks of `tasks`.
pub(super) async fn follow(
    node: Arc<Node>,
    origin: OrgId,
    cancel: CancellationToken,
    tasks: TaskTracker,
) {
    let mut changes = node.peer_table().source_changes(&origin);
    let mut delays = backoff(node.config().replication.backoff_max());
    let poll = node.config().replication.heads_poll();
    // Stubs held from before this start that this node may read whole.
    let scan = {
        let (node, origin) = (node.clone(), origin.clone());
        crate::blocking::blocking(move || {
            node.stubs().scan(&**node.store(), &origin, node.org());
            Ok::<(), crate::NodeError>(())
        })
    };
    if let Err(error) = scan.await {
        tracing::warn!(%error, "cannot look for stubs to fill in");
    }
    while !cancel.is_cancelled() {
        if node.store().is_frozen(&origin).unwrap_or(false) {
            tracing::warn!("origin is frozen after equivocation; not following it");
            return;
        }
        // One receiver for the task's whole life, marked before each
        // judgement: a link that comes up while a pull from a relay is being
        // set up still wakes that pull (a receiver made inside it would have
        // taken that change as already seen, and nothing else re-judges).
        changes.mark_seen();
        let Some(source) = node.peer_table().best_source(&origin) else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        };
        node.peer_table().set_serving(&source.org, &origin, true);
        let outcome = pull(&node, &origin, &source, &mut changes, &cancel, &tasks).await;
        node.peer_table().set_serving(&source.org, &origin, false);
        match outcome {
            Ok(PullEnd::Cancelled) => return,
            Ok(PullEnd::Switch) => {
                tracing::info!(from = %source.org, "switching source");
                delays = backoff(node.config().replication.backoff_max());
            }
            Err(error) => match error.verdict() {
                Verdict::BadEntry => {
                    tracing::warn!(source = %source.org, %error, "refused entries from source");
                    if source.org == origin {
                        // Tell the origin at once, not only at the next
                        // subscription after the penalty.
                        report_refusal(&node, &origin, &source, &tasks);
                    }
                    node.peer_table().penalise(&source.org, error.to_string());
                }
                Verdict::NoProgress { held } => {
                    tracing::warn!(source = %source.org, %error, "source does not deliver");
                    node.peer_table()
                        .broke_promise(&source.org, &origin, held, error.to_string());
                }
                Verdict::Stream => {
                    tracing::debug!(source = %source.org, %error, "subscription ended");
                    node.peer_table()
                        .mark_failed(&source.org, error.to_string());
                    if !pause(&cancel, delays.next().unwrap_or(Duration::from_secs(1))).await {
                        return;
                    }
                }
                Verdict::Local => {
                    tracing::error!(%error, "cannot ingest");
                    if !pause(&cancel, delays.next().unwrap_or(Duration::from_secs(1))).await {
                        return;
                    }
                }
            },
        }
    }
}

/// What to tell a source subscribed to after `after_seq`: the entry after
/// it, if this node refuses that one.
fn refused_entry(node: &Node, origin: &OrgId, after_seq: u64) -> Option<proto::RefusedEntry> {
    node.peer_table()
        .refusal_of(origin)
        .filter(|r| r.seq == after_seq.saturating_add(1))
        .map(|r| proto::RefusedEntry {
            seq: r.seq,
            id: r.id.0.to_vec(),
            reason: r.reason,
        })
}

/// Tells `origin`, which just served an entry this node refuses, which and
/// why: a subscription carrying the refusal, dropped once answered.
fn report_refusal(node: &Arc<Node>, origin: &OrgId, source: &Source, tasks: &TaskTracker) {
    let Ok(after_seq) = our_head(node, origin) else {
        return;
    };
    let Some(refused) = refused_entry(node, origin, after_seq) else {
        return;
    };
    let request = SubscribeRequest {
        origin: origin.to_string(),
        after_seq,
        refused: Some(refused),
    };
    let mut federation = protocol::federation_client(
        source.channel.clone(),
        node.config().limits.max_message_bytes,
    );
    let deadline = node.config().replication.call_deadline();
    tasks.spawn(async move {
        let _ = tokio::time::timeout(deadline, federation.subscribe(request)).await;
    });
}

fn our_head(node: &Node, origin: &OrgId) -> Result<u64, PullError> {
    node.store()
        .head(origin)
        .map(|h| h.map_or(0, |h| h.seq))
        .map_err(|e| PullError::Local(e.into()))
}

/// One subscription to one source, until it ends, fails or should switch.
async fn pull(
    node: &Arc<Node>,
    origin: &OrgId,
    source: &Source,
    changes: &mut SourceChanges,
    cancel: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<PullEnd, PullError> {
    let head = our_head(node, origin)?;
    // A stub this node may read, held from a relay outside its audience:
    // a source that may read it whole serves again from there, and ingest
    // fills it in. What is served again up to the head is no repetition.
    let after_seq = node
        .stubs()
        .first_for(origin, &source.org)
        .filter(|&seq| seq <= head)
        .map_or(head, |seq| seq - 1);
    let allowance = usize::try_from(head - after_seq).unwrap_or(usize::MAX);
    if after_seq < head {
        tracing::info!(source = %source.org, from = after_seq + 1, "asking again for entries held as stubs");
    }
    let request = SubscribeRequest {
        origin: origin.to_string(),
        after_seq,
        refused: refused_entry(node, origin, after_seq),
    };
    let silence = node.config().replication.call_deadline();
    let mut federation = protocol::federation_client(
        source.channel.clone(),
        node.config().limits.max_message_bytes,
    );
    let subscribe = federation.subscribe(request);
    let mut stream = tokio::select! {
        _ = cancel.cancelled() => return Ok(PullEnd::Cancelled),
        answer = tokio::time::timeout(silence, subscribe) => match answer {
            Ok(answer) => answer
                .map_err(PullError::Subscribe)?
                .into_inner(),
            Err(_) => {
                return Err(PullError::Unanswered {
                    origin: origin.clone(),
                    held: after_seq,
                    secs: silence.as_secs(),
                });
            }
        },
    };
    let batch_size = node.config().replication.batch_size.max(1);
    // Re-judge the source whenever the peer table changes (the origin itself
    // came within reach, a peer reported more, a penalty ran out); nothing
    // else can make another source better, so there is no timer.
    let mut last_heard = Instant::now();
    // The progress timer: while the source advertises more than this node
    // holds, the head must move within `silence`, or the source loses its
    // standing (heartbeats alone keep a stream alive, not a promise).
    let mut held = head;
    let mut progress_by = Instant::now() + silence;
    // Pipelined: the batch before this one is stored (and flushed) by its
    // own task while this one is received and checked.
    let mut storing: Option<tokio::task::JoinHandle<Result<usize, PullError>>> = None;
    let mut duplicates = 0;
    let mut key = node.key_of(origin);
    let end = loop {
        let head = match our_head(node, origin) {
            Ok(head) => head,
            Err(e) => break Err(e),
        };
        if head > held {
            held = head;
            progress_by = Instant::now() + silence;
            node.peer_table().kept_promise(&source.org, origin);
        }
        let promised = node.peer_table().promised(&source.org, origin);
        if promised <= held {
            // Nothing is owed: the clock starts when something is.
            progress_by = Instant::now() + silence;
        }
        let event = tokio::select! {
            _ = cancel.cancelled() => break Ok(PullEnd::Cancelled),
            _ = tokio::time::sleep_until(progress_by), if promised > held => {
                break Err(PullError::Undelivered {
                    origin: origin.clone(),
                    promised,
                    held,
                    secs: silence.as_secs(),
                });
            }
            _ = changes.changed() => {
                match our_head(node, origin) {
                    Ok(head) if node.peer_table().should_switch(origin, source, head) => {
                        break Ok(PullEnd::Switch)
                    }
                    Ok(_) => continue,
                    Err(e) => break Err(e),
                }
            }
            // The batch in flight is stored: settle it now, so the head
            // (and the progress timer) moves without waiting for more.
            stored = async {
                match storing.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            }, if storing.is_some() => {
                storing = None;
                match stored.map_err(PullError::Task) {
                    Ok(Ok(count)) => {
                        duplicates = count;
                        continue;
                    }
                    Ok(Err(e)) | Err(e) => break Err(e),
                }
            }
            _ = tokio::time::sleep_until(last_heard + silence) => {
                break Err(PullError::Silent(silence.as_secs()));
            }
            message = stream.message() => match message {
                Err(status) => break Err(PullError::Stream(status)),
                Ok(None) => break Err(PullError::Closed),
                Ok(Some(event)) => event,
            },
        };
        last_heard = Instant::now();
        let mut batch = Vec::new();
        let mut next = event.event;
        let mut stream_failed = None;
        loop {
            match next {
                Some(Event::Entry(entry)) => batch.push(entry),
                Some(Event::Heartbeat(beat)) => {
                    node.peer_table()
                        .record_remote_head(&source.org, origin, beat.head_seq);
                    if !beat.checkpoint.is_empty() {
                        // Checked beside the pull: a check may read entries.
                        let (node, from) = (node.clone(), source.org.clone());
                        tokio::spawn(async move {
                            if let Err(error) =
                                node.absorb_notes(&from, vec![beat.checkpoint]).await
                            {
                                tracing::warn!(%error, "checking a heartbeat's checkpoint failed");
                            }
                        });
                    }
                }
                None => {
                    stream_failed = Some(PullError::EmptyEvent);
                    break;
                }
            }
            if batch.len() >= batch_size {
                break;
            }
            // Take whatever else has already arrived, without waiting: one group commit.
            match stream.message().now_or_never() {
                Some(Ok(Some(more))) => next = more.event,
                Some(Err(status)) => {
                    stream_failed = Some(PullError::Stream(status));
                    break;
                }
                _ => break,
            }
        }
        if !batch.is_empty() {
            let checked = match node.check(origin, key, batch).await {
                Ok(checked) => checked,
                Err(e) => break Err(PullError::Local(e)),
            };
            key = checked.next_key();
            let refused = checked.failure().is_some();
            if let Some(previous) = storing.take() {
                match finish(previous).await {
                    Ok(count) => duplicates = count,
                    Err(e) => break Err(e),
                }
            }
            storing = Some(tokio::spawn(store(
                node.clone(),
                source.org.clone(),
                checked,
                duplicates,
                allowance,
                tasks.clone(),
            )));
            if refused {
                // Store what came before the bad entry and name it now,
                // without waiting for the source to send more.
                if let Some(previous) = storing.take()
                    && let Err(e) = finish(previous).await
                {
                    break Err(e);
                }
            }
        } else if let Some(previous) = storing.take() {
            // Nothing new (a heartbeat): settle the batch in flight now.
            match finish(previous).await {
                Ok(count) => duplicates = count,
                Err(e) => break Err(e),
            }
        }
        if let Some(e) = stream_failed {
            break Err(e);
        }
    };
    // Whatever ends the pull, the batch in flight is stored first, so the
    // next pull starts after it.
    if let Some(previous) = storing.take() {
        finish(previous).await?;
    }
    end
}

async fn finish(
    task: tokio::task::JoinHandle<Result<usize, PullError>>,
) -> Result<usize, PullError> {
    task.await.map_err(PullError::Task)?
}

/// Stage 2 of ingest for one batch; returns the running count of duplicates
/// served on this subscription (`allowance` of them were asked for again).
async fn store(
    node: Arc<Node>,
    source: OrgId,
    checked: Checked,
    mut duplicates: usize,
    allowance: usize,
    tasks: TaskTracker,
) -> Result<usize, PullError> {
    let offered = checked.entries.len();
    match node.store_checked(&source, checked).await {
        Ok(ingested) => {
            duplicates += offered.saturating_sub(ingested.new + ingested.filled);
            blobs::want(&node, &source, ingested.attachments, &tasks);
            if duplicates > MAX_DUPLICATES.saturating_add(allowance) {
                return Err(PullError::Repeats(duplicates));
            }
            Ok(duplicates)
        }
        Err(e) => Err(PullError::ingest(e)),
    }
}

fn stream_error(status: &tonic::Status) -> String {
    match status.code() {
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
            format!("oversized message refused: {}", status.message())
        }
        _ => format!("stream: {}", status.message()),
    }
}
