//! Nodes on PostgreSQL (issue 14): a node whose store is a database is
//! followed by a sled node over the real federation; two replicas of one
//! node on one database, publishing at once, keep one chain; a database
//! that cannot be reached is one clear line from the CLI.
//!
//! The database is `comity_testkit::pg::TestPg`: a throwaway server on a
//! Unix socket (or `COMITY_TEST_PG_URL`). Without PostgreSQL these tests say
//! why and pass, except under `CI=true`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_node::DataDir;
use comity_store::prelude::*;
use comity_testkit::pg::TestPg;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use support::{
    COMITY_BIN, ChildNode, TestNode, assert_chain, consultation, free_port, publish_through,
    temp_root,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgresql_is_followed_by_a_sled_node() {
    let Some(pg) = TestPg::shared() else { return };
    let url = pg.database();
    let root = temp_root();
    let mut itu =
        TestNode::create_with(root.path(), "itu", |c| c.storage.url = Some(url.clone())).await;
    itu.start().await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    assert!(
        !itu.data.store_path().exists(),
        "a node on PostgreSQL keeps no sled store"
    );
    ietf.follow(&itu);
    itu.follow(&ietf);
    let published = itu.publish(5).await;
    let last = published.last().unwrap().seq();
    ietf.wait_for_seq(&itu.org, last).await;
    let held = ietf.log_of(&itu.org);
    assert_chain(&held, &itu.public_key(), last);
    let ids = |log: &[comity_core::SignedEntry]| log.iter().map(|e| e.id()).collect::<Vec<_>>();
    assert_eq!(ids(&held), ids(&itu.log_of(&itu.org)));
    // And the other way: what the sled node publishes lands in the database.
    let theirs = ietf.publish(2).await;
    itu.wait_for_seq(&ietf.org, theirs.last().unwrap().seq())
        .await;
    // A restart reads it all back from the database.
    itu.stop().await;
    itu.start().await;
    assert_eq!(itu.head_seq(&itu.org), last);
    assert_eq!(itu.head_seq(&ietf.org), theirs.last().unwrap().seq());
}

/// Two replicas of `itu` (one identity, one database), each taking
/// publishes from four tasks at once: one chain in the database, every
/// acknowledged entry in it at its own seq, no evidence of a fork anywhere,
/// and a sled follower of replica a ends with the same chain, the entry
/// replica b publishes last included (a hears of it and serves it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_publishing_at_once_keep_one_chain() {
    let Some(pg) = TestPg::shared() else { return };
    let root = temp_root();
    let (a, b) = two_replicas(root.path(), &pg.database()).await;
    // Each replica published the profile when it started.
    let before = a.head_seq(&a.org);
    const TASKS: usize = 4;
    const EACH: usize = 125;
    let mut tasks = Vec::new();
    for replica in [a.node().clone(), b.node().clone()] {
        for t in 0..TASKS {
            let node = replica.clone();
            tasks.push(tokio::spawn(async move {
                let mut entries = Vec::new();
                for i in 0..EACH {
                    let body = consultation(&format!("task {t} publish {i}"));
                    entries.push(node.publish(body).await.unwrap());
                }
                entries
            }));
        }
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    let published = (2 * TASKS * EACH) as u64;
    assert_eq!(acknowledged.len() as u64, published);
    let total = before + published;
    let seqs: BTreeSet<u64> = acknowledged.iter().map(|e| e.seq()).collect();
    assert_eq!(seqs.len() as u64, published, "no seq acknowledged twice");
    let log = a.log_of(&a.org);
    assert_chain(&log, &a.public_key(), total);
    let held: BTreeSet<_> = log.iter().map(|e| e.id()).collect();
    let acked: BTreeSet<_> = acknowledged.iter().map(|e| e.id()).collect();
    assert!(
        acked.is_subset(&held),
        "every acknowledged entry is in the log"
    );
    assert_eq!(
        held.len() as u64 - before,
        acked.len() as u64,
        "and nothing else was added"
    );
    assert_eq!(b.log_of(&b.org).len() as u64, total, "one log, seen alike");
    for replica in [&a, &b] {
        assert!(replica.node().store().equivocations().unwrap().is_empty());
    }
    // A sled follower of replica a gets the whole chain, replica b's
    // entries included: a hears of them (LISTEN/NOTIFY, or polling) and
    // serves them without appending anything itself.
    let follower = TestNode::start_new(root.path(), "ietf").await;
    follower.follow(&a);
    a.follow(&follower);
    follower.wait_for_seq(&a.org, total).await;
    // The last entry from replica b, which the follower does not dial.
    let last = b.publish(1).await.remove(0);
    assert_eq!(last.seq(), total + 1);
    follower.wait_for_seq(&a.org, total + 1).await;
    let followed = follower.log_of(&a.org);
    assert_chain(&followed, &a.public_key(), total + 1);
    assert_eq!(
        followed.iter().map(|e| e.id()).collect::<Vec<_>>(),
        a.log_of(&a.org).iter().map(|e| e.id()).collect::<Vec<_>>()
    );
    assert!(follower.node().store().equivocations().unwrap().is_empty());
    assert!(!follower.node().store().is_frozen(&a.org).unwrap());
}

/// A replica that missed another replica's key rotation signs nothing
/// more: its entry would carry the old key's signature after the rotation,
/// which no partner can verify, and the log would stop there for good. The
/// publish is refused with what to do, and the log is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_missed_a_key_rotation_refuses_to_sign() {
    let Some(pg) = TestPg::shared() else { return };
    let root = temp_root();
    let (a, b) = two_replicas(root.path(), &pg.database()).await;
    b.publish(1).await;
    let first_key = a.public_key();
    let rotation = a.node().rotate_key().await.unwrap();
    let refused = b
        .node()
        .publish(consultation("signed with the old key"))
        .await
        .expect_err("the replica holds the key the log rotated away from");
    let status = tonic::Status::from(refused);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("another replica rotated the key"),
        "{}",
        status.message()
    );
    assert_eq!(
        a.head_seq(&a.org),
        rotation.seq(),
        "nothing signed after the rotation"
    );
    // The replica that rotated goes on, and the chain verifies across it.
    let next = a.publish(1).await.remove(0);
    assert_eq!(next.seq(), rotation.seq() + 1);
    let log = a.log_of(&a.org);
    comity_core::verify::verify_chain(&log, &first_key).unwrap();
}

