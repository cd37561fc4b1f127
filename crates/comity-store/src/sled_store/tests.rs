//! The sled backend beyond the shared suite: reopening, crash images,
//! schema and index versions.

use super::*;
use crate::testsuite::{self, Author, org};
use comity_core::verify::verify_chain;
use prost::Message;
use std::fs;

fn no_background_flush() -> SledOptions {
    SledOptions {
        flush_every_ms: None,
        ..SledOptions::default()
    }
}

/// Every log held chains from seq 1 to its head under its author's key,
/// with nothing beyond the head and every entry recognised as held (unless
/// the origin is frozen).
fn assert_consistent(store: &SledStore, authors: &[&Author]) -> Vec<u64> {
    authors
        .iter()
        .map(|author| {
            let origin = author.origin();
            let entries = store.entries_after(origin, 0, usize::MAX).unwrap();
            let head = verify_chain(&entries, &author.key().public()).unwrap();
            assert_eq!(head, store.head(origin).unwrap(), "{origin}");
            // A frozen origin refuses every append, held or not.
            if !store.is_frozen(origin).unwrap() {
                for e in &entries {
                    assert_eq!(store.append(e).unwrap(), Appended::AlreadyHeld);
                }
            }
            head.map_or(0, |h| h.seq)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for item in fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            fs::copy(item.path(), target).unwrap();
        }
    }
}

#[test]
fn passes_the_shared_suite() {
    testsuite::run_all(&|| Box::new(SledStore::temporary().unwrap()));
}

#[test]
fn defaults_suit_a_small_machine() {
    let opts = SledOptions::default();
    assert_eq!(opts.cache_capacity_bytes, 16 * 1024 * 1024);
    assert_eq!(opts.flush_every_ms, Some(500));
}

#[test]
fn data_survives_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    let entries = [itu.profile(), itu.consultation(&testsuite::fresh_uuid(), 1)];
    let other = ietf.chain(2);
    let fork = ietf.fork().chain(1);
    let peer = PeerRecord {
        org: org("itu"),
        key: itu.key().public(),
        endpoint: Some("https://comity.itu.int:7400".into()),
        added_at: 1_900_000_000,
        key_since: 3,
        more_endpoints: vec!["https://comity2.itu.int:7400".into()],
    };
    let evidence = Equivocation {
        origin: org("ietf"),
        seq: 1,
        held_header: other[0].header_bytes().to_vec(),
        held_signature: other[0].signature().to_vec(),
        conflicting_header: fork[0].header_bytes().to_vec(),
        conflicting_signature: fork[0].signature().to_vec(),
        reported_by: org("itu"),
        detected_at: 1_900_000_000,
    };
    {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        assert_eq!(store.append_batch(&entries).unwrap(), 2);
        assert_eq!(store.append_batch(&other).unwrap(), 2);
        store.put_peer(&peer).unwrap();
        store.record_equivocation(&evidence).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    assert_eq!(assert_consistent(&store, &[&itu, &ietf]), vec![2, 2]);
    assert_eq!(store.latest_profile(&org("itu")).unwrap(), Some(1));
    assert_eq!(store.consultations().unwrap().len(), 3);
    assert_eq!(store.peers().unwrap(), vec![peer]);
    assert_eq!(store.equivocations().unwrap(), vec![evidence]);
    assert!(store.is_frozen(&org("ietf")).unwrap());
    assert!(store.size_on_disk().unwrap() > 0);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path(), no_background_flush()).unwrap());
    // sled's I/O threads, shared by every store of the process, may hold
    // the dropped store's lock a moment longer: `tamper` waits for it.
    tamper(dir.path(), |_, meta| {
        assert_eq!(
            meta.get(SCHEMA_KEY).unwrap().as_deref(),
            Some(&SCHEMA_VERSION.to_be_bytes()[..]),
            "a new store is stamped with this build's schema"
        );
        meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
    });
    match SledStore::open(dir.path(), no_background_flush()) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("a store of a newer schema was opened"),
    }
}

