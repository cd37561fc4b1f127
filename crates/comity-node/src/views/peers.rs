//! The peers as the local API and the JSON API show them: per peer its
//! state, and per origin it holds, our head against its head.

use crate::{error::NodeError, node::Node};
use comity_core::{OrgId, proto};
use std::collections::HashMap;

impl Node {
    /// Every pinned peer's state, with the lag of each origin it holds.
    pub fn peer_statuses(&self) -> Result<Vec<proto::PeerStatus>, NodeError> {
        let ours: HashMap<OrgId, u64> =
            self.heads()?.into_iter().map(|(o, h)| (o, h.seq)).collect();
        Ok(self
            .peer_table()
            .views()
            .into_iter()
            .map(|view| proto::PeerStatus {
                org: view.record.org.to_string(),
                key: view.record.key.to_string(),
                endpoint: view.record.endpoint.clone().unwrap_or_default(),
                connected: view.connected,
                reciprocal: view.reciprocal,
                last_error: view.last_error.clone().unwrap_or_default(),
                last_contact: view.last_contact.map(Into::into),
                lag: view
                    .lag(&ours)
                    .into_iter()
                    .map(|(origin, local_seq, remote_seq)| proto::OriginLag {
                        origin: origin.to_string(),
                        local_seq,
                        remote_seq,
                    })
                    .collect(),
                serving: view.serving.iter().map(ToString::to_string).collect(),
                failures: view.failures,
                dialled: view.dialled().to_string(),
                we_offer: view.we_offer,
            })
            .collect())
    }
}
