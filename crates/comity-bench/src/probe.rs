//! The propagation probe: the harness is one more pinned peer of every
//! follower and subscribes, over mutual TLS, to the publisher's log *as each
//! follower holds it*. A follower wakes its subscriptions only after the
//! group commit that stored an entry was flushed, so an entry arriving here
//! is durable at that follower. No polling: nothing loads the followers
//! between entries.

use crate::cluster::NodeProc;
use anyhow::{Context, Result};
use comity_core::{IdentityKey, OrgId, proto};
use prost::Message;
use proto::{SubscribeRequest, federation_client::FederationClient, subscribe_event::Event};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub struct Probe {
    pub org: OrgId,
    pub key: IdentityKey,
    tls: comity_tls::TlsIdentity,
}

/// One entry seen stored at one follower.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub follower: usize,
    pub seq: u64,
    pub at: Instant,
}

impl Probe {
    pub fn new() -> Result<Self> {
        let org = OrgId::new("bench-probe")?;
        let key = IdentityKey::generate();
        let tls = comity_tls::TlsIdentity::new(&key, &org)?;
        Ok(Self { org, key, tls })
    }

    /// Subscribes to `origin` at every follower, after `after_seq`; arrivals
    /// go to the returned channel.
    pub async fn watch(
        &self,
        followers: &[&NodeProc],
        origin: &OrgId,
        after_seq: u64,
    ) -> Result<mpsc::UnboundedReceiver<Arrival>> {
        let (tx, rx) = mpsc::unbounded_channel();
        for (index, follower) in followers.iter().enumerate() {
            let config = comity_tls::client_config(&self.tls, follower.key)?;
            let channel = comity_tls::connect(&follower.endpoint, config, Duration::from_secs(10))
                .await
                .with_context(|| format!("probe connecting to {}", follower.org))?;
            let mut stream = FederationClient::new(channel)
                .max_decoding_message_size(4 * 1024 * 1024)
                .subscribe(SubscribeRequest {
                    origin: origin.to_string(),
                    after_seq,
                    ..Default::default()
                })
                .await
                .with_context(|| format!("probe subscribing at {}", follower.org))?
                .into_inner();
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Ok(Some(event)) = stream.message().await {
                    if let Some(Event::Entry(entry)) = event.event {
                        let at = Instant::now();
                        let seq = proto::EntryHeader::decode(entry.header.as_slice())
                            .map(|h| h.seq)
                            .unwrap_or(0);
                        if tx
                            .send(Arrival {
                                follower: index,
                                seq,
                                at,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
        Ok(rx)
    }
}
