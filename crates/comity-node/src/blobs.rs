//! Attachments: content-addressed blobs, served to peers in chunks from any
//! offset, and fetched from whichever peer holds them, resuming where a
//! broken transfer stopped. A blob is stored only once its BLAKE3 hash checks.
//!
//! Who may have a blob follows from the entries that name it
//! ([`readers`]): a blob named by a public entry goes to anyone, one named
//! only by restricted entries to their origins and audiences. That rule
//! decides both what is served (`GetBlob`) and whom a node asks, so an
//! organisation outside the audience never even learns a restricted blob's
//! hash. What a peer says about a blob is checked against the sizes the
//! signed documents give: a peer that claims another size, or sends more
//! than it claimed, costs the partial download, never the blob.
//!
//! A document names at most [`comity_core::document::MAX_ATTACHMENTS`]
//! blobs. At most [`MAX_WANTED`] wait to be fetched in the background, and
//! [`MAX_CONCURRENT_FETCHES`] of them are fetched at once; someone waiting
//! for a blob (`comity attachment get`, the dashboard) does not queue behind
//! them, but has as many transfers again of its own.

use crate::{error::NodeError, node::Node, peers::Source, protocol, transfers::Queued};
use comity_core::{Hash, OrgId, document, entry::Audience, proto};
use std::{collections::BTreeSet, sync::Arc};
use tokio_util::task::TaskTracker;

pub use crate::transfers::{MAX_CONCURRENT_FETCHES, MAX_WANTED};

/// Bytes per chunk on the wire.
pub const CHUNK: usize = 64 * 1024;

/// Who may have a blob, from the entries held here whole that name it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobReaders {
    /// A public entry names it: anyone may have it.
    pub public: bool,
    /// The origins and audiences of the restricted entries naming it.
    pub orgs: BTreeSet<OrgId>,
    /// The sizes those documents give it (one, unless an origin erred).
    pub sizes: BTreeSet<u64>,
}

impl BlobReaders {
    /// Whether any entry held here names the blob.
    pub fn is_named(&self) -> bool {
        !self.sizes.is_empty()
    }

    /// Whether `org` may have the blob.
    pub fn allows(&self, org: &OrgId) -> bool {
        self.public || self.orgs.contains(org)
    }
}

/// Who may have the blob `hash`, from the documents held here that name it.
pub fn readers(node: &Node, hash: &Hash) -> Result<BlobReaders, NodeError> {
    let mut readers = BlobReaders::default();
    for pos in node.store().entries_naming_blob(hash)? {
        let Some(entry) = node.store().entry(&pos.origin, pos.seq)? else {
            continue;
        };
        if entry.is_redacted() {
            continue;
        }
        let Ok(body) = document::decode_for(&entry) else {
            continue;
        };
        let sizes: Vec<u64> = document::attachments_of(&body)
            .iter()
            .filter(|a| a.hash == hash.0)
            .map(|a| a.size)
            .collect();
        if sizes.is_empty() {
            continue;
        }
        readers.sizes.extend(sizes);
        match entry.audience() {
            Audience::Public => readers.public = true,
            Audience::Restricted(orgs) => {
                readers.orgs.insert(entry.origin().clone());
                readers.orgs.extend(orgs.iter().cloned());
            }
        }
    }
    Ok(readers)
}

/// Starts fetching, in the background (tasks of `tasks`), every attachment
/// not held yet.
pub(crate) fn want(
    node: &Arc<Node>,
    source: &OrgId,
    attachments: Vec<proto::AttachmentRef>,
    tasks: &TaskTracker,
) {
    for attachment in attachments {
        let Some(hash) = Hash::from_slice(&attachment.hash) else {
            continue;
        };
        if node.store().blob_size(&hash).ok().flatten().is_some() {
            continue;
        }
        match node.transfers().want(hash) {
            Queued::Now => {}
            Queued::Already => continue,
            Queued::Full => {
                tracing::warn!(%hash, "{MAX_WANTED} attachments wait to be fetched already; this one is fetched when asked for");
                continue;
            }
        }
        let node_for_task = node.clone();
        let source = source.clone();
        tasks.spawn(async move {
            let node = node_for_task;
            let in_flight = node.transfers();
            let fetched = match in_flight.background.acquire().await {
                Err(e) => Err(NodeError::Internal(format!("blob transfers: {e}"))),
                Ok(_permit) => {
                    let held = node.store().blob_size(&hash).ok().flatten().is_some();
                    // Held or being fetched: someone asked for it meanwhile.
                    if held || !in_flight.claim(hash) {
                        Ok(())
                    } else {
                        let fetched = match readers(&node, &hash) {
                            Ok(readers) => fetch(&node, &hash, &readers, Some(&source)).await,
                            Err(e) => Err(e),
                        };
                        in_flight.release(&hash);
                        fetched
                    }
                }
            };
            match fetched {
                Ok(()) => tracing::debug!(%hash, "attachment fetched"),
                Err(e) => tracing::info!(%hash, error = %e, "attachment not fetched yet"),
            }
            in_flight.unwant(&hash);
        });
    }
}

/// Fetches a blob for someone waiting on it, ahead of the background
/// queue: after a transfer of it already running, never beside one.
pub async fn fetch_now(node: &Node, hash: &Hash, readers: &BlobReaders) -> Result<(), NodeError> {
    let in_flight = node.transfers();
    loop {
        let released = in_flight.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if node.store().blob_size(hash)?.is_some() {
            return Ok(());
        }
        if in_flight.claim(*hash) {
            let fetched = match in_flight.asked.acquire().await {
                Ok(_permit) => fetch(node, hash, readers, None).await,
                Err(e) => Err(NodeError::Internal(format!("blob transfers: {e}"))),
            };
            in_flight.release(hash);
            return fetched;
        }
        released.await;
    }
}

