//! Ingest of a followed log, in two stages so that they can overlap.
//!
//! 1. [`check`] decodes a batch, verifies its signatures in batches of one
//!    key (about three times as fast as one by one), and checks each
//!    payload against its hash and the document rules. It needs no store
//!    and no lock, so a follow task checks batch *n + 1* while batch *n* is
//!    being written and flushed.
//! 2. [`verify_and_store`], under the origin's ingest lock, places each
//!    checked entry against the held head (seq, prev, duplicates and
//!    equivocation; the payload verdict from stage 1 and a rotation's proof
//!    for the next entry), then appends the run and flushes once: one group
//!    commit per batch.
//!
//! Either stage stops at the first bad entry; what came before it is kept
//! (it is authentic and chains), and the error names that entry.
//!
//! An entry the operator accepted by its id ([`Vouched`]) passes without
//! its signature: the way out of a log that an entry signed with the wrong
//! key blocks for ever (see `Node::accept_entry`).
//!
//! The node's own ingest ([`Node::ingest`], [`Node::check`],
//! [`Node::store_checked`]) runs the stages off the async workers, under the
//! origin's ingest lock, and notes refusals and key rotations in the peer
//! table and the pins.

use crate::{blocking::blocking, clock::now_unix, error::NodeError, node::Node, peers::Refusal};
use comity_core::{
    Hash, Ingest, OrgId, PublicKey, SignedEntry, VerifyError, document, entry::Audience, proto,
    verify,
};
use comity_store::{Equivocation, Store};
use std::time::SystemTime;

pub use crate::accepted::Vouched;

/// Batches of up to this many entries are checked on the async worker: at
/// about 40 µs an entry, well under what a task may hold a worker for.
const INLINE_CHECK: usize = 4;

fn is_vouched(vouched: &[(u64, Hash)], entry: &SignedEntry) -> bool {
    vouched
        .iter()
        .any(|(seq, id)| *seq == entry.seq() && *id == entry.id())
}

/// A batch of one origin's entries after [`check`]: decoded, of the right
/// origin, and validly signed, up to the first that is not.
#[derive(Debug)]
pub struct Checked {
    pub(crate) origin: OrgId,
    /// The entries that passed, in the order served.
    pub(crate) entries: Vec<SignedEntry>,
    /// Per entry, [`verify::verify_payload`] worked out ahead (stage 2 looks
    /// at it only for an entry that is next), and the attachments it names.
    pub(crate) payloads: Vec<Payload>,
    /// The key the first entry was checked with (`None`: no key pinned).
    pub(crate) key: Option<PublicKey>,
    /// The key that signs after the last passed entry (a rotation in the
    /// batch changes it): what the next batch is checked with.
    pub(crate) next_key: Option<PublicKey>,
    /// Why the entry after the last passed one was refused.
    pub(crate) failure: Option<NodeError>,
    /// That entry's seq and id, when it decoded.
    pub(crate) refused: Option<(u64, Hash)>,
    /// Entries of this origin accepted by id (see [`Vouched`]).
    pub(crate) vouched: Vouched,
}

impl Checked {
    /// The key to check the batch that follows this one with.
    pub fn next_key(&self) -> Option<PublicKey> {
        self.next_key
    }

    /// Why the batch was cut short, if it was.
    pub fn failure(&self) -> Option<&NodeError> {
        self.failure.as_ref()
    }
}

/// An entry's payload, checked off the ingest lock.
#[derive(Debug)]
pub(crate) struct Payload {
    verdict: Result<(), verify::VerifyError>,
    attachments: Vec<proto::AttachmentRef>,
}

impl Payload {
    fn of(entry: &SignedEntry) -> Self {
        match verify::verify_payload_body(entry) {
            Ok(body) => Self {
                verdict: Ok(()),
                attachments: body
                    .map(|b| document::attachments_of(&b))
                    .unwrap_or_default(),
            },
            Err(e) => Self {
                verdict: Err(e),
                attachments: Vec::new(),
            },
        }
    }
}

