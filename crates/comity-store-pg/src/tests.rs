//! The shared store suite against PostgreSQL, and what only this backend
//! promises: several writers on one database.

use super::*;
use comity_core::{Head, SignedEntry, UnsignedEntry, document, proto};
use comity_store::SignNext;
use comity_store::prelude::*;
use comity_store::testsuite::{self, Author};
use comity_testkit::pg::TestPg;
use std::collections::BTreeSet;

/// A store in a fresh schema of the shared test server.
fn fresh(pg: &TestPg) -> PgStore {
    let options = PgOptions {
        schema: Some(pg.schema()),
        ..PgOptions::new(pg.url())
    };
    PgStore::open(&options).expect("the test PostgreSQL opens")
}

#[test]
fn passes_the_shared_suite() {
    let Some(pg) = TestPg::shared() else { return };
    testsuite::run_all(&|| Box::new(fresh(pg)));
}

#[test]
fn reopening_applies_no_migration_twice_and_keeps_the_data() {
    let Some(pg) = TestPg::shared() else { return };
    let options = PgOptions {
        schema: Some(pg.schema()),
        ..PgOptions::new(pg.url())
    };
    let mut author = Author::new("itu");
    let entries = author.chain(3);
    {
        let store = PgStore::open(&options).expect("opens");
        store.append_batch(&entries).expect("appends");
    }
    let store = PgStore::open(&options).expect("opens again");
    assert_eq!(
        store.head(author.origin()).expect("head"),
        Some(entries[2].head())
    );
    let versions = store
        .run(|pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT version FROM schema_migrations ORDER BY version",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>())
        })
        .expect("reads the migrations");
    let expected: Vec<i32> = migrations::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
}

#[test]
fn a_schema_from_a_newer_build_is_refused() {
    let Some(pg) = TestPg::shared() else { return };
    let options = PgOptions {
        schema: Some(pg.schema()),
        ..PgOptions::new(pg.url())
    };
    let store = PgStore::open(&options).expect("opens");
    store
        .run(|pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')",
                    &[&(migrations::latest() + 1)],
                )
                .await?;
            Ok(())
        })
        .expect("records a future migration");
    drop(store);
    match PgStore::open(&options) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(i64::from(found), i64::from(migrations::latest()) + 1);
            assert_eq!(i64::from(supported), i64::from(migrations::latest()));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn an_unreachable_database_is_one_clear_error() {
    // Nothing listens in an empty directory: the connection is refused at
    // once, and the error names where the store was looked for.
    let dir = std::env::temp_dir().join(format!("comity-no-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let url = format!(
        "postgresql://comity@{}/comity",
        dir.display().to_string().replace('/', "%2F")
    );
    let err = PgStore::open(&PgOptions::new(url)).expect_err("nothing to connect to");
    let text = err.to_string();
    assert!(text.contains("PostgreSQL at comity@"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    let err = PgStore::open(&PgOptions::new("mysql://x")).expect_err("not a PostgreSQL URL");
    assert!(err.to_string().contains("is not a PostgreSQL URL"), "{err}");
}

/// Signs the next entry of `author`'s log on whatever head the store holds.
fn signer(author: &Author, n: usize) -> SignNext {
    let key = author.key().clone();
    let origin = author.origin().clone();
    Box::new(move |head: Option<Head>| {
        let (kind, payload) = document::encode(proto::document::Body::Profile(proto::OrgProfile {
            id: origin.to_string(),
            region: format!("region {n}"),
            ..Default::default()
        }));
        let unsigned = UnsignedEntry::new(origin, kind, payload, time::OffsetDateTime::UNIX_EPOCH);
        unsigned.sign(&key, head)
    })
}

/// Two stores on one database (two replicas of one node), each appending
/// its own log's next entry from several threads at once: one chain, every
/// seq once, no gap, no fork, no evidence of anything.
#[test]
fn replicas_appending_at_once_make_one_chain() {
    let Some(pg) = TestPg::shared() else { return };
    let options = PgOptions {
        schema: Some(pg.schema()),
        ..PgOptions::new(pg.url())
    };
    let replicas = [
        PgStore::open(&options).expect("replica a"),
        PgStore::open(&options).expect("replica b"),
    ];
    let author = Author::new("itu");
    const THREADS: usize = 4;
    const EACH: usize = 25;
    let signed: Vec<SignedEntry> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (r, replica) in replicas.iter().enumerate() {
            for t in 0..THREADS {
                let author = &author;
                handles.push(scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let n = (r * THREADS + t) * EACH + i;
                            replica
                                .append_next(
                                    author.origin(),
                                    &author.key().public(),
                                    signer(author, n),
                                )
                                .expect("appends")
                        })
                        .collect::<Vec<_>>()
                }));
            }
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let total = 2 * THREADS * EACH;
    assert_eq!(signed.len(), total);
    let seqs: BTreeSet<u64> = signed.iter().map(SignedEntry::seq).collect();
    assert_eq!(
        seqs.len(),
        total,
        "every acknowledged entry has its own seq"
    );
    let log = replicas[1]
        .entries_after(author.origin(), 0, total + 10)
        .expect("reads");
    assert_eq!(log.len(), total);
    let mut prev = None;
    for (i, entry) in log.iter().enumerate() {
        assert_eq!(entry.seq(), i as u64 + 1, "no gap");
        assert_eq!(entry.prev(), prev, "chained on the entry before");
        comity_core::verify::verify_signature(entry, &author.key().public())
            .expect("signed by the organisation");
        prev = Some(entry.id());
    }
    let acknowledged: BTreeSet<_> = signed.iter().map(SignedEntry::id).collect();
    let held: BTreeSet<_> = log.iter().map(SignedEntry::id).collect();
    assert_eq!(acknowledged, held, "what was acknowledged is what is held");
    assert!(replicas[0].equivocations().expect("evidence").is_empty());
    let tree = replicas[0]
        .tree(author.origin())
        .expect("tree")
        .expect("held");
    assert_eq!(tree.size(), total as u64);
}

