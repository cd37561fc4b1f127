//! Setup shared by the API and feed tests: nodes on one manual clock with
//! in-memory stores, pinned to each other and replicated by hand, so a test
//! decides exactly what each node has received.

use comity_core::{IdentityKey, OrgId};
use comity_node::{Config, Node, clock::ManualClock, node::NodeOptions};
use std::sync::Arc;

/// A node for `org` named "The ORG organisation"; `configure` adjusts its
/// configuration before it starts.
pub fn node(org: &str, clock: &Arc<ManualClock>, configure: impl FnOnce(&mut Config)) -> Arc<Node> {
    let mut config = Config::new(
        OrgId::new(org).unwrap(),
        format!("The {} organisation", org.to_uppercase()),
        "127.0.0.1:7400".parse().unwrap(),
    );
    configure(&mut config);
    Node::with_options(
        config,
        IdentityKey::generate(),
        Arc::new(comity_store::MemStore::new()),
        NodeOptions {
            clock: clock.clone(),
            key_files: None,
            api_tokens: None,
            search_dir: None,
        },
    )
    .unwrap()
}

/// Pins each node's key at the other.
pub fn pair(a: &Arc<Node>, b: &Arc<Node>) {
    a.add_peer(b.org().clone(), b.public_key(), None).unwrap();
    b.add_peer(a.org().clone(), a.public_key(), None).unwrap();
}

/// Ships what `from` published to `to`, as `to` may receive it.
pub async fn replicate(from: &Node, to: &Node) {
    let have = to.store().head(from.org()).unwrap().map_or(0, |h| h.seq);
    let entries = from
        .store()
        .entries_after(from.org(), have, usize::MAX)
        .unwrap();
    if entries.is_empty() {
        return;
    }
    let wire = entries.iter().map(|e| e.for_reader(to.org())).collect();
    to.ingest(from.org(), from.org(), wire).await.unwrap();
}
