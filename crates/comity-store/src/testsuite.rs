//! The behaviour every [`Store`] backend must show, as one shared suite.
//!
//! Each backend runs [`run_all`] from its own tests, so the in-memory store
//! that other crates test against cannot quietly differ from sled, and a
//! future backend (PostgreSQL) starts with its specification written. Each
//! check takes a fresh, empty store and panics on the first deviation.
//!
//! The module is public and compiled in normal builds so that backends in
//! other crates can use it; it needs nothing beyond `comity-core` to build
//! properly signed entries.

use crate::{Appended, DocumentRef, Equivocation, PeerRecord, Store, StoreError};
use comity_core::{
    EntryKind, Hash, Head, IdentityKey, OrgId, SignedEntry, UnsignedEntry, document,
    entry::Audience, proto,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

/// A check of one behaviour, run against a fresh, empty store.
pub type Check = fn(&dyn Store);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("append_sets_heads", append_sets_heads),
    (
        "entries_after_is_ordered_and_limited",
        entries_after_is_ordered_and_limited,
    ),
    (
        "entry_by_id_finds_held_entries",
        entry_by_id_finds_held_entries,
    ),
    ("reappend_is_idempotent", reappend_is_idempotent),
    ("gap_is_not_next", gap_is_not_next),
    ("wrong_prev_is_not_next", wrong_prev_is_not_next),
    (
        "different_entry_at_held_seq_is_not_next",
        different_entry_at_held_seq_is_not_next,
    ),
    ("failed_batch_writes_nothing", failed_batch_writes_nothing),
    ("batch_interleaves_origins", batch_interleaves_origins),
    (
        "consultation_index_keeps_latest_readable",
        consultation_index_keeps_latest_readable,
    ),
    (
        "latest_profile_follows_profiles",
        latest_profile_follows_profiles,
    ),
    ("equivocation_freezes_origin", equivocation_freezes_origin),
    ("peers_put_replace_remove", peers_put_replace_remove),
];

/// Runs every check in [`CHECKS`], each on a new store from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    for (name, check) in CHECKS {
        eprintln!("store check: {name}");
        check(make().as_ref());
    }
}

// ----------------------------------------------------------------- fixtures

/// An org id known to be valid; panics otherwise.
pub fn org(id: &str) -> OrgId {
    OrgId::new(id).expect("test org ids are valid")
}

/// A well-formed consultation uuid, distinct on every call.
pub fn fresh_uuid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("01900000-0000-7000-8000-{n:012x}")
}

/// An organisation writing its own log: signs each entry after the last, so
/// tests get authentic, chained entries without a node.
pub struct Author {
    key: IdentityKey,
    origin: OrgId,
    head: Option<Head>,
}

impl Author {
    pub fn new(origin: &str) -> Self {
        Self {
            key: IdentityKey::generate(),
            origin: org(origin),
            head: None,
        }
    }

    pub fn origin(&self) -> &OrgId {
        &self.origin
    }

    pub fn key(&self) -> &IdentityKey {
        &self.key
    }

    /// The same organisation and key starting its log over: its entries
    /// collide with this author's at every seq.
    pub fn fork(&self) -> Self {
        Self {
            key: self.key.clone(),
            origin: self.origin.clone(),
            head: None,
        }
    }

    fn sign(&mut self, kind: EntryKind, payload: Vec<u8>, audience: Audience) -> SignedEntry {
        let mut draft = UnsignedEntry::new(self.origin.clone(), kind, payload);
        draft.audience = audience;
        let entry = draft.sign(&self.key, self.head);
        self.head = Some(entry.head());
        entry
    }

    pub fn consultation(&mut self, uuid: &str, revision: u32) -> SignedEntry {
        let (kind, payload) = consultation_payload(uuid, revision);
        self.sign(kind, payload, Audience::Public)
    }

    /// A consultation readable only by `readers` (and the origin).
    pub fn restricted(&mut self, uuid: &str, revision: u32, readers: &[&str]) -> SignedEntry {
        let (kind, payload) = consultation_payload(uuid, revision);
        let readers = readers.iter().map(|r| org(r)).collect();
        self.sign(kind, payload, Audience::Restricted(readers))
    }

