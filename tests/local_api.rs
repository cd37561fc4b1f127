//! The local API from any gRPC client: reflection v1 and v1alpha on the
//! socket and on the loopback TCP listener, and the TCP listener's API
//! tokens (missing, wrong, revoked, read-only), each refusal leaving the
//! node as it was.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_node::tokens::ApiTokens;
use comity_proto::v1::{self as proto, node_client::NodeClient};
use std::net::SocketAddr;
use support::{TestNode, temp_root};
use tonic::{Code, transport::Channel};

async fn tcp_channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A request with `authorization: Bearer <token>`, when given one.
fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

fn consultation(title: &str) -> proto::PublishConsultationRequest {
    proto::PublishConsultationRequest {
        title: title.into(),
        closes: "2099-12-31".into(),
        ..Default::default()
    }
}

/// The services listed by reflection v1alpha, the version Python's
/// `grpcio-reflection` speaks.
async fn reflected_v1alpha(channel: Channel, token: Option<&str>) -> Result<Vec<String>, Code> {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(with_token(tokio_stream::iter([request]), token))
        .await
        .map_err(|s| s.code())?
        .into_inner();
    match responses.message().await.map_err(|s| s.code())? {
        Some(response) => match response.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                Ok(list.service.into_iter().map(|s| s.name).collect())
            }
            other => panic!("unexpected reflection answer: {other:?}"),
        },
        None => panic!("reflection closed the stream without an answer"),
    }
}

/// The services listed by reflection v1.
async fn reflected_v1(channel: Channel, token: Option<&str>) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(with_token(tokio_stream::iter([request]), token))
        .await
        .unwrap()
        .into_inner();
    match responses.message().await.unwrap().unwrap().message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer: {other:?}"),
    }
}

