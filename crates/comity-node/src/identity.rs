//! The node's identity key and the TLS identity made from it. A key
//! rotation replaces both at once, under the own-log lock, so that the key
//! in use and the next seq always change together.

use comity_core::{IdentityKey, OrgId};
use std::sync::{Arc, RwLock};

use crate::error::NodeError;

/// The identity key in use, and the TLS identity the server presents.
#[derive(Debug)]
pub(crate) struct Identity {
    key: RwLock<IdentityKey>,
    tls: Arc<comity_tls::SharedIdentity>,
}

impl Identity {
    pub(crate) fn new(key: IdentityKey, org: &OrgId) -> Result<Self, NodeError> {
        let tls = tls_identity(&key, org)?;
        Ok(Self {
            key: RwLock::new(key),
            tls: Arc::new(comity_tls::SharedIdentity::new(tls)),
        })
    }

    /// The current identity key (a copy: a rotation may replace it).
    pub(crate) fn key(&self) -> IdentityKey {
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The TLS identity presented now.
    pub(crate) fn tls(&self) -> comity_tls::TlsIdentity {
        self.tls.current()
    }

    /// The TLS identity the server presents, swapped on key rotation.
    pub(crate) fn shared_tls(&self) -> Arc<comity_tls::SharedIdentity> {
        self.tls.clone()
    }

    /// Switches to `key` for entries and TLS (a key rotation).
    pub(crate) fn replace(&self, key: IdentityKey, tls: comity_tls::TlsIdentity) {
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = key;
        self.tls.replace(tls);
    }
}

/// The TLS identity (a self-signed certificate) of `key` for `org`.
pub(crate) fn tls_identity(
    key: &IdentityKey,
    org: &OrgId,
) -> Result<comity_tls::TlsIdentity, NodeError> {
    comity_tls::TlsIdentity::new(key, org)
        .map_err(|e| NodeError::Internal(format!("TLS identity: {e}")))
}
