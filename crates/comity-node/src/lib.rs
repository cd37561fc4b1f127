//! # comity-node
//!
//! The Comity daemon, as a library so that tests and `comity demo` can run
//! several nodes in one process.
//!
//! ## Layout
//!
//! - [`config`]: the documented configuration struct;
//! - [`datadir`]: what lives in a node's data directory;
//! - [`node`]: the node's state; publish and ingest;
//! - [`ingest`]: the two stages of ingest: check signatures, then place and store;
//! - [`federation`]: the `Federation` service partners call (mutual TLS);
//! - [`peers`]: link and follow tasks, source choice, backoff;
//! - [`workflow`]: publishing documents, the liaison lifecycle, key rotation;
//! - [`views`]: derived state: consultations with responses, liaison threads,
//!   receipts, action state and what is overdue;
//! - [`blobs`]: attachments served and fetched by hash;
//! - [`clock`]: injectable time;
//! - [`local_api`]: the `Node` service the CLI calls (Unix socket);
//! - [`server`]: starting and stopping all of it;
//! - [`error`]: the node's errors and their gRPC status codes.

pub mod accounts;
pub mod blobs;
pub mod clock;
pub mod config;
pub mod datadir;
pub mod error;
pub mod federation;
pub mod ingest;
pub mod json;
pub mod local_api;
pub mod node;
pub mod peers;
pub mod server;
pub mod views;
pub mod workflow;

pub use config::Config;
pub use datadir::DataDir;
pub use error::NodeError;
pub use node::Node;
pub use server::RunningNode;