/// `tests/fixtures/sled-schema-1` is a store written by the build before
/// schema 2 (`populate_every_kind`, then a flush): it opens, loses its `ids`
/// and `revisions` trees, keeps every entry and what every index answers,
/// and appends as before.
#[test]
fn a_schema_1_store_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sled-schema-1");
    copy_dir(&fixture, dir.path());
    tamper(dir.path(), |db, meta| {
        assert_eq!(
            meta.get(SCHEMA_KEY).unwrap().as_deref(),
            Some(&1u32.to_be_bytes()[..])
        );
        assert!(db.tree_names().iter().any(|n| n.as_ref() == b"ids"));
        assert!(!db.open_tree("ids").unwrap().is_empty());
    });
    let (heads, documents) = {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        let heads = store.heads().unwrap();
        let seqs: Vec<u64> = heads.iter().map(|(_, h)| h.seq).collect();
        assert_eq!(heads.len(), 3, "itu, ietf and icann: {heads:?}");
        for (origin, head) in &heads {
            let entries = store.entries_after(origin, 0, usize::MAX).unwrap();
            assert_eq!(entries.len() as u64, head.seq, "{origin}");
            assert_eq!(entries.last().map(|e| e.head()), Some(*head));
            // What the dropped ids answered: each held entry is known as held.
            for e in &entries {
                assert_eq!(store.append(e).unwrap(), Appended::AlreadyHeld);
            }
        }
        assert!(seqs.iter().sum::<u64>() >= 10, "{seqs:?}");
        let documents = store.documents(EntryKind::Consultation).unwrap();
        assert!(!documents.is_empty());
        // Revisions, once rows of their own, are now listed in the
        // document's row, and still found: the consultation revised twice
        // shows both revisions, in order, the latest among them.
        let mut revised = 0;
        for doc in &documents {
            let revisions = store
                .document_revisions(EntryKind::Consultation, &doc.origin, &doc.uuid)
                .unwrap();
            assert!(
                revisions.is_sorted() && revisions.contains(&doc.seq),
                "{revisions:?}"
            );
            revised = revised.max(revisions.len());
        }
        assert!(revised >= 2, "{documents:?}");
        store.flush().unwrap();
        (heads, documents)
    };
    tamper(dir.path(), |db, meta| {
        assert_eq!(
            meta.get(SCHEMA_KEY).unwrap().as_deref(),
            Some(&SCHEMA_VERSION.to_be_bytes()[..])
        );
        let names = db.tree_names();
        assert!(!names.iter().any(|n| n.as_ref() == b"ids"));
        assert!(!names.iter().any(|n| n.as_ref() == b"revisions"));
    });
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    assert_eq!(store.heads().unwrap(), heads);
    assert_eq!(store.documents(EntryKind::Consultation).unwrap(), documents);
}

/// Opens the directory with sled alone, as another build would, and
/// hands its trees to `change`.
fn tamper(dir: &Path, change: impl FnOnce(&sled::Db, &Tree)) {
    let config = sled::Config::new().path(dir).flush_every_ms(None);
    let db = open_waiting_for_lock(&config).unwrap();
    let meta = db.open_tree("meta").unwrap();
    change(&db, &meta);
    db.flush().unwrap();
}

fn index_version(dir: &Path) -> Option<Vec<u8>> {
    let mut found = None;
    tamper(dir, |_, meta| {
        found = meta.get(INDEX_KEY).unwrap().map(|v| v.to_vec())
    });
    found
}