    pub fn profile(&mut self) -> SignedEntry {
        let (kind, payload) = document::encode(proto::document::Body::Profile(proto::OrgProfile {
            id: self.origin.to_string(),
            names: vec![text(self.origin.as_str())],
            ..Default::default()
        }));
        self.sign(kind, payload, Audience::Public)
    }

    /// `n` more entries, each a new consultation.
    pub fn chain(&mut self, n: usize) -> Vec<SignedEntry> {
        (0..n)
            .map(|_| self.consultation(&fresh_uuid(), 1))
            .collect()
    }
}

fn text(value: &str) -> proto::Text {
    proto::Text {
        lang: "en".into(),
        value: value.into(),
    }
}

fn consultation_payload(uuid: &str, revision: u32) -> (EntryKind, Vec<u8>) {
    let closes = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    document::encode(proto::document::Body::Consultation(proto::Consultation {
        uuid: uuid.into(),
        revision,
        title: vec![text(&format!("consultation {uuid} revision {revision}"))],
        closes_at: Some(closes.into()),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    }))
}

/// `entry` as an outsider receives it: header and signature, no payload.
fn stub_of(entry: &SignedEntry) -> SignedEntry {
    SignedEntry::decode(entry.for_reader(&org("outsider"))).expect("a stub decodes")
}

fn append_ok(store: &dyn Store, entry: &SignedEntry) -> Appended {
    store.append(entry).unwrap_or_else(|e| {
        panic!(
            "append of {} seq {} failed: {e}",
            entry.origin(),
            entry.seq()
        )
    })
}

fn append_all(store: &dyn Store, entries: &[SignedEntry]) {
    for entry in entries {
        assert_eq!(append_ok(store, entry), Appended::New);
    }
}

fn head_of(store: &dyn Store, origin: &str) -> Option<Head> {
    store.head(&org(origin)).expect("head")
}

fn all_after(store: &dyn Store, origin: &str, after: u64) -> Vec<SignedEntry> {
    store
        .entries_after(&org(origin), after, usize::MAX)
        .expect("entries_after")
}

fn assert_not_next(result: Result<impl std::fmt::Debug, StoreError>, seq: u64, held: u64) {
    match result {
        Err(StoreError::NotNext {
            seq: s, held: h, ..
        }) if (s, h) == (seq, held) => {}
        other => panic!("expected NotNext {{ seq: {seq}, held: {held} }}, got {other:?}"),
    }
}

/// Nothing at all is held: no heads, entries, ids or index rows.
fn assert_empty(store: &dyn Store, entries: &[SignedEntry]) {
    assert_eq!(store.heads().expect("heads"), vec![]);
    assert_eq!(store.consultations().expect("consultations"), vec![]);
    for e in entries {
        assert_eq!(store.entry(e.origin(), e.seq()).expect("entry"), None);
        assert_eq!(store.entry_by_id(&e.id()).expect("entry_by_id"), None);
        assert_eq!(store.latest_profile(e.origin()).expect("profile"), None);
    }
}

// ------------------------------------------------------------------- checks

/// Appends set the head of their own origin only; heads come in id order.
pub fn append_sets_heads(store: &dyn Store) {
    assert_eq!(store.heads().expect("heads"), vec![]);
    assert_eq!(head_of(store, "itu"), None);
    let itu = Author::new("itu").chain(3);
    let ietf = Author::new("ietf").chain(2);
    append_all(store, &itu);
    append_all(store, &ietf);
    assert_eq!(head_of(store, "itu"), Some(itu[2].head()));
    assert_eq!(head_of(store, "ietf"), Some(ietf[1].head()));
    assert_eq!(head_of(store, "icann"), None);
    assert_eq!(
        store.heads().expect("heads"),
        vec![(org("ietf"), ietf[1].head()), (org("itu"), itu[2].head())]
    );
    assert_eq!(
        store.entry(&org("itu"), 2).expect("entry"),
        Some(itu[1].clone())
    );
    assert_eq!(store.entry(&org("itu"), 4).expect("entry"), None);
    assert_eq!(store.entry(&org("icann"), 1).expect("entry"), None);
}