fn assert_lists_comity(services: &[String]) {
    for expected in ["comity.v1.Node", "grpc.health.v1.Health"] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} missing from {services:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1alpha_is_served_on_the_socket_and_over_tcp() {
    let root = temp_root();
    let mut node = TestNode::create_with(root.path(), "itu", |c| {
        c.local_api.tcp = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    node.start().await;
    let socket = comity_node::local_api::channel(&node.data.socket_path())
        .await
        .unwrap();
    assert_lists_comity(&reflected_v1alpha(socket, None).await.unwrap());

    let (_, token) = ApiTokens::in_data_dir(node.data.root())
        .create("tools", true, time::OffsetDateTime::now_utc())
        .unwrap();
    let tcp = tcp_channel(node.local_api_tcp_addr().unwrap()).await;
    assert_lists_comity(&reflected_v1alpha(tcp.clone(), Some(&token)).await.unwrap());
    assert_lists_comity(&reflected_v1(tcp.clone(), Some(&token)).await);
    // Reflection over TCP needs a token too.
    assert_eq!(
        reflected_v1alpha(tcp, None).await.unwrap_err(),
        Code::Unauthenticated
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_tokens_missing_wrong_revoked_or_read_only_change_nothing() {
    let root = temp_root();
    let mut node = TestNode::create_with(root.path(), "itu", |c| {
        c.local_api.tcp = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    node.start().await;
    let tokens = ApiTokens::in_data_dir(node.data.root());
    let now = time::OffsetDateTime::now_utc();
    let (_, full) = tokens.create("script", false, now).unwrap();
    let (_, read_only) = tokens.create("monitor", true, now).unwrap();
    let org = node.org.clone();
    let mut api = NodeClient::new(tcp_channel(node.local_api_tcp_addr().unwrap()).await);
    let held = |node: &TestNode| node.head_seq(&org);
    let users = |node: &TestNode| comity_node::accounts::users(&**node.node().store()).unwrap();
    let before = held(&node);

    // Health answers anyone who can reach the port: probes send no token.
    let health = tonic_health::pb::health_client::HealthClient::new(
        tcp_channel(node.local_api_tcp_addr().unwrap()).await,
    )
    .check(tonic_health::pb::HealthCheckRequest {
        service: "comity.v1.Node".into(),
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // Missing and wrong tokens: UNAUTHENTICATED for reads and writes alike.
    for token in [
        None,
        Some("comity_0123"),
        Some(&read_only[..read_only.len() - 1]),
    ] {
        let status = api
            .status(with_token(proto::StatusRequest {}, token))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
        let status = api
            .publish_consultation(with_token(consultation("refused"), token))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
        let status = api
            .add_user(with_token(
                proto::AddUserRequest {
                    name: "mallory".into(),
                    role: proto::Role::Admin as i32,
                    password: "correct horse battery staple".into(),
                    groups: Vec::new(),
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
    }
    assert_eq!(held(&node), before);
    assert!(users(&node).is_empty());

    // A read-only token reads, and is refused every write.
    let status = api
        .status(with_token(proto::StatusRequest {}, Some(&read_only)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.org, org.as_str());
    api.list_consultations(with_token(
        proto::ListConsultationsRequest::default(),
        Some(&read_only),
    ))
    .await
    .unwrap();
    let refused = api
        .publish_consultation(with_token(consultation("refused"), Some(&read_only)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("read-only"), "{refused:?}");
    let refused = api
        .add_user(with_token(
            proto::AddUserRequest {
                name: "mallory".into(),
                role: proto::Role::Admin as i32,
                password: "correct horse battery staple".into(),
                groups: Vec::new(),
            },
            Some(&read_only),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(held(&node), before);
    assert!(users(&node).is_empty());

    // A read-write token writes.
    api.publish_consultation(with_token(consultation("accepted"), Some(&full)))
        .await
        .unwrap();
    let after = held(&node);
    assert_eq!(after, before + 1);

    // Revoked: refused from the next call on, with no restart.
    tokens.revoke("script").unwrap();
    let status = api
        .publish_consultation(with_token(consultation("after revocation"), Some(&full)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(held(&node), after);
    node.stop().await;
}

/// Issue 15: when `by` names an account, its rights apply: a liaison manager
/// of ietf/ccamp approves a ccamp draft, and gets PERMISSION_DENIED naming
/// the group for an opsawg one, which stays unapproved and unposted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liaison_manager_is_refused_for_another_groups_draft() {
    let root = temp_root();
    let mut ietf = TestNode::create_with(root.path(), "ietf", |c| {
        c.workflow.liaison_approval = true;
        c.profile.groups = vec!["ccamp".into(), "opsawg".into()];
    })
    .await;
    let itu = TestNode::create(root.path(), "itu").await;
    ietf.start().await;
    ietf.follow(&itu);
    comity_node::accounts::add_account(
        &**ietf.node().store(),
        "alice",
        comity_node::accounts::Role::LiaisonManager,
        &["ietf/ccamp".to_string()],
        "correct horse battery",
        0,
    )
    .unwrap();
    let draft = |group: &str| {
        ietf.node()
            .draft_liaison(proto::DraftLiaisonRequest {
                from: vec![group.into()],
                to: vec![proto::Recipient {
                    to: "itu".into(),
                    ..Default::default()
                }],
                purpose: proto::LiaisonPurpose::Information as i32,
                title: format!("{group} progress"),
                body: "For your information.".into(),
                ..Default::default()
            })
            .unwrap()
            .id
    };
    let (ccamp, opsawg) = (draft("ccamp"), draft("opsawg"));
    let mut api = NodeClient::new(
        comity_node::local_api::channel(&ietf.data.socket_path())
            .await
            .unwrap(),
    );
    let action = |id: &str| proto::DraftAction {
        id: id.into(),
        by: "alice".into(),
    };
    let approved = api
        .approve_liaison(action(&ccamp))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.approved_by, "alice");
    api.post_liaison(action(&ccamp)).await.unwrap();

    let before = ietf.head_seq(&ietf.org);
    let refused = api.approve_liaison(action(&opsawg)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("not for opsawg"), "{refused:?}");
    let refused = api.post_liaison(action(&opsawg)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(ietf.head_seq(&ietf.org), before, "nothing posted");
    let stored = ietf.node().store().draft(&opsawg).unwrap().unwrap();
    assert_eq!(stored.approved_by, None);
    assert_eq!(stored.posted_seq, None);
    ietf.stop().await;
}
