//! The local API (`comity.v1.Node`): what the node's own people and the
//! `comity` CLI use, on a Unix socket only they can open.

use crate::{
    accounts::{self, Role},
    workflow::parse_ref,
};
use crate::{blobs, error::NodeError, node::Node, peers, protocol::Endpoint};
use comity_core::{OrgId, PublicKey, SignedEntry, document, proto};
use proto::{
    AddPeerRequest, EntrySummary, ListEntriesRequest, ListEntriesResponse, ListPeersRequest,
    ListPeersResponse, OriginHead, PeerStatus, PublishConsultationRequest, PublishResponse,
    RemovePeerRequest, RemovePeerResponse, StatusRequest, StatusResponse, node_server,
};
use std::sync::Arc;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status};

pub struct LocalApi {
    node: Arc<Node>,
    /// Where the streams it answers with run.
    tasks: TaskTracker,
}

impl LocalApi {
    /// The local API of `node`; its streams run as tasks of `tasks`.
    pub fn new(node: Arc<Node>, tasks: TaskTracker) -> Self {
        Self { node, tasks }
    }
}

/// Entries per `ExportEntries` page, at most.
const EXPORT_PAGE: usize = 256;

fn org_arg(text: &str) -> Result<OrgId, Status> {
    OrgId::new(text).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// The one-line listing of an entry, as `comity log` and `/api/v1/log` show it.
pub fn summarise(entry: &SignedEntry) -> EntrySummary {
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
        kind: entry.kind().to_proto() as i32,
        id: entry.id().to_hex(),
        created_at: entry.created_at().cloned(),
        payload_size: entry.payload_size(),
        redacted: entry.is_redacted(),
        summary,
    }
}

