//! Attachments: content-addressed blobs, served to peers in chunks from any
//! offset, and fetched from whichever peer holds them, resuming where a
//! broken transfer stopped. A blob is stored only once its BLAKE3 hash checks.

use crate::{error::NodeError, node::Node, peers};
use comity_core::{Hash, OrgId, proto};
use std::{collections::HashSet, sync::Arc};

/// Bytes per chunk on the wire.
pub const CHUNK: usize = 64 * 1024;

/// Blobs being fetched now, so that each is fetched once.
#[derive(Debug, Default)]
pub struct InFlight(std::sync::Mutex<HashSet<Hash>>);

impl InFlight {
    fn claim(&self, hash: Hash) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash)
    }
    fn release(&self, hash: &Hash) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash);
    }
}

/// Starts fetching, in the background, every attachment not held yet.
pub(crate) fn want(node: &Arc<Node>, source: &OrgId, attachments: Vec<proto::AttachmentRef>) {
    for attachment in attachments {
        let Some(hash) = Hash::from_slice(&attachment.hash) else {
            continue;
        };
        if node.store().blob_size(&hash).ok().flatten().is_some()
            || !node.blobs_in_flight().claim(hash)
        {
            continue;
        }
        let node_for_task = node.clone();
        let source = source.clone();
        node.tasks.spawn(async move {
            match fetch(&node_for_task, &hash, Some(&source)).await {
                Ok(()) => tracing::debug!(%hash, "attachment fetched"),
                Err(e) => tracing::info!(%hash, error = %e, "attachment not fetched yet"),
            }
            node_for_task.blobs_in_flight().release(&hash);
        });
    }
}

/// Fetches a blob from `preferred`, then from any other connected peer,
/// resuming from the bytes already held; checks the hash before storing.
pub async fn fetch(node: &Node, hash: &Hash, preferred: Option<&OrgId>) -> Result<(), NodeError> {
    let mut last_error = format!("no connected peer holds attachment {hash}");
    for source in peers::sources_for_blob(node, preferred) {
        match fetch_from(node, hash, &source).await {
            Ok(()) => return Ok(()),
            Err(e) => last_error = format!("{}: {e}", source.org),
        }
    }
    Err(NodeError::NotFound(last_error))
}

async fn fetch_from(node: &Node, hash: &Hash, source: &peers::Source) -> Result<(), NodeError> {
    let limit = node.config().limits.max_attachment_bytes;
    let offset = node.store().partial_blob_len(hash)?;
    // The answer, and then each chunk, must come within the deadline: a
    // peer that stops sending must not hold the fetch (and the blob's
    // in-flight claim) for ever.
    let deadline = peers::call_deadline(node);
    let late = || NodeError::Peer {
        peer: source.org.clone(),
        message: format!("sent nothing for {}s", deadline.as_secs()),
    };
    let mut client = peers::client(node, source.channel.clone());
    let answer = client.get_blob(proto::GetBlobRequest {
        hash: hash.0.to_vec(),
        offset,
    });
    let mut stream = tokio::time::timeout(deadline, answer)
        .await
        .map_err(|_| late())?
        .map_err(|s| NodeError::Peer {
            peer: source.org.clone(),
            message: s.message().to_string(),
        })?
        .into_inner();
    let mut held = offset;
    let mut total = None;
    while let Some(chunk) = tokio::time::timeout(deadline, stream.message())
        .await
        .map_err(|_| late())?
        .map_err(|s| NodeError::Peer {
            peer: source.org.clone(),
            message: s.message().to_string(),
        })?
    {
        if chunk.total_size > limit {
            return Err(NodeError::InvalidArgument(format!(
                "attachment {hash} is {} bytes; this node accepts at most {limit}",
                chunk.total_size
            )));
        }
        total = Some(chunk.total_size);
        held = node
            .store()
            .append_partial_blob(hash, chunk.offset, &chunk.data)?;
        if held > chunk.total_size {
            break;
        }
    }
    if total.is_some_and(|t| held == t) {
        node.store().finish_blob(hash)?;
        node.store().flush()?;
        Ok(())
    } else {
        Err(NodeError::Peer {
            peer: source.org.clone(),
            message: format!("transfer of {hash} stopped at {held} bytes"),
        })
    }
}

/// One chunk of a held blob, from `offset`; `None` when not held.
pub fn chunk_at(
    node: &Node,
    hash: &Hash,
    offset: u64,
) -> Result<Option<proto::BlobChunk>, NodeError> {
    let Some(total_size) = node.store().blob_size(hash)? else {
        return Ok(None);
    };
    if offset > total_size {
        return Err(NodeError::InvalidArgument(format!(
            "offset {offset} is past the end of attachment {hash} ({total_size} bytes)"
        )));
    }
    let data = node
        .store()
        .read_blob(hash, offset, CHUNK)?
        .unwrap_or_default();
    Ok(Some(proto::BlobChunk {
        offset,
        data,
        total_size,
    }))
}