/// What one ingest stored.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Entries that were new here.
    pub new: usize,
    /// Restricted entries held as stubs whose payload arrived now.
    pub filled: usize,
    /// Attachments the new entries refer to.
    pub attachments: Vec<proto::AttachmentRef>,
    /// The seq and new key of the batch's last key rotation, if it held one.
    pub rotated: Option<(u64, PublicKey)>,
    /// The seq and id of the entry refused, when the failure names one.
    pub refused: Option<(u64, Hash)>,
    /// Redacted stubs among the new entries: (seq, who may read them whole).
    pub stubs: Vec<(u64, Vec<OrgId>)>,
    /// Seqs of the stubs filled in now.
    pub filled_seqs: Vec<u64>,
}

/// Stage 1: decodes `batch`, verifies its signatures with `key` (following
/// key rotations) and judges each payload. Pure CPU.
pub fn check(origin: &OrgId, key: Option<PublicKey>, batch: Vec<proto::Entry>) -> Checked {
    check_vouched(origin, key, batch, Vouched::new())
}

/// [`check`], passing the entries in `vouched` whatever their signature.
pub fn check_vouched(
    origin: &OrgId,
    key: Option<PublicKey>,
    batch: Vec<proto::Entry>,
    vouched: Vouched,
) -> Checked {
    let mut entries = Vec::with_capacity(batch.len());
    let mut failure = None;
    for wire in batch {
        match SignedEntry::decode(wire) {
            Ok(entry) if entry.origin() == origin => entries.push(entry),
            Ok(entry) => {
                failure = Some(NodeError::WrongOrigin {
                    expected: origin.clone(),
                    got: entry.origin().clone(),
                });
                break;
            }
            Err(e) => {
                failure = Some(verify::VerifyError::from(e).into());
                break;
            }
        }
    }
    let Some(signer) = key else {
        if !entries.is_empty() {
            entries.clear();
            failure = Some(verify::VerifyError::UnknownOrigin(origin.clone()).into());
        }
        return Checked {
            origin: origin.clone(),
            entries,
            payloads: Vec::new(),
            key,
            next_key: key,
            failure,
            refused: None,
            vouched,
        };
    };
    let mut good = 0;
    let mut next_key = signer;
    let mut refused = None;
    while good < entries.len() {
        let (passed, key, bad_signature) = verify::verify_signatures(&entries[good..], &next_key);
        good += passed;
        next_key = key;
        let Some(e) = bad_signature else { break };
        let entry = &entries[good];
        if is_vouched(&vouched, entry) {
            good += 1;
            if let Some(rotated) = verify::rotated_key(entry) {
                next_key = rotated;
            }
            continue;
        }
        // A bad signature comes before whatever stopped decoding later.
        refused = Some((entry.seq(), entry.id()));
        entries.truncate(good);
        failure = Some(e.into());
        break;
    }
    let payloads = entries.iter().map(Payload::of).collect();
    Checked {
        origin: origin.clone(),
        entries,
        payloads,
        key,
        next_key: Some(next_key),
        failure,
        refused,
        vouched,
    }
}

