//! Witnessed checkpoints (issue 13): what a node signs about its own log,
//! cosigns about the logs it follows, and checks in what partners show it.
//!
//! - **Own checkpoints.** After each flush of the own log, the node signs a
//!   C2SP checkpoint (`comity_core::checkpoint`) of it at its durable head,
//!   with the key in effect at that size, read under the own-log lock so
//!   that no rotation comes in between. Never beyond what is durable.
//! - **Cosignatures.** A checkpoint of a followed origin, verified with its
//!   pinned key, is cosigned (type 0x04, the node's identity key, the
//!   node's clock) only once this node's *durable* head of that origin
//!   reaches its size and its own tree has the same root at that size.
//! - **Checks.** Two origin-signed checkpoints of one size with different
//!   roots, or one whose root is not the root this node computes from the
//!   entries it holds, are equivocation: the evidence (the two notes, or the
//!   held note and the conflicting one) is stored and the origin frozen, by
//!   the store's one freeze path, with an `EQUIVOCATION` log line. Two
//!   checkpoints of different sizes that the entries held cannot settle
//!   wait for a consistency proof from a partner that gossips checkpoints
//!   (`prove_consistency`): one that reproduces the larger root but shows
//!   another root at the smaller size is evidence the same way.
//! - **Own checkpoints under a stream.** A round that finds the tree beyond
//!   the durable head keeps it (size, root, key) and signs it in a later
//!   round, once a flush has covered it.
//! - **Cost.** Each signature is checked once (remembered while it stays
//!   among the last 65,536), a note absorbed whole is not absorbed again,
//!   and a cosignature no newer than the one kept costs no check.
//! - **Kept.** Per origin (the own and each pinned one), the latest
//!   origin-signed checkpoint with the cosignatures held on it, and per
//!   (origin, cosigner) the latest checkpoint that cosigner cosigned; only
//!   pinned origins and cosigners (and this node), in the store's local
//!   records (`checkpoints` and `cosigned` spaces). Checkpoints are
//!   re-derivable: a lost record is signed or gossiped again.
//!
//! Notes travel by the `Checkpoints` gossip RPC (`crate::replication`):
//! each link sends what changed, at most once per heads-poll period, and
//! takes the peer's answer.

use crate::{
    blocking::blocking,
    clock::now_unix,
    error::NodeError,
    node::Node,
    trust::{RecentRoots, Unproven},
};
use comity_core::{
    Hash, OrgId, PublicKey,
    checkpoint::{Checkpoint, Cosignature, SignedCheckpoint, origin_line},
    merkle::{self, MerkleHash},
    note::{self, Note, NoteSignature, SIG_TYPE_COSIGNATURE, SIG_TYPE_ED25519},
    proto,
};
use comity_store::{Equivocation, Store};
use std::{sync::Arc, time::Instant};
use tokio::sync::watch;
use tonic::transport::Channel;

/// The local-records space checkpoints are kept in (key: the origin).
pub const SPACE: &str = "checkpoints";
/// The space of the latest checkpoint each cosigner cosigned, per origin
/// (key: origin `0` cosigner; value: the note with the origin's signature
/// and that cosignature only). A cosignature outlives the newer checkpoints
/// that replace the one it is on, until the cosigner cosigns a newer one.
pub const COSIGNED: &str = "cosigned";

/// Past sizes whose root this node recomputes from its entries to check a
/// checkpoint, at most this many leaves (older checkpoints are ignored).
pub const MAX_RECOMPUTED_LEAVES: u64 = 1 << 20;

/// Signature checks remembered (then forgotten all at once): far more than
/// the notes of a federation, few enough to stay a few megabytes.
const MAX_REMEMBERED: usize = 1 << 16;

/// A partner is asked for a consistency proof of a pair of checkpoints at
/// most this many times (one partner per heads-poll period), then the pair
/// is dropped with a warning: nobody holding the larger tree answered.
const MAX_PROOF_ATTEMPTS: u32 = 8;

/// Consistency proofs asked of one partner per gossip round, at most.
const MAX_PROOFS_PER_ROUND: usize = 4;

/// Hashes in a consistency proof, at most (two per level of a tree of 2^64).
const MAX_PROOF_HASHES: usize = 130;

/// What absorbing one note did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Absorbed {
    /// Not a checkpoint of an origin this node keeps, or not signed by it
    /// with the key pinned for it: ignored.
    Ignored(String),
    /// Nothing new.
    Known,
    /// Kept (a newer checkpoint, or new cosignatures on the held one).
    Kept,
    /// Equivocation evidence: the origin is frozen.
    Equivocation { origin: OrgId, size: u64 },
}

impl Node {
    pub(crate) fn checkpoint_version(&self) -> watch::Receiver<u64> {
        self.checkpoint_state().version.subscribe()
    }

    /// The latest checkpoint of `origin` kept here, with every cosignature
    /// held on it (checked when they were kept).
    pub fn checkpoint_of(&self, origin: &OrgId) -> Result<Option<SignedCheckpoint>, NodeError> {
        read_checkpoint(&**self.store(), origin)
    }

    /// Every checkpoint kept, by origin.
    pub fn checkpoints(&self) -> Result<Vec<(OrgId, SignedCheckpoint)>, NodeError> {
        self.kept_notes()?
            .into_iter()
            .map(|(origin, bytes)| {
                let checkpoint = parse_kept(&origin, &bytes)?;
                Ok((origin, checkpoint))
            })
            .collect()
    }

