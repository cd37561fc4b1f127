//! Crash safety: a `comity serve` process appending in a burst is killed with
//! SIGKILL at a random moment; afterwards the store opens, the chain
//! verifies, and every entry acknowledged to a client is there.
//!
//! `COMITY_CRASH_TRIALS` sets the number of trials (default 10).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{OrgId, verify};
use comity_node::DataDir;
use comity_proto::v1::PublishConsultationRequest;
use comity_store::{SledOptions, SledStore, Store};
use rand::Rng;
use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};
use support::{eventually, temp_root};

const BIN: &str = env!("CARGO_BIN_EXE_comity");

fn trials() -> usize {
    std::env::var("COMITY_CRASH_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_publish_burst_loses_no_acknowledged_entry() {
    let root = temp_root();
    let dir = root.path().join("crash");
    let status = Command::new(BIN)
        .args([
            "init",
            "--org",
            "crash-test",
            "--name",
            "Crash Test",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "off",
            "--data",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let data = DataDir::new(&dir);
    let key = data.load_key().unwrap().public();
    let origin = OrgId::new("crash-test").unwrap();
    let acknowledged: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();

    for trial in 0..trials() {
        let t0 = std::time::Instant::now();
        let mut child = Command::new(BIN)
            .args(["serve", "--data"])
            .arg(&dir)
            .env("COMITY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let socket = data.socket_path();
        let mut ready = false;
        eventually("the node serves its local API", || {
            ready = ready
                || (socket.exists() && std::os::unix::net::UnixStream::connect(&socket).is_ok());
            ready
        })
        .await;

        eprintln!("trial {trial}: ready after {:?}", t0.elapsed());
        let mut publishers = Vec::new();
        for worker in 0..4 {
            let socket = socket.clone();
            let acknowledged = acknowledged.clone();
            publishers.push(tokio::spawn(async move {
                let Ok(mut client) = comity_node::local_api::connect(&socket).await else {
                    return;
                };
                for i in 0.. {
                    let request = PublishConsultationRequest {
                        title: format!("Trial {trial} worker {worker} consultation {i}"),
                        closes: "2027-03-31".into(),
                        ..Default::default()
                    };
                    match client.publish_consultation(request).await {
                        Ok(published) => {
                            let published = published.into_inner();
                            acknowledged
                                .lock()
                                .unwrap()
                                .insert(published.seq, published.id);
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        let moment = Duration::from_millis(rand::thread_rng().gen_range(30..400));
        tokio::time::sleep(moment).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for publisher in publishers {
            let _ = publisher.await;
        }

        eprintln!("trial {trial}: killed and joined after {:?}", t0.elapsed());
        // The store opens, the chain verifies, nothing acknowledged is missing.
        let store = SledStore::open(&data.store_path(), SledOptions::default()).unwrap();
        let entries = store.entries_after(&origin, 0, usize::MAX).unwrap();
        let head = verify::verify_chain(&entries, &key)
            .unwrap_or_else(|e| panic!("trial {trial}: chain broken after SIGKILL: {e}"))
            .unwrap();
        assert_eq!(store.head(&origin).unwrap().map(|h| h.seq), Some(head.seq));
        for (seq, id) in acknowledged.lock().unwrap().iter() {
            let held = store
                .entry(&origin, *seq)
                .unwrap()
                .unwrap_or_else(|| panic!("trial {trial}: acknowledged seq {seq} lost"));
            assert_eq!(&held.id().to_hex(), id, "trial {trial}: seq {seq} changed");
        }
        drop(store);
        eprintln!(
            "trial {trial}: verified after {:?}, {} entries",
            t0.elapsed(),
            entries.len()
        );
        let _ = std::fs::remove_file(&socket);
    }
    let acknowledged = acknowledged.lock().unwrap().len();
    assert!(acknowledged > 0, "no publish was acknowledged in any trial");
    eprintln!(
        "{} trials, {acknowledged} acknowledged entries, all held",
        trials()
    );
}