/// A replica that appends the same next entry as another (plain `append`,
/// as ingest does) loses the race cleanly: held already, or not next.
#[test]
fn racing_appends_of_one_seq_keep_one_entry() {
    let Some(pg) = TestPg::shared() else { return };
    let options = PgOptions {
        schema: Some(pg.schema()),
        ..PgOptions::new(pg.url())
    };
    let a = PgStore::open(&options).expect("a");
    let b = PgStore::open(&options).expect("b");
    let mut author = Author::new("itu");
    let mut fork = author.fork();
    let ours = author.chain(20);
    let theirs = fork.chain(20);
    std::thread::scope(|scope| {
        let one = scope.spawn(|| {
            for e in &ours {
                let _ = a.append(e);
            }
        });
        let two = scope.spawn(|| {
            for e in &theirs {
                let _ = b.append(e);
            }
        });
        one.join().expect("a");
        two.join().expect("b");
    });
    let log = a.entries_after(author.origin(), 0, 100).expect("reads");
    let mut prev = None;
    for (i, entry) in log.iter().enumerate() {
        assert_eq!(entry.seq(), i as u64 + 1);
        assert_eq!(entry.prev(), prev);
        prev = Some(entry.id());
    }
    assert_eq!(
        a.head(author.origin()).expect("head").map(|h| h.seq),
        Some(log.len() as u64)
    );
}