    /// Every checkpoint kept, by origin, as kept (a signed note).
    fn kept_notes(&self) -> Result<Vec<(OrgId, Vec<u8>)>, NodeError> {
        Ok(self
            .store()
            .records(SPACE, b"")?
            .into_iter()
            .filter_map(|(key, bytes)| {
                let origin = std::str::from_utf8(&key).ok()?;
                Some((OrgId::new(origin).ok()?, bytes))
            })
            .collect())
    }

    /// The largest size of this node's own log seen signed with its own key
    /// in a partner's checkpoint (0 for none).
    pub fn own_size_seen(&self) -> u64 {
        *self
            .checkpoint_state()
            .own_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Who cosigned the latest kept checkpoint of `origin`, and when (unix
    /// seconds): each pinned cosigner (and this node) whose cosignature on
    /// it verifies.
    pub fn cosigners_of(&self, checkpoint: &SignedCheckpoint) -> Vec<(OrgId, u64)> {
        let mut out = Vec::new();
        let mut candidates = self.follows();
        candidates.push(self.org().clone());
        for org in candidates {
            let Some(key) = self.key_of(&org) else {
                continue;
            };
            if let Some(at) = self.cosigned_once(checkpoint, &org, &key) {
                out.push((org, at));
            }
        }
        out
    }

    /// Signs a checkpoint of the own log at its durable head, when that
    /// moved past the kept one. Returns the new checkpoint, if one was made.
    pub async fn sign_own_checkpoint(&self) -> Result<Option<SignedCheckpoint>, NodeError> {
        // Under the own-log lock: the tree, the durable head and the key are
        // read together, with no append or rotation in between.
        if self.check_recovered().is_err() {
            return Ok(None);
        }
        let org = self.org().clone();
        let (tree, key) = {
            let _own_log = self.own_log_lock().await;
            let Some(tree) = self.store().tree(&org)? else {
                return Ok(None);
            };
            (tree, self.identity())
        };
        let durable = self.durable_head(&org);
        // The tree as it is now when it is durable; else the latest one
        // read beyond the durable head that a flush has covered since (a
        // steady stream of publishes gets checkpoints one round behind),
        // and the tree now is kept for a later round. Never beyond what is
        // durable.
        let (size, root, key) = {
            let mut snapshot = self
                .checkpoint_state()
                .own_snapshot
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let now = (tree.size(), tree.root(), key);
            if now.0 <= durable {
                *snapshot = None;
                now
            } else {
                match snapshot.take() {
                    // Durable since it was read: signed now, and the tree
                    // read now waits for a later round.
                    Some(ready) if ready.0 <= durable => {
                        *snapshot = Some(now);
                        ready
                    }
                    // Not durable yet: it waits (it is the older of the two).
                    Some(waiting) => {
                        *snapshot = Some(waiting);
                        return Ok(None);
                    }
                    None => {
                        *snapshot = Some(now);
                        return Ok(None);
                    }
                }
            }
        };
        if size == 0 {
            return Ok(None);
        }
        let _guard = self.checkpoint_lock();
        if let Some(held) = self.checkpoint_of(&org)?
            && held.checkpoint.size >= size
        {
            return Ok(None);
        }
        let signed = Checkpoint::new(&org, size, root)
            .sign(&key)
            .map_err(|e| NodeError::Internal(format!("signing a checkpoint: {e}")))?;
        write_checkpoint(&**self.store(), &org, &signed)?;
        self.bump_checkpoints();
        tracing::debug!(size, "signed a checkpoint of the own log");
        Ok(Some(signed))
    }

    /// Every note to share with a partner: the kept checkpoint of each
    /// origin, with its cosignatures. The notes as kept, byte for byte
    /// (written in one order), read without being parsed: gossip asks for
    /// them on every round with every partner.
    pub fn notes_to_share(&self) -> Result<Vec<Vec<u8>>, NodeError> {
        let mut notes = Vec::new();
        for (origin, latest) in self.kept_notes()? {
            // This node's own latest cosignature of the origin, when it is
            // on an older checkpoint than the latest: at most two per origin.
            if origin != *self.org()
                && let Some(ours) = self
                    .store()
                    .record(COSIGNED, &cosigned_key(&origin, self.org()))?
                && Note::text_of(&ours) != Note::text_of(&latest)
            {
                notes.push(ours);
            }
            notes.push(latest);
        }
        Ok(notes)
    }

    /// The latest checkpoint of `origin` that `cosigner` cosigned, as kept
    /// here (the origin's signature and that cosignature).
    pub fn cosigned_by_as_kept(
        &self,
        origin: &OrgId,
        cosigner: &OrgId,
    ) -> Result<Option<SignedCheckpoint>, NodeError> {
        let Some(bytes) = self
            .store()
            .record(COSIGNED, &cosigned_key(origin, cosigner))?
        else {
            return Ok(None);
        };
        parse_kept(origin, &bytes).map(Some)
    }

    /// Per cosigner of `origin`'s log: the size and time (unix seconds) of
    /// the latest checkpoint it cosigned, as kept here.
    pub fn cosignatures_of(&self, origin: &OrgId) -> Result<Vec<(OrgId, u64, u64)>, NodeError> {
        let mut out = Vec::new();
        let mut candidates = self.follows();
        candidates.push(self.org().clone());
        for cosigner in candidates {
            let Some(key) = self.key_of(&cosigner) else {
                continue;
            };
            if let Some(kept) = self.cosigned_by_as_kept(origin, &cosigner)?
                && let Some(at) = self.cosigned_once(&kept, &cosigner, &key)
            {
                out.push((cosigner, kept.checkpoint.size, at));
            }
        }
        Ok(out)
    }

    /// Keeps, per pinned cosigner whose cosignature on `received` verifies,
    /// `received` as that cosigner's latest when it is newer than the one
    /// kept. The caller has checked `received` against this node's log.
    fn keep_cosignatures(
        &self,
        origin: &OrgId,
        received: &SignedCheckpoint,
    ) -> Result<bool, NodeError> {
        let mut changed = false;
        let mut candidates = self.follows();
        candidates.push(self.org().clone());
        for cosigner in candidates {
            let Some(key) = self.key_of(&cosigner) else {
                continue;
            };
            // Nothing newer than the one kept: no check, no store read.
            let name = origin_line(&cosigner);
            let Some(claimed) = received
                .note
                .signature_by(&name, note::key_id(&name, SIG_TYPE_COSIGNATURE, &key))
                .and_then(|line| {
                    Cosignature {
                        signature: line.clone(),
                    }
                    .timestamp()
                    .ok()
                })
            else {
                continue;
            };
            let pair = (origin.clone(), cosigner.clone());
            if self
                .cosigned_latest()
                .get(&pair)
                .is_some_and(|&kept| kept >= (received.checkpoint.size, claimed))
            {
                continue;
            }
            let Some(at) = self.cosigned_once(received, &cosigner, &key) else {
                continue;
            };
            if let Some(kept) = self.cosigned_by_as_kept(origin, &cosigner)?
                && let Some(kept_at) = self.cosigned_once(&kept, &cosigner, &key)
            {
                let kept = (kept.checkpoint.size, kept_at);
                self.cosigned_latest().insert(pair.clone(), kept);
                if kept >= (received.checkpoint.size, at) {
                    continue;
                }
            }
            let id = note::key_id(&origin_line(&cosigner), SIG_TYPE_COSIGNATURE, &key);
            let (Some(line), Some(signed)) = (
                received.note.signature_by(&origin_line(&cosigner), id),
                received
                    .note
                    .signatures
                    .iter()
                    .find(|s| s.name == origin_line(origin)),
            ) else {
                continue;
            };
            let note = Note {
                text: received.note.text.clone(),
                signatures: vec![signed.clone(), line.clone()],
            };
            self.store().put_record(
                COSIGNED,
                &cosigned_key(origin, &cosigner),
                note.to_string().as_bytes(),
            )?;
            self.cosigned_latest()
                .insert(pair, (received.checkpoint.size, at));
            changed = true;
        }
        Ok(changed)
    }

    fn cosigned_latest(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(OrgId, OrgId), (u64, u64)>> {
        self.checkpoint_state()
            .cosigned_latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Checks and keeps the notes a partner (`from`) showed: see the module
    /// documentation. Runs on the blocking pool (a check may read entries).
    pub async fn absorb_notes(
        self: &Arc<Self>,
        from: &OrgId,
        notes: Vec<Vec<u8>>,
    ) -> Result<Vec<Absorbed>, NodeError> {
        let node = self.clone();
        let from = from.clone();
        blocking(move || {
            notes
                .iter()
                .map(|bytes| node.absorb(&from, bytes))
                .collect()
        })
        .await
    }

    /// Cosigns the kept checkpoints of followed origins that this node can
    /// now vouch for (their entries became durable here since they came).
    pub async fn cosign_pending(self: &Arc<Self>) -> Result<usize, NodeError> {
        let node = self.clone();
        blocking(move || {
            let mut cosigned = 0;
            let settled = |origin: &OrgId, durable: u64| {
                node.checkpoint_state()
                    .settled
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(origin.clone(), durable);
            };
            for origin in node.follows() {
                // After every flush, for every followed origin: only those
                // whose durable head moved are read (and their notes parsed).
                let durable = node.durable_head(&origin);
                let looked = node
                    .checkpoint_state()
                    .settled
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&origin)
                    .copied();
                if looked == Some(durable) {
                    continue;
                }
                let _guard = node.checkpoint_lock();
                let Some(mut held) = node.checkpoint_of(&origin)? else {
                    settled(&origin, durable);
                    continue;
                };
                if node.store().is_frozen(&origin)? {
                    continue;
                }
                if node.cosigned_by_us(&held) {
                    settled(&origin, durable);
                    continue;
                }
                match node.check_against_entries(&origin, &held.checkpoint)? {
                    Check::Matches => {
                        node.cosign(&mut held)?;
                        write_checkpoint(&**node.store(), &origin, &held)?;
                        settled(&origin, durable);
                        cosigned += 1;
                    }
                    Check::Differs(_) => {
                        // Its entries turned out otherwise than it signed.
                        let evidence = held.to_text().into_bytes();
                        node.freeze(&origin, held.checkpoint.size, &evidence, &evidence, &origin)?;
                    }
                    Check::NotHeld => settled(&origin, durable),
                }
            }
            if cosigned > 0 {
                node.bump_checkpoints();
            }
            Ok(cosigned)
        })
        .await
    }

    /// An RFC 6962 consistency proof of `origin`'s tree from `old` to `new`
    /// leaves, both within the durable head (and `new` within
    /// [`MAX_RECOMPUTED_LEAVES`]).
    pub async fn consistency_proof(
        &self,
        origin: &OrgId,
        old: u64,
        new: u64,
    ) -> Result<Vec<MerkleHash>, NodeError> {
        let durable = self.durable_head(origin);
        if old == 0 || old > new || new > durable {
            return Err(NodeError::InvalidArgument(format!(
                "a consistency proof of {origin} needs 0 < old size ({old}) <= new size ({new}) <= {durable}, the durable head held here"
            )));
        }
        if new > MAX_RECOMPUTED_LEAVES {
            return Err(NodeError::FailedPrecondition(format!(
                "consistency proofs are served up to {MAX_RECOMPUTED_LEAVES} leaves"
            )));
        }
        let store = self.store().clone();
        let origin = origin.clone();
        blocking(move || {
            let leaves = store.leaf_hashes(&origin, new)?;
            merkle::consistency_proof(old, &leaves)
                .map_err(|e| NodeError::Internal(format!("consistency proof: {e}")))
        })
        .await
    }

    /// [`Node::consistency_proof`] with the root at `old` (which the RFC
    /// proof omits when `old` is a power of two), as the RPC answers.
    pub async fn consistency_answer(
        &self,
        origin: &OrgId,
        old: u64,
        new: u64,
    ) -> Result<proto::ConsistencyResponse, NodeError> {
        let hashes = self.consistency_proof(origin, old, new).await?;
        let store = self.store().clone();
        let origin = origin.clone();
        let old_root = blocking(move || {
            let leaves = store.leaf_hashes(&origin, old)?;
            Ok::<_, NodeError>(merkle::root_of(&leaves))
        })
        .await?;
        Ok(proto::ConsistencyResponse {
            hashes: hashes.into_iter().map(|h| h.to_vec()).collect(),
            old_root: old_root.to_vec(),
        })
    }

    fn absorb(&self, from: &OrgId, bytes: &[u8]) -> Result<Absorbed, NodeError> {
        let ignored = |why: String| Ok(Absorbed::Ignored(why));
        // Bytes already absorbed whole (checked against the entries held
        // here): absorbing them again changes nothing, and costs no parse.
        let seen = Hash::of(&[b"absorbed\0".as_slice(), bytes].concat());
        if self.remembered(seen, || false) {
            return Ok(Absorbed::Known);
        }
        let Ok(note) = Note::parse(bytes) else {
            return ignored("not a signed note".into());
        };
        let Ok(text) = Checkpoint::parse_text(&note.text) else {
            return ignored("not a checkpoint".into());
        };
        let Some(origin) = text
            .origin
            .strip_prefix("comity/")
            .and_then(|o| OrgId::new(o).ok())
        else {
            return ignored(format!("origin line {:?} is not a Comity log", text.origin));
        };
        let own = &origin == self.org();
        if !own && !self.peer_table().contains(&origin) {
            return ignored(format!("{origin} is not followed here"));
        }
        // What is kept here already, byte for byte (notes are written in
        // one order: the origin's signature, then cosignatures by name):
        // nothing to check again. In a settled federation that is every
        // note, so gossip costs no signature checks.
        let store = self.store();
        if store.record(SPACE, origin.as_str().as_bytes())?.as_deref() == Some(bytes)
            || store
                .record(COSIGNED, &cosigned_key(&origin, from))?
                .as_deref()
                == Some(bytes)
        {
            return Ok(Absorbed::Known);
        }
        if self.store().is_frozen(&origin)? {
            return Ok(Absorbed::Known);
        }
        let Some(key) = self.key_of(&origin) else {
            return ignored(format!("no key pinned for {origin}"));
        };
        let Some(received) = self.verified_once(bytes, &origin, &key) else {
            // A lagging partner may show one signed with a key rotated away:
            // not evidence of anything, just not checkable here.
            return ignored(format!(
                "the checkpoint of {origin} at {} is not signed with the key pinned for it",
                text.size
            ));
        };
        let _guard = self.checkpoint_lock();
        let held = self.checkpoint_of(&origin)?;
        if own {
            return self.absorb_own(held, received);
        }
        if let Some(held) = &held
            && held.checkpoint.size == received.checkpoint.size
            && held.checkpoint.root != received.checkpoint.root
        {
            let (a, b) = (held.to_text(), received.to_text());
            self.freeze(
                &origin,
                received.checkpoint.size,
                a.as_bytes(),
                b.as_bytes(),
                from,
            )?;
            return Ok(Absorbed::Equivocation {
                origin,
                size: received.checkpoint.size,
            });
        }
        let check = self.check_against_entries(&origin, &received.checkpoint)?;
        if let Check::Differs(_) = check {
            // The held side of the evidence: the latest note held of this
            // origin if any (it signed the entries this node holds), else
            // the received note alone (checkable against the entries).
            let received_text = received.to_text();
            let held_text = held.as_ref().map_or(received_text.clone(), |h| h.to_text());
            self.freeze(
                &origin,
                received.checkpoint.size,
                held_text.as_bytes(),
                received_text.as_bytes(),
                from,
            )?;
            return Ok(Absorbed::Equivocation {
                origin,
                size: received.checkpoint.size,
            });
        }
        // Not checkable against the entries held, and of another size than
        // the one kept: a partner's consistency proof will tell.
        if check == Check::NotHeld
            && let Some(held) = &held
            && held.checkpoint.size != received.checkpoint.size
        {
            self.await_proof(&origin, held, &received);
        }
        // Once checked against the entries, these bytes need no second look.
        let done = || {
            if check == Check::Matches {
                self.remembered(seen, || true);
            }
        };
        // Consistent with what is held here (or not checkable yet, for a
        // size beyond it): the cosignatures on it count. (Kept per
        // cosigner for the dashboard; not gossiped, so no gossip round.)
        if check == Check::Matches {
            self.keep_cosignatures(&origin, &received)?;
        }
        let mut kept = match held {
            Some(held) if held.checkpoint.size > received.checkpoint.size => {
                done();
                return Ok(Absorbed::Known);
            }
            Some(held) if held.checkpoint == received.checkpoint => held,
            _ => SignedCheckpoint {
                checkpoint: received.checkpoint.clone(),
                note: Note {
                    text: received.note.text.clone(),
                    signatures: received
                        .note
                        .signatures
                        .iter()
                        .filter(|s| s.name == origin_line(&origin))
                        .cloned()
                        .collect(),
                },
            },
        };
        let mut changed = self.merge_cosignatures(&mut kept, &received);
        if check == Check::Matches && !self.cosigned_by_us(&kept) {
            self.cosign(&mut kept)?;
            changed = true;
        }
        let before = self.checkpoint_of(&origin)?;
        if before.as_ref().map(|b| b.to_text()) == Some(kept.to_text()) && !changed {
            done();
            return Ok(Absorbed::Known);
        }
        write_checkpoint(&**self.store(), &origin, &kept)?;
        self.bump_checkpoints();
        done();
        Ok(Absorbed::Kept)
    }

    /// Puts two origin-signed checkpoints of `origin` that differ in size,
    /// and cannot both be checked against the entries held here, up for a
    /// consistency proof (one pair per origin, the latest; none for a pair
    /// already proven). A partner is asked a heads-poll period later, when
    /// the entries have not settled it by then (`prove_consistency`).
    fn await_proof(&self, origin: &OrgId, held: &SignedCheckpoint, received: &SignedCheckpoint) {
        let (old, new) = if held.checkpoint.size < received.checkpoint.size {
            (held, received)
        } else {
            (received, held)
        };
        let state = self.checkpoint_state();
        if state
            .proven
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&pair_digest(old, new).0)
        {
            return;
        }
        let mut unproven = state.unproven.lock().unwrap_or_else(|e| e.into_inner());
        if unproven.get(origin).is_some_and(|u| {
            u.old.checkpoint == old.checkpoint && u.new.checkpoint == new.checkpoint
        }) {
            return;
        }
        unproven.insert(
            origin.clone(),
            Unproven {
                old: old.clone(),
                new: new.clone(),
                asked: Some(Instant::now()),
                attempts: 0,
            },
        );
        drop(unproven);
        // Wakes the gossip tasks, which ask.
        self.bump_checkpoints();
    }

    /// Whether a pair of checkpoints of any origin waits for a proof.
    pub(crate) fn awaits_any_proof(&self) -> bool {
        !self
            .checkpoint_state()
            .unproven
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Whether a pair of checkpoints of `origin` waits for a consistency
    /// proof.
    pub fn awaits_proof(&self, origin: &OrgId) -> bool {
        self.checkpoint_state()
            .unproven
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(origin)
    }

    /// Asks `peer` (which announced `checkpoints`) for the consistency
    /// proofs due: per origin at most one partner per heads-poll period, at
    /// most [`MAX_PROOFS_PER_ROUND`] per call, each pair at most
    /// [`MAX_PROOF_ATTEMPTS`] times. A proof that reproduces the larger
    /// checkpoint's root and shows another root for the smaller one is
    /// equivocation evidence (the two notes; the origin is frozen); one
    /// that does not reproduce it proves nothing about the origin (the
    /// partner may not hold that tree, or lie), and another partner is
    /// asked later.
    pub(crate) async fn prove_consistency(
        self: &Arc<Self>,
        peer: &OrgId,
        client: &mut proto::federation_client::FederationClient<Channel>,
    ) {
        let period = self.config().replication.heads_poll();
        let deadline = self.config().replication.call_deadline();
        let due: Vec<(OrgId, Unproven)> = {
            let mut unproven = self
                .checkpoint_state()
                .unproven
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            unproven.retain(|origin, u| {
                let keep = u.attempts < MAX_PROOF_ATTEMPTS;
                if !keep {
                    tracing::warn!(
                        %origin,
                        old = u.old.checkpoint.size,
                        new = u.new.checkpoint.size,
                        "no partner proved two checkpoints consistent; they stay unchecked until the entries arrive"
                    );
                }
                keep
            });
            unproven
                .iter_mut()
                .filter(|(_, u)| u.asked.is_none_or(|at| at.elapsed() >= period))
                .take(MAX_PROOFS_PER_ROUND)
                .map(|(origin, u)| {
                    u.asked = Some(Instant::now());
                    u.attempts += 1;
                    (origin.clone(), u.clone())
                })
                .collect()
        };
        for (origin, pair) in due {
            let node = self.clone();
            let (o, p) = (origin.clone(), pair.clone());
            // The entries may have come meanwhile: then they settle it.
            match blocking(move || node.settle_locally(&o, &p)).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "checking checkpoints against the entries failed");
                    continue;
                }
            }
            let request = proto::ConsistencyRequest {
                origin: origin.to_string(),
                old_size: pair.old.checkpoint.size,
                new_size: pair.new.checkpoint.size,
            };
            let answer = match tokio::time::timeout(deadline, client.consistency(request)).await {
                Ok(Ok(answer)) => answer.into_inner(),
                Ok(Err(status)) => {
                    tracing::debug!(%peer, %origin, error = %status.message(), "no consistency proof");
                    continue;
                }
                Err(_) => {
                    tracing::debug!(%peer, %origin, "no consistency proof in time");
                    continue;
                }
            };
            let node = self.clone();
            let peer = peer.clone();
            if let Err(error) =
                blocking(move || node.judge_proof(&peer, &origin, &pair, &answer)).await
            {
                tracing::warn!(%error, "checking a consistency proof failed");
            }
        }
    }

