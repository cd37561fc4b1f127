//! The documents and their workflows across real nodes on loopback:
//! consultations and responses, the liaison lifecycle with receipts and
//! deadlines, restricted statements, and key rotation.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{Hash, OrgId, proto, verify};
use comity_node::NodeError;
use proto::list_liaisons_request::Box as LiaisonBox;
use support::{TestNode, eventually, temp_root};
use time::Duration;

fn mesh(nodes: &[&TestNode]) {
    for a in nodes {
        for b in nodes {
            if a.org != b.org {
                a.follow(b);
            }
        }
    }
}

fn doc_ref(origin: &OrgId, uuid: &str) -> Option<proto::DocumentRef> {
    Some(proto::DocumentRef {
        origin: origin.to_string(),
        uuid: uuid.to_string(),
    })
}

async fn tuned(
    root: &std::path::Path,
    id: &str,
    group: &str,
    region: &str,
    groups: &[&str],
) -> TestNode {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let mut node = TestNode::create_with(root, id, |c| {
        c.profile.stakeholder_group = Some(group.parse().unwrap());
        c.profile.region = Some(region.into());
        c.profile.groups = groups;
    })
    .await;
    node.start().await;
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_collects_responses_from_the_federation() {
    let root = temp_root();
    let itu = tuned(
        root.path(),
        "itu",
        "intergovernmental",
        "global",
        &["itu-t/sg17"],
    )
    .await;
    let ietf = tuned(
        root.path(),
        "ietf",
        "technical-academic",
        "global",
        &["iab"],
    )
    .await;
    let icann = tuned(root.path(), "icann", "technical-academic", "global", &[]).await;
    let ripe = tuned(
        root.path(),
        "ripe-ncc",
        "technical-academic",
        "Europe, Middle East, Central Asia",
        &[],
    )
    .await;
    let all = [&itu, &ietf, &icann, &ripe];
    mesh(&all);

    let published = itu
        .node()
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Developmental Aspects of the Internet".into(),
            titles: vec![proto::Text {
                lang: "fr".into(),
                value: "Aspects de l'Internet liés au développement".into(),
            }],
            summary: "Online consultation before the CWG-Internet meeting.".into(),
            closes: "2099-01-04".into(),
            questions: vec!["How can developing countries take part?".into()],
            topics: vec!["development".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let uuid =
        comity_core::document::uuid_of(&comity_core::document::decode_for(&published).unwrap())
            .unwrap();
    for node in &all[1..] {
        node.wait_for_seq(&itu.org, published.seq()).await;
    }
    for responder in &all[1..] {
        responder
            .node()
            .respond(proto::RespondRequest {
                consultation: doc_ref(&itu.org, &uuid),
                text: format!("Comments of {}", responder.org),
                lang: "en".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // ITU and every responder see all three responses, with stakeholder groups.
    for viewer in all {
        let node = viewer.node().clone();
        eventually(&format!("{} sees three responses", viewer.org), || {
            node.show_consultation(&itu.org, &uuid)
                .is_ok_and(|v| v.responses.len() == 3)
        })
        .await;
        let view = viewer.node().show_consultation(&itu.org, &uuid).unwrap();
        assert!(view.responses.iter().all(|r| r.stakeholder_group()
            == proto::StakeholderGroup::TechnicalAcademic
            && !r.late));
        assert_eq!(
            view.by_stakeholder_group,
            vec![proto::ParticipationRow {
                key: "technical-academic".into(),
                responses: 3
            }]
        );
        assert!(
            view.by_region
                .iter()
                .any(|r| r.key == "Europe, Middle East, Central Asia" && r.responses == 1)
        );
        let current = view.current.unwrap();
        assert!(
            current.title.iter().any(|t| t.lang == "fr"),
            "both languages travel"
        );
    }

    // An extension is a revision; the history shows both closing dates.
    let extended = itu
        .node()
        .revise_consultation(proto::ReviseConsultationRequest {
            uuid: uuid.clone(),
            closes: "2099-01-11".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    ripe.wait_for_seq(&itu.org, extended.seq()).await;
    let view = ripe.node().show_consultation(&itu.org, &uuid).unwrap();
    assert_eq!(view.revisions.len(), 2);
    let closes: Vec<_> = view
        .revisions
        .iter()
        .map(|r| r.closes_at.unwrap().seconds)
        .collect();
    assert!(
        closes[1] > closes[0],
        "the revision moved the date: {closes:?}"
    );
    assert_eq!(view.current.unwrap().revision, 2);

    // A response after the close is flagged late.
    icann.clock.advance(Duration::days(365 * 80));
    let late = icann
        .node()
        .respond(proto::RespondRequest {
            consultation: doc_ref(&itu.org, &uuid),
            text: "Late thoughts".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    itu.wait_for_seq(&icann.org, late.seq()).await;
    let view = itu.node().show_consultation(&itu.org, &uuid).unwrap();
    let late_ones: Vec<_> = view
        .responses
        .iter()
        .filter(|r| r.late)
        .map(|r| r.origin.clone())
        .collect();
    assert_eq!(late_ones, vec!["icann".to_string()]);
    assert!(
        itu.node()
            .list_consultations(&proto::ListConsultationsRequest {
                open: true,
                ..Default::default()
            })
            .unwrap()
            .iter()
            .any(|c| c.uuid == uuid)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liaison_for_action_is_approved_posted_acknowledged_and_answered() {
    let root = temp_root();
    let mut ietf = TestNode::create_with(root.path(), "ietf", |c| {
        c.workflow.liaison_approval = true;
        c.profile.groups = vec!["ccamp".into()];
    })
    .await;
    ietf.start().await;
    let itu = tuned(
        root.path(),
        "itu",
        "intergovernmental",
        "global",
        &["itu-t/sg15"],
    )
    .await;
    mesh(&[&ietf, &itu]);
    // IETF knows ITU's groups from ITU's profile.
    ietf.wait_for_seq(&itu.org, 1).await;

    let attachment = b"%PDF-1.4 liaison attachment".repeat(5000);
    let draft = ietf
        .node()
        .draft_liaison(proto::DraftLiaisonRequest {
            from: vec!["ccamp".into()],
            to: vec![proto::Recipient {
                to: "itu-t/sg15".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2099-02-28".into(),
            title: "LS on protocol-specific data modelling work".into(),
            body: "Please review the attached YANG models.".into(),
            attachments: vec![proto::AttachmentUpload {
                name: "models.pdf".into(),
                media_type: "application/pdf".into(),
                content: attachment.clone(),
            }],
            ..Default::default()
        })
        .unwrap();
    let before = ietf.head_seq(&ietf.org);
    let refused = ietf.node().post_liaison(&draft.id).await.unwrap_err();
    assert!(
        matches!(refused, NodeError::FailedPrecondition(_)),
        "{refused}"
    );
    assert_eq!(
        ietf.head_seq(&ietf.org),
        before,
        "an unapproved draft never enters the log"
    );

    ietf.node().approve_liaison(&draft.id, "IESG").unwrap();
    let posted = ietf.node().post_liaison(&draft.id).await.unwrap();
    let statement = comity_core::document::decode_for(&posted).unwrap();
    let uuid = comity_core::document::uuid_of(&statement).unwrap();
    itu.wait_for_seq(&ietf.org, posted.seq()).await;

    // ITU holds the statement and, once fetched and hash-checked, its attachment.
    let hash = Hash::of(&attachment);
    let store = itu.node().store().clone();
    eventually("ITU fetched the attachment", || {
        store.blob(&hash).ok().flatten().is_some()
    })
    .await;
    assert_eq!(itu.node().store().blob(&hash).unwrap().unwrap(), attachment);
    let inbox = itu.node().list_liaisons(LiaisonBox::Inbox).unwrap();
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].to[0].contains("itu-t/sg15"), "{:?}", inbox[0].to);
    assert_eq!(
        itu.node()
            .list_liaisons(LiaisonBox::AwaitingAction)
            .unwrap()
            .len(),
        1
    );

    let received = itu
        .node()
        .acknowledge(proto::AcknowledgeRequest {
            liaison: doc_ref(&ietf.org, &uuid),
            status: proto::ReceiptStatus::Received as i32,
            note: "Forwarded to Q14/15".into(),
        })
        .await
        .unwrap();
    ietf.wait_for_seq(&itu.org, received.seq()).await;
    let view = ietf.node().show_liaison(&ietf.org, &uuid).unwrap();
    let sg15 = &view.recipients[0];
    assert_eq!(
        (sg15.org.as_str(), sg15.action_state()),
        ("itu", proto::ActionState::Received)
    );
    assert_eq!(sg15.receipts.len(), 1);
    let receipt_entry = ietf
        .node()
        .store()
        .entry(&itu.org, received.seq())
        .unwrap()
        .unwrap();
    verify::verify_signature(&receipt_entry, &itu.public_key()).unwrap();

    // Past the deadline, it is overdue at both ends until ITU takes action.
    for node in [&ietf, &itu] {
        node.clock.advance(Duration::days(365 * 80));
    }
    assert_eq!(
        ietf.node()
            .list_liaisons(LiaisonBox::Overdue)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        itu.node().list_liaisons(LiaisonBox::Overdue).unwrap().len(),
        1
    );
    let done = itu
        .node()
        .acknowledge(proto::AcknowledgeRequest {
            liaison: doc_ref(&ietf.org, &uuid),
            status: proto::ReceiptStatus::ActionTaken as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    ietf.wait_for_seq(&itu.org, done.seq()).await;
    assert!(
        itu.node()
            .list_liaisons(LiaisonBox::Overdue)
            .unwrap()
            .is_empty()
    );
    assert!(
        ietf.node()
            .list_liaisons(LiaisonBox::Overdue)
            .unwrap()
            .is_empty()
    );
    assert!(
        itu.node()
            .list_liaisons(LiaisonBox::AwaitingAction)
            .unwrap()
            .is_empty()
    );

    // A reply threads under the original, from and to swapped.
    let reply = itu
        .node()
        .reply_liaison(proto::ReplyLiaisonRequest {
            original: doc_ref(&ietf.org, &uuid),
            body: "Models reviewed; comments attached.".into(),
            ..Default::default()
        })
        .unwrap();
    let reply_statement: proto::LiaisonStatement =
        prost::Message::decode(reply.statement.as_slice()).unwrap();
    assert_eq!(reply_statement.from_groups, vec!["itu-t/sg15".to_string()]);
    assert_eq!(reply_statement.to[0].org, "ietf");
    assert_eq!(reply_statement.to[0].group, "ccamp");
    let posted_reply = itu.node().post_liaison(&reply.id).await.unwrap();
    ietf.wait_for_seq(&itu.org, posted_reply.seq()).await;
    let view = ietf.node().show_liaison(&ietf.org, &uuid).unwrap();
    assert_eq!(view.replies.len(), 1);
    assert_eq!(view.replies[0].uuid, reply_statement.uuid);
    let reply_view = ietf
        .node()
        .show_liaison(&itu.org, &reply_statement.uuid)
        .unwrap();
    assert_eq!(reply_view.in_reply_to.unwrap().uuid, uuid);
    assert_eq!(
        reply_view.summary.unwrap().purpose(),
        proto::LiaisonPurpose::InResponse
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_statement_reaches_only_its_addressee() {
    let root = temp_root();
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    mesh(&[&ietf, &itu, &icann]);
    // ITU takes IETF's log from IETF itself (IETF offers it over the link
    // it opened), not from ICANN as a redacted stub first.
    for node in [&itu, &icann] {
        support::wait_until_direct(node, &ietf.org).await;
    }

    let draft = ietf
        .node()
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Information as i32,
            title: "Confidential coordination".into(),
            body: "For ITU only.".into(),
            restricted: true,
            ..Default::default()
        })
        .unwrap();
    let posted = ietf.node().post_liaison(&draft.id).await.unwrap();
    itu.wait_for_seq(&ietf.org, posted.seq()).await;
    icann.wait_for_seq(&ietf.org, posted.seq()).await;

    let at_itu = itu
        .node()
        .store()
        .entry(&ietf.org, posted.seq())
        .unwrap()
        .unwrap();
    assert_eq!(
        at_itu.payload(),
        posted.payload(),
        "the addressee gets the payload"
    );
    let at_icann = icann
        .node()
        .store()
        .entry(&ietf.org, posted.seq())
        .unwrap()
        .unwrap();
    assert!(
        at_icann.is_redacted() && at_icann.payload().is_empty(),
        "ICANN holds only the stub"
    );
    assert_eq!(at_icann.id(), posted.id());
    support::assert_chain(&icann.log_of(&ietf.org), &ietf.public_key(), posted.seq());
    let view = icann.node().show_liaison(
        &ietf.org,
        &comity_core::document::uuid_of(&comity_core::document::decode_for(&posted).unwrap())
            .unwrap(),
    );
    assert!(view.is_err() || view.unwrap().statement.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_continues_across_a_key_rotation() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let mut icann = TestNode::start_new(root.path(), "icann").await;
    mesh(&[&itu, &ietf, &icann]);
    let original_key = icann.public_key();
    let before = icann.publish(2).await;
    // The partners hold ICANN's log before it rotates: the rotation entry then
    // reaches them over links they already trust. (A partner that first meets
    // ICANN after the rotation pins the new key; see ARCHITECTURE, limits.)
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, before.last().unwrap().seq())
            .await;
    }

    let rotation = icann.node().rotate_key().await.unwrap();
    assert_ne!(icann.node().public_key(), original_key);
    let after = icann.publish(1).await.remove(0);
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, after.seq()).await;
    }
    // A restart uses the new key for TLS too; peers follow without re-peering.
    icann.stop().await;
    icann.start().await;
    assert_ne!(
        icann.public_key(),
        original_key,
        "the rotated key survives a restart"
    );
    let later = icann.publish(1).await.remove(0);
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, later.seq()).await;
        // Entries signed before the rotation still verify, from the original key.
        support::assert_chain(&node.log_of(&icann.org), &original_key, later.seq());
        let pinned = node
            .node()
            .store()
            .peers()
            .unwrap()
            .into_iter()
            .find(|p| p.org == icann.org)
            .unwrap();
        assert_eq!(
            pinned.key,
            icann.public_key(),
            "the pin followed the rotation"
        );
    }
    assert!(before.iter().all(|e| e.seq() < rotation.seq()));
}

/// Issue 10, item 1: a rotation must never let an entry after it be signed
/// with the old key (the key in use and the next seq change together), and
/// rotations at the same time must not overwrite each other's staged key.
/// Eight rotations, two at a time, while four clients publish: every partner
/// ends at the origin's head, every copy of the chain verifies from the
/// first key, and the key on disk is the one the log names last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_rotations_during_four_concurrent_publishers_leave_every_partner_at_the_head() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let mut icann = TestNode::start_new(root.path(), "icann").await;
    mesh(&[&itu, &ietf, &icann]);
    let original_key = icann.public_key();
    let first = icann.publish(1).await.remove(0);
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, first.seq()).await;
    }

    let node = icann.node().clone();
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let node = node.clone();
            tokio::spawn(async move {
                for i in 0..30 {
                    node.publish(support::consultation(&format!("publisher {p}, #{i}")))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let rotators: Vec<_> = (0..2)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                let mut rotations = Vec::new();
                for _ in 0..4 {
                    rotations.push(node.rotate_key().await);
                }
                rotations
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let mut rotated = 0;
    for rotator in rotators {
        for rotation in rotator.await.unwrap() {
            rotation.expect("every rotation succeeds");
            rotated += 1;
        }
    }
    assert_eq!(rotated, 8);
    drop(node); // a restart below reopens the store

    let head = icann.head_seq(&icann.org);
    support::assert_chain(&icann.log_of(&icann.org), &original_key, head);
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, head).await;
        support::assert_chain(&node.log_of(&icann.org), &original_key, head);
    }
    // The key on disk is the key the log rotated to last: after a restart
    // the partners still take what ICANN publishes, over TLS too.
    let (_, last_key) = icann
        .node()
        .store()
        .current_key(&icann.org)
        .unwrap()
        .unwrap();
    assert_eq!(icann.node().public_key(), last_key);
    icann.stop().await;
    icann.start().await;
    assert_eq!(icann.public_key(), last_key, "identity.key is the last key");
    let later = icann.publish(1).await.remove(0);
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, later.seq()).await;
        support::assert_chain(&node.log_of(&icann.org), &original_key, later.seq());
    }
}

/// The pinned key of `peer` at `node`, as stored.
fn stored_pin(node: &TestNode, peer: &OrgId) -> comity_core::PublicKey {
    node.node()
        .store()
        .peers()
        .unwrap()
        .into_iter()
        .find(|p| &p.org == peer)
        .unwrap()
        .key
}

/// Issue 10, item 11: a follower that stored a peer's key rotation but
/// stopped before re-pinning the peer (a crash between the two) finishes the
/// re-pin at its next start, from the store's `keys` index, and reaches the
/// rotated peer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_crashed_before_re_pinning_a_rotated_peer_re_pins_it_at_start() {
    let root = temp_root();
    let mut itu = TestNode::start_new(root.path(), "itu").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    itu.follow(&icann);
    icann.follow(&itu);
    let before = icann.publish(1).await.remove(0);
    itu.wait_for_seq(&icann.org, before.seq()).await;
    let pin_before = itu
        .node()
        .store()
        .peers()
        .unwrap()
        .into_iter()
        .find(|p| p.org == icann.org)
        .unwrap();

    let rotation = icann.node().rotate_key().await.unwrap();
    let new_key = icann.node().public_key();
    itu.wait_for_seq(&icann.org, rotation.seq()).await;
    eventually("itu re-pins icann", || {
        stored_pin(&itu, &icann.org) == new_key
    })
    .await;
    itu.stop().await;
    // The crash: the rotation entry is on disk, the new pin is not.
    {
        let start = std::time::Instant::now();
        let store = loop {
            match itu.data.open_store(&itu.config) {
                Ok(store) => break store,
                Err(e) => {
                    assert!(start.elapsed() < support::DEADLINE, "store: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        };
        store.put_peer(&pin_before).unwrap();
        store.flush().unwrap();
    }
    itu.start().await;
    assert_eq!(stored_pin(&itu, &icann.org), new_key, "re-pinned at start");
    let after = icann.publish(1).await.remove(0);
    itu.wait_for_seq(&icann.org, after.seq()).await;
}

/// Issue 10, item 12: after a compromise of ICANN's rotated key K1, ITU's
/// operator pins K2, told out of band. That pin wins over the key the log
/// rotated to: entries signed by K1 are refused, even when a relay serves
/// them, and even after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_re_pin_wins_over_the_key_the_log_rotated_to() {
    let root = temp_root();
    let mut itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    mesh(&[&itu, &ietf, &icann]);
    let first = icann.publish(1).await.remove(0);
    // The partners meet ICANN before it rotates (see ARCHITECTURE, limits).
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, first.seq()).await;
    }
    let rotation = icann.node().rotate_key().await.unwrap(); // K0 -> K1
    let k1 = icann.node().public_key();
    for node in [&itu, &ietf] {
        node.wait_for_seq(&icann.org, rotation.seq()).await;
    }
    eventually("itu follows the rotation", || {
        stored_pin(&itu, &icann.org) == k1
    })
    .await;

    // K1 is stolen. ITU's operator pins K2, which ICANN gave out of band.
    let k2 = comity_core::IdentityKey::generate().public();
    itu.node()
        .add_peer(icann.org.clone(), k2, Some(icann.endpoint()))
        .unwrap();
    // Entries signed by K1 (here by ICANN's node, which still holds it)
    // reach IETF, which relays them to ITU.
    let stolen = icann.publish(2).await;
    ietf.wait_for_seq(&icann.org, stolen[1].seq()).await;
    let refused_or_taken = |itu: &TestNode| {
        itu.node()
            .counters()
            .rejected
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
            || itu.head_seq(&icann.org) > rotation.seq()
    };
    eventually("itu refuses or takes K1's entries", || {
        refused_or_taken(&itu)
    })
    .await;
    assert_eq!(
        itu.head_seq(&icann.org),
        rotation.seq(),
        "entries signed by the rotated-to key were taken over the operator's pin"
    );
    // The operator's pin survives a restart, and still wins.
    itu.stop().await;
    itu.start().await;
    assert_eq!(stored_pin(&itu, &icann.org), k2);
    eventually("itu refuses or takes K1's entries after a restart", || {
        refused_or_taken(&itu)
    })
    .await;
    assert_eq!(itu.head_seq(&icann.org), rotation.seq());
}

/// An operator's re-pin that lands while the node is following a rotation
/// of the same peer: the key in memory (which TLS and ingest use) is the
/// one stored, whichever came second. Seen in CI as K1's entries taken
/// over the operator's pin of K2: the rotation had stored K1, the operator
/// stored and set K2, and then the rotation set K1 in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_pin_racing_a_followed_rotation_leaves_memory_and_store_agreeing() {
    use comity_core::{IdentityKey, UnsignedEntry, entry::EntryKind};
    use prost::Message;
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    for round in 0..12 {
        let origin = OrgId::new(format!("org-{round}")).unwrap();
        let (k0, k1, k2) = (
            IdentityKey::generate(),
            IdentityKey::generate(),
            IdentityKey::generate().public(),
        );
        itu.node()
            .add_peer(origin.clone(), k0.public(), None)
            .unwrap();
        let (kind, payload) =
            comity_core::document::encode(support::consultation(&format!("c{round}")).clone());
        let first = UnsignedEntry::new(
            origin.clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(&k0, None);
        let body = proto::document::Body::KeyRotation(comity_core::key_rotation::new(
            &origin,
            &k0.public(),
            &k1,
        ));
        let rotation = UnsignedEntry::new(
            origin.clone(),
            EntryKind::KeyRotation,
            proto::Document { body: Some(body) }.encode_to_vec(),
            time::OffsetDateTime::now_utc(),
        )
        .sign(&k0, Some(first.head()));
        itu.node()
            .ingest(&origin, &origin, vec![first.into_wire()])
            .await
            .unwrap();
        // The operator re-pins the moment the rotation's pin is stored.
        let operator = {
            let (node, origin) = (itu.node().clone(), origin.clone());
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                while start.elapsed() < support::DEADLINE {
                    let stored = node.store().peers().unwrap();
                    if stored
                        .iter()
                        .any(|p| p.org == origin && p.key == k1.public())
                    {
                        node.add_peer(origin, k2, None).unwrap();
                        return true;
                    }
                }
                false
            })
        };
        itu.node()
            .ingest(&origin, &origin, vec![rotation.into_wire()])
            .await
            .unwrap();
        assert!(operator.join().unwrap(), "the rotation was never pinned");
        assert_eq!(
            stored_pin(&itu, &origin),
            k2,
            "round {round}: the operator's pin is stored"
        );
        assert_eq!(
            itu.node().key_of(&origin),
            Some(k2),
            "round {round}: the pin in memory is not the one stored"
        );
    }
}

/// A webhook receiver on loopback: each request's head, as text.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&seen).to_lowercase());
            let _ = stream
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    (url, rx)
}

/// `comity serve`, `comity demo` and this harness run one daemon: the node,
/// its dashboard and its notifier. A partner's consultation reaches the
/// webhook of a node started like any other here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_the_notifier_beside_the_node() {
    let root = temp_root();
    let (url, mut hooks) = webhook_receiver().await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    let mut ietf = TestNode::create_with(root.path(), "ietf", |c| {
        c.notifications
            .webhooks
            .push(comity_node::config::WebhookConfig {
                url,
                secret: "a secret for tests".into(),
            });
    })
    .await;
    ietf.start().await;
    mesh(&[&itu, &ietf]);
    itu.node()
        .publish(support::consultation("Internationalized domain names"))
        .await
        .unwrap();
    let head = tokio::time::timeout(support::DEADLINE, async {
        loop {
            let head = hooks.recv().await.expect("the receiver runs");
            if head.contains("x-comity-event: consultation") {
                return head;
            }
        }
    })
    .await
    .expect("the consultation reached the webhook");
    assert!(head.starts_with("post /hook "), "{head}");
}