/// Stage 2, run on a blocking thread under the origin's ingest lock: places
/// each checked entry against the log as held, then appends what is new
/// and flushes. `key` is the origin's pinned key now; if a rotation stored
/// meanwhile changed it, the signatures are checked again with it.
pub fn verify_and_store(
    store: &dyn Store,
    source: &OrgId,
    key: Option<PublicKey>,
    mut checked: Checked,
) -> (Ingested, Option<NodeError>) {
    let origin = checked.origin.clone();
    if key != checked.key {
        let entries = std::mem::take(&mut checked.entries);
        let wire = entries.into_iter().map(SignedEntry::into_wire).collect();
        let again = check_vouched(&origin, key, wire, std::mem::take(&mut checked.vouched));
        checked.entries = again.entries;
        checked.payloads = again.payloads;
        checked.failure = again.failure.or(checked.failure);
        checked.refused = again.refused.or(checked.refused);
        checked.vouched = again.vouched;
    }
    let Some(mut key) = key else {
        return (Ingested::default(), checked.failure);
    };
    let mut accepted: Vec<SignedEntry> = Vec::with_capacity(checked.entries.len());
    let mut failure = None;
    let mut ingested = Ingested::default();
    let mut head = match store.head(&origin) {
        Ok(head) => head,
        Err(e) => return (ingested, Some(e.into())),
    };
    match store.is_frozen(&origin) {
        Ok(false) => {}
        Ok(true) => return (ingested, Some(NodeError::Frozen(origin))),
        Err(e) => return (ingested, Some(e.into())),
    }
    for (entry, payload) in checked.entries.into_iter().zip(checked.payloads) {
        let held_at = |seq: u64| -> Option<Hash> {
            accepted
                .iter()
                .find(|e| e.seq() == seq)
                .map(SignedEntry::id)
                .or_else(|| store.entry(&origin, seq).ok().flatten().map(|e| e.id()))
        };
        let verdict = || payload.verdict.clone();
        let placed = if is_vouched(&checked.vouched, &entry) {
            verify::verify_vouched_for_ingest(&entry, head, held_at, verdict)
        } else {
            verify::verify_signed_for_ingest(&entry, &key, head, held_at, verdict)
        };
        match placed {
            Ok(Ingest::Append) => {
                head = Some(entry.head());
                if let Some(rotated) = verify::rotated_key(&entry) {
                    key = rotated;
                    ingested.rotated = Some((entry.seq(), rotated));
                }
                ingested.attachments.extend(payload.attachments);
                if entry.is_redacted()
                    && let Audience::Restricted(orgs) = entry.audience()
                {
                    let mut readers = orgs.clone();
                    readers.push(origin.clone());
                    ingested.stubs.push((entry.seq(), readers));
                }
                accepted.push(entry);
            }
            Ok(Ingest::Duplicate) => match fill_stub(store, &entry, payload.verdict) {
                Ok(true) => {
                    ingested.filled += 1;
                    ingested.filled_seqs.push(entry.seq());
                }
                Ok(false) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            },
            Ok(Ingest::Equivocation { held }) => {
                failure = Some(record_equivocation(store, source, &entry, held, &accepted));
                break;
            }
            Err(e) => {
                ingested.refused = Some((entry.seq(), entry.id()));
                failure = Some(e.into());
                break;
            }
        }
    }
    if failure.is_none() {
        ingested.refused = checked.refused;
    }
    let stored = store
        .append_batch(&accepted)
        .and_then(|new| store.flush().map(|()| new));
    match stored {
        Ok(new) => {
            ingested.new = new;
            (ingested, failure.or(checked.failure))
        }
        Err(e) => (Ingested::default(), Some(e.into())),
    }
}

/// A stub held from a relay outside the audience takes its payload when the
/// whole entry comes (checked against the signed header first).
fn fill_stub(
    store: &dyn Store,
    entry: &SignedEntry,
    payload: Result<(), verify::VerifyError>,
) -> Result<bool, NodeError> {
    if entry.is_redacted() || !matches!(entry.audience(), Audience::Restricted(_)) {
        return Ok(false);
    }
    payload?;
    Ok(store.fill_payload(entry)?)
}