    /// Settles `pair` from the entries held, when they now reach the larger
    /// size: returns whether it did (a root that differs freezes).
    fn settle_locally(&self, origin: &OrgId, pair: &Unproven) -> Result<bool, NodeError> {
        if self.store().is_frozen(origin)? {
            self.forget_pair(origin, pair);
            return Ok(true);
        }
        if pair.new.checkpoint.size > self.durable_head(origin) {
            return Ok(false);
        }
        let _guard = self.checkpoint_lock();
        for (one, other) in [(&pair.old, &pair.new), (&pair.new, &pair.old)] {
            if let Check::Differs(_) = self.check_against_entries(origin, &one.checkpoint)? {
                let (a, b) = (other.to_text(), one.to_text());
                self.freeze(
                    origin,
                    one.checkpoint.size,
                    a.as_bytes(),
                    b.as_bytes(),
                    self.org(),
                )?;
                break;
            }
        }
        self.forget_pair(origin, pair);
        Ok(true)
    }

    /// Judges `peer`'s answer to a consistency request for `pair`.
    fn judge_proof(
        &self,
        peer: &OrgId,
        origin: &OrgId,
        pair: &Unproven,
        answer: &proto::ConsistencyResponse,
    ) -> Result<(), NodeError> {
        let hashes: Option<Vec<MerkleHash>> = (answer.hashes.len() <= MAX_PROOF_HASHES)
            .then(|| {
                answer
                    .hashes
                    .iter()
                    .map(|h| MerkleHash::try_from(h.as_slice()).ok())
                    .collect()
            })
            .flatten();
        let old_subtree = MerkleHash::try_from(answer.old_root.as_slice()).unwrap_or_default();
        let (old, new) = (&pair.old.checkpoint, &pair.new.checkpoint);
        let shown = hashes.ok_or(()).and_then(|proof| {
            merkle::proven_old_root(old.size, new.size, &new.root, &proof, &old_subtree)
                .map_err(|_| ())
        });
        let Ok(shown) = shown else {
            tracing::info!(%peer, %origin, old = old.size, new = new.size, "a partner's consistency proof does not reproduce the checkpoint's root: not evidence, another partner is asked");
            return Ok(());
        };
        if shown == old.root {
            tracing::debug!(%peer, %origin, old = old.size, new = new.size, "two checkpoints proven consistent");
            let mut proven = self
                .checkpoint_state()
                .proven
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if proven.len() >= MAX_REMEMBERED {
                proven.clear();
            }
            proven.insert(pair_digest(&pair.old, &pair.new).0);
            drop(proven);
            self.forget_pair(origin, pair);
            return Ok(());
        }
        // The tree the origin signed at the larger size does not extend the
        // one it signed at the smaller: no single log has both.
        let _guard = self.checkpoint_lock();
        if !self.store().is_frozen(origin)? {
            let (a, b) = (pair.old.to_text(), pair.new.to_text());
            self.freeze(origin, old.size, a.as_bytes(), b.as_bytes(), peer)?;
        }
        self.forget_pair(origin, pair);
        Ok(())
    }

