//! Publishing to the own log: sign the next entry, append it, flush, and
//! only then answer. The own-log lock is held only to sign and append, so
//! publishes in flight together share a flush (group commit); a key
//! rotation switches keys under that lock, right after its entry. The entry
//! is signed inside the store's `append_next`, under the store's lock on
//! the log too: on PostgreSQL, replicas of one node share the log, and the
//! database's lock is what keeps them from signing two entries at one seq.

use crate::{blocking::blocking, error::NodeError, identity::tls_identity, node::Node};
use comity_core::{
    IdentityKey, PublicKey, SignedEntry, UnsignedEntry, document, entry::Audience, proto,
};

impl Node {
    /// Signs `body` as the next entry of the own log, stores it durably, and
    /// only then returns: what a client is told is published survives a crash.
    pub async fn publish(&self, body: proto::document::Body) -> Result<SignedEntry, NodeError> {
        self.publish_to(body, Audience::Public).await
    }

    /// Publishes with an audience: a restricted entry's payload goes only to
    /// the organisations named.
    pub async fn publish_to(
        &self,
        body: proto::document::Body,
        audience: Audience,
    ) -> Result<SignedEntry, NodeError> {
        document::validate(&body, self.org())?;
        self.append_own(|_| body, audience, None).await
    }

    /// Appends the next entry of the own log, made by `body` from the key
    /// that signs it, and flushes. With `next_key` (a key rotation), the node
    /// switches to that key for entries and TLS right after the append,
    /// before the own-log lock is released: whatever is appended after the
    /// rotation entry, by whichever task, is signed with the new key.
    pub(crate) async fn append_own(
        &self,
        body: impl FnOnce(&PublicKey) -> proto::document::Body,
        audience: Audience,
        next_key: Option<IdentityKey>,
    ) -> Result<SignedEntry, NodeError> {
        // Made before the lock: a certificate takes a while to make.
        let next = match next_key {
            Some(key) => Some((tls_identity(&key, self.org())?, key)),
            None => None,
        };
        // Nothing is signed into the own log while it may lack entries that
        // partners hold (a restore from a backup).
        self.check_recovered()?;
        let own_log = self.own_log_lock().await;
        // Read under the lock: no rotation can come between this read and
        // the append, so the entry is signed with the key its seq needs.
        let signer = self.identity();
        let body = body(&signer.public());
        if next.is_some() {
            // A rotation is made here, from the signer: check it as
            // `publish_to` checks what it is given.
            document::validate(&body, self.org())?;
        }
        let (kind, payload) = document::encode(body);
        let mut unsigned = UnsignedEntry::new(self.org().clone(), kind, payload, self.now());
        unsigned.audience = audience;
        let store = self.store().clone();
        let durability = self.durability().clone();
        let identity = self.identity_keys().clone();
        let org = self.org().clone();
        let entry = blocking(move || {
            // Signed on the head the store holds, under the store's own lock
            // on this log as well as ours: replicas of this node sharing one
            // database never sign two entries at one seq.
            let key = signer.public();
            // A backend shared by replicas checks again under its lock.
            comity_store::rules::check_signing_key(&org, &key, store.current_key(&org)?)?;
            let sign = Box::new(move |head| unsigned.sign(&signer, head));
            let stored = store.append_next(&org, &key, sign)?;
            if let Some((tls, key)) = next {
                identity.replace(key, tls);
            }
            // The next publish may sign on top while this one flushes:
            // publishes in flight together share a flush (group commit).
            // One flush covers every append made before it.
            drop(own_log);
            store.flush()?;
            durability.flushed(stored.origin(), stored.seq());
            Ok::<_, NodeError>(stored)
        })
        .await?;
        self.counters()
            .published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(seq = entry.seq(), kind = kind.as_str(), "published");
        Ok(entry)
    }
}
