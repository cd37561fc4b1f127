//! The node's error type, and its one mapping to gRPC status codes.

use crate::words::WordError;
use comity_core::{OrgId, VerifyError, document::DocumentError};
use comity_store::StoreError;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("rejected entry: {0}")]
    Verify(#[from] VerifyError),
    #[error("invalid document: {0}")]
    Document(#[from] DocumentError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{origin} equivocated at seq {seq}: two different signed entries; its log is frozen here"
    )]
    Equivocation { origin: OrgId, seq: u64 },
    #[error("{0} is frozen after equivocating; nothing more is accepted from it")]
    Frozen(OrgId),
    #[error("a peer served an entry of {got} on a subscription to {expected}")]
    WrongOrigin { expected: OrgId, got: OrgId },
    #[error("a node never ingests its own log from others")]
    OwnOrigin,
    #[error("{0}")]
    InvalidArgument(String),
    /// A word (a purpose, a status) that names nothing, typed into a form.
    #[error(transparent)]
    Word(#[from] WordError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// The node is recovering its own log at start (`crate::recovery`).
    #[error(
        "{org} is recovering its own log from its partners (for at most {left_secs}s more): it publishes once a partner that follows it has answered; `comity status` shows progress"
    )]
    Recovering { org: OrgId, left_secs: u64 },
    #[error("peer {peer}: {message}")]
    Peer { peer: OrgId, message: String },
    #[error(transparent)]
    DataDir(#[from] crate::datadir::DataDirError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<NodeError> for Status {
    fn from(err: NodeError) -> Self {
        let code = match &err {
            NodeError::Verify(_)
            | NodeError::Document(_)
            | NodeError::InvalidArgument(_)
            | NodeError::Word(_) => Code::InvalidArgument,
            NodeError::WrongOrigin { .. } | NodeError::OwnOrigin => Code::InvalidArgument,
            NodeError::Store(StoreError::NotNext { .. }) => Code::FailedPrecondition,
            NodeError::Store(StoreError::Frozen { .. })
            | NodeError::Store(StoreError::NotSigningKey { .. })
            | NodeError::Frozen(_)
            | NodeError::Equivocation { .. } => Code::FailedPrecondition,
            NodeError::Store(_) | NodeError::Internal(_) | NodeError::DataDir(_) => Code::Internal,
            NodeError::NotFound(_) => Code::NotFound,
            NodeError::PermissionDenied(_) => Code::PermissionDenied,
            NodeError::FailedPrecondition(_) => Code::FailedPrecondition,
            NodeError::Peer { .. } | NodeError::Recovering { .. } => Code::Unavailable,
        };
        Status::new(code, err.to_string())
    }
}
