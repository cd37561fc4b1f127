//! # comity-core
//!
//! The pure heart of Comity, with no I/O so it can be tested and fuzzed alone:
//!
//! - [`OrgId`]: who speaks;
//! - [`IdentityKey`] / [`PublicKey`]: Ed25519 identities, written `ed25519:<base64>`;
//! - [`SignedEntry`]: one entry of an organisation's append-only log, signed over
//!   the exact header bytes it travels with, and chained by BLAKE3 header hashes;
//! - [`verify`]: ingest verification, one named error per failure;
//! - [`rules`]: the rules every document shares, and their one error;
//! - [`document`]: payload documents and their validation;
//! - [`liaison`]: liaison statement rules, purposes, deadlines and reply templates;
//! - [`key_rotation`]: moving an organisation to a new key, with proof of possession;
//! - [`dates`]: calendar dates in Anywhere-on-Earth time.
//!
//! Core reads no clock: whatever needs the time (an entry's `created_at`, a
//! fresh document id) takes it as an argument, from the node's clock.

pub mod checkpoint;
pub mod dates;
pub mod document;
pub mod entry;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod hash;
pub mod key_rotation;
pub mod keys;
pub mod liaison;
pub mod merkle;
pub mod note;
pub mod org;
pub mod rules;
pub mod verify;

pub use entry::{EntryKind, Head, SignedEntry, UnsignedEntry};
pub use hash::Hash;
pub use keys::{IdentityKey, KeyError, PublicKey};
pub use org::{OrgId, OrgIdError};
pub use verify::{Ingest, VerifyError};

/// Re-exported so that users of core need not depend on the proto crate for the wire types.
pub use comity_proto::v1 as proto;
