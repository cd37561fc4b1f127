//! Pinning and unpinning peers: the operator's part of federation. A pin is
//! durable before it counts; a key pinned by the operator applies after the
//! log held then, so a rotation held already never overrides it.

use crate::{clock::now_unix, error::NodeError, node::Node, protocol::Endpoint};
use comity_core::{OrgId, PublicKey};
use comity_store::PeerRecord;

impl Node {
    /// Pins a peer (or changes its key or endpoint). On a running node the
    /// replicator starts replicating from it at once.
    pub fn add_peer(
        &self,
        org: OrgId,
        key: PublicKey,
        endpoint: Option<Endpoint>,
    ) -> Result<PeerRecord, NodeError> {
        self.add_peer_at(org, key, endpoint.into_iter().collect())
    }

    /// Pins `org` at several endpoints (replicas of its node): the link
    /// dials the first, and the next whenever a connection fails or ends.
    /// None: a key-only follow.
    pub fn add_peer_at(
        &self,
        org: OrgId,
        key: PublicKey,
        endpoints: Vec<Endpoint>,
    ) -> Result<PeerRecord, NodeError> {
        let mut endpoints = endpoints.into_iter().map(String::from);
        let endpoint = endpoints.next();
        let more_endpoints: Vec<String> = endpoints.collect();
        if &org == self.org() {
            return Err(NodeError::InvalidArgument(
                "a node cannot peer with its own organisation".into(),
            ));
        }
        if key == self.public_key() {
            return Err(NodeError::InvalidArgument(
                "that key is this node's own key".into(),
            ));
        }
        if let Some(other) = comity_tls::PinnedKeys::org_for(&*self.pins(), &key)
            && other != org
        {
            return Err(NodeError::InvalidArgument(format!(
                "that key is already pinned for {other}"
            )));
        }
        let pins = self.pins();
        let _change = pins.change();
        // A new key applies after the log held now: a rotation held
        // already never overrides it, one that comes later (signed by it)
        // moves it on.
        let previous = self.store().peers()?.into_iter().find(|p| p.org == org);
        let key_since = match previous {
            Some(previous) if previous.key == key => previous.key_since,
            _ => self.store().head(&org)?.map_or(0, |h| h.seq),
        };
        let record = PeerRecord {
            org: org.clone(),
            key,
            endpoint,
            added_at: now_unix(),
            key_since,
            more_endpoints,
        };
        self.store().put_peer(&record)?;
        self.store().flush()?;
        pins.set(&org, key);
        self.peer_table().insert(record.clone());
        Ok(record)
    }

    /// Unpins a peer: its tasks stop, and its live subscriptions end.
    pub fn remove_peer(&self, org: &OrgId) -> Result<bool, NodeError> {
        let pins = self.pins();
        let _change = pins.change();
        let removed = self.store().remove_peer(org)?;
        self.store().flush()?;
        pins.remove(org);
        self.peer_table().remove(org);
        Ok(removed)
    }
}