#[test]
fn indexes_are_rebuilt_at_open_when_their_version_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, before) = {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        let fixture = testsuite::populate_every_kind(&store);
        let before = testsuite::snapshot(&store, &fixture);
        store.flush().unwrap();
        (fixture, before)
    };
    let stamped = Some(INDEX_VERSION.to_be_bytes().to_vec());
    assert_eq!(index_version(dir.path()), stamped);

    // As a build before index versions left it: no version, indexes
    // missing, and its consultations tree.
    tamper(dir.path(), |db, meta| {
        meta.remove(INDEX_KEY).unwrap();
        for tree in ["documents", "receipts", "recipients", "keys", "attachments"] {
            db.open_tree(tree).unwrap().clear().unwrap();
        }
        let legacy = db.open_tree(LEGACY_CONSULTATIONS).unwrap();
        legacy.insert(b"itu\0stale", &7u64.to_be_bytes()).unwrap();
    });
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    assert_eq!(testsuite::snapshot(&store, &fixture), before);
    assert!(
        !store
            .db
            .tree_names()
            .iter()
            .any(|n| &n[..] == LEGACY_CONSULTATIONS.as_bytes()),
        "the legacy consultations tree is dropped"
    );
    drop(store);
    assert_eq!(index_version(dir.path()), stamped);

    // Written by an older version that lacked an index.
    tamper(dir.path(), |db, meta| {
        meta.insert(INDEX_KEY, &(INDEX_VERSION - 1).to_be_bytes())
            .unwrap();
        db.open_tree("replies").unwrap().clear().unwrap();
    });
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    assert_eq!(testsuite::snapshot(&store, &fixture), before);
    drop(store);
    assert_eq!(index_version(dir.path()), stamped);

    // A store from before arrivals were recorded: they are recorded, in
    // (origin, seq) order, and every index is back.
    tamper(dir.path(), |db, meta| {
        meta.remove(ARRIVALS_KEY).unwrap();
        db.open_tree("arrivals").unwrap().clear().unwrap();
        db.open_tree("documents").unwrap().clear().unwrap();
    });
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    let total: u64 = store.heads().unwrap().iter().map(|(_, h)| h.seq).sum();
    assert_eq!(store.arrival_count().unwrap(), total);
    assert_eq!(store.trees.arrivals.len() as u64, total);
    let after = testsuite::snapshot(&store, &fixture);
    // Receipts across origins now come in (origin, seq) order: the true
    // arrival order was never recorded. Everything else is as before.
    let without_receipts = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.contains(" receipts "))
            .cloned()
            .collect()
    };
    assert_eq!(without_receipts(&after), without_receipts(&before));
    assert_eq!(after.len(), before.len());
    // And appends carry on numbering arrivals after the backfill.
    let mut ripe = Author::new("ripencc");
    store.append(&ripe.profile()).unwrap();
    assert_eq!(store.arrival_count().unwrap(), total + 1);
    assert_eq!(store.latest_profile(&org("ripencc")).unwrap(), Some(1));
}

#[test]
fn reopens_consistently_after_unflushed_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        store.append_batch(&itu.chain(3)).unwrap();
        store.flush().unwrap();
        for e in itu.chain(4) {
            store.append(&e).unwrap();
        }
        store.append_batch(&ietf.chain(3)).unwrap();
    }
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    let held = assert_consistent(&store, &[&itu, &ietf]);
    assert!(held[0] >= 3, "flushed entries were lost: {held:?}");
}

/// A copy of the directory taken while the store is open, without a
/// flush, is what a crash at that instant leaves on disk.
#[test]
fn a_crash_image_opens_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempdir().unwrap();
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    store.append_batch(&itu.chain(3)).unwrap();
    store.flush().unwrap();
    for e in itu.chain(20) {
        store.append(&e).unwrap();
    }
    store.append_batch(&ietf.chain(20)).unwrap();
    copy_dir(dir.path(), image.path());
    drop(store);

    let crashed = SledStore::open(image.path(), no_background_flush()).unwrap();
    let held = assert_consistent(&crashed, &[&itu, &ietf]);
    eprintln!("crash image holds {held:?}");
    assert!(held[0] >= 3, "flushed entries were lost: {held:?}");
}

