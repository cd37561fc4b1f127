//! The behaviour every [`Store`] backend must show, as one shared suite.
//!
//! Each backend runs [`run_all`] from its own tests, so the in-memory store
//! that other crates test against cannot quietly differ from sled, and a
//! future backend (PostgreSQL) starts with its specification written. Each
//! check takes a fresh, empty store and panics on the first deviation.
//!
//! The module is public behind the `testsuite` feature, so that backends in
//! other crates can run it from their tests (`comity-store = { features =
//! ["testsuite"] }` under their dev-dependencies) while release builds never
//! compile it; it needs nothing beyond `comity-core` to build properly
//! signed entries.

use crate::{
    Appended, DocumentRef, EntryPos, Equivocation, LiaisonDraft, PeerRecord, Store, StoreError,
};
use comity_core::{
    EntryKind, Hash, Head, IdentityKey, OrgId, SignedEntry, UnsignedEntry, document,
    entry::Audience, key_rotation, proto, proto::document::Body,
};
use prost::Message;
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
    (
        "document_revisions_and_latest",
        document_revisions_and_latest,
    ),
    (
        "responses_indexed_while_consultation_pending",
        responses_indexed_while_consultation_pending,
    ),
    (
        "liaison_replies_follow_latest_revision",
        liaison_replies_follow_latest_revision,
    ),
    (
        "receipts_come_in_arrival_order",
        receipts_come_in_arrival_order,
    ),
    (
        "liaisons_addressed_via_to_and_cc",
        liaisons_addressed_via_to_and_cc,
    ),
    ("redacted_stubs_index_nothing", redacted_stubs_index_nothing),
    (
        "blobs_are_indexed_by_the_entries_naming_them",
        blobs_are_indexed_by_the_entries_naming_them,
    ),
    (
        "current_key_follows_rotations",
        current_key_follows_rotations,
    ),
    (
        "rebuild_gives_the_same_answers",
        rebuild_gives_the_same_answers,
    ),
    ("blobs_put_get_and_ranges", blobs_put_get_and_ranges),
    (
        "partial_blob_resumes_and_checks_hash",
        partial_blob_resumes_and_checks_hash,
    ),
    ("drafts_put_replace_remove", drafts_put_replace_remove),
    ("records_are_kept_per_space", records_are_kept_per_space),
    (
        "a_stub_is_filled_by_its_payload",
        a_stub_is_filled_by_its_payload,
    ),
    ("tree_moves_with_every_append", tree_moves_with_every_append),
    (
        "tree_is_untouched_by_a_failed_batch_or_a_filled_stub",
        tree_is_untouched_by_a_failed_batch_or_a_filled_stub,
    ),
    (
        "tree_is_rebuilt_from_the_logs",
        tree_is_rebuilt_from_the_logs,
    ),
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

    /// Publishes any document as the next entry.
    pub fn publish(&mut self, body: Body, audience: Audience) -> SignedEntry {
        let (kind, payload) = document::encode(body);
        self.sign(kind, payload, audience)
    }

    /// A response to `consultation` (origin, uuid), held or not.
    pub fn response(&mut self, uuid: &str, consultation: (&str, &str)) -> SignedEntry {
        self.publish(
            Body::Response(proto::ConsultationResponse {
                uuid: uuid.into(),
                consultation: Some(doc_ref(consultation)),
                text: vec![text(&format!("response {uuid}"))],
                ..Default::default()
            }),
            Audience::Public,
        )
    }

    /// A posted liaison statement for information to `to`, copied to `cc`,
    /// replying to `in_reply_to` (origin, uuid) if given.
    pub fn liaison(
        &mut self,
        uuid: &str,
        revision: u32,
        to: &[&str],
        cc: &[&str],
        in_reply_to: Option<(&str, &str)>,
    ) -> SignedEntry {
        self.publish(
            Body::Liaison(liaison_statement(uuid, revision, to, cc, in_reply_to)),
            Audience::Public,
        )
    }

    /// A receipt acknowledging `statement`, the liaison statement `uuid`.
    pub fn receipt(
        &mut self,
        statement: &SignedEntry,
        uuid: &str,
        status: proto::ReceiptStatus,
    ) -> SignedEntry {
        self.publish(
            Body::Receipt(proto::Receipt {
                entry: Some(proto::EntryRef {
                    origin: statement.origin().to_string(),
                    seq: statement.seq(),
                    id: statement.id().0.to_vec(),
                }),
                liaison: Some(doc_ref((statement.origin().as_str(), uuid))),
                status: status as i32,
                note: String::new(),
                reply: None,
            }),
            Audience::Public,
        )
    }

    /// Moves to a new key: the rotation is signed by the old key, and
    /// everything after it by the new one.
    pub fn rotate_key(&mut self) -> SignedEntry {
        let new = IdentityKey::generate();
        let rotation = key_rotation::new(&self.origin, &self.key.public(), &new);
        let entry = self.publish(Body::KeyRotation(rotation), Audience::Public);
        self.key = new;
        entry
    }

    fn sign(&mut self, kind: EntryKind, payload: Vec<u8>, audience: Audience) -> SignedEntry {
        let mut draft = UnsignedEntry::new(
            self.origin.clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        );
        draft.audience = audience;
        let entry = draft.sign(&self.key, self.head);
        // An invalid document would be appended but silently left unindexed.
        if let Err(e) = document::decode_for(&entry) {
            panic!("test document for {} is invalid: {e}", self.origin);
        }
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

fn doc_ref((origin, uuid): (&str, &str)) -> proto::DocumentRef {
    proto::DocumentRef {
        origin: origin.into(),
        uuid: uuid.into(),
    }
}

fn liaison_statement(
    uuid: &str,
    revision: u32,
    to: &[&str],
    cc: &[&str],
    in_reply_to: Option<(&str, &str)>,
) -> proto::LiaisonStatement {
    let addressees = |orgs: &[&str]| {
        orgs.iter()
            .map(|o| proto::Addressee {
                org: (*o).into(),
                ..Default::default()
            })
            .collect()
    };
    let purpose = if in_reply_to.is_some() {
        proto::LiaisonPurpose::InResponse
    } else {
        proto::LiaisonPurpose::Information
    };
    proto::LiaisonStatement {
        uuid: uuid.into(),
        revision,
        title: format!("statement {uuid} revision {revision}"),
        to: addressees(to),
        cc: addressees(cc),
        purpose: purpose as i32,
        body: Some(text("for your information")),
        in_reply_to: in_reply_to.map(doc_ref),
        state: proto::LiaisonState::Posted as i32,
        ..Default::default()
    }
}

/// A reference to `content` as an attachment named `name`.
pub fn attachment(name: &str, content: &[u8]) -> proto::AttachmentRef {
    proto::AttachmentRef {
        hash: Hash::of(content).0.to_vec(),
        size: content.len() as u64,
        media_type: "application/pdf".into(),
        name: name.into(),
    }
}

/// A consultation with `attachments`, and a published report naming `report`.
fn consultation_with(
    uuid: &str,
    revision: u32,
    attachments: Vec<proto::AttachmentRef>,
    report: Vec<proto::AttachmentRef>,
) -> Body {
    let closes = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    Body::Consultation(proto::Consultation {
        uuid: uuid.into(),
        revision,
        title: vec![text(&format!("consultation {uuid} revision {revision}"))],
        closes_at: Some(closes.into()),
        status: proto::ConsultationStatus::ReportPublished as i32,
        attachments,
        report: Some(proto::ConsultationReport {
            summary: vec![text("the report")],
            attachments: report,
            ..Default::default()
        }),
        ..Default::default()
    })
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

/// Nothing at all is held: no heads, entries or index rows.
fn assert_empty(store: &dyn Store, entries: &[SignedEntry]) {
    assert_eq!(store.heads().expect("heads"), vec![]);
    assert_eq!(store.consultations().expect("consultations"), vec![]);
    for e in entries {
        assert_eq!(store.entry(e.origin(), e.seq()).expect("entry"), None);
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
    assert_eq!(store.entry(&org("itu"), 2).expect("entry"), None);
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
        key_since: 0,
        more_endpoints: Vec::new(),
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

// ------------------------------------------------------ document indexes

fn pos(origin: &str, seq: u64) -> EntryPos {
    EntryPos {
        origin: org(origin),
        seq,
    }
}

fn doc(origin: &str, uuid: &str, seq: u64) -> DocumentRef {
    DocumentRef {
        origin: org(origin),
        uuid: uuid.into(),
        seq,
    }
}

/// A restricted document as an outsider holds it: a redacted stub.
fn restricted_stub(author: &mut Author, body: Body) -> SignedEntry {
    let stub = stub_of(&author.publish(body, Audience::Restricted(vec![org("itu")])));
    assert!(stub.is_redacted());
    stub
}

/// Every revision of a consultation, liaison statement or response is
/// listed by (kind, origin, uuid), and the latest is the last appended; kinds
/// and origins do not mix.
pub fn document_revisions_and_latest(store: &dyn Store) {
    let (c, l, r) = (fresh_uuid(), fresh_uuid(), fresh_uuid());
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    append_all(
        store,
        &[
            itu.consultation(&c, 1),                   // 1
            itu.liaison(&l, 1, &["ietf"], &[], None),  // 2
            itu.consultation(&c, 2),                   // 3
            itu.profile(),                             // 4
            itu.liaison(&l, 2, &["ietf"], &[], None),  // 5
            itu.consultation(&c, 3),                   // 6
            itu.response(&r, ("ietf", &fresh_uuid())), // 7
        ],
    );
    append_ok(store, &ietf.consultation(&c, 1));
    let itu_o = org("itu");
    let revisions = |kind, origin: &OrgId, uuid: &str| {
        store
            .document_revisions(kind, origin, uuid)
            .expect("revisions")
    };
    let latest =
        |kind, origin: &OrgId, uuid: &str| store.document(kind, origin, uuid).expect("document");
    assert_eq!(
        revisions(EntryKind::Consultation, &itu_o, &c),
        vec![1, 3, 6]
    );
    assert_eq!(revisions(EntryKind::Liaison, &itu_o, &l), vec![2, 5]);
    assert_eq!(revisions(EntryKind::Response, &itu_o, &r), vec![7]);
    assert_eq!(
        revisions(EntryKind::Consultation, &org("ietf"), &c),
        vec![1]
    );
    assert_eq!(revisions(EntryKind::Liaison, &itu_o, &c), Vec::<u64>::new());
    assert_eq!(
        revisions(EntryKind::Consultation, &org("icann"), &c),
        Vec::<u64>::new()
    );
    assert_eq!(latest(EntryKind::Consultation, &itu_o, &c), Some(6));
    assert_eq!(latest(EntryKind::Liaison, &itu_o, &l), Some(5));
    assert_eq!(latest(EntryKind::Response, &itu_o, &r), Some(7));
    assert_eq!(latest(EntryKind::Response, &itu_o, &c), None);
    assert_eq!(latest(EntryKind::Consultation, &itu_o, "not\0a uuid"), None);
    let docs = |kind| store.documents(kind).expect("documents");
    assert_eq!(
        docs(EntryKind::Consultation),
        vec![doc("ietf", &c, 1), doc("itu", &c, 6)]
    );
    assert_eq!(
        docs(EntryKind::Consultation),
        store.consultations().expect("consultations")
    );
    assert_eq!(docs(EntryKind::Liaison), vec![doc("itu", &l, 5)]);
    assert_eq!(docs(EntryKind::Response), vec![doc("itu", &r, 7)]);
    assert_eq!(docs(EntryKind::Profile), vec![]);
    assert_eq!(docs(EntryKind::Receipt), vec![]);
}

/// A response is indexed under the consultation it answers whether or not
/// that consultation is held ("pending"), and still found once it arrives.
pub fn responses_indexed_while_consultation_pending(store: &dyn Store) {
    let (c, other) = (fresh_uuid(), fresh_uuid());
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    let mut icann = Author::new("icann");
    let ietf_uuid = fresh_uuid();
    append_ok(store, &ietf.response(&ietf_uuid, ("itu", &c))); // ietf 1
    append_ok(store, &ietf.response(&fresh_uuid(), ("itu", &other))); // ietf 2
    assert_eq!(store.consultations().expect("consultations"), vec![]);
    let responses = |uuid: &str| store.responses_to(&org("itu"), uuid).expect("responses");
    assert_eq!(responses(&c), vec![pos("ietf", 1)]);
    append_ok(store, &itu.consultation(&c, 1));
    append_ok(store, &icann.response(&fresh_uuid(), ("itu", &c))); // icann 1
    append_ok(store, &ietf.response(&ietf_uuid, ("itu", &c))); // ietf 3: a revision
    assert_eq!(
        responses(&c),
        vec![pos("icann", 1), pos("ietf", 1), pos("ietf", 3)]
    );
    assert_eq!(responses(&other), vec![pos("ietf", 2)]);
    assert_eq!(responses(&fresh_uuid()), vec![]);
    assert_eq!(
        store.responses_to(&org("ietf"), &c).expect("responses"),
        vec![]
    );
    assert_eq!(
        store
            .document_revisions(EntryKind::Response, &org("ietf"), &ietf_uuid)
            .expect("revisions"),
        vec![1, 3]
    );
}

/// Replies are the statements whose latest revision points at the original
/// (held or not); a revision that points elsewhere moves the reply.
pub fn liaison_replies_follow_latest_revision(store: &dyn Store) {
    let (l, m, r, pending) = (fresh_uuid(), fresh_uuid(), fresh_uuid(), fresh_uuid());
    let mut ietf = Author::new("ietf");
    let mut itu = Author::new("itu");
    let mut icann = Author::new("icann");
    append_ok(store, &ietf.liaison(&l, 1, &["itu"], &["icann"], None)); // ietf 1
    append_ok(store, &ietf.liaison(&m, 1, &["itu"], &[], None)); // ietf 2
    append_ok(
        store,
        &itu.liaison(&r, 1, &["ietf"], &[], Some(("ietf", &l))),
    ); // itu 1
    append_ok(
        store,
        &icann.liaison(&fresh_uuid(), 1, &["ietf"], &[], Some(("ietf", &pending))),
    ); // icann 1
    let replies = |uuid: &str| store.liaison_replies(&org("ietf"), uuid).expect("replies");
    assert_eq!(replies(&l), vec![doc("itu", &r, 1)]);
    assert_eq!(replies(&m), vec![]);
    assert_eq!(
        replies(&pending).len(),
        1,
        "a reply to a statement not held"
    );
    append_ok(
        store,
        &itu.liaison(&r, 2, &["ietf"], &[], Some(("ietf", &l))),
    ); // itu 2
    assert_eq!(replies(&l), vec![doc("itu", &r, 2)]);
    append_ok(
        store,
        &itu.liaison(&r, 3, &["ietf"], &[], Some(("ietf", &m))),
    ); // itu 3
    assert_eq!(replies(&l), vec![]);
    assert_eq!(replies(&m), vec![doc("itu", &r, 3)]);
    let third = fresh_uuid();
    append_ok(
        store,
        &icann.liaison(&third, 1, &["ietf"], &[], Some(("ietf", &m))),
    ); // icann 2
    assert_eq!(
        replies(&m),
        vec![doc("icann", &third, 2), doc("itu", &r, 3)]
    );
    assert_eq!(
        store.liaison_replies(&org("itu"), &l).expect("replies"),
        vec![]
    );
}

/// Receipts are found from the statement they acknowledge, in the order
/// this node received them (not by origin), whether or not it is held.
pub fn receipts_come_in_arrival_order(store: &dyn Store) {
    let l = fresh_uuid();
    let mut ietf = Author::new("ietf");
    let mut itu = Author::new("itu");
    let mut icann = Author::new("icann");
    let statement = ietf.liaison(&l, 1, &["itu"], &["icann"], None);
    use proto::ReceiptStatus as S;
    let itu_received = itu.receipt(&statement, &l, S::Received); // itu 1
    let icann_received = icann.receipt(&statement, &l, S::Received); // icann 1
    let itu_done = itu.receipt(&statement, &l, S::ActionTaken); // itu 2
    append_ok(store, &itu_received);
    let receipts = || store.receipts_for(&org("ietf"), &l).expect("receipts");
    assert_eq!(
        receipts(),
        vec![pos("itu", 1)],
        "the statement is not held yet"
    );
    append_ok(store, &statement);
    append_ok(store, &icann_received);
    append_ok(store, &itu_done);
    assert_eq!(
        receipts(),
        vec![pos("itu", 1), pos("icann", 1), pos("itu", 2)]
    );
    assert_eq!(
        store
            .receipts_for(&org("ietf"), &fresh_uuid())
            .expect("receipts"),
        vec![]
    );
    assert_eq!(
        store.receipts_for(&org("itu"), &l).expect("receipts"),
        vec![]
    );
    assert_eq!(
        store.documents(EntryKind::Receipt).expect("documents"),
        vec![]
    );
}

/// A statement is addressed to every organisation in its latest revision's
/// `to` and `cc`; `itu` and `itu-t` are different organisations.
pub fn liaisons_addressed_via_to_and_cc(store: &dyn Store) {
    let (l, m) = (fresh_uuid(), fresh_uuid());
    let mut ietf = Author::new("ietf");
    append_ok(
        store,
        &ietf.liaison(&l, 1, &["itu", "ripencc"], &["icann"], None),
    ); // 1
    append_ok(store, &ietf.liaison(&m, 1, &["itu-t"], &[], None)); // 2
    let addressed = |o: &str| store.liaisons_addressed_to(&org(o)).expect("addressed");
    assert_eq!(addressed("itu"), vec![doc("ietf", &l, 1)]);
    assert_eq!(addressed("icann"), vec![doc("ietf", &l, 1)]);
    assert_eq!(addressed("ripencc"), vec![doc("ietf", &l, 1)]);
    assert_eq!(addressed("itu-t"), vec![doc("ietf", &m, 2)]);
    assert_eq!(addressed("ietf"), vec![]);
    // A revision drops icann and moves ripencc to cc.
    append_ok(store, &ietf.liaison(&l, 2, &["itu"], &["ripencc"], None)); // 3
    assert_eq!(addressed("itu"), vec![doc("ietf", &l, 3)]);
    assert_eq!(addressed("ripencc"), vec![doc("ietf", &l, 3)]);
    assert_eq!(addressed("icann"), vec![]);
    let mut itu = Author::new("itu");
    append_ok(store, &itu.liaison(&fresh_uuid(), 1, &["icann"], &[], None));
    assert_eq!(addressed("icann").len(), 1);
}

/// Redacted stubs of every kind index nothing, and leave the last readable
/// revision in place.
pub fn redacted_stubs_index_nothing(store: &dyn Store) {
    let (c, l) = (fresh_uuid(), fresh_uuid());
    let mut ietf = Author::new("ietf");
    let mut icann = Author::new("icann");
    let statement = ietf.liaison(&l, 1, &["itu"], &[], None);
    append_ok(store, &statement); // ietf 1
    let stubs = [
        restricted_stub(
            &mut ietf,
            Body::Liaison(liaison_statement(
                &l,
                2,
                &["icann"],
                &["ripencc"],
                Some(("itu", &c)),
            )),
        ), // ietf 2
        restricted_stub(
            &mut ietf,
            Body::Response(proto::ConsultationResponse {
                uuid: fresh_uuid(),
                consultation: Some(doc_ref(("itu", &c))),
                text: vec![text("hidden")],
                ..Default::default()
            }),
        ), // ietf 3
    ];
    append_all(store, &stubs);
    let receipt = icann.receipt(&statement, &l, proto::ReceiptStatus::Received);
    let mut receipt_body = proto::Document::decode(receipt.payload()).expect("decodes");
    let receipt_stub = restricted_stub(
        &mut Author::new("icann"),
        receipt_body.body.take().expect("body"),
    );
    append_ok(store, &receipt_stub);
    assert_eq!(
        store.documents(EntryKind::Liaison).expect("documents"),
        vec![doc("ietf", &l, 1)]
    );
    assert_eq!(
        store
            .document_revisions(EntryKind::Liaison, &org("ietf"), &l)
            .expect("revisions"),
        vec![1]
    );
    assert_eq!(
        store.documents(EntryKind::Response).expect("documents"),
        vec![]
    );
    assert_eq!(
        store.responses_to(&org("itu"), &c).expect("responses"),
        vec![]
    );
    assert_eq!(
        store.liaison_replies(&org("itu"), &c).expect("replies"),
        vec![]
    );
    assert_eq!(
        store.receipts_for(&org("ietf"), &l).expect("receipts"),
        vec![]
    );
    assert_eq!(
        store
            .liaisons_addressed_to(&org("icann"))
            .expect("addressed"),
        vec![]
    );
    assert_eq!(
        store
            .liaisons_addressed_to(&org("ripencc"))
            .expect("addressed"),
        vec![]
    );
    assert_eq!(
        store.liaisons_addressed_to(&org("itu")).expect("addressed"),
        vec![doc("ietf", &l, 1)]
    );
}

/// Every entry held whole that names a blob (any document, any revision, a
/// consultation's report included) is found from the blob; a stub names
/// nothing until its payload is filled in.
pub fn blobs_are_indexed_by_the_entries_naming_them(store: &dyn Store) {
    let (paper, annex, report, secret, hidden) = (
        b"paper".as_slice(),
        b"annex".as_slice(),
        b"report".as_slice(),
        b"secret".as_slice(),
        b"hidden".as_slice(),
    );
    let named = |content: &[u8]| {
        store
            .entries_naming_blob(&Hash::of(content))
            .expect("entries naming a blob")
    };
    let c = fresh_uuid();
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    let mut icann = Author::new("icann");
    append_ok(
        store,
        &itu.publish(
            consultation_with(
                &c,
                1,
                vec![
                    attachment("paper.pdf", paper),
                    attachment("annex.pdf", annex),
                ],
                vec![attachment("report.pdf", report)],
            ),
            Audience::Public,
        ),
    ); // itu 1
    append_ok(
        store,
        &ietf.publish(
            Body::Response(proto::ConsultationResponse {
                uuid: fresh_uuid(),
                consultation: Some(doc_ref(("itu", &c))),
                attachments: vec![attachment("paper.pdf", paper)],
                ..Default::default()
            }),
            Audience::Public,
        ),
    ); // ietf 1
    // A second revision names the paper again.
    append_ok(
        store,
        &itu.publish(
            consultation_with(&c, 2, vec![attachment("paper.pdf", paper)], vec![]),
            Audience::Public,
        ),
    ); // itu 2
    let mut restricted = liaison_statement(&fresh_uuid(), 1, &["itu"], &[], None);
    restricted.attachments = vec![attachment("secret.pdf", secret)];
    append_ok(
        store,
        &icann.publish(
            Body::Liaison(restricted),
            Audience::Restricted(vec![org("itu")]),
        ),
    ); // icann 1, held whole
    let mut stubbed = liaison_statement(&fresh_uuid(), 1, &["ietf"], &[], None);
    stubbed.attachments = vec![attachment("hidden.pdf", hidden)];
    let whole = icann.publish(
        Body::Liaison(stubbed),
        Audience::Restricted(vec![org("ietf")]),
    );
    append_ok(store, &stub_of(&whole)); // icann 2, a stub

    assert_eq!(
        named(paper),
        vec![pos("ietf", 1), pos("itu", 1), pos("itu", 2)]
    );
    assert_eq!(named(annex), vec![pos("itu", 1)]);
    assert_eq!(named(report), vec![pos("itu", 1)]);
    assert_eq!(named(secret), vec![pos("icann", 1)]);
    assert_eq!(named(hidden), vec![], "a stub names nothing");
    assert_eq!(named(b"never attached"), vec![]);
    assert!(store.fill_payload(&whole).expect("fill"));
    assert_eq!(named(hidden), vec![pos("icann", 2)]);
}

/// After a key rotation the origin's current key is the new one, from the
/// rotation's seq; the latest rotation wins; others never rotated.
pub fn current_key_follows_rotations(store: &dyn Store) {
    let mut icann = Author::new("icann");
    let first_key = icann.key().public();
    let mut log = vec![icann.profile()];
    append_all(store, &log);
    assert_eq!(store.current_key(&org("icann")).expect("key"), None);
    log.push(icann.rotate_key()); // 2
    let second = icann.key().public();
    log.push(icann.consultation(&fresh_uuid(), 1)); // 3
    append_all(store, &log[1..]);
    assert_eq!(
        store.current_key(&org("icann")).expect("key"),
        Some((2, second))
    );
    log.push(icann.rotate_key()); // 4
    append_all(store, &log[3..]);
    let third = icann.key().public();
    assert_ne!(second, third);
    assert_eq!(
        store.current_key(&org("icann")).expect("key"),
        Some((4, third))
    );
    assert_eq!(store.current_key(&org("itu")).expect("key"), None);
    // The log, rotations and all, verifies from the first key.
    let held = all_after(store, "icann", 0);
    let head = comity_core::verify::verify_chain(&held, &first_key).expect("chain verifies");
    assert_eq!(head, Some(log[3].head()));
}

/// What [`populate_every_kind`] wrote: the documents and organisations to
/// ask every query about.
pub struct Fixture {
    pub documents: Vec<(EntryKind, OrgId, String)>,
    pub orgs: Vec<OrgId>,
    /// Blobs named as attachments, some by several entries, one only by a stub.
    pub blobs: Vec<Hash>,
}

/// Fills `store` with entries of every kind from three organisations,
/// interleaved: revisions, responses (one to a consultation not held),
/// replies, receipts, recipients changing between revisions, redacted stubs,
/// key rotations and profiles.
pub fn populate_every_kind(store: &dyn Store) -> Fixture {
    use proto::ReceiptStatus as S;
    let (c, pending_c, l, r, q, s) = (
        fresh_uuid(),
        fresh_uuid(),
        fresh_uuid(),
        fresh_uuid(),
        fresh_uuid(),
        fresh_uuid(),
    );
    let (resp_a, resp_b, resp_c) = (fresh_uuid(), fresh_uuid(), fresh_uuid());
    let reported = fresh_uuid();
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    let mut icann = Author::new("icann");
    let profile = itu.profile();
    let response = ietf.response(&resp_a, ("itu", &c)); // before the consultation
    let consultation = itu.consultation(&c, 1);
    let statement = itu.liaison(&l, 1, &["ietf"], &["icann"], None);
    let order = vec![
        profile,
        response,
        consultation,
        statement.clone(),
        icann.receipt(&statement, &l, S::Received),
        ietf.response(&resp_b, ("itu", &pending_c)),
        itu.consultation(&c, 2),
        ietf.liaison(&r, 1, &["itu"], &[], Some(("itu", &l))),
        ietf.receipt(&statement, &l, S::Received),
        stub_of(&itu.restricted(&c, 3, &["ietf"])),
        itu.liaison(&l, 2, &["ietf"], &[], None),
        icann.rotate_key(),
        icann.response(&resp_c, ("itu", &c)),
        icann.liaison(&q, 1, &["itu"], &["ietf"], Some(("ietf", &s))), // s is never held
        ietf.rotate_key(),
        ietf.receipt(&statement, &l, S::ActionTaken),
        restricted_stub(
            &mut icann,
            Body::Liaison(liaison_statement(&q, 2, &["ripencc"], &[], None)),
        ),
        ietf.liaison(&r, 2, &["itu"], &["icann"], Some(("itu", &l))),
        ietf.response(&resp_a, ("itu", &c)),
        itu.profile(),
        icann.profile(),
        itu.publish(
            consultation_with(
                &reported,
                1,
                vec![attachment("paper.pdf", b"paper")],
                vec![attachment("report.pdf", b"report")],
            ),
            Audience::Public,
        ),
        ietf.publish(
            Body::Response(proto::ConsultationResponse {
                uuid: fresh_uuid(),
                consultation: Some(doc_ref(("itu", &reported))),
                attachments: vec![attachment("paper.pdf", b"paper")],
                ..Default::default()
            }),
            Audience::Public,
        ),
        restricted_stub(
            &mut icann,
            consultation_with(
                &fresh_uuid(),
                1,
                vec![attachment("hidden.pdf", b"hidden")],
                vec![],
            ),
        ),
    ];
    append_all(store, &order);
    let documents = [
        (EntryKind::Consultation, "itu", &c),
        (EntryKind::Consultation, "itu", &pending_c),
        (EntryKind::Liaison, "itu", &l),
        (EntryKind::Liaison, "ietf", &r),
        (EntryKind::Liaison, "icann", &q),
        (EntryKind::Liaison, "ietf", &s),
        (EntryKind::Response, "ietf", &resp_a),
        (EntryKind::Response, "ietf", &resp_b),
        (EntryKind::Response, "icann", &resp_c),
    ]
    .into_iter()
    .map(|(k, o, u)| (k, org(o), u.clone()))
    .collect();
    let orgs = ["icann", "ietf", "itu", "itu-t", "ripencc"]
        .into_iter()
        .map(org)
        .collect();
    let blobs = [b"paper".as_slice(), b"report", b"hidden"]
        .into_iter()
        .map(Hash::of)
        .collect();
    Fixture {
        documents,
        orgs,
        blobs,
    }
}

/// Every query's answer about the fixture, one line each.
pub fn snapshot(store: &dyn Store, fixture: &Fixture) -> Vec<String> {
    let mut lines = Vec::new();
    let kinds = [
        EntryKind::Profile,
        EntryKind::Consultation,
        EntryKind::Response,
        EntryKind::Liaison,
        EntryKind::Receipt,
        EntryKind::KeyRotation,
    ];
    for kind in kinds {
        lines.push(format!(
            "documents {kind:?}: {:?}",
            store.documents(kind).expect("documents")
        ));
    }
    lines.push(format!(
        "consultations: {:?}",
        store.consultations().expect("consultations")
    ));
    for (kind, origin, uuid) in &fixture.documents {
        let at = format!("{kind:?} {origin}/{uuid}");
        lines.push(format!(
            "{at} latest {:?}",
            store.document(*kind, origin, uuid).expect("document")
        ));
        lines.push(format!(
            "{at} revisions {:?}",
            store
                .document_revisions(*kind, origin, uuid)
                .expect("revisions")
        ));
        lines.push(format!(
            "{at} responses {:?}",
            store.responses_to(origin, uuid).expect("responses")
        ));
        lines.push(format!(
            "{at} replies {:?}",
            store.liaison_replies(origin, uuid).expect("replies")
        ));
        lines.push(format!(
            "{at} receipts {:?}",
            store.receipts_for(origin, uuid).expect("receipts")
        ));
    }
    for o in &fixture.orgs {
        lines.push(format!(
            "{o} addressed {:?}",
            store.liaisons_addressed_to(o).expect("addressed")
        ));
        lines.push(format!(
            "{o} profile {:?}",
            store.latest_profile(o).expect("profile")
        ));
        lines.push(format!("{o} key {:?}", store.current_key(o).expect("key")));
        lines.push(format!("{o} head {:?}", store.head(o).expect("head")));
    }
    for hash in &fixture.blobs {
        lines.push(format!(
            "{hash:?} named by {:?}",
            store
                .entries_naming_blob(hash)
                .expect("entries naming a blob")
        ));
    }
    lines
}

/// Rebuilding the indexes from the logs gives exactly the answers that
/// incremental indexing gave, and indexing carries on incrementally after.
pub fn rebuild_gives_the_same_answers(store: &dyn Store) {
    let fixture = populate_every_kind(store);
    let before = snapshot(store, &fixture);
    // The fixture exercises every index: no query is trivially empty.
    for what in [
        "revisions [",
        "responses [E",
        "replies [D",
        "receipts [E",
        "addressed [D",
        "key Some",
        "profile Some",
        "named by [E",
    ] {
        assert!(
            before.iter().any(|l| l.contains(what)),
            "no {what} in {before:#?}"
        );
    }
    store.rebuild_indexes().expect("rebuild");
    assert_eq!(snapshot(store, &fixture), before);
    store.rebuild_indexes().expect("rebuild again");
    assert_eq!(snapshot(store, &fixture), before);
    let mut ripe = Author::new("ripencc");
    let (itu_c, _) = (&fixture.documents[0].2, ());
    append_ok(store, &ripe.response(&fresh_uuid(), ("itu", itu_c)));
    assert!(
        store
            .responses_to(&org("itu"), itu_c)
            .expect("responses")
            .contains(&pos("ripencc", 1))
    );
}

// ------------------------------------------------------------------ blobs

/// Blobs are stored once by hash, read whole or by range.
pub fn blobs_put_get_and_ranges(store: &dyn Store) {
    let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let hash = store.put_blob(&content).expect("put");
    assert_eq!(hash, Hash::of(&content));
    assert_eq!(store.put_blob(&content).expect("put again"), hash);
    assert_eq!(store.blob(&hash).expect("blob"), Some(content.clone()));
    assert_eq!(store.blob_size(&hash).expect("size"), Some(10_000));
    let read = |offset, max| store.read_blob(&hash, offset, max).expect("read");
    assert_eq!(read(0, 100), Some(content[..100].to_vec()));
    assert_eq!(read(9_950, 100), Some(content[9_950..].to_vec()));
    assert_eq!(read(5_000, 0), Some(vec![]));
    assert_eq!(read(10_000, 10), Some(vec![]));
    assert_eq!(read(u64::MAX, usize::MAX), Some(vec![]));
    assert_eq!(read(1, usize::MAX), Some(content[1..].to_vec()));
    let absent = Hash::of(b"not held");
    assert_eq!(store.blob(&absent).expect("blob"), None);
    assert_eq!(store.blob_size(&absent).expect("size"), None);
    assert_eq!(store.read_blob(&absent, 0, 10).expect("read"), None);
    let empty = store.put_blob(b"").expect("empty blob");
    assert_eq!(store.blob_size(&empty).expect("size"), Some(0));
}

/// A download resumes from what is held; a chunk at the wrong offset is
/// refused; content that does not hash right is refused and discarded; a
/// good one moves to the blobs.
pub fn partial_blob_resumes_and_checks_hash(store: &dyn Store) {
    let content: Vec<u8> = (0..5_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let hash = Hash::of(&content);
    assert_eq!(store.partial_blob_len(&hash).expect("len"), 0);
    assert_eq!(
        store
            .append_partial_blob(&hash, 0, &content[..2_000])
            .expect("chunk"),
        2_000
    );
    let wrong = store.append_partial_blob(&hash, 1_000, &content[1_000..3_000]);
    assert!(
        matches!(
            wrong,
            Err(StoreError::BlobOffset {
                expected: 2_000,
                got: 1_000
            })
        ),
        "{wrong:?}"
    );
    let beyond = store.append_partial_blob(&hash, 3_000, &content[3_000..]);
    assert!(
        matches!(
            beyond,
            Err(StoreError::BlobOffset {
                expected: 2_000,
                got: 3_000
            })
        ),
        "{beyond:?}"
    );
    assert_eq!(store.partial_blob_len(&hash).expect("len"), 2_000);
    assert_eq!(
        store.blob(&hash).expect("blob"),
        None,
        "a partial download is not a blob"
    );
    assert_eq!(
        store
            .append_partial_blob(&hash, 2_000, &[])
            .expect("empty chunk"),
        2_000
    );
    assert_eq!(
        store
            .append_partial_blob(&hash, 2_000, &content[2_000..])
            .expect("chunk"),
        5_000
    );
    store.finish_blob(&hash).expect("finish");
    assert_eq!(store.blob(&hash).expect("blob"), Some(content.clone()));
    assert_eq!(store.partial_blob_len(&hash).expect("len"), 0);
    // Finishing a blob already held is a no-op that drops any partial copy.
    store
        .append_partial_blob(&hash, 0, &content[..10])
        .expect("chunk");
    store.finish_blob(&hash).expect("finish held");
    assert_eq!(store.partial_blob_len(&hash).expect("len"), 0);

    // Bytes that are not the content asked for: refused and discarded.
    let other: Vec<u8> = content.iter().rev().copied().collect();
    let other_hash = Hash::of(&other);
    let mut tampered = other.clone();
    tampered[4_000] ^= 1;
    store
        .append_partial_blob(&other_hash, 0, &tampered[..3_000])
        .expect("chunk");
    store
        .append_partial_blob(&other_hash, 3_000, &tampered[3_000..])
        .expect("chunk");
    match store.finish_blob(&other_hash) {
        Err(StoreError::BlobHashMismatch { expected, got }) => {
            assert_eq!(expected, other_hash);
            assert_eq!(got, Hash::of(&tampered));
        }
        result => panic!("expected BlobHashMismatch, got {result:?}"),
    }
    assert_eq!(store.partial_blob_len(&other_hash).expect("len"), 0);
    assert_eq!(store.blob(&other_hash).expect("blob"), None);
    // A partial download found untrustworthy is dropped; the next starts afresh.
    store
        .append_partial_blob(&other_hash, 0, &other[..1_000])
        .expect("chunk");
    store.discard_partial_blob(&other_hash).expect("discard");
    assert_eq!(store.partial_blob_len(&other_hash).expect("len"), 0);
    store
        .discard_partial_blob(&other_hash)
        .expect("discarding nothing");
    // Nothing downloaded at all does not complete either.
    assert!(matches!(
        store.finish_blob(&other_hash),
        Err(StoreError::BlobHashMismatch { .. })
    ));
    store
        .append_partial_blob(&other_hash, 0, &other)
        .expect("chunk");
    store.finish_blob(&other_hash).expect("finish");
    assert_eq!(store.blob_size(&other_hash).expect("size"), Some(5_000));
}

// ----------------------------------------------------------------- drafts

fn draft(id: &str, title: &str) -> LiaisonDraft {
    LiaisonDraft {
        id: id.into(),
        statement: liaison_statement(&fresh_uuid(), 1, &["itu"], &[], None).encode_to_vec(),
        restricted: false,
        approved_by: None,
        created_at: 1_900_000_000,
        posted_seq: None,
    }
    .with_title(title)
}

impl LiaisonDraft {
    fn with_title(mut self, title: &str) -> Self {
        let mut statement =
            proto::LiaisonStatement::decode(self.statement.as_slice()).expect("statement decodes");
        statement.title = title.into();
        self.statement = statement.encode_to_vec();
        self
    }
}

/// Drafts are listed in id order; putting one again replaces it.
pub fn drafts_put_replace_remove(store: &dyn Store) {
    assert_eq!(store.drafts().expect("drafts"), vec![]);
    let (a, b) = (fresh_uuid(), fresh_uuid());
    let first = draft(&b, "second id");
    let second = LiaisonDraft {
        restricted: true,
        ..draft(&a, "first id")
    };
    store.put_draft(&first).expect("put");
    store.put_draft(&second).expect("put");
    assert_eq!(
        store.drafts().expect("drafts"),
        vec![second.clone(), first.clone()]
    );
    assert_eq!(store.draft(&b).expect("draft"), Some(first.clone()));
    assert_eq!(store.draft("unknown").expect("draft"), None);
    let approved = LiaisonDraft {
        approved_by: Some("ccamp chairs".into()),
        posted_seq: Some(7),
        ..first
    };
    store.put_draft(&approved).expect("replace");
    assert_eq!(store.draft(&b).expect("draft"), Some(approved.clone()));
    assert!(store.remove_draft(&a).expect("remove"));
    assert!(!store.remove_draft(&a).expect("remove again"));
    assert_eq!(store.drafts().expect("drafts"), vec![approved]);
    // Drafts are local state: nothing about them is in any log.
    assert_eq!(store.heads().expect("heads"), vec![]);
}

/// Records of other layers: spaces are apart, prefixes scan in key order.
pub fn records_are_kept_per_space(store: &dyn Store) {
    store.put_record("users", b"alice", b"1").expect("put");
    store.put_record("users", b"bob", b"2").expect("put");
    store
        .put_record("queue", b"alice", b"other space")
        .expect("put");
    store.put_record("users", b"alice", b"3").expect("replace");
    assert_eq!(
        store.record("users", b"alice").expect("get"),
        Some(b"3".to_vec())
    );
    assert_eq!(store.record("users", b"carol").expect("get"), None);
    let all = store.records("users", b"").expect("scan");
    assert_eq!(
        all,
        vec![
            (b"alice".to_vec(), b"3".to_vec()),
            (b"bob".to_vec(), b"2".to_vec())
        ]
    );
    assert_eq!(store.records("users", b"b").expect("scan").len(), 1);
    assert_eq!(store.records("queue", b"").expect("scan").len(), 1);
    assert!(store.remove_record("users", b"alice").expect("remove"));
    assert!(
        !store
            .remove_record("users", b"alice")
            .expect("remove again")
    );
    assert_eq!(store.records("users", b"").expect("scan").len(), 1);
}

/// A restricted entry held as a stub takes its payload when the whole entry
/// comes, and is then indexed; nothing else can replace a held entry.
pub fn a_stub_is_filled_by_its_payload(store: &dyn Store) {
    let l = fresh_uuid();
    let mut ietf = Author::new("ietf");
    let whole = ietf.publish(
        Body::Liaison(liaison_statement(&l, 1, &["itu"], &[], None)),
        Audience::Restricted(vec![org("itu")]),
    );
    let stub = stub_of(&whole);
    append_ok(store, &stub);
    assert_eq!(
        store.liaisons_addressed_to(&org("itu")).expect("addressed"),
        vec![]
    );
    // A different entry at that seq, or a stub, changes nothing.
    let other = Author::new("ietf").restricted(&fresh_uuid(), 1, &["itu"]);
    assert!(!store.fill_payload(&other).expect("fill other"));
    assert!(!store.fill_payload(&stub).expect("fill stub"));
    assert!(store.fill_payload(&whole).expect("fill"));
    let held = store.entry(&org("ietf"), 1).expect("entry").expect("held");
    assert_eq!(held.payload(), whole.payload());
    assert_eq!(
        store.liaisons_addressed_to(&org("itu")).expect("addressed"),
        vec![doc("ietf", &l, 1)]
    );
    // Once whole, it stays as it is.
    assert!(!store.fill_payload(&whole).expect("fill again"));
}

// -------------------------------------------------------------- merkle tree

/// The RFC 6962 root of `entries`' headers, computed from scratch.
fn root_of_headers(entries: &[SignedEntry]) -> comity_core::merkle::MerkleHash {
    let leaves: Vec<_> = entries
        .iter()
        .map(|e| comity_core::merkle::leaf_hash(e.header_bytes()))
        .collect();
    comity_core::merkle::root_of(&leaves)
}

fn assert_tree(store: &dyn Store, origin: &str, entries: &[SignedEntry]) {
    let tree = store
        .tree(&org(origin))
        .expect("tree")
        .expect("a tree for a held origin");
    assert_eq!(
        tree.size(),
        entries.len() as u64,
        "{origin}: tree size is the head seq"
    );
    assert_eq!(tree.root(), root_of_headers(entries), "{origin}: tree root");
    let leaves = store
        .leaf_hashes(&org(origin), entries.len() as u64)
        .expect("leaves");
    assert_eq!(comity_core::merkle::root_of(&leaves), tree.root());
}

/// The tree of each origin has one leaf per entry (its header bytes), after
/// single appends and batches that interleave origins; a re-append of a held
/// entry adds no leaf. An origin not held has no tree.
pub fn tree_moves_with_every_append(store: &dyn Store) {
    assert_eq!(store.tree(&org("itu")).expect("tree"), None);
    let itu = Author::new("itu").chain(7);
    let ietf = Author::new("ietf").chain(3);
    append_ok(store, &itu[0]);
    assert_tree(store, "itu", &itu[..1]);
    append_ok(store, &itu[1]);
    assert_tree(store, "itu", &itu[..2]);
    let batch = [
        itu[2].clone(),
        ietf[0].clone(),
        itu[3].clone(),
        ietf[1].clone(),
        itu[4].clone(),
    ];
    assert_eq!(store.append_batch(&batch).expect("batch"), 5);
    assert_tree(store, "itu", &itu[..5]);
    assert_tree(store, "ietf", &ietf[..2]);
    assert_eq!(append_ok(store, &itu[4]), Appended::AlreadyHeld);
    assert_tree(store, "itu", &itu[..5]);
    append_all(store, &itu[5..]);
    append_ok(store, &ietf[2]);
    assert_tree(store, "itu", &itu);
    assert_tree(store, "ietf", &ietf);
    // Fewer leaves held than asked: only those.
    assert_eq!(
        store.leaf_hashes(&org("ietf"), 10).expect("leaves").len(),
        3
    );
}

/// A batch that fails writes no leaf; filling a stub's payload keeps the
/// leaf (the header, hence the leaf, is the same).
pub fn tree_is_untouched_by_a_failed_batch_or_a_filled_stub(store: &dyn Store) {
    let mut itu = Author::new("itu");
    let uuid = fresh_uuid();
    let log = vec![itu.profile(), itu.restricted(&uuid, 1, &["ietf"])];
    append_ok(store, &log[0]);
    append_ok(store, &stub_of(&log[1]));
    assert_tree(store, "itu", &log);
    assert!(store.fill_payload(&log[1]).expect("fill"));
    assert_tree(store, "itu", &log);
    let more = itu.chain(2);
    let bad = [more[1].clone()];
    assert!(store.append_batch(&bad).is_err());
    assert_tree(store, "itu", &log);
    append_all(store, &more);
    let mut all = log.clone();
    all.extend(more);
    assert_tree(store, "itu", &all);
}

/// The tree is derived data: a rebuild gives the very same compact range.
pub fn tree_is_rebuilt_from_the_logs(store: &dyn Store) {
    let itu = Author::new("itu").chain(9);
    let ietf = Author::new("ietf").chain(4);
    append_all(store, &itu);
    append_all(store, &ietf);
    let before = (
        store.tree(&org("itu")).expect("tree"),
        store.tree(&org("ietf")).expect("tree"),
    );
    store.rebuild_indexes().expect("rebuild");
    let after = (
        store.tree(&org("itu")).expect("tree"),
        store.tree(&org("ietf")).expect("tree"),
    );
    assert_eq!(before, after);
    assert_tree(store, "itu", &itu);
}
