//! Replication between real nodes on loopback: full mesh, outage and
//! catch-up, relay through a third party.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use support::{TestNode, assert_chain, eventually, temp_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_published_at_one_node_reaches_the_others() {
    let root = temp_root();
    let a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    let c = TestNode::start_new(root.path(), "icann").await;
    for (x, y) in [(&a, &b), (&a, &c), (&b, &a), (&b, &c), (&c, &a), (&c, &b)] {
        x.follow(y);
    }
    let published = a.publish(1).await.remove(0);
    b.wait_for_seq(&a.org, published.seq()).await;
    c.wait_for_seq(&a.org, published.seq()).await;
    for node in [&b, &c] {
        let held = node.log_of(&a.org);
        assert_eq!(held.last().unwrap().id(), published.id());
        assert_eq!(held.last().unwrap().payload(), published.payload());
        assert_chain(&held, &a.public_key(), published.seq());
    }
    // Reciprocity is seen from both sides.
    eventually("a sees b as reciprocal", || {
        a.node()
            .peer_table()
            .views()
            .iter()
            .any(|p| p.record.org == b.org && p.reciprocal && p.connected)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_was_down_catches_up_without_duplicates() {
    let root = temp_root();
    let a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    let mut c = TestNode::start_new(root.path(), "ripe-ncc").await;
    for (x, y) in [(&a, &b), (&a, &c), (&b, &a), (&b, &c), (&c, &a), (&c, &b)] {
        x.follow(y);
    }
    let first = a.publish(1).await.remove(0);
    c.wait_for_seq(&a.org, first.seq()).await;
    c.wait_for_seq(&b.org, 1).await; // B's profile: nothing else is left to ingest

    c.stop().await;
    let published = a.publish(200).await;
    let last = published.last().unwrap().seq();
    c.start().await;
    c.wait_for_seq(&a.org, last).await;

    let held = c.log_of(&a.org);
    assert_chain(&held, &a.public_key(), last);
    let ingested = c
        .node()
        .counters
        .ingested
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        ingested, 200,
        "after restart, each missing entry is applied exactly once"
    );
    assert_eq!(held.last().unwrap().id(), published.last().unwrap().id());
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_only_follower_gets_the_log_through_a_relay_even_when_the_origin_is_gone() {
    let root = temp_root();
    let mut a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    let mut c = TestNode::start_new(root.path(), "afrinic").await;
    a.follow(&b);
    b.follow(&a);
    b.follow(&c);
    c.follow(&b);
    c.follow_key_only(&a); // C never connects to A.

    let early = a.publish(3).await;
    c.wait_for_seq(&a.org, early.last().unwrap().seq()).await;
    // C's source for A is B: A is not reachable from C.
    assert!(
        c.node()
            .peer_table()
            .views()
            .iter()
            .all(|p| p.record.org != a.org || !p.connected)
    );

    // C goes down; A publishes more, B relays them; A goes away for good.
    c.stop().await;
    let late = a.publish(5).await;
    let last = late.last().unwrap().seq();
    b.wait_for_seq(&a.org, last).await;
    a.stop().await;

    c.start().await;
    c.wait_for_seq(&a.org, last).await;
    assert_chain(&c.log_of(&a.org), &a.public_key(), last);
    c.stop().await;
}

/// Lists the services a server offers through gRPC reflection.
async fn reflected_services(channel: tonic::transport::Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer: {other:?}"),
    }
}

async fn serving(channel: tonic::transport::Channel, service: &str) -> bool {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    response.status == ServingStatus::Serving as i32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_servers_offer_health_and_reflection_to_standard_tools() {
    let root = temp_root();
    let a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    a.follow(&b);

    let local = comity_node::local_api::channel(&a.data.socket_path())
        .await
        .unwrap();
    assert!(serving(local.clone(), "comity.v1.Node").await);
    let services = reflected_services(local).await;
    for expected in ["comity.v1.Node", "grpc.health.v1.Health"] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} missing from {services:?}"
        );
    }

    // The federation server answers a pinned peer (B is pinned by A).
    let identity = comity_tls::TlsIdentity::new(&b.key, &b.org).unwrap();
    let config = comity_tls::client_config(&identity, a.public_key()).unwrap();
    let federation = comity_tls::connect(&a.endpoint(), config, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    assert!(serving(federation.clone(), "comity.v1.Federation").await);
    let services = reflected_services(federation).await;
    assert!(
        services.iter().any(|s| s == "comity.v1.Federation"),
        "{services:?}"
    );
}
