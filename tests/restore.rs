//! Restore that cannot fork (issue 13): a node restored from a backup
//! recovers its own log from its partners before it signs anything, so its
//! next entry follows the head they hold; with every partner offline it
//! waits, then publishes with a loud warning; with `--no-recover` the fork
//! is caught and frozen as before.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::checkpoint::SignedCheckpoint;
use comity_node::{NodeError, recovery::Recovery};
use std::path::Path;
use support::{TestNode, consultation, eventually, temp_root};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        let kind = item.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&item.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

struct Federation {
    _root: tempfile::TempDir,
    itu: TestNode,
    ietf: TestNode,
    icann: TestNode,
    backup: std::path::PathBuf,
    /// itu's head when the backup was taken, and when it was lost.
    at_backup: u64,
    at_loss: u64,
}

/// itu, ietf and icann follow one another; itu publishes 5 entries and is
/// backed up, publishes 5 more that both partners receive, then loses its
/// disk (stopped, its data directory replaced by the backup).
async fn restored_from_an_old_backup() -> Federation {
    let root = temp_root();
    let mut itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    for (x, y) in [
        (&itu, &ietf),
        (&itu, &icann),
        (&ietf, &itu),
        (&ietf, &icann),
        (&icann, &itu),
        (&icann, &ietf),
    ] {
        x.follow(y);
    }
    itu.publish(5).await;
    itu.stop().await;
    let backup = root.path().join("backup");
    copy_dir(itu.data.root(), &backup);
    itu.start().await;
    let at_backup = itu.head_seq(&itu.org);
    itu.publish(5).await;
    let at_loss = itu.head_seq(&itu.org);
    assert_eq!(at_loss, at_backup + 5);
    ietf.wait_for_seq(&itu.org, at_loss).await;
    icann.wait_for_seq(&itu.org, at_loss).await;
    itu.stop().await;
    std::fs::remove_dir_all(itu.data.root()).unwrap();
    copy_dir(&backup, itu.data.root());
    Federation {
        _root: root,
        itu,
        ietf,
        icann,
        backup,
        at_backup,
        at_loss,
    }
}

fn no_equivocation_anywhere(nodes: &[&TestNode]) {
    for node in nodes {
        assert!(
            node.node().store().equivocations().unwrap().is_empty(),
            "{} recorded an equivocation",
            node.org
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_an_old_backup_publishes_next_at_the_head_its_partners_hold() {
    let Federation {
        _root,
        mut itu,
        ietf,
        icann,
        at_backup,
        at_loss,
        ..
    } = restored_from_an_old_backup().await;
    itu.start().await;
    assert_eq!(itu.node().recovery(), Recovery::Done);
    // The five lost entries came back from the partners.
    assert!(itu.head_seq(&itu.org) >= at_loss, "restored at {at_backup}");
    let head = itu.head_seq(&itu.org);
    // Recovered, it signs a checkpoint of its whole log, without waiting
    // for a publish.
    eventually("itu signs a checkpoint at its recovered head", || {
        itu.node()
            .checkpoint_of(&itu.org)
            .unwrap()
            .is_some_and(|c| c.checkpoint.size == head)
    })
    .await;
    let next = itu.publish(1).await.remove(0);
    assert_eq!(next.seq(), head + 1);
    ietf.wait_for_seq(&itu.org, next.seq()).await;
    icann.wait_for_seq(&itu.org, next.seq()).await;
    assert_eq!(ietf.log_of(&itu.org), itu.log_of(&itu.org));
    no_equivocation_anywhere(&[&itu, &ietf, &icann]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_partner_offline_a_restored_node_waits_then_warns() {
    let Federation {
        _root,
        mut itu,
        mut ietf,
        mut icann,
        at_backup,
        ..
    } = restored_from_an_old_backup().await;
    ietf.stop().await;
    icann.stop().await;
    itu.start_recovering().await;
    // Recovering: a publish is refused with a named error.
    assert!(matches!(itu.node().recovery(), Recovery::Recovering { .. }));
    let refused = itu.node().publish(consultation("too early")).await;
    assert!(
        matches!(refused, Err(NodeError::Recovering { .. })),
        "{refused:?}"
    );
    let status = tonic::Status::from(refused.unwrap_err());
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(itu.node().recovery_line().starts_with("recovering"));
    // Then, the bound passed with nobody answering: it publishes, warned.
    eventually("itu gives up waiting", || {
        matches!(itu.node().recovery(), Recovery::Unconfirmed { .. })
    })
    .await;
    assert!(itu.node().recovery_line().starts_with("WARNING"));
    assert_eq!(itu.head_seq(&itu.org), at_backup);
    let next = itu.publish(1).await.remove(0);
    assert_eq!(next.seq(), at_backup + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_recover_the_fork_is_caught_and_frozen_as_before() {
    let Federation {
        _root,
        mut itu,
        ietf,
        icann,
        at_backup,
        backup,
        ..
    } = restored_from_an_old_backup().await;
    assert!(backup.exists());
    itu.config.replication.recover = false;
    itu.start().await;
    assert_eq!(itu.node().recovery(), Recovery::Done);
    let forked = itu.publish(1).await.remove(0);
    assert_eq!(forked.seq(), at_backup + 1, "published on the old head");
    eventually("both partners freeze itu", || {
        ietf.node().store().is_frozen(&itu.org).unwrap()
            && icann.node().store().is_frozen(&itu.org).unwrap()
    })
    .await;

    // The evidence, exported by `comity equivocation show`: two
    // checkpoints itu signed that no one log can have (caught from the
    // checkpoints partners gossip), or two entries it signed at one seq.
    let file = ietf.data.root().join("fork.evidence");
    let out = std::process::Command::new(support::COMITY_BIN)
        .args(["equivocation", "show", "itu", "--data"])
        .arg(ietf.data.root())
        .arg("--output")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let bytes = std::fs::read(&file).unwrap();
    if said.contains("checkpoints evidence") {
        let text = String::from_utf8(bytes).unwrap();
        let second = text[1..].find("comity/itu\n").unwrap() + 1;
        let (a, b) = text.split_at(second);
        let a = SignedCheckpoint::verify(a.as_bytes(), &itu.org, &itu.public_key()).unwrap();
        let b = SignedCheckpoint::verify(b.as_bytes(), &itu.org, &itu.public_key()).unwrap();
        assert_ne!(a.checkpoint, b.checkpoint);
    } else {
        assert!(said.contains("entries evidence"), "{said}");
        let mut rest = &bytes[..];
        let mut entries = Vec::new();
        while !rest.is_empty() {
            let wire =
                <comity_proto::v1::Entry as prost::Message>::decode_length_delimited(&mut rest)
                    .unwrap();
            let entry = comity_core::SignedEntry::decode(wire).unwrap();
            comity_core::verify::verify_signature(&entry, &itu.public_key()).unwrap();
            entries.push(entry);
        }
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].seq(), entries[1].seq());
        assert_ne!(entries[0].id(), entries[1].id());
    }
}
