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

use crate::error::NodeError;
use comity_core::{
    Hash, Ingest, OrgId, PublicKey, SignedEntry, document, entry::Audience, proto, verify,
};
use comity_store::{Equivocation, Store};

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
}

/// Stage 1: decodes `batch`, verifies its signatures with `key` (following
/// key rotations) and judges each payload. Pure CPU.
pub fn check(origin: &OrgId, key: Option<PublicKey>, batch: Vec<proto::Entry>) -> Checked {
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
        };
    };
    let (good, next_key, bad_signature) = verify::verify_signatures(&entries, &signer);
    if let Some(e) = bad_signature {
        // A bad signature comes before whatever stopped decoding later.
        entries.truncate(good);
        failure = Some(e.into());
    }
    let payloads = entries.iter().map(Payload::of).collect();
    Checked {
        origin: origin.clone(),
        entries,
        payloads,
        key,
        next_key: Some(next_key),
        failure,
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
        let again = check(&origin, key, wire);
        checked.entries = again.entries;
        checked.payloads = again.payloads;
        checked.failure = again.failure.or(checked.failure);
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
        match verify::verify_signed_for_ingest(&entry, &key, head, held_at, verdict) {
            Ok(Ingest::Append) => {
                head = Some(entry.head());
                if let Some(rotated) = verify::rotated_key(&entry) {
                    key = rotated;
                    ingested.rotated = Some((entry.seq(), rotated));
                }
                ingested.attachments.extend(payload.attachments);
                accepted.push(entry);
            }
            Ok(Ingest::Duplicate) => match fill_stub(store, &entry, payload.verdict) {
                Ok(true) => ingested.filled += 1,
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
                failure = Some(e.into());
                break;
            }
        }
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
        detected_at: crate::node::now_unix(),
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
