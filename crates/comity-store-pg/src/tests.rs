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
        Err(StoreError::SchemaTooNew { found }) => {
            assert_eq!(i64::from(found), i64::from(migrations::latest()) + 1);
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
                                .append_next(author.origin(), signer(author, n))
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