/// `entries_after` is strictly after, in seq order, limited, and never
/// spills into an origin whose id extends this one (`itu` / `itu-t`).
pub fn entries_after_is_ordered_and_limited(store: &dyn Store) {
    let itu = Author::new("itu").chain(5);
    let itu_t = Author::new("itu-t").chain(3);
    let mut both = itu_t.clone();
    both.extend(itu.iter().cloned());
    store.append_batch(&both).expect("batch");
    let after = |a, limit| store.entries_after(&org("itu"), a, limit).expect("after");
    assert_eq!(after(0, 100), itu);
    assert_eq!(after(2, 100), itu[2..].to_vec());
    assert_eq!(after(1, 2), itu[1..3].to_vec());
    assert_eq!(after(4, 100), itu[4..].to_vec());
    assert_eq!(after(5, 100), vec![]);
    assert_eq!(after(u64::MAX, 100), vec![]);
    assert_eq!(after(0, 0), vec![]);
    assert_eq!(all_after(store, "itu-t", 0), itu_t);
    assert_eq!(all_after(store, "icann", 0), vec![]);
}

/// Every held entry is found by its id; an unknown id finds nothing.
pub fn entry_by_id_finds_held_entries(store: &dyn Store) {
    let mut itu = Author::new("itu");
    let entries = itu.chain(3);
    append_all(store, &entries);
    for e in &entries {
        assert_eq!(store.entry_by_id(&e.id()).expect("by id"), Some(e.clone()));
    }
    let unheld = itu.chain(1);
    assert_eq!(store.entry_by_id(&unheld[0].id()).expect("by id"), None);
    assert_eq!(
        store.entry_by_id(&Hash::of(b"nothing")).expect("by id"),
        None
    );
}

/// Appending what is already held changes nothing, alone or in a batch.
pub fn reappend_is_idempotent(store: &dyn Store) {
    let entries = Author::new("itu").chain(2);
    append_all(store, &entries);
    for e in &entries {
        assert_eq!(append_ok(store, e), Appended::AlreadyHeld);
    }
    assert_eq!(store.append_batch(&entries).expect("batch"), 0);
    assert_eq!(head_of(store, "itu"), Some(entries[1].head()));
    assert_eq!(all_after(store, "itu", 0), entries);
    assert_eq!(store.consultations().expect("consultations").len(), 2);
}

/// An entry beyond the next seq is refused, even as the first of its log.
pub fn gap_is_not_next(store: &dyn Store) {
    let entries = Author::new("itu").chain(3);
    assert_not_next(store.append(&entries[1]), 2, 0);
    assert_empty(store, &entries);
    append_ok(store, &entries[0]);
    assert_not_next(store.append(&entries[2]), 3, 1);
    assert_eq!(head_of(store, "itu"), Some(entries[0].head()));
    assert_eq!(store.entry(&org("itu"), 3).expect("entry"), None);
}

/// The next seq with a `prev` other than the held head's hash is refused.
pub fn wrong_prev_is_not_next(store: &dyn Store) {
    let mut itu = Author::new("itu");
    let first = itu.chain(1);
    append_all(store, &first);
    itu.head = Some(Head {
        seq: 1,
        hash: Hash::of(b"not the held head"),
    });
    let stray = itu.chain(1);
    assert_not_next(store.append(&stray[0]), 2, 1);
    assert_eq!(head_of(store, "itu"), Some(first[0].head()));
    assert_eq!(store.entry_by_id(&stray[0].id()).expect("by id"), None);
}

/// A different entry at a held seq is refused; the held one stays.
pub fn different_entry_at_held_seq_is_not_next(store: &dyn Store) {
    let mut itu = Author::new("itu");
    let mut fork = itu.fork();
    let held = itu.chain(2);
    let other = fork.chain(2);
    append_all(store, &held);
    assert_not_next(store.append(&other[0]), 1, 2);
    assert_not_next(store.append(&other[1]), 2, 2);
    assert_eq!(all_after(store, "itu", 0), held);
    assert_eq!(store.entry_by_id(&other[0].id()).expect("by id"), None);
}