fn record_equivocation(
    store: &dyn Store,
    source: &OrgId,
    conflicting: &SignedEntry,
    held: Hash,
    accepted: &[SignedEntry],
) -> NodeError {
    let origin = conflicting.origin().clone();
    let seq = conflicting.seq();
    let held_entry = accepted
        .iter()
        .find(|e| e.id() == held)
        .cloned()
        .or_else(|| store.entry(&origin, seq).ok().flatten());
    let Some(held_entry) = held_entry else {
        return NodeError::Internal(format!("held entry {origin}/{seq} vanished"));
    };
    let evidence = Equivocation {
        origin: origin.clone(),
        seq,
        held_header: held_entry.header_bytes().to_vec(),
        held_signature: held_entry.signature().to_vec(),
        conflicting_header: conflicting.header_bytes().to_vec(),
        conflicting_signature: conflicting.signature().to_vec(),
        reported_by: source.clone(),
        detected_at: now_unix(),
    };
    if let Err(e) = store.record_equivocation(&evidence) {
        return e.into();
    }
    tracing::error!(
        %origin, seq, held = %held, conflicting = %conflicting.id(), reported_by = %source,
        "EQUIVOCATION: origin signed two different entries at one seq; its log is frozen here"
    );
    NodeError::Equivocation { origin, seq }
}

impl Node {
    /// Verifies and stores entries of `origin` served by `source`, in order, as
    /// one group commit: [`Node::check`] then [`Node::store_checked`].
    pub async fn ingest(
        &self,
        source: &OrgId,
        origin: &OrgId,
        batch: Vec<proto::Entry>,
    ) -> Result<Ingested, NodeError> {
        let checked = self.check(origin, self.key_of(origin), batch).await?;
        self.store_checked(source, checked).await
    }

    /// Stage 1 of ingest (see [`crate::ingest`]): decodes `batch` and checks
    /// its signatures with `key` (the origin's pinned key, or the
    /// [`Checked::next_key`] of the batch before), off the async workers.
    pub async fn check(
        &self,
        origin: &OrgId,
        key: Option<PublicKey>,
        batch: Vec<proto::Entry>,
    ) -> Result<Checked, NodeError> {
        if origin == self.org() {
            return Err(NodeError::OwnOrigin);
        }
        let vouched = self.accepted().of(origin);
        // A few entries (live traffic) are checked in place: a hop to the
        // blocking pool would cost more than it saves.
        if batch.len() <= INLINE_CHECK {
            return Ok(check_vouched(origin, key, batch, vouched));
        }
        let origin = origin.clone();
        blocking(move || Ok(check_vouched(&origin, key, batch, vouched))).await
    }

    /// Accepts entry `seq` of `origin` with id `id`, whatever its signature:
    /// the operator's way out of a log that an entry signed with the wrong
    /// key (as the key rotation race of issue 10 made) blocks here for ever.
    /// The operator has confirmed with the origin, out of band, that it
    /// published exactly that entry: the id pins its header, and through it
    /// its payload and its place in the chain, which are still checked.
    /// Kept in the store, so it holds across restarts.
    pub fn accept_entry(&self, origin: &OrgId, seq: u64, id: &str) -> Result<(), NodeError> {
        let id = Hash::from_hex(id.trim()).ok_or_else(|| {
            NodeError::InvalidArgument(format!(
                "{id:?} is not an entry id (64 hex digits, as `comity log` shows it)"
            ))
        })?;
        if origin == self.org() || !self.peer_table().contains(origin) {
            return Err(NodeError::NotFound(format!(
                "{} does not follow {origin}; only a followed log's entries can be accepted",
                self.org()
            )));
        }
        let held = self.store().head(origin)?.map_or(0, |h| h.seq);
        if seq <= held {
            return Err(NodeError::FailedPrecondition(format!(
                "{} already holds {origin} up to seq {held}; seq {seq} is not refused",
                self.org()
            )));
        }
        self.accepted().accept(&**self.store(), origin, seq, id)?;
        tracing::warn!(%origin, seq, %id, "entry accepted by the operator, whatever its signature");
        self.peer_table().accepted(origin, seq, &id);
        Ok(())
    }

