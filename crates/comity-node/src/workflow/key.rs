//! Key rotation at the origin: a KeyRotation entry signed by the old key,
//! staged on disk before and made current after, with the switch of keys
//! under the own-log lock.

use crate::{error::NodeError, node::Node};
use comity_core::{SignedEntry, entry::Audience, key_rotation, proto::document::Body};

impl Node {
    /// Rotates the identity key: a KeyRotation entry signed by the old key
    /// (carrying the new key's proof of possession), then the new key is used
    /// for entries and TLS. The new key is written to disk before the entry is
    /// published, and made current after, so a crash in between is recovered
    /// at start (see [`crate::datadir::DataDir::load_key_recovering`]).
    ///
    /// The node switches keys under the own-log lock, right after appending
    /// the rotation (`Node::append_own`), so no publish running meanwhile can
    /// sign the entry after it with the old key. Rotations are serialised:
    /// one staged key at a time.
    pub async fn rotate_key(&self) -> Result<SignedEntry, NodeError> {
        let _rotating = self.rotation_lock().await;
        let new_key = comity_core::IdentityKey::generate();
        if let Some(keys) = self.key_files() {
            keys.stage(&new_key)?;
        }
        let org = self.org().clone();
        let proven = new_key.clone();
        let entry = self
            .append_own(
                // The proof names the key that signs the rotation, read
                // under the own-log lock.
                move |old| Body::KeyRotation(key_rotation::new(&org, old, &proven)),
                Audience::Public,
                Some(new_key),
            )
            .await?;
        if let Some(keys) = self.key_files() {
            keys.commit()?;
        }
        tracing::info!(seq = entry.seq(), key = %self.public_key(), "identity key rotated");
        Ok(entry)
    }
}