    fn forget_pair(&self, origin: &OrgId, pair: &Unproven) {
        let mut unproven = self
            .checkpoint_state()
            .unproven
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if unproven.get(origin).is_some_and(|u| {
            u.old.checkpoint == pair.old.checkpoint && u.new.checkpoint == pair.new.checkpoint
        }) {
            unproven.remove(origin);
        }
    }

    /// A checkpoint of this node's own log, signed with its own key, shown
    /// by a partner: its cosignatures are kept when it is the one held; one
    /// beyond the durable head means the log went further than this node
    /// holds (restored from an old backup).
    fn absorb_own(
        &self,
        held: Option<SignedCheckpoint>,
        received: SignedCheckpoint,
    ) -> Result<Absorbed, NodeError> {
        let size = received.checkpoint.size;
        if size > self.durable_head(self.org()) {
            let mut seen = self
                .checkpoint_state()
                .own_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if size > *seen {
                *seen = size;
                tracing::warn!(
                    size,
                    held = self.durable_head(self.org()),
                    "a partner holds a checkpoint of this node's own log beyond what it holds"
                );
            }
            return Ok(Absorbed::Known);
        }
        let ours = self.check_against_entries(self.org(), &received.checkpoint)? == Check::Matches;
        if ours {
            // For the dashboard; not gossiped, so no gossip round.
            self.keep_cosignatures(self.org(), &received)?;
        }
        let Some(mut held) = held else {
            return Ok(Absorbed::Known);
        };
        if held.checkpoint != received.checkpoint {
            if held.checkpoint.size == size {
                tracing::error!(
                    size,
                    "a partner holds a checkpoint of this node's own log, signed with its key, with another root: the log has forked"
                );
            }
            return Ok(Absorbed::Known);
        }
        if self.merge_cosignatures(&mut held, &received) {
            write_checkpoint(&**self.store(), self.org(), &held)?;
            self.bump_checkpoints();
            return Ok(Absorbed::Kept);
        }
        Ok(Absorbed::Known)
    }

