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
//!   the store's one freeze path, with an `EQUIVOCATION` log line.
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

use crate::{blocking::blocking, clock::now_unix, error::NodeError, node::Node};
use comity_core::{
    OrgId,
    checkpoint::{Checkpoint, Cosignature, SignedCheckpoint, origin_line},
    merkle::{self, MerkleHash},
    note::{self, Note, SIG_TYPE_COSIGNATURE},
};
use comity_store::{Equivocation, Store};
use std::sync::Arc;
use tokio::sync::watch;

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
        let mut out = Vec::new();
        for (key, _) in self.store().records(SPACE, b"")? {
            let Some(origin) = std::str::from_utf8(&key)
                .ok()
                .and_then(|o| OrgId::new(o).ok())
            else {
                continue;
            };
            if let Some(checkpoint) = read_checkpoint(&**self.store(), &origin)? {
                out.push((origin, checkpoint));
            }
        }
        Ok(out)
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
            if let Some(at) = checkpoint.cosigned_by(&org, &key) {
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
        if tree.size() == 0 || tree.size() > self.durable_head(&org) {
            // Appended but not flushed yet: the flush signals again. (Under
            // a steady stream of publishes this waits for a pause.)
            return Ok(None);
        }
        let _guard = self.checkpoint_lock();
        if let Some(held) = self.checkpoint_of(&org)?
            && held.checkpoint.size >= tree.size()
        {
            return Ok(None);
        }
        let signed = Checkpoint::new(&org, tree.size(), tree.root())
            .sign(&key)
            .map_err(|e| NodeError::Internal(format!("signing a checkpoint: {e}")))?;
        write_checkpoint(&**self.store(), &org, &signed)?;
        self.bump_checkpoints();
        tracing::debug!(size = tree.size(), "signed a checkpoint of the own log");
        Ok(Some(signed))
    }

    /// Every note to share with a partner: the kept checkpoint of each
    /// origin, with its cosignatures.
    pub fn notes_to_share(&self) -> Result<Vec<Vec<u8>>, NodeError> {
        let mut notes = Vec::new();
        for (origin, latest) in self.checkpoints()? {
            // This node's own latest cosignature of the origin, when it is
            // on an older checkpoint than the latest: at most two per origin.
            if origin != *self.org()
                && let Some(ours) = self.cosigned_by_as_kept(&origin, self.org())?
                && ours.note.text != latest.note.text
            {
                notes.push(ours.to_text().into_bytes());
            }
            notes.push(latest.to_text().into_bytes());
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
                && let Some(at) = kept.cosigned_by(&cosigner, &key)
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
            let Some(at) = received.cosigned_by(&cosigner, &key) else {
                continue;
            };
            if let Some(kept) = self.cosigned_by_as_kept(origin, &cosigner)?
                && (kept.checkpoint.size, kept.cosigned_by(&cosigner, &key))
                    >= (received.checkpoint.size, Some(at))
            {
                continue;
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
            changed = true;
        }
        Ok(changed)
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
            for origin in node.follows() {
                let _guard = node.checkpoint_lock();
                let Some(mut held) = node.checkpoint_of(&origin)? else {
                    continue;
                };
                if node.store().is_frozen(&origin)? || node.cosigned_by_us(&held) {
                    continue;
                }
                match node.check_against_entries(&origin, &held.checkpoint)? {
                    Check::Matches => {
                        node.cosign(&mut held)?;
                        write_checkpoint(&**node.store(), &origin, &held)?;
                        cosigned += 1;
                    }
                    Check::Differs(_) => {
                        // Its entries turned out otherwise than it signed.
                        let evidence = held.to_text().into_bytes();
                        node.freeze(&origin, held.checkpoint.size, &evidence, &evidence, &origin)?;
                    }
                    Check::NotHeld => {}
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

    fn absorb(&self, from: &OrgId, bytes: &[u8]) -> Result<Absorbed, NodeError> {
        let ignored = |why: String| Ok(Absorbed::Ignored(why));
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
        let Ok(received) = SignedCheckpoint::verify(bytes, &origin, &key) else {
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
        // Consistent with what is held here (or not checkable yet, for a
        // size beyond it): the cosignatures on it count.
        if check == Check::Matches && self.keep_cosignatures(&origin, &received)? {
            self.bump_checkpoints();
        }
        let mut kept = match held {
            Some(held) if held.checkpoint.size > received.checkpoint.size => {
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
            return Ok(Absorbed::Known);
        }
        write_checkpoint(&**self.store(), &origin, &kept)?;
        self.bump_checkpoints();
        Ok(Absorbed::Kept)
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
        let kept_cosignatures = ours && self.keep_cosignatures(self.org(), &received)?;
        if kept_cosignatures {
            self.bump_checkpoints();
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
            let Some(theirs) = received.cosigned_by(&cosigner, &key) else {
                continue;
            };
            if kept
                .cosigned_by(&cosigner, &key)
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
        checkpoint
            .cosigned_by(self.org(), &self.public_key())
            .is_some()
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
        let matched = self
            .checkpoint_state()
            .matched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
            .copied();
        if matched == Some((size, checkpoint.root)) {
            return Ok(Check::Matches);
        }
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
        Ok(if root == checkpoint.root {
            self.checkpoint_state()
                .matched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(origin.clone(), (size, root));
            Check::Matches
        } else {
            Check::Differs(root)
        })
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