/// Two replicas of `itu` on the database at `url`, started: two data
/// directories holding one identity (a replica is a copy of the node's).
async fn two_replicas(root: &Path, url: &str) -> (TestNode, TestNode) {
    let with_db = |c: &mut comity_node::Config| c.storage.url = Some(url.to_string());
    let mut a = TestNode::create_with(&root.join("a"), "itu", with_db).await;
    let mut b = TestNode::create_with(&root.join("b"), "itu", with_db).await;
    std::fs::copy(a.data.key_path(), b.data.key_path()).unwrap();
    b.key = a.key.clone();
    a.start().await;
    b.start().await;
    (a, b)
}

fn comity(args: &[&str], data: &Path) -> Output {
    Command::new(COMITY_BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("COMITY_DATA")
        .output()
        .unwrap()
}

fn one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
}

/// `comity init --store` with a database that is not there, or a URL that
/// is not one: one line, a non-zero exit, and no data directory left half
/// made. `comity serve` on a node whose database is down: the same.
#[test]
fn an_unreachable_database_is_one_line_and_nothing_half_made() {
    let root = temp_root();
    let data = root.path().join("itu");
    // No server listens in an empty directory.
    let nowhere = root.path().join("no-server");
    std::fs::create_dir(&nowhere).unwrap();
    let url = format!(
        "postgresql://comity@{}/comity",
        nowhere.display().to_string().replace('/', "%2F")
    );
    let init = |store: &str| {
        comity(
            &[
                "init", "--org", "itu", "--name", "ITU", "--http", "off", "--store", store,
            ],
            &data,
        )
    };
    one_line_error(&init(&url), "cannot open the store");
    one_line_error(&init(&url), "PostgreSQL at comity@");
    assert!(
        !data.exists(),
        "nothing written for a database that is down"
    );
    one_line_error(&init("mysql://x"), "is not a PostgreSQL URL");
    assert!(!data.exists());
    // A sled node whose configuration then names a database that is down.
    let out = comity(
        &["init", "--org", "itu", "--name", "ITU", "--http", "off"],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = data.join("comity.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = if text.contains("[storage]") {
        text.replace("[storage]", &format!("[storage]\nurl = {url:?}"))
    } else {
        format!("{text}\n[storage]\nurl = {url:?}\n")
    };
    std::fs::write(&config, text).unwrap();
    let serve = comity(&["serve"], &data);
    one_line_error(&serve, "cannot open the store");
    one_line_error(&serve, "PostgreSQL at comity@");
}

/// `comity init --store` on a database that already holds the
/// organisation's log is refused: a second identity would fork it.
#[test]
fn init_refuses_a_database_holding_the_log() {
    let Some(pg) = TestPg::shared() else { return };
    let url = pg.database();
    let root = temp_root();
    let args = |dir: &str| {
        comity(
            &[
                "init", "--org", "itu", "--name", "ITU", "--http", "off", "--store", &url,
            ],
            &root.path().join(dir),
        )
    };
    let first = args("a");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(!root.path().join("a").join("store").exists());
    one_line_error(&args("b"), "already holds itu's log");
    assert!(!root.path().join("b").exists());
}

/// `comity store migrate --to URL` moves a stopped sled node to PostgreSQL:
/// its own log and the logs it follows (one of 10,000 entries), blobs,
/// records (accounts, queues) and drafts; `--check` passes, a second run changes nothing, and the
/// node, restarted on the database, goes on where it was: its partner sees
/// no change but the next entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_node_moves_to_postgresql_and_its_partner_sees_no_change() {
    let Some(pg) = TestPg::shared() else { return };
    let url = pg.database();
    let root = temp_root();
    let mut itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    ietf.follow(&itu);
    itu.follow(&ietf);
    let last = itu.publish(300).await.pop().unwrap().seq();
    let theirs = ietf.publish(3).await.pop().unwrap().seq();
    ietf.wait_for_seq(&itu.org, last).await;
    itu.wait_for_seq(&ietf.org, theirs).await;
    let store = itu.node().store().clone();
    // And a long log it follows: 10,000 entries.
    let mut ripe = comity_store::testsuite::Author::new("ripe-ncc");
    for _ in 0..10 {
        store.append_batch(&ripe.chain(1_000)).unwrap();
    }
    store.flush().unwrap();
    let blob = store.put_blob(b"an attachment of a draft").unwrap();
    store
        .put_record("accounts", b"alice", b"an account")
        .unwrap();
    store
        .put_draft(&comity_store::LiaisonDraft {
            id: "draft-1".into(),
            statement: b"a statement".to_vec(),
            restricted: false,
            approved_by: None,
            created_at: 1,
            posted_seq: None,
        })
        .unwrap();
    drop(store);
    let before = itu.log_of(&itu.org);
    itu.stop().await;

    let data = itu.data.root().to_path_buf();
    let migrate = |extra: &[&str]| {
        let mut args = vec!["store", "migrate", "--to", url.as_str()];
        args.extend_from_slice(extra);
        comity(&args, &data)
    };
    let out = migrate(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("moved to"));
    let check = migrate(&["--check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("holds everything"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // Safe to run again.
    let again = migrate(&[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    itu.config = itu.data.load_config().unwrap();
    assert_eq!(itu.config.storage.url.as_deref(), Some(url.as_str()));
    itu.start().await;
    let store = itu.node().store().clone();
    assert_eq!(
        store.blob(&blob).unwrap().as_deref(),
        Some(&b"an attachment of a draft"[..])
    );
    assert_eq!(
        store.record("accounts", b"alice").unwrap().as_deref(),
        Some(&b"an account"[..])
    );
    assert!(store.draft("draft-1").unwrap().is_some());
    assert_eq!(itu.head_seq(&ietf.org), theirs);
    assert_eq!(itu.head_seq(ripe.origin()), 10_000);
    let ids = |log: &[comity_core::SignedEntry]| log.iter().map(|e| e.id()).collect::<Vec<_>>();
    assert_eq!(ids(&itu.log_of(&itu.org)), ids(&before));
    // The partner sees the next entry on top of the same chain.
    let next = itu.publish(1).await.remove(0);
    assert_eq!(next.seq(), last + 1);
    ietf.wait_for_seq(&itu.org, next.seq()).await;
    assert_chain(&ietf.log_of(&itu.org), &itu.public_key(), next.seq());
    assert!(ietf.node().store().equivocations().unwrap().is_empty());
    // A check after new entries names the difference: one line, non-zero.
    itu.stop().await;
    one_line_error(&migrate(&["--check"]), "differs from the sled store");
}

/// Kills a `comity serve` child when the test ends, however it ends.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `comity replica init` makes a second replica of a node on PostgreSQL:
/// the same identity and database, its own addresses; started with
/// `comity serve`, it publishes into the node's one log, under its key. It
/// refuses a sled node and a directory already in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_init_makes_a_replica_that_publishes_into_the_same_log() {
    let Some(pg) = TestPg::shared() else { return };
    let url = pg.database();
    let root = temp_root();
    let a = root.path().join("a");
    let b = root.path().join("b");
    let a_listen = format!("127.0.0.1:{}", free_port());
    let b_listen = format!("127.0.0.1:{}", free_port());
    let init = comity(
        &[
            "init", "--org", "itu", "--name", "ITU", "--http", "off", "--listen", &a_listen,
            "--store", &url,
        ],
        &a,
    );
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let replica = |from: &Path, data: &Path| {
        comity(
            &[
                "replica",
                "init",
                "--from",
                from.to_str().unwrap(),
                "--listen",
                &b_listen,
            ],
            data,
        )
    };
    // A sled node cannot have replicas; a used directory cannot be one.
    let sled = root.path().join("sled");
    let out = comity(
        &["init", "--org", "ietf", "--name", "IETF", "--http", "off"],
        &sled,
    );
    assert!(out.status.success());
    one_line_error(&replica(&sled, &b), "keeps its store in sled");
    one_line_error(&replica(&a, &sled), "already holds a Comity node");
    assert!(!b.exists());

    let made = replica(&a, &b);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let source = DataDir::new(&a);
    let copy = DataDir::new(&b);
    assert_eq!(
        std::fs::read(source.key_path()).unwrap(),
        std::fs::read(copy.key_path()).unwrap(),
        "one identity"
    );
    let (ca, cb) = (source.load_config().unwrap(), copy.load_config().unwrap());
    assert_eq!(cb.org, ca.org);
    assert_eq!(cb.storage.url, ca.storage.url);
    assert_eq!(cb.endpoint(), ca.endpoint(), "one endpoint in the profile");
    assert_eq!(cb.listen.to_string(), b_listen);

    // Replica b, serving, publishes into itu's log in the database.
    let log = std::fs::File::create(root.path().join("b.log")).unwrap();
    let _serving = Serving(
        Command::new(COMITY_BIN)
            .args(["serve", "--data"])
            .arg(&b)
            .env("COMITY_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (seq, _) = loop {
        if let Some(published) = publish_through(&copy.socket_path(), "from replica b".into()).await
        {
            break published;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica b never published: {}",
            std::fs::read_to_string(root.path().join("b.log")).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let store = comity_store_pg::PgStore::open(&comity_store_pg::PgOptions::new(url)).unwrap();
    let itu = support::org("itu");
    let entries = store.entries_after(&itu, 0, 100).unwrap();
    let key = source.load_key().unwrap().public();
    assert_chain(&entries, &key, seq);
    assert!(seq >= 2, "on top of the profile comity init published");
}

/// A partner pins both replicas of `itu` (`--endpoint E1 --endpoint E2`):
/// when the replica it dials goes away, it fails over to the other and
/// catches up with what that one publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_fails_over_to_the_other_replica() {
    let Some(pg) = TestPg::shared() else { return };
    let url = pg.database();
    let root = temp_root();
    let with_db = |c: &mut comity_node::Config| c.storage.url = Some(url.clone());
    let mut a = TestNode::create_with(&root.path().join("a"), "itu", with_db).await;
    let mut b = TestNode::create_with(&root.path().join("b"), "itu", with_db).await;
    std::fs::copy(a.data.key_path(), b.data.key_path()).unwrap();
    b.key = a.key.clone();
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    a.start().await;
    // Pinned in the database: replica b reads the pin when it starts.
    a.node()
        .add_peer(ietf.org.clone(), ietf.public_key(), None)
        .unwrap();
    b.start().await;
    ietf.node()
        .add_peer_at(
            a.org.clone(),
            a.public_key(),
            vec![a.endpoint(), b.endpoint()],
        )
        .unwrap();
    let first = a.publish(3).await.pop().unwrap().seq();
    ietf.wait_for_seq(&a.org, first).await;
    // Replica a, the first endpoint, goes away; b goes on publishing.
    a.stop().await;
    let last = b.publish(3).await.pop().unwrap().seq();
    ietf.wait_for_seq(&a.org, last).await;
    assert_chain(&ietf.log_of(&a.org), &a.public_key(), last);
    assert!(ietf.node().store().equivocations().unwrap().is_empty());
}

/// `comity peer add ORG --key K --endpoint E1 --endpoint E2` pins one
/// partner at both endpoints, in order.
#[test]
fn peer_add_takes_several_endpoints() {
    let root = temp_root();
    let data = root.path().join("ietf");
    let out = comity(
        &["init", "--org", "ietf", "--name", "IETF", "--http", "off"],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = comity_core::IdentityKey::generate().public().to_string();
    let out = comity(
        &[
            "peer",
            "add",
            "itu",
            "--key",
            &key,
            "--endpoint",
            "https://127.0.0.1:7401",
            "--endpoint",
            "https://127.0.0.1:7402",
        ],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("pinned itu at https://127.0.0.1:7401, https://127.0.0.1:7402")
    );
    let dir = DataDir::new(&data);
    let store = dir.open_store(&dir.load_config().unwrap()).unwrap();
    let peers = store.peers().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].endpoint.as_deref(), Some("https://127.0.0.1:7401"));
    assert_eq!(
        peers[0].more_endpoints,
        vec!["https://127.0.0.1:7402".to_string()]
    );
}

/// How long the database is away in the outage test.
const OUTAGE: std::time::Duration = std::time::Duration::from_secs(10);

/// PostgreSQL stopped for 10 s under load: publishes fail with a clear error, none
/// hangs and nothing crashes, and once the database is back the node
/// publishes again by itself, on one chain holding every acknowledged entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_fail_clearly_while_the_database_is_down_and_resume_after() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    let Some(pg) = TestPg::private() else { return };
    let pg = Arc::new(pg);
    let url = pg.database();
    let root = temp_root();
    let mut itu =
        TestNode::create_with(root.path(), "itu", |c| c.storage.url = Some(url.clone())).await;
    itu.start().await;
    let node = itu.node().clone();
    itu.publish(3).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for t in 0..2 {
        let (node, acked, errors, done) =
            (node.clone(), acked.clone(), errors.clone(), done.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0;
            while !done.load(Ordering::Relaxed) && i < 5_000 {
                i += 1;
                let body = consultation(&format!("load {t} {i}"));
                match tokio::time::timeout(Duration::from_secs(30), node.publish(body)).await {
                    Err(_) => panic!("a publish hung for 30 s while the database was away"),
                    Ok(Ok(entry)) => acked.lock().unwrap().push(entry),
                    Ok(Err(e)) => {
                        errors.lock().unwrap().push(e.to_string());
                        // As a client would: try again a little later.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    wait_until("publishes under load", || acked.lock().unwrap().len() >= 10).await;
    let stopper = pg.clone();
    tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .unwrap();
    let stopped_at = std::time::Instant::now();
    wait_until("publishes failing", || errors.lock().unwrap().len() >= 20).await;
    // The outage: the database stays away 10 s under the load.
    tokio::time::sleep(OUTAGE.saturating_sub(stopped_at.elapsed())).await;
    let during = acked.lock().unwrap().len();
    let starter = pg.clone();
    tokio::task::spawn_blocking(move || starter.start())
        .await
        .unwrap();
    wait_until("publishes again after the restart", || {
        acked.lock().unwrap().len() >= during + 10
    })
    .await;
    done.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    eprintln!(
        "{} publishes failed while the database was down, e.g. {:?}",
        errors.len(),
        errors.first()
    );
    for error in errors.iter() {
        assert!(!error.contains('\n'), "one line: {error}");
        assert!(
            error.contains("PostgreSQL") || error.contains("database"),
            "a clear error: {error}"
        );
    }
    let log = itu.log_of(&itu.org);
    let head = log.last().unwrap().seq();
    assert_chain(&log, &itu.public_key(), head);
    let acked = acked.lock().unwrap().clone();
    for entry in &acked {
        assert_eq!(
            log[(entry.seq() - 1) as usize].id(),
            entry.id(),
            "acknowledged seq {} is in the log",
            entry.seq()
        );
    }
    itu.stop().await;
}

/// Waits until `condition` holds, for at most 90 s.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Two replicas of `itu` run as `comity serve` processes on one database,
/// each taking publishes from its own client; one is killed with SIGKILL in
/// the middle. Every publish acknowledged to a client is in the log, on one
/// chain, and a partner that dialled the killed replica first fails over to
/// the other and catches up with the whole log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_publish_loses_no_acknowledged_entry() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let Some(pg) = TestPg::shared() else { return };
    let url = pg.database();
    let root = temp_root();
    let follower = TestNode::start_new(root.path(), "ietf").await;
    let listen = || format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let with_db = |c: &mut comity_node::Config| c.storage.url = Some(url.clone());
    std::fs::create_dir_all(root.path().join("a")).unwrap();
    std::fs::create_dir_all(root.path().join("b")).unwrap();
    let mut a = ChildNode::init(&root.path().join("a"), "itu", listen(), with_db);
    let mut b = ChildNode::init(&root.path().join("b"), "itu", listen(), with_db);
    std::fs::copy(a.data.key_path(), b.data.key_path()).unwrap();
    b.key = a.key;
    // The replicas pin the partner in their database, before they start.
    let store =
        comity_store_pg::PgStore::open(&comity_store_pg::PgOptions::new(url.clone())).unwrap();
    store
        .put_peer(&comity_store::PeerRecord {
            org: follower.org.clone(),
            key: follower.public_key(),
            endpoint: None,
            added_at: 0,
            key_since: 0,
            more_endpoints: Vec::new(),
        })
        .unwrap();
    a.start().await;
    b.start().await;
    follower
        .node()
        .add_peer_at(a.org.clone(), a.key, vec![a.endpoint(), b.endpoint()])
        .unwrap();
    let acked = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (name, socket) in [("a", a.data.socket_path()), ("b", b.data.socket_path())] {
        let (acked, stop) = (acked.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 2_000 {
                i += 1;
                match publish_through(&socket, format!("from {name}, {i}")).await {
                    Some(published) => acked.lock().unwrap().push(published),
                    // The replica is down: its client keeps trying, bounded.
                    None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            }
        }));
    }
    wait_until("publishes through both replicas", || {
        acked.lock().unwrap().len() >= 40
    })
    .await;
    a.kill();
    let at_kill = acked.lock().unwrap().len();
    wait_until("publishes through replica b after the kill", || {
        acked.lock().unwrap().len() >= at_kill + 40
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let log = store.entries_after(&a.org, 0, 100_000).unwrap();
    let head = log.last().unwrap().seq();
    assert_chain(&log, &a.key, head);
    for (seq, id) in acked.lock().unwrap().iter() {
        assert_eq!(
            log[(*seq - 1) as usize].id().to_string(),
            *id,
            "acknowledged seq {seq} is in the log"
        );
    }
    assert!(store.equivocations().unwrap().is_empty());
    follower.wait_for_seq(&a.org, head).await;
    let followed = follower.log_of(&a.org);
    assert_eq!(
        followed.iter().map(|e| e.id()).collect::<Vec<_>>(),
        log.iter().map(|e| e.id()).collect::<Vec<_>>()
    );
    assert!(follower.node().store().equivocations().unwrap().is_empty());
    b.terminate();
}