    /// Stage 2 of ingest: places the checked entries against the held log and
    /// stores what is new, under the origin's ingest lock. Entries before the
    /// first bad one are kept (they are authentic and chain); the bad one and
    /// everything after it are not. What was new is durable when this
    /// returns; the error, if any, names the first bad entry.
    pub async fn store_checked(
        &self,
        source: &OrgId,
        checked: Checked,
    ) -> Result<Ingested, NodeError> {
        let origin = checked.origin.clone();
        let lock = self.ingest_lock(&origin);
        let _guard = lock.lock().await;
        let key = self.key_of(&origin);
        let store = self.store().clone();
        let durability = self.durability().clone();
        let (source_org, origin_org) = (source.clone(), origin.clone());
        let (ingested, failure) = blocking(move || {
            let outcome = verify_and_store(&*store, &source_org, key, checked);
            // Flushed by verify_and_store: what the store holds now is on disk.
            if outcome.0.new + outcome.0.filled > 0
                && let Ok(Some(head)) = store.head(&origin_org)
            {
                durability.flushed(&origin_org, head.seq);
            }
            Ok::<_, NodeError>(outcome)
        })
        .await?;
        if ingested.new > 0 {
            self.counters()
                .ingested
                .fetch_add(ingested.new as u64, std::sync::atomic::Ordering::Relaxed);
            // Still under the ingest lock: the tree is at the flushed head.
            if let Err(error) = self.note_flushed_root(&origin) {
                tracing::warn!(%error, "cannot read the tree of {origin}");
            }
        }
        let held = self.store().head(&origin)?.map_or(0, |h| h.seq);
        self.peer_table().passed(&origin, held);
        for (seq, readers) in &ingested.stubs {
            if readers.contains(self.org()) {
                self.stubs().note(&origin, *seq, readers.clone());
            }
        }
        for seq in &ingested.filled_seqs {
            self.stubs().filled(&origin, *seq);
            self.search_part().filled(&origin, *seq);
        }
        if let (Some(err), Some((seq, id))) = (&failure, ingested.refused)
            && seq == held + 1
        {
            // The next entry is refused: the log is blocked here until the
            // origin or the operator does something, so show it.
            let reason = match (err, key) {
                (NodeError::Verify(VerifyError::BadSignature { .. }), Some(key)) => {
                    format!("{err} (checked with the pinned key {key})")
                }
                _ => err.to_string(),
            };
            self.peer_table().note_refusal(
                &origin,
                Refusal {
                    seq,
                    id,
                    peer: source.clone(),
                    reason,
                    at: SystemTime::now(),
                },
            );
        }
        if let (Some((seq, rotated)), Some(signer)) = (ingested.rotated, key) {
            self.follow_rotation(&origin, signer, seq, rotated)?;
        }
        match failure {
            None => Ok(ingested),
            Some(err) => {
                self.counters()
                    .rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(err)
            }
        }
    }

    /// A followed organisation rotated its key at `seq`, in an entry that
    /// `signer` signed: pin the new one, for its entries and its TLS
    /// certificate, without anyone re-peering by hand. Not if the operator
    /// pinned another key meanwhile: that pin wins.
    ///
    /// The rotation is on disk before the pin is: a crash in between is
    /// finished at the next start ([`crate::pins::finish_re_pin`]).
    fn follow_rotation(
        &self,
        origin: &OrgId,
        signer: PublicKey,
        seq: u64,
        key: PublicKey,
    ) -> Result<(), NodeError> {
        let pins = self.pins();
        let _change = pins.change();
        let Some(mut record) = self.store().peers()?.into_iter().find(|p| &p.org == origin) else {
            return Ok(());
        };
        if record.key == key || record.key != signer {
            return Ok(());
        }
        tracing::info!(%origin, old = %record.key, new = %key, seq, "peer rotated its key");
        record.key = key;
        record.key_since = seq;
        self.store().put_peer(&record)?;
        self.store().flush()?;
        pins.set(origin, key);
        self.peer_table().update_key(origin, key);
        Ok(())
    }
}
