//! The local API (`comity.v1.Node`): what the node's own people and the
//! `comity` CLI use, on a Unix socket only they can open.

use crate::{error::NodeError, node::Node, peers};
use comity_core::{OrgId, PublicKey, SignedEntry, dates, document, proto};
use proto::{
    AddPeerRequest, EntrySummary, ListEntriesRequest, ListEntriesResponse, ListPeersRequest,
    ListPeersResponse, OriginHead, OriginLag, PeerStatus, PublishConsultationRequest,
    PublishResponse, RemovePeerRequest, RemovePeerResponse, StatusRequest, StatusResponse,
    node_server,
};
use std::{collections::HashMap, sync::Arc};
use tonic::{Request, Response, Status};

pub struct LocalApi {
    node: Arc<Node>,
}

impl LocalApi {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

fn org_arg(text: &str) -> Result<OrgId, Status> {
    OrgId::new(text).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn summarise(entry: &SignedEntry) -> EntrySummary {
    let summary = if entry.is_redacted() {
        "(restricted)".to_string()
    } else {
        document::decode_for(entry)
            .map(|body| document::summary(&body))
            .unwrap_or_default()
    };
    EntrySummary {
        origin: entry.origin().to_string(),
        seq: entry.seq(),
        kind: entry.kind().as_str().to_string(),
        id: entry.id().to_hex(),
        created_at: entry.created_at().cloned(),
        payload_size: entry.payload_size(),
        redacted: entry.is_redacted(),
        summary,
    }
}

pub(crate) fn peer_statuses(node: &Node) -> Result<Vec<PeerStatus>, NodeError> {
    let ours: HashMap<OrgId, u64> = node.heads()?.into_iter().map(|(o, h)| (o, h.seq)).collect();
    Ok(node
        .peers
        .views()
        .into_iter()
        .map(|view| PeerStatus {
            org: view.record.org.to_string(),
            key: view.record.key.to_string(),
            endpoint: view.record.endpoint.clone().unwrap_or_default(),
            connected: view.connected,
            reciprocal: view.reciprocal,
            last_error: view.last_error.clone().unwrap_or_default(),
            last_contact: view.last_contact.map(Into::into),
            lag: peers::lag(&view, &ours)
                .into_iter()
                .map(|(origin, local_seq, remote_seq)| OriginLag {
                    origin: origin.to_string(),
                    local_seq,
                    remote_seq,
                })
                .collect(),
            serving: view.serving.iter().map(ToString::to_string).collect(),
            failures: view.failures,
        })
        .collect())
}

#[tonic::async_trait]
impl node_server::Node for LocalApi {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let node = &self.node;
        let store = node.store();
        let heads = node
            .heads()?
            .into_iter()
            .map(|(origin, head)| {
                Ok(OriginHead {
                    frozen: store.is_frozen(&origin).map_err(NodeError::from)?,
                    origin: origin.to_string(),
                    seq: head.seq,
                    hash: head.hash.to_hex(),
                })
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        let equivocations = store
            .equivocations()
            .map_err(NodeError::from)?
            .into_iter()
            .map(|e| proto::Equivocation {
                origin: e.origin.to_string(),
                seq: e.seq,
                held_id: e.held_id().to_hex(),
                conflicting_id: e.conflicting_id().to_hex(),
                reported_by: e.reported_by.to_string(),
                detected_at: Some(prost_types::Timestamp {
                    seconds: e.detected_at,
                    nanos: 0,
                }),
            })
            .collect();
        Ok(Response::new(StatusResponse {
            org: node.org().to_string(),
            key: node.public_key().to_string(),
            endpoint: node.config().endpoint(),
            listen: node.config().listen.to_string(),
            heads,
            peers: peer_statuses(node)?,
            equivocations,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }

    async fn list_entries(
        &self,
        request: Request<ListEntriesRequest>,
    ) -> Result<Response<ListEntriesResponse>, Status> {
        let request = request.into_inner();
        let store = self.node.store();
        let origins = if request.origin.is_empty() {
            self.node.heads()?.into_iter().map(|(o, _)| o).collect()
        } else {
            vec![org_arg(&request.origin)?]
        };
        let limit = match request.limit {
            0 => usize::MAX,
            n => n as usize,
        };
        let mut entries = Vec::new();
        for origin in origins {
            let held = store
                .entries_after(&origin, request.after_seq, limit)
                .map_err(NodeError::from)?;
            entries.extend(held.iter().map(summarise));
        }
        Ok(Response::new(ListEntriesResponse { entries }))
    }

    async fn add_peer(
        &self,
        request: Request<AddPeerRequest>,
    ) -> Result<Response<PeerStatus>, Status> {
        let request = request.into_inner();
        let org = org_arg(&request.org)?;
        let key: PublicKey = request
            .key
            .parse()
            .map_err(|e: comity_core::KeyError| Status::invalid_argument(e.to_string()))?;
        let endpoint = Some(request.endpoint).filter(|e| !e.is_empty());
        self.node.add_peer(org.clone(), key, endpoint)?;
        tracing::info!(peer = %org, "peer added");
        peer_statuses(&self.node)?
            .into_iter()
            .find(|p| p.org == org.as_str())
            .map(Response::new)
            .ok_or_else(|| Status::internal("peer vanished after adding"))
    }

    async fn remove_peer(
        &self,
        request: Request<RemovePeerRequest>,
    ) -> Result<Response<RemovePeerResponse>, Status> {
        let org = org_arg(&request.into_inner().org)?;
        if !self.node.remove_peer(&org)? {
            return Err(Status::not_found(format!(
                "{org} is not a peer of this node"
            )));
        }
        Ok(Response::new(RemovePeerResponse {}))
    }

    async fn list_peers(
        &self,
        _: Request<ListPeersRequest>,
    ) -> Result<Response<ListPeersResponse>, Status> {
        Ok(Response::new(ListPeersResponse {
            peers: peer_statuses(&self.node)?,
        }))
    }

    async fn publish_consultation(
        &self,
        request: Request<PublishConsultationRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let request = request.into_inner();
        let lang = if request.lang.is_empty() {
            "en".to_string()
        } else {
            request.lang
        };
        let closes = dates::parse_end(&request.closes)
            .map_err(|e| Status::invalid_argument(format!("--closes: {e}")))?;
        let opens = match request.opens.as_str() {
            "" => None,
            text => Some(
                dates::parse_start(text)
                    .map_err(|e| Status::invalid_argument(format!("--opens: {e}")))?,
            ),
        };
        let uuid = document::new_uuid();
        let text = |value: String| {
            (!value.trim().is_empty())
                .then(|| proto::Text {
                    lang: lang.clone(),
                    value,
                })
                .into_iter()
                .collect::<Vec<_>>()
        };
        let consultation = proto::Consultation {
            uuid: uuid.clone(),
            revision: 1,
            title: text(request.title),
            summary: text(request.summary),
            opens_at: opens.map(dates::to_timestamp),
            closes_at: Some(dates::to_timestamp(closes)),
            status: proto::ConsultationStatus::Open as i32,
            topics: request.topics,
            ..Default::default()
        };
        let entry = self
            .node
            .publish(proto::document::Body::Consultation(consultation))
            .await?;
        Ok(Response::new(PublishResponse {
            origin: entry.origin().to_string(),
            seq: entry.seq(),
            id: entry.id().to_hex(),
            uuid,
        }))
    }
}

/// Connects a client to the local API socket at `socket`.
pub async fn connect(
    socket: &std::path::Path,
) -> Result<proto::node_client::NodeClient<tonic::transport::Channel>, tonic::transport::Error> {
    Ok(proto::node_client::NodeClient::new(channel(socket).await?))
}

/// A gRPC channel over the local API socket, for any client (health, reflection…).
pub async fn channel(
    socket: &std::path::Path,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let socket = socket.to_path_buf();
    tonic::transport::Endpoint::from_static("http://comity.local")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
}