/// A commit that returns an error may have happened or not: `append_next`
/// re-reads the seq and answers by what is there; when it cannot read, it
/// keeps the entry and re-reads it before anything else is signed.
#[test]
fn a_commit_of_unknown_outcome_is_settled_by_reading_before_signing_again() {
    use crate::append::CommitFault;
    let Some(pg) = TestPg::shared() else { return };
    let store = fresh(pg);
    let author = Author::new("itu");
    let origin = author.origin();
    let first = store
        .append_next(origin, &author.key().public(), signer(&author, 0))
        .expect("seq 1");

    // Committed, but the commit said it failed: the re-read finds the
    // entry, so the publish succeeded.
    store.inject(CommitFault::ErrorAfterCommit);
    let second = store
        .append_next(origin, &author.key().public(), signer(&author, 1))
        .expect("committed despite the error: re-read");
    assert_eq!(second.seq(), 2);
    assert_eq!(store.entry(origin, 2).expect("reads"), Some(second.clone()));

    // Not committed: an error, nothing held, and the seq signed afresh next.
    store.inject(CommitFault::ErrorWithoutCommit);
    let err = store
        .append_next(origin, &author.key().public(), signer(&author, 2))
        .expect_err("not committed");
    assert!(err.to_string().contains("was not committed"), "{err}");
    assert_eq!(store.head(origin).expect("head"), Some(second.head()));
    let third = store
        .append_next(origin, &author.key().public(), signer(&author, 3))
        .expect("seq 3");
    assert_eq!(third.seq(), 3);

    // Committed, and the re-read fails too: an error that says the outcome
    // is unknown; the next call settles it first (it was committed), then
    // signs on top of it.
    store.inject(CommitFault::ErrorAfterCommitUnreadable);
    let err = store
        .append_next(origin, &author.key().public(), signer(&author, 4))
        .expect_err("outcome unknown");
    assert!(err.to_string().contains("unknown"), "{err}");
    assert!(store.unresolved().expect("lock").is_some());
    let fifth = store
        .append_next(origin, &author.key().public(), signer(&author, 5))
        .expect("seq 5");
    assert_eq!(fifth.seq(), 5, "settled as committed, then signed on top");
    assert!(store.unresolved().expect("lock").is_none());
    let log = store.entries_after(origin, 0, 10).expect("reads");
    let seqs: Vec<u64> = log.iter().map(SignedEntry::seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(log[0], first);
    assert_eq!(log[2], third);
}

/// A replica hears what another appends: through LISTEN/NOTIFY (polling
/// set to an hour, so only a notification can tell it), and through
/// polling alone (LISTEN off).
#[test]
fn appends_by_another_replica_are_heard_by_notify_and_by_polling() {
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::{Duration, Instant};
    let Some(pg) = TestPg::shared() else { return };
    for (listen, poll_every) in [
        (true, Duration::from_secs(3600)),
        (false, Duration::from_millis(50)),
    ] {
        let options = PgOptions {
            schema: Some(pg.schema()),
            listen,
            poll_every,
            ..PgOptions::new(pg.url())
        };
        let a = PgStore::open(&options).expect("a");
        let b = PgStore::open(&options).expect("b");
        let author = Author::new("itu");
        let heard = Arc::new((Mutex::new(0u64), Condvar::new()));
        let told = heard.clone();
        let origin = author.origin().clone();
        a.watch_appends(Arc::new(move |o, seq| {
            if *o == origin {
                let (seen, changed) = &*told;
                let mut seen = seen.lock().expect("lock");
                *seen = (*seen).max(seq);
                changed.notify_all();
            }
        }))
        .expect("watches");
        // The listening connection comes up on its own time: append until
        // an append made after it is heard.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut n = 0;
        loop {
            let entry = b
                .append_next(author.origin(), &author.key().public(), signer(&author, n))
                .expect("appends");
            n += 1;
            let (seen, changed) = &*heard;
            let guard = seen.lock().expect("lock");
            let (guard, _) = changed
                .wait_timeout_while(guard, Duration::from_millis(200), |s| *s < entry.seq())
                .expect("lock");
            if *guard >= entry.seq() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica a never heard of seq {} (listen {listen})",
                entry.seq()
            );
        }
    }
}

