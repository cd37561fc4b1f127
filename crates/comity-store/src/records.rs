//! Records kept beside the logs. Stored as JSON behind a one-byte record
//! version, so a later build can migrate them.

use comity_core::{Hash, OrgId, PublicKey};
use serde::{Deserialize, Serialize};

/// A pinned partner: its key, and where to reach it (none for a key-only
/// follow, whose log arrives through relays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    pub org: OrgId,
    pub key: PublicKey,
    pub endpoint: Option<String>,
    /// Unix seconds.
    pub added_at: i64,
    /// The seq of the peer's own log after which `key` signs it: the head
    /// held when the operator pinned the key, or the seq of the key rotation
    /// it was learned from. A rotation stored above it and not yet followed
    /// (a crash came in between) moves the pin at the next start; one at or
    /// below it does not, so an operator's re-pin wins over a rotation
    /// already held. 0 in records written before this field existed.
    #[serde(default)]
    pub key_since: u64,
    /// More endpoints of the same organisation (replicas of its node),
    /// tried in turn after `endpoint` when a connection fails or ends.
    /// Empty in records written before this field existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_endpoints: Vec<String>,
}

/// Proof that an origin signed two different headers at one seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    pub origin: OrgId,
    pub seq: u64,
    /// The header held first, and its signature.
    pub held_header: Vec<u8>,
    pub held_signature: Vec<u8>,
    /// The conflicting header and its signature.
    pub conflicting_header: Vec<u8>,
    pub conflicting_signature: Vec<u8>,
    /// The peer that served the conflicting header.
    pub reported_by: OrgId,
    /// Unix seconds.
    pub detected_at: i64,
}

impl Equivocation {
    pub fn held_id(&self) -> Hash {
        Hash::of(&self.held_header)
    }
    pub fn conflicting_id(&self) -> Hash {
        Hash::of(&self.conflicting_header)
    }
}

/// A liaison statement being written here: local workflow state, never
/// replicated. Posting it publishes the statement as an entry of our log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiaisonDraft {
    /// A local uuid.
    pub id: String,
    /// The encoded `comity.v1.LiaisonStatement`.
    pub statement: Vec<u8>,
    /// Whether it is to be posted as a restricted entry.
    pub restricted: bool,
    /// Who approved it, when posting needs approval.
    pub approved_by: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The seq of the entry it was posted as.
    pub posted_seq: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer pinned before `key_since` existed still reads, as pinned
    /// before any rotation.
    #[test]
    fn a_peer_record_without_key_since_reads_as_zero() {
        let key = comity_core::IdentityKey::generate().public();
        let json = format!(r#"{{"org":"itu","key":"{key}","endpoint":null,"added_at":5}}"#);
        let record: PeerRecord = serde_json::from_str(&json).expect("reads");
        assert_eq!(record.key_since, 0);
        assert_eq!(record.key, key);
    }
}