/// A batch with a bad entry in the middle writes none of its entries.
pub fn failed_batch_writes_nothing(store: &dyn Store) {
    let itu = Author::new("itu").chain(4);
    let ietf = Author::new("ietf").chain(2);
    let gap = [
        itu[0].clone(),
        itu[1].clone(),
        itu[3].clone(),
        itu[2].clone(),
    ];
    assert_not_next(store.append_batch(&gap), 4, 2);
    assert_empty(store, &itu);
    let mixed = [
        ietf[0].clone(),
        itu[0].clone(),
        ietf[0].clone(),
        itu[2].clone(),
        ietf[1].clone(),
    ];
    assert_not_next(store.append_batch(&mixed), 3, 1);
    assert_empty(store, &itu);
    assert_empty(store, &ietf);
    // The store still accepts the good entries afterwards.
    assert_eq!(store.append_batch(&itu).expect("batch"), 4);
}

/// A batch may interleave origins and repeat held entries; the running head
/// of each origin advances within the batch.
pub fn batch_interleaves_origins(store: &dyn Store) {
    let itu = Author::new("itu").chain(4);
    let ietf = Author::new("ietf").chain(3);
    let first = [
        itu[0].clone(),
        ietf[0].clone(),
        itu[1].clone(),
        ietf[1].clone(),
        itu[2].clone(),
    ];
    assert_eq!(store.append_batch(&first).expect("batch"), 5);
    assert_eq!(head_of(store, "itu"), Some(itu[2].head()));
    assert_eq!(head_of(store, "ietf"), Some(ietf[1].head()));
    let second = [
        itu[2].clone(),
        ietf[2].clone(),
        itu[3].clone(),
        itu[3].clone(),
    ];
    assert_eq!(store.append_batch(&second).expect("batch"), 2);
    assert_eq!(all_after(store, "itu", 0), itu);
    assert_eq!(all_after(store, "ietf", 0), ietf);
    assert_eq!(store.append_batch(&[]).expect("empty batch"), 0);
}

/// The index holds the latest readable revision per (origin, uuid): later
/// revisions replace earlier ones, redacted stubs are ignored, profiles are
/// not consultations, and the same uuid from two origins is two documents.
pub fn consultation_index_keeps_latest_readable(store: &dyn Store) {
    let (x, y) = (fresh_uuid(), fresh_uuid());
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    let itu_log = vec![
        itu.profile(),                              // 1
        itu.consultation(&x, 1),                    // 2
        itu.consultation(&y, 1),                    // 3
        itu.consultation(&x, 2),                    // 4
        stub_of(&itu.restricted(&x, 3, &["ietf"])), // 5: unreadable here
        itu.consultation(&y, 2),                    // 6
    ];
    assert!(itu_log[4].is_redacted());
    append_all(store, &itu_log);
    append_ok(store, &ietf.consultation(&x, 1));
    let doc = |origin: &str, uuid: &String, seq| DocumentRef {
        origin: org(origin),
        uuid: uuid.clone(),
        seq,
    };
    let mut want = vec![doc("ietf", &x, 1), doc("itu", &x, 4), doc("itu", &y, 6)];
    let sorted = |mut v: Vec<DocumentRef>| {
        v.sort_by(|a, b| (&a.origin, &a.uuid).cmp(&(&b.origin, &b.uuid)));
        v
    };
    assert_eq!(sorted(store.consultations().expect("index")), want);
    // A restricted revision held in full (this node is a reader) is indexed.
    append_ok(store, &itu.restricted(&x, 4, &["ietf"]));
    want[1].seq = 7;
    assert_eq!(sorted(store.consultations().expect("index")), want);
}