/// One batch holding what the shared suite appends only one entry at a
/// time: several rows for one index key (two profiles, three revisions of
/// one consultation, two of a liaison statement whose recipients change and
/// of a reply to it, two key rotations), receipts, responses, attachments,
/// an entry twice, and entries held already, of two origins. Taken as one
/// batch (one statement per table), it leaves every index, head and tree
/// as the memory store leaves them taking the same entries one by one.
/// (Without the rows kept per key, last one wins, the batch fails:
/// "ON CONFLICT DO UPDATE command cannot affect row a second time".)
#[test]
fn one_batch_indexes_as_its_entries_one_at_a_time_do() {
    use comity_core::entry::Audience;
    use comity_core::proto::ReceiptStatus as S;
    use comity_core::{EntryKind, Hash, proto::document::Body};
    use comity_store::MemStore;
    use comity_store::testsuite::{Fixture, attachment, fresh_uuid, org, snapshot};
    let Some(pg) = TestPg::shared() else { return };
    let store = fresh(pg);
    let memory = MemStore::new();
    let (c, l, r, resp) = (fresh_uuid(), fresh_uuid(), fresh_uuid(), fresh_uuid());
    let mut itu = Author::new("itu");
    let mut ietf = Author::new("ietf");
    let earlier = vec![itu.profile(), ietf.profile(), itu.consultation(&c, 1)];
    assert_eq!(store.append_batch(&earlier).expect("first batch"), 3);
    // Signed in the order of the batch (each author chains as it signs).
    let mut batch = vec![earlier[1].clone(), itu.consultation(&c, 2)];
    let statement = itu.liaison(&l, 1, &["ietf"], &["icann"], None);
    batch.extend([
        statement.clone(),
        earlier[2].clone(),
        ietf.response(&resp, ("itu", &c)),
        ietf.liaison(&r, 1, &["itu"], &[], Some(("itu", &l))),
        ietf.receipt(&statement, &l, S::Received),
    ]);
    let profile = itu.profile();
    batch.extend([
        profile.clone(),
        itu.liaison(&l, 2, &["icann"], &[], None),
        profile,
        ietf.liaison(&r, 2, &["itu"], &["icann"], Some(("itu", &l))),
        ietf.receipt(&statement, &l, S::ActionTaken),
        ietf.rotate_key(),
        itu.consultation(&c, 3),
        ietf.rotate_key(),
        ietf.publish(
            Body::Response(comity_core::proto::ConsultationResponse {
                uuid: fresh_uuid(),
                consultation: Some(comity_core::proto::DocumentRef {
                    origin: "itu".into(),
                    uuid: c.clone(),
                }),
                attachments: vec![attachment("paper.pdf", b"paper")],
                ..Default::default()
            }),
            Audience::Public,
        ),
        itu.profile(),
    ]);
    // Two held before the batch, one twice in it.
    let new = batch.len() - 3;
    assert_eq!(store.append_batch(&batch).expect("the batch"), new);
    let mut one_by_one = 0;
    for entry in earlier.iter().chain(&batch) {
        if memory.append(entry).expect("memory appends") == comity_store::Appended::New {
            one_by_one += 1;
        }
    }
    assert_eq!(one_by_one, new + earlier.len());
    let fixture = Fixture {
        documents: vec![
            (EntryKind::Consultation, org("itu"), c.clone()),
            (EntryKind::Liaison, org("itu"), l.clone()),
            (EntryKind::Liaison, org("ietf"), r.clone()),
            (EntryKind::Response, org("ietf"), resp.clone()),
        ],
        orgs: vec![org("icann"), org("ietf"), org("itu")],
        blobs: vec![Hash::of(b"paper")],
    };
    assert_eq!(snapshot(&store, &fixture), snapshot(&memory, &fixture));
    for origin in [org("itu"), org("ietf")] {
        assert_eq!(
            store.tree(&origin).expect("tree"),
            memory.tree(&origin).expect("tree")
        );
        assert_eq!(
            store.entries_after(&origin, 0, 100).expect("log"),
            memory.entries_after(&origin, 0, 100).expect("log")
        );
    }
    // The comparison is not of two empty answers.
    let itu_id = org("itu");
    assert_eq!(
        store
            .document_revisions(EntryKind::Consultation, &itu_id, &c)
            .expect("revisions"),
        vec![2, 3, 7]
    );
    assert_eq!(store.latest_profile(&itu_id).expect("profile"), Some(8));
    assert_eq!(store.receipts_for(&itu_id, &l).expect("receipts").len(), 2);
    assert_eq!(
        store.current_key(&org("ietf")).expect("key"),
        Some((8, ietf.key().public()))
    );
}
