//! The CLI's client of the local API: gRPC over the Unix socket in the data directory.

use crate::Failure;
use comity_node::DataDir;
use comity_proto::v1::node_client::NodeClient;
use tonic::transport::Channel;

/// Replies larger than tonic's 4 MiB default: a consultation with all its
/// responses, or attachment chunks.
const MAX_MESSAGE_BYTES: usize = 80 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no node is running in {0} (start one with `comity serve --data {0}`)")]
    NotRunning(String),
}

/// Connects to the node serving `data`, or says plainly that none does.
pub async fn connect(data: &DataDir) -> Result<NodeClient<Channel>, ClientError> {
    let path = data.socket_path();
    let not_running = || ClientError::NotRunning(data.root().display().to_string());
    if !path.exists() {
        return Err(not_running());
    }
    comity_node::local_api::connect(&path)
        .await
        .map(|api| api.max_decoding_message_size(MAX_MESSAGE_BYTES))
        .map_err(|_| not_running())
}

/// A gRPC status from the node, shown as is: its message is written for people.
pub fn status_failure(status: tonic::Status) -> Failure {
    Failure {
        message: status.message().to_string(),
        code: 1,
    }
}