/// `latest_profile` is the seq of the origin's last readable profile entry.
pub fn latest_profile_follows_profiles(store: &dyn Store) {
    let mut itu = Author::new("itu");
    let fresh = fresh_uuid();
    assert_eq!(store.latest_profile(&org("itu")).expect("profile"), None);
    append_ok(store, &itu.profile());
    assert_eq!(store.latest_profile(&org("itu")).expect("profile"), Some(1));
    append_ok(store, &itu.consultation(&fresh, 1));
    assert_eq!(store.latest_profile(&org("itu")).expect("profile"), Some(1));
    append_ok(store, &itu.profile());
    assert_eq!(store.latest_profile(&org("itu")).expect("profile"), Some(3));
    assert_eq!(store.latest_profile(&org("ietf")).expect("profile"), None);
}

fn evidence(held: &SignedEntry, conflicting: &SignedEntry, reported_by: &str) -> Equivocation {
    Equivocation {
        origin: held.origin().clone(),
        seq: held.seq(),
        held_header: held.header_bytes().to_vec(),
        held_signature: held.signature().to_vec(),
        conflicting_header: conflicting.header_bytes().to_vec(),
        conflicting_signature: conflicting.signature().to_vec(),
        reported_by: org(reported_by),
        detected_at: 1_900_000_000,
    }
}

/// Recording equivocation keeps the evidence and freezes the origin: nothing
/// more from it is appended, alone or in a batch (which then writes nothing).
/// Recording again changes nothing; other origins are unaffected.
pub fn equivocation_freezes_origin(store: &dyn Store) {
    let mut itu = Author::new("itu");
    let mut fork = itu.fork();
    let held = itu.chain(3);
    let other = fork.chain(1);
    let ietf = Author::new("ietf").chain(2);
    append_all(store, &held[..2]);
    let ev = evidence(&held[0], &other[0], "ietf");
    assert_eq!(ev.held_id(), held[0].id());
    store.record_equivocation(&ev).expect("record");
    assert!(store.is_frozen(&org("itu")).expect("frozen"));
    assert!(!store.is_frozen(&org("ietf")).expect("frozen"));
    assert_eq!(store.equivocations().expect("evidence"), vec![ev.clone()]);

    let refused = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Frozen { origin }) if origin == org("itu"));
    assert!(refused(store.append(&held[2]).map(drop)));
    assert!(refused(
        store
            .append_batch(&[ietf[0].clone(), held[2].clone()])
            .map(drop)
    ));
    assert_eq!(head_of(store, "ietf"), None);
    assert_eq!(head_of(store, "itu"), Some(held[1].head()));
    assert_eq!(all_after(store, "itu", 0), held[..2].to_vec());

    // Again, or with another conflicting header at that seq: the first
    // evidence is kept and the origin stays frozen.
    store.record_equivocation(&ev).expect("record again");
    let later = evidence(&held[0], &itu.fork().chain(1)[0], "icann");
    store.record_equivocation(&later).expect("record another");
    assert_eq!(store.equivocations().expect("evidence"), vec![ev]);
    assert!(store.is_frozen(&org("itu")).expect("frozen"));
    assert_eq!(store.append_batch(&ietf).expect("other origins"), 2);
}

fn peer(org_id: &str, endpoint: Option<&str>) -> PeerRecord {
    PeerRecord {
        org: org(org_id),
        key: IdentityKey::generate().public(),
        endpoint: endpoint.map(str::to_owned),
        added_at: 1_900_000_000,
    }
}

/// Peers are listed in id order; putting one again replaces it.
pub fn peers_put_replace_remove(store: &dyn Store) {
    assert_eq!(store.peers().expect("peers"), vec![]);
    let itu = peer("itu", Some("https://comity.itu.int:7400"));
    let ietf = peer("ietf", None);
    store.put_peer(&itu).expect("put");
    store.put_peer(&ietf).expect("put");
    assert_eq!(
        store.peers().expect("peers"),
        vec![ietf.clone(), itu.clone()]
    );
    let moved = PeerRecord {
        endpoint: Some("https://comity2.itu.int:7400".into()),
        ..peer("itu", None)
    };
    store.put_peer(&moved).expect("replace");
    assert_eq!(store.peers().expect("peers"), vec![ietf.clone(), moved]);
    assert!(store.remove_peer(&org("itu")).expect("remove"));
    assert!(!store.remove_peer(&org("itu")).expect("remove again"));
    assert_eq!(store.peers().expect("peers"), vec![ietf]);
}