/// A store written by a build that kept no Merkle trees (index version 2,
/// no `merkle` tree): the trees are computed from the logs at open, and
/// appends then carry them on.
#[test]
fn trees_are_computed_at_open_for_a_store_written_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut itu = Author::new("itu");
    let log = itu.chain(6);
    let expected = {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        for entry in &log {
            store.append(entry).unwrap();
        }
        store.flush().unwrap();
        store.tree(itu.origin()).unwrap().unwrap()
    };
    tamper(dir.path(), |db, meta| {
        meta.insert(INDEX_KEY, &2u32.to_be_bytes()).unwrap();
        assert!(db.drop_tree("merkle").unwrap());
    });
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    assert_eq!(store.tree(itu.origin()).unwrap(), Some(expected.clone()));
    assert_eq!(expected.size(), 6);
    let next = itu.chain(1);
    store.append(&next[0]).unwrap();
    let mut range = expected;
    range.append(comity_core::merkle::leaf_hash(next[0].header_bytes()));
    assert_eq!(store.tree(itu.origin()).unwrap(), Some(range));
}

/// A store used without trees (a benchmark's baseline) has none to show,
/// and derives them when it is opened with them again.
#[test]
fn a_store_used_without_trees_derives_them_when_they_are_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut itu = Author::new("itu");
    let log = itu.chain(5);
    {
        let store = SledStore::open(
            dir.path(),
            SledOptions {
                merkle: false,
                ..no_background_flush()
            },
        )
        .unwrap();
        store.append(&log[0]).unwrap();
        store.append_batch(&log[1..]).unwrap();
        assert_eq!(store.tree(itu.origin()).unwrap(), None);
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    let tree = store.tree(itu.origin()).unwrap().unwrap();
    let leaves: Vec<_> = log
        .iter()
        .map(|e| comity_core::merkle::leaf_hash(e.header_bytes()))
        .collect();
    assert_eq!(tree.size(), 5);
    assert_eq!(tree.root(), comity_core::merkle::root_of(&leaves));
}

#[test]
fn a_document_row_lists_its_revisions_and_refuses_a_torn_value() {
    let mut row = encoding::DocumentRow::default();
    for seq in [3, 1, 7, 3] {
        row.revise(seq);
    }
    assert_eq!(row.latest, 3, "the revision recorded last is the latest");
    assert_eq!(row.revisions, vec![1, 3, 7]);
    let bytes = encoding::encode_document(&row);
    assert_eq!(bytes.len(), 32);
    assert_eq!(encoding::decode_document(&bytes).unwrap(), row);
    for torn in [&bytes[..0], &bytes[..7], &bytes[..12]] {
        assert!(matches!(
            encoding::decode_document(torn),
            Err(StoreError::Corrupt(_))
        ));
    }
}

/// The raw `entries` row of `origin` at `seq`, read with sled alone.
fn raw_entry(dir: &Path, origin: &OrgId, seq: u64) -> Vec<u8> {
    let mut found = None;
    tamper(dir, |db, _| {
        found = db
            .open_tree("entries")
            .unwrap()
            .get(entry_key(origin, seq))
            .unwrap()
            .map(|v| v.to_vec());
    });
    found.expect("the entry's row")
}

/// Prose is kept zstd-compressed and read back whole; an entry that would
/// not shrink enough (a short profile) is kept as it is.
#[test]
fn entries_of_prose_are_kept_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let mut itu = Author::new("itu");
    let now = time::OffsetDateTime::now_utc();
    let prose = itu.publish(
        comity_core::fixtures::consultation(7, now),
        comity_core::entry::Audience::Public,
    );
    let short = itu.profile();
    {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        store.append_batch(&[prose.clone(), short.clone()]).unwrap();
        store.flush().unwrap();
    }
    let wire_len = prose.wire().encode_to_vec().len();
    let row = raw_entry(dir.path(), itu.origin(), 1);
    assert_eq!(row[0], RECORD_ZSTD);
    assert!(
        row.len() * 10 < wire_len * 8,
        "{} bytes kept for {wire_len}",
        row.len()
    );
    assert_eq!(raw_entry(dir.path(), itu.origin(), 2)[0], RECORD_V1);

    let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
    assert_eq!(
        store.entries_after(itu.origin(), 0, 10).unwrap(),
        vec![prose.clone(), short]
    );
    assert_eq!(store.append(&prose).unwrap(), Appended::AlreadyHeld);
}

