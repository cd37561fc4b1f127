//! The CLI's client of the local API: gRPC over the Unix socket in the data directory.

use comity_node::DataDir;
use comity_proto::v1::node_client::NodeClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no node is running in {0} (start one with `comity serve --data {0}`)")]
    NotRunning(String),
}

/// Connects to the node serving `data`, or says plainly that none does.
pub async fn connect(data: &DataDir) -> Result<NodeClient<Channel>, ClientError> {
    let path = data.socket_path();
    let shown = data.root().display().to_string();
    if !path.exists() {
        return Err(ClientError::NotRunning(shown));
    }
    let channel = Endpoint::from_static("http://comity.local")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|_| ClientError::NotRunning(shown))?;
    Ok(NodeClient::new(channel))
}