    /// Adds to `kept` the cosignatures on `received` (same text) by pinned
    /// cosigners that verify and are newer than those held; returns whether
    /// any was added.
    fn merge_cosignatures(&self, kept: &mut SignedCheckpoint, received: &SignedCheckpoint) -> bool {
        if kept.note.text != received.note.text {
            return false;
        }
        let mut changed = false;
        for cosigner in self.follows() {
            let Some(key) = self.key_of(&cosigner) else {
                continue;
            };
            // The same cosignature held already: nothing to check.
            let name = origin_line(&cosigner);
            let id = note::key_id(&name, SIG_TYPE_COSIGNATURE, &key);
            match received.note.signature_by(&name, id) {
                None => continue,
                Some(line) if kept.note.signature_by(&name, id) == Some(line) => continue,
                Some(_) => {}
            }
            let Some(theirs) = self.cosigned_once(received, &cosigner, &key) else {
                continue;
            };
            if self
                .cosigned_once(kept, &cosigner, &key)
                .is_some_and(|t| t >= theirs)
            {
                continue;
            }
            let id = note::key_id(&origin_line(&cosigner), SIG_TYPE_COSIGNATURE, &key);
            if let Some(line) = received.note.signature_by(&origin_line(&cosigner), id) {
                kept.note.add_signature(line.clone());
                changed = true;
            }
        }
        changed
    }

