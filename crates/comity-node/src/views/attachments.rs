//! Attachments as a reader may have them: fetched from peers first when
//! not held, and only for a reader who may read some document naming them.

use super::Reader;
use crate::{blobs, error::NodeError, node::Node};
use comity_core::Hash;

impl Node {
    /// A blob held here, or fetched from peers first, for the node's own
    /// people: named by some document this node holds whole.
    pub async fn attachment(&self, hash: &Hash) -> Result<(), NodeError> {
        self.attachment_for(hash, Reader::Node).await
    }

    /// A blob held here, or fetched from peers first, if `reader` may read
    /// some document naming it; otherwise [`NodeError::NotFound`], the same
    /// answer as for a blob nobody names, so that a hash tells nothing.
    pub async fn attachment_for(&self, hash: &Hash, reader: Reader) -> Result<(), NodeError> {
        let readers = blobs::readers(self, hash)?;
        let allowed = match reader {
            Reader::Node => readers.is_named(),
            Reader::Public => readers.public,
        };
        if !allowed {
            return Err(NodeError::NotFound(format!(
                "no document readable here names attachment {hash}"
            )));
        }
        if self.store().blob_size(hash)?.is_some() {
            return Ok(());
        }
        blobs::fetch_now(self, hash, &readers).await
    }
}