#[tonic::async_trait]
impl node_server::Node for LocalApi {
    async fn export_entries(
        &self,
        request: Request<proto::ExportEntriesRequest>,
    ) -> Result<Response<proto::ExportEntriesResponse>, Status> {
        let request = request.into_inner();
        let origin = org_arg(&request.origin)?;
        let limit = match request.limit {
            0 => EXPORT_PAGE,
            n => (n as usize).min(EXPORT_PAGE),
        };
        let entries = self
            .node
            .store()
            .entries_after(&origin, request.after_seq, limit)
            .map_err(NodeError::from)?;
        Ok(Response::new(proto::ExportEntriesResponse {
            entries: entries.into_iter().map(SignedEntry::into_wire).collect(),
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        let origin = org_arg(&request.into_inner().origin)?;
        let checkpoint = self.node.checkpoint_of(&origin)?.ok_or_else(|| {
            Status::not_found(format!(
                "{} keeps no checkpoint of {origin}'s log (not followed, or nothing signed yet)",
                self.node.org()
            ))
        })?;
        let cosigners = self
            .node
            .cosignatures_of(&origin)?
            .into_iter()
            .map(|(org, size, at)| proto::CosignerView {
                org: org.to_string(),
                size,
                at: Some(prost_types::Timestamp {
                    seconds: i64::try_from(at).unwrap_or(i64::MAX),
                    nanos: 0,
                }),
            })
            .collect();
        Ok(Response::new(proto::GetCheckpointResponse {
            note: checkpoint.to_text(),
            cosigners,
        }))
    }

    async fn show_equivocation(
        &self,
        request: Request<proto::ShowEquivocationRequest>,
    ) -> Result<Response<proto::ShowEquivocationResponse>, Status> {
        let origin = org_arg(&request.into_inner().origin)?;
        let evidence: Vec<_> = self
            .node
            .store()
            .equivocations()
            .map_err(NodeError::from)?
            .into_iter()
            .filter(|e| e.origin == origin)
            .map(|e| proto::EquivocationEvidence {
                seq: e.seq,
                kind: if crate::checkpoints::is_checkpoint_evidence(&e) {
                    proto::EvidenceKind::Checkpoints
                } else {
                    proto::EvidenceKind::Entries
                } as i32,
                held: e.held_header,
                held_signature: e.held_signature,
                conflicting: e.conflicting_header,
                conflicting_signature: e.conflicting_signature,
                reported_by: e.reported_by.to_string(),
            })
            .collect();
        if evidence.is_empty() {
            return Err(Status::not_found(format!(
                "{} holds no equivocation evidence against {origin}",
                self.node.org()
            )));
        }
        Ok(Response::new(proto::ShowEquivocationResponse { evidence }))
    }

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
        let refusal = |origin: &OrgId, r: &peers::Refusal| proto::Refusal {
            origin: origin.to_string(),
            seq: r.seq,
            id: r.id.to_hex(),
            peer: r.peer.to_string(),
            reason: r.reason.clone(),
            at: Some(r.at.into()),
        };
        let views = node.peer_table().views();
        let refused = views
            .iter()
            .filter_map(|v| v.refused.as_ref().map(|r| refusal(&v.record.org, r)))
            .collect();
        let refused_by_peers = views
            .iter()
            .filter_map(|v| v.refuses_ours.as_ref().map(|r| refusal(node.org(), r)))
            .collect();
        Ok(Response::new(StatusResponse {
            org: node.org().to_string(),
            key: node.public_key().to_string(),
            endpoint: node.config().endpoint().into(),
            listen: node.config().listen.to_string(),
            heads,
            peers: node.peer_statuses()?,
            equivocations,
            version: env!("CARGO_PKG_VERSION").to_string(),
            http: node.http_url().unwrap_or_default(),
            refused,
            refused_by_peers,
            recovery: Some(node.recovery_status()),
            dial_out_only: node.config().dial_out_only(),
        }))
    }

    async fn accept_entry(
        &self,
        request: Request<proto::AcceptEntryRequest>,
    ) -> Result<Response<proto::AcceptEntryResponse>, Status> {
        let request = request.into_inner();
        let origin = org_arg(&request.origin)?;
        self.node.accept_entry(&origin, request.seq, &request.id)?;
        Ok(Response::new(proto::AcceptEntryResponse {}))
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
        let endpoint = match request.endpoint.as_str() {
            "" => None,
            written => Some(
                written
                    .parse::<Endpoint>()
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            ),
        };
        let mut endpoints: Vec<Endpoint> = endpoint.into_iter().collect();
        for written in &request.more_endpoints {
            if endpoints.is_empty() {
                return Err(Status::invalid_argument(
                    "more endpoints need a first one (endpoint)",
                ));
            }
            endpoints.push(
                written
                    .parse::<Endpoint>()
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            );
        }
        self.node.add_peer_at(org.clone(), key, endpoints)?;
        tracing::info!(peer = %org, "peer added");
        self.node
            .peer_statuses()?
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
            peers: self.node.peer_statuses()?,
        }))
    }

    async fn publish_consultation(
        &self,
        request: Request<PublishConsultationRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let entry = self.node.publish_consultation(request.into_inner()).await?;
        Ok(Response::new(published(&entry)))
    }

    async fn revise_consultation(
        &self,
        request: Request<proto::ReviseConsultationRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let entry = self.node.revise_consultation(request.into_inner()).await?;
        Ok(Response::new(published(&entry)))
    }

    async fn list_consultations(
        &self,
        request: Request<proto::ListConsultationsRequest>,
    ) -> Result<Response<proto::ListConsultationsResponse>, Status> {
        let consultations = self.node.list_consultations(&request.into_inner())?;
        Ok(Response::new(proto::ListConsultationsResponse {
            consultations,
        }))
    }

    async fn show_consultation(
        &self,
        request: Request<proto::DocumentRef>,
    ) -> Result<Response<proto::ConsultationView>, Status> {
        let (origin, uuid) = parse_ref(Some(request.get_ref()), "consultation")?;
        Ok(Response::new(self.node.show_consultation(&origin, &uuid)?))
    }

    async fn respond(
        &self,
        request: Request<proto::RespondRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let entry = self.node.respond(request.into_inner()).await?;
        Ok(Response::new(published(&entry)))
    }

    async fn draft_liaison(
        &self,
        request: Request<proto::DraftLiaisonRequest>,
    ) -> Result<Response<proto::DraftView>, Status> {
        let draft = self.node.draft_liaison(request.into_inner())?;
        Ok(Response::new(draft_view(&self.node, &draft)?))
    }

    async fn approve_liaison(
        &self,
        request: Request<proto::DraftAction>,
    ) -> Result<Response<proto::DraftView>, Status> {
        let action = request.into_inner();
        self.node.check_sender_named(&action.id, &action.by)?;
        let draft = self.node.approve_liaison(&action.id, &action.by)?;
        Ok(Response::new(draft_view(&self.node, &draft)?))
    }

    async fn post_liaison(
        &self,
        request: Request<proto::DraftAction>,
    ) -> Result<Response<PublishResponse>, Status> {
        let action = request.into_inner();
        self.node.check_sender_named(&action.id, &action.by)?;
        let entry = self.node.post_liaison(&action.id).await?;
        Ok(Response::new(published(&entry)))
    }

    async fn reply_liaison(
        &self,
        request: Request<proto::ReplyLiaisonRequest>,
    ) -> Result<Response<proto::DraftView>, Status> {
        let draft = self.node.reply_liaison(request.into_inner())?;
        Ok(Response::new(draft_view(&self.node, &draft)?))
    }

    async fn list_drafts(
        &self,
        _: Request<proto::ListDraftsRequest>,
    ) -> Result<Response<proto::ListDraftsResponse>, Status> {
        let drafts = self
            .node
            .store()
            .drafts()
            .map_err(NodeError::from)?
            .iter()
            .map(|d| draft_view(&self.node, d))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(proto::ListDraftsResponse { drafts }))
    }

    async fn list_liaisons(
        &self,
        request: Request<proto::ListLiaisonsRequest>,
    ) -> Result<Response<proto::ListLiaisonsResponse>, Status> {
        let which = request.into_inner().r#box();
        let liaisons = self.node.list_liaisons(which)?;
        Ok(Response::new(proto::ListLiaisonsResponse { liaisons }))
    }

    async fn show_liaison(
        &self,
        request: Request<proto::DocumentRef>,
    ) -> Result<Response<proto::LiaisonView>, Status> {
        let (origin, uuid) = parse_ref(Some(request.get_ref()), "liaison")?;
        Ok(Response::new(self.node.show_liaison(&origin, &uuid)?))
    }

    async fn acknowledge(
        &self,
        request: Request<proto::AcknowledgeRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let entry = self.node.acknowledge(request.into_inner()).await?;
        Ok(Response::new(published(&entry)))
    }

    type GetAttachmentStream =
        tokio_stream::wrappers::ReceiverStream<Result<proto::AttachmentChunk, Status>>;

    async fn get_attachment(
        &self,
        request: Request<proto::GetAttachmentRequest>,
    ) -> Result<Response<Self::GetAttachmentStream>, Status> {
        let request = request.into_inner();
        let hash = Node::parse_hash(&request.hash)?;
        self.node.attachment(&hash).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let node = self.node.clone();
        let mut offset = request.offset;
        self.tasks.spawn(async move {
            loop {
                let chunk = match blobs::chunk_at(&node, &hash, offset) {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                offset = chunk.offset + chunk.data.len() as u64;
                let done = chunk.data.is_empty() || offset >= chunk.total_size;
                let chunk = proto::AttachmentChunk {
                    offset: chunk.offset,
                    data: chunk.data,
                    total_size: chunk.total_size,
                };
                if tx.send(Ok(chunk)).await.is_err() || done {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn add_user(
        &self,
        request: Request<proto::AddUserRequest>,
    ) -> Result<Response<proto::UserView>, Status> {
        let request = request.into_inner();
        let role = Role::from_proto(request.role)?;
        accounts::check_own_groups(
            self.node.org().as_str(),
            &self.node.config().profile.groups,
            &request.groups,
        )?;
        let now = self.node.now().unix_timestamp();
        let account = accounts::add_account(
            &**self.node.store(),
            &request.name,
            role,
            &request.groups,
            &request.password,
            now,
        )?;
        Ok(Response::new(user_view(&account)))
    }

    async fn list_users(
        &self,
        _: Request<proto::ListUsersRequest>,
    ) -> Result<Response<proto::ListUsersResponse>, Status> {
        let users = accounts::users(&**self.node.store())?
            .iter()
            .map(user_view)
            .collect();
        Ok(Response::new(proto::ListUsersResponse { users }))
    }

    async fn remove_user(
        &self,
        request: Request<proto::RemoveUserRequest>,
    ) -> Result<Response<proto::RemoveUserResponse>, Status> {
        let name = request.into_inner().name;
        if !accounts::remove_user(&**self.node.store(), &name)? {
            return Err(Status::not_found(format!(
                "no account {name:?} on this node"
            )));
        }
        Ok(Response::new(proto::RemoveUserResponse {}))
    }

    async fn rotate_key(
        &self,
        _: Request<proto::RotateKeyRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let entry = self.node.rotate_key().await?;
        Ok(Response::new(published(&entry)))
    }

    async fn search(
        &self,
        request: Request<proto::SearchRequest>,
    ) -> Result<Response<proto::SearchResponse>, Status> {
        let query = crate::search::query_of(request.get_ref())?;
        // The local API is the node's own people: they read what it holds.
        let results = self.node.search(query, crate::views::Reader::Node).await?;
        Ok(Response::new(crate::search::response_of(results)))
    }

    async fn reindex_search(
        &self,
        _: Request<proto::ReindexSearchRequest>,
    ) -> Result<Response<proto::ReindexSearchResponse>, Status> {
        let documents = self.node.reindex_search().await?;
        Ok(Response::new(proto::ReindexSearchResponse { documents }))
    }
}

pub(crate) fn user_view(account: &accounts::Account) -> proto::UserView {
    proto::UserView {
        name: account.name.clone(),
        role: account.role.to_proto() as i32,
        created_at: Some(prost_types::Timestamp {
            seconds: account.created_at,
            nanos: 0,
        }),
        groups: account.groups.clone(),
    }
}

fn published(entry: &SignedEntry) -> PublishResponse {
    let uuid = document::decode_for(entry)
        .ok()
        .and_then(|body| document::uuid_of(&body))
        .unwrap_or_default();
    PublishResponse {
        origin: entry.origin().to_string(),
        seq: entry.seq(),
        id: entry.id().to_hex(),
        uuid,
    }
}

fn draft_view(
    node: &Node,
    draft: &comity_store::LiaisonDraft,
) -> Result<proto::DraftView, NodeError> {
    use prost::Message;
    let statement = proto::LiaisonStatement::decode(draft.statement.as_slice())
        .map_err(|e| NodeError::Internal(format!("stored draft {} is corrupt: {e}", draft.id)))?;
    Ok(proto::DraftView {
        id: draft.id.clone(),
        statement: Some(statement),
        restricted: draft.restricted,
        approved: draft.approved_by.is_some(),
        approved_by: draft.approved_by.clone().unwrap_or_default(),
        needs_approval: node.config().workflow.liaison_approval,
        posted_seq: draft.posted_seq.unwrap_or_default(),
    })
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