    fn cosigned_by_us(&self, checkpoint: &SignedCheckpoint) -> bool {
        self.cosigned_once(checkpoint, self.org(), &self.public_key())
            .is_some()
    }

    /// Whether `check`, the check of `line` on `text` with `key`, passed:
    /// run once per (key, line, text), remembered after it passed. Gossip
    /// and heartbeats show the same notes again and again; each signature
    /// costs one Ed25519 check here, not one per showing.
    fn checked_once(
        &self,
        key: &PublicKey,
        line: &NoteSignature,
        text: &str,
        check: impl FnOnce() -> bool,
    ) -> bool {
        let mut bytes = Vec::with_capacity(64 + line.signature.len() + text.len());
        bytes.extend_from_slice(b"checked\0");
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(line.line().as_bytes());
        bytes.extend_from_slice(text.as_bytes());
        self.remembered(Hash::of(&bytes), check)
    }

    /// Whether `digest` is remembered, else runs `check` and remembers it
    /// when it passed.
    fn remembered(&self, digest: Hash, check: impl FnOnce() -> bool) -> bool {
        let state = self.checkpoint_state();
        if state
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&digest.0)
        {
            return true;
        }
        if !check() {
            return false;
        }
        let mut verified = state.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= MAX_REMEMBERED {
            verified.clear();
        }
        verified.insert(digest.0);
        true
    }

    /// [`SignedCheckpoint::cosigned_by`], each cosignature checked once.
    fn cosigned_once(
        &self,
        checkpoint: &SignedCheckpoint,
        cosigner: &OrgId,
        key: &PublicKey,
    ) -> Option<u64> {
        let name = origin_line(cosigner);
        let line = checkpoint
            .note
            .signature_by(&name, note::key_id(&name, SIG_TYPE_COSIGNATURE, key))?;
        let passed = self.checked_once(key, line, &checkpoint.note.text, || {
            checkpoint.cosigned_by(cosigner, key).is_some()
        });
        passed
            .then(|| {
                Cosignature {
                    signature: line.clone(),
                }
                .timestamp()
                .ok()
            })
            .flatten()
    }

    /// [`SignedCheckpoint::verify`], each origin signature checked once.
    fn verified_once(
        &self,
        bytes: &[u8],
        origin: &OrgId,
        key: &PublicKey,
    ) -> Option<SignedCheckpoint> {
        let note = Note::parse(bytes).ok()?;
        let checkpoint = Checkpoint::parse_text(&note.text).ok()?;
        let name = origin_line(origin);
        if checkpoint.origin != name {
            return None;
        }
        let line = note.signature_by(&name, note::key_id(&name, SIG_TYPE_ED25519, key))?;
        self.checked_once(key, line, &note.text, || {
            SignedCheckpoint::verify(bytes, origin, key).is_ok()
        })
        .then(|| SignedCheckpoint {
            checkpoint: checkpoint.clone(),
            note: note.clone(),
        })
    }

    /// Cosigns `checkpoint` as this node, now. The caller has checked that
    /// its entries are durable here and that the roots agree.
    fn cosign(&self, checkpoint: &mut SignedCheckpoint) -> Result<(), NodeError> {
        let now = u64::try_from(self.now().unix_timestamp()).unwrap_or(0);
        let cosignature =
            Cosignature::sign(&checkpoint.note.text, self.org(), &self.identity(), now)
                .map_err(|e| NodeError::Internal(format!("cosigning: {e}")))?;
        checkpoint.add_cosignature(&cosignature);
        let origin = checkpoint
            .checkpoint
            .origin
            .strip_prefix("comity/")
            .and_then(|o| OrgId::new(o).ok());
        if let Some(origin) = origin {
            let note = Note {
                text: checkpoint.note.text.clone(),
                signatures: checkpoint
                    .note
                    .signatures
                    .iter()
                    .filter(|s| s.name == checkpoint.checkpoint.origin)
                    .cloned()
                    .chain([cosignature.signature.clone()])
                    .collect(),
            };
            self.store().put_record(
                COSIGNED,
                &cosigned_key(&origin, self.org()),
                note.to_string().as_bytes(),
            )?;
            self.cosigned_latest().insert(
                (origin, self.org().clone()),
                (checkpoint.checkpoint.size, now),
            );
        }
        tracing::debug!(
            origin = %checkpoint.checkpoint.origin,
            size = checkpoint.checkpoint.size,
            "cosigned a checkpoint"
        );
        Ok(())
    }

    /// Compares `checkpoint` with the tree of the entries held durably here.
    fn check_against_entries(
        &self,
        origin: &OrgId,
        checkpoint: &Checkpoint,
    ) -> Result<Check, NodeError> {
        let size = checkpoint.size;
        let durable = self.durable_head(origin);
        if size == 0 || size > durable {
            return Ok(Check::NotHeld);
        }
        let Some(tree) = self.store().tree(origin)? else {
            return Ok(Check::NotHeld);
        };
        let root = match self.recent_roots(origin, |roots| roots.root_at(size)) {
            Some(known) => known,
            None => {
                let root = if tree.size() == size {
                    tree.root()
                } else if size <= MAX_RECOMPUTED_LEAVES {
                    let leaves = self.store().leaf_hashes(origin, size)?;
                    if leaves.len() as u64 != size {
                        return Ok(Check::NotHeld);
                    }
                    merkle::root_of(&leaves)
                } else {
                    return Ok(Check::NotHeld);
                };
                self.recent_roots(origin, |roots| roots.keep(size, root));
                root
            }
        };
        Ok(if root == checkpoint.root {
            Check::Matches
        } else {
            Check::Differs(root)
        })
    }

    /// Notes the root of `origin`'s tree as it is now, after a flush: the
    /// size a partner's checkpoint will most likely name once this node's
    /// log has moved past it.
    pub(crate) fn note_flushed_root(&self, origin: &OrgId) -> Result<(), NodeError> {
        if let Some(tree) = self.store().tree(origin)? {
            self.recent_roots(origin, |roots| roots.keep(tree.size(), tree.root()));
        }
        Ok(())
    }

    fn recent_roots<T>(&self, origin: &OrgId, f: impl FnOnce(&mut RecentRoots) -> T) -> T {
        let mut roots = self
            .checkpoint_state()
            .roots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f(roots.entry(origin.clone()).or_default())
    }

    /// Stores checkpoint equivocation evidence and freezes `origin`.
    fn freeze(
        &self,
        origin: &OrgId,
        size: u64,
        held: &[u8],
        conflicting: &[u8],
        reported_by: &OrgId,
    ) -> Result<(), NodeError> {
        let evidence = Equivocation {
            origin: origin.clone(),
            seq: size,
            held_header: held.to_vec(),
            held_signature: Vec::new(),
            conflicting_header: conflicting.to_vec(),
            conflicting_signature: Vec::new(),
            reported_by: reported_by.clone(),
            detected_at: now_unix(),
        };
        self.store().record_equivocation(&evidence)?;
        self.store().flush()?;
        tracing::error!(
            %origin, size, %reported_by,
            "EQUIVOCATION: origin signed two checkpoints that no one log can have; its log is frozen here"
        );
        Ok(())
    }

    fn checkpoint_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.checkpoint_state()
            .lock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn bump_checkpoints(&self) {
        self.checkpoint_state().version.send_modify(|v| *v += 1);
    }
}