/// A store of schema 2, whose entries are all uncompressed rows, opens as
/// schema 3 without rewriting them: every entry still reads and is known as
/// held, and what it appends next is compressed.
#[test]
fn a_schema_2_store_reads_its_uncompressed_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut itu = Author::new("itu");
    let now = time::OffsetDateTime::now_utc();
    let old: Vec<SignedEntry> = (0..5)
        .map(|i| {
            itu.publish(
                comity_core::fixtures::consultation(i, now),
                comity_core::entry::Audience::Public,
            )
        })
        .collect();
    {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        store.append_batch(&old).unwrap();
        store.flush().unwrap();
    }
    // Back to what schema 2 wrote: each entry's wire bytes behind RECORD_V1.
    tamper(dir.path(), |db, meta| {
        let entries = db.open_tree("entries").unwrap();
        for e in &old {
            let key = entry_key(e.origin(), e.seq());
            entries
                .insert(key, versioned(&e.wire().encode_to_vec()))
                .unwrap();
        }
        meta.insert(SCHEMA_KEY, &2u32.to_be_bytes()).unwrap();
    });
    assert_eq!(raw_entry(dir.path(), itu.origin(), 3)[0], RECORD_V1);

    let next = itu.publish(
        comity_core::fixtures::consultation(5, now),
        comity_core::entry::Audience::Public,
    );
    {
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        assert_eq!(store.entries_after(itu.origin(), 0, 10).unwrap(), old);
        for e in &old {
            assert_eq!(store.append(e).unwrap(), Appended::AlreadyHeld);
        }
        assert_eq!(store.append(&next).unwrap(), Appended::New);
        store.flush().unwrap();
    }
    assert_eq!(raw_entry(dir.path(), itu.origin(), 6)[0], RECORD_ZSTD);
    tamper(dir.path(), |_, meta| {
        assert_eq!(
            meta.get(SCHEMA_KEY).unwrap().as_deref(),
            Some(&SCHEMA_VERSION.to_be_bytes()[..])
        );
    });
}

/// A compressed row that is torn, claims another length than it holds, or
/// more than any entry holds, is reported as corrupt, with nothing
/// allocated for an impossible claim.
#[test]
fn a_corrupt_compressed_entry_is_refused() {
    let mut itu = Author::new("itu");
    let prose = itu.publish(
        comity_core::fixtures::consultation(1, time::OffsetDateTime::now_utc()),
        comity_core::entry::Audience::Public,
    );
    let good = encode_entry(&prose);
    assert_eq!(good[0], RECORD_ZSTD);
    assert_eq!(decode_entry(&good).unwrap(), prose);
    let with_length = |len: u32| {
        let mut bytes = good.clone();
        bytes[1..5].copy_from_slice(&len.to_le_bytes());
        bytes
    };
    let real = u32::from_le_bytes(good[1..5].try_into().unwrap());
    let (huge, short, long) = (
        with_length(u32::MAX),
        with_length(real - 1),
        with_length(real + 1),
    );
    for bad in [&good[..3], &good[..good.len() - 9], &huge, &short, &long] {
        assert!(
            matches!(decode_entry(bad), Err(StoreError::Corrupt(_))),
            "{:?}",
            decode_entry(bad).map(|e| e.seq())
        );
    }
}