/// Fetches a blob from `preferred`, then from any other connected peer that
/// may have it, resuming from the bytes already held; checks the hash before
/// storing. The caller holds the blob's claim and a transfer permit.
async fn fetch(
    node: &Node,
    hash: &Hash,
    readers: &BlobReaders,
    preferred: Option<&OrgId>,
) -> Result<(), NodeError> {
    if !readers.is_named() {
        return Err(NodeError::NotFound(format!(
            "no document held here names attachment {hash}"
        )));
    }
    let limit = node.config().limits.max_attachment_bytes;
    if readers.sizes.iter().all(|size| *size > limit) {
        return Err(NodeError::InvalidArgument(format!(
            "attachment {hash} is {} bytes; this node accepts at most {limit}",
            readers.sizes.iter().min().copied().unwrap_or_default()
        )));
    }
    let mut last_error = format!("no connected peer that may have attachment {hash} holds it");
    let sources = node
        .peer_table()
        .sources_for_blob(preferred, |org| readers.allows(org));
    for source in sources {
        match fetch_from(node, hash, &readers.sizes, &source).await {
            Ok(()) => return Ok(()),
            Err(e) => last_error = format!("{}: {e}", source.org),
        }
    }
    Err(NodeError::NotFound(last_error))
}

/// One transfer from one source. Bytes that cannot be the blob (more than
/// it claims, a size no document gives, a claim that changes, a chunk out of
/// place) discard the partial download; a transfer that merely stops keeps
/// it, to resume from.
async fn fetch_from(
    node: &Node,
    hash: &Hash,
    sizes: &BTreeSet<u64>,
    source: &Source,
) -> Result<(), NodeError> {
    let limit = node.config().limits.max_attachment_bytes;
    let store = node.store();
    let peer_error = |message: String| NodeError::Peer {
        peer: source.org.clone(),
        message,
    };
    let mut offset = store.partial_blob_len(hash)?;
    if sizes.iter().all(|size| offset > *size) {
        store.discard_partial_blob(hash)?;
        offset = 0;
    }
    // The answer, and then each chunk, must come within the deadline: a
    // peer that stops sending must not hold the fetch (and the blob's
    // in-flight claim) for ever.
    let deadline = node.config().replication.call_deadline();
    let late = || peer_error(format!("sent nothing for {}s", deadline.as_secs()));
    let mut client = protocol::federation_client(
        source.channel.clone(),
        node.config().limits.max_message_bytes,
    );
    let answer = client.get_blob(proto::GetBlobRequest {
        hash: hash.0.to_vec(),
        offset,
    });
    let mut stream = tokio::time::timeout(deadline, answer)
        .await
        .map_err(|_| late())?
        .map_err(|s| peer_error(s.message().to_string()))?
        .into_inner();
    let mut held = offset;
    let mut total = None;
    while let Some(chunk) = tokio::time::timeout(deadline, stream.message())
        .await
        .map_err(|_| late())?
        .map_err(|s| peer_error(s.message().to_string()))?
    {
        let claimed = chunk.total_size;
        let poisoned = bad_chunk(hash, sizes, limit, total, held, &chunk);
        if let Some(why) = poisoned {
            store.discard_partial_blob(hash)?;
            return Err(peer_error(format!(
                "{why}; the partial download was discarded"
            )));
        }
        total = Some(claimed);
        held = store.append_partial_blob(hash, chunk.offset, &chunk.data)?;
        if held == claimed || chunk.data.is_empty() {
            break;
        }
    }
    match total {
        Some(total) if held == total => {
            store.finish_blob(hash)?;
            store.flush()?;
            Ok(())
        }
        _ => Err(peer_error(format!(
            "transfer of {hash} stopped at {held} bytes"
        ))),
    }
}

/// Why `chunk` cannot be the next bytes of blob `hash` (of one of `sizes`,
/// at most `limit`), `held` bytes of it held and `total` claimed before:
/// more than it claims, a size no document gives, a claim that changes,
/// a chunk out of place. None when it can.
pub(crate) fn bad_chunk(
    hash: &Hash,
    sizes: &BTreeSet<u64>,
    limit: u64,
    total: Option<u64>,
    held: u64,
    chunk: &proto::BlobChunk,
) -> Option<String> {
    let claimed = chunk.total_size;
    let end = chunk.offset.saturating_add(chunk.data.len() as u64);
    if !sizes.contains(&claimed) {
        Some(format!(
            "says attachment {hash} is {claimed} bytes, where the documents naming it say {sizes:?}"
        ))
    } else if claimed > limit {
        Some(format!(
            "attachment {hash} is {claimed} bytes; this node accepts at most {limit}"
        ))
    } else if total.is_some_and(|t| t != claimed) {
        Some(format!(
            "changed the size of attachment {hash} mid-transfer"
        ))
    } else if chunk.offset != held {
        Some(format!(
            "sent bytes of attachment {hash} from offset {}, where {held} were expected",
            chunk.offset
        ))
    } else if end > claimed {
        Some(format!(
            "sent {end} bytes of attachment {hash}, which it says is {claimed} bytes"
        ))
    } else {
        None
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