/// How a checkpoint compares with the entries held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Its entries are not all durable here (or too far back to recompute).
    NotHeld,
    Matches,
    /// The root this node computes at that size.
    Differs(MerkleHash),
}

/// Whether `evidence` is checkpoint evidence (two signed notes) rather than
/// two signed entry headers.
pub fn is_checkpoint_evidence(evidence: &Equivocation) -> bool {
    evidence.held_signature.is_empty() && evidence.conflicting_signature.is_empty()
}

/// Identifies a pair of checkpoints (their note texts).
fn pair_digest(old: &SignedCheckpoint, new: &SignedCheckpoint) -> Hash {
    Hash::of(format!("{}\0{}", old.note.text, new.note.text).as_bytes())
}

fn cosigned_key(origin: &OrgId, cosigner: &OrgId) -> Vec<u8> {
    let mut key = origin.as_str().as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(cosigner.as_str().as_bytes());
    key
}

fn read_checkpoint(
    store: &dyn Store,
    origin: &OrgId,
) -> Result<Option<SignedCheckpoint>, NodeError> {
    let Some(bytes) = store.record(SPACE, origin.as_str().as_bytes())? else {
        return Ok(None);
    };
    parse_kept(origin, &bytes).map(Some)
}

fn parse_kept(origin: &OrgId, bytes: &[u8]) -> Result<SignedCheckpoint, NodeError> {
    let note = Note::parse(bytes)
        .map_err(|e| NodeError::Internal(format!("kept checkpoint of {origin}: {e}")))?;
    let checkpoint = Checkpoint::parse_text(&note.text)
        .map_err(|e| NodeError::Internal(format!("kept checkpoint of {origin}: {e}")))?;
    Ok(SignedCheckpoint { checkpoint, note })
}

fn write_checkpoint(
    store: &dyn Store,
    origin: &OrgId,
    checkpoint: &SignedCheckpoint,
) -> Result<(), NodeError> {
    // One order for the same signatures, so that partners holding the same
    // cosignatures hold the same bytes (see `absorb`).
    let mut note = checkpoint.note.clone();
    let origin_line = &checkpoint.checkpoint.origin;
    note.signatures.sort_by(|a, b| {
        (&a.name != origin_line, &a.name, a.key_id).cmp(&(
            &b.name != origin_line,
            &b.name,
            b.key_id,
        ))
    });
    store.put_record(
        SPACE,
        origin.as_str().as_bytes(),
        note.to_string().as_bytes(),
    )?;
    Ok(())
}
