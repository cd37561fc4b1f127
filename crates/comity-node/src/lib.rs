//! # comity-node
//!
//! The Comity daemon, as a library so that tests and `comity demo` can run
//! several nodes in one process.
//!
//! ## Layout, in data-path order
//!
//! - [`protocol`]: what nodes agree on: version, capabilities, [`protocol::Endpoint`];
//! - [`config`], [`datadir`], [`clock`], [`error`]: configuration, the data
//!   directory and key files, injectable time, the node's errors;
//! - the node's parts: [`pins`] (pinned keys), [`peers`] (the peer table),
//!   [`durability`] (what is on disk), [`counters`], [`accepted`] (entries
//!   accepted by id), [`identity`] (the keys in use), [`transfers`]
//!   (attachment transfers in flight), [`accounts`] (dashboard accounts);
//! - [`node`]: the [`Node`] that owns them;
//! - [`replication`]: link and follow tasks pulling followed logs from peers;
//! - [`ingest`]: the two stages of ingest, check signatures then place and store;
//! - [`blobs`]: attachments served and fetched by hash;
//! - [`checkpoints`]: signed checkpoints, cosignatures and split-view
//!   evidence; [`recovery`]: restore that cannot fork (their state in `trust`);
//! - [`publish`]: appending to the own log; [`profile`]: the signed profile;
//! - [`peering`]: pinning and unpinning peers;
//! - [`workflow`]: what people do with documents, by document kind;
//! - [`views`]: derived state for a reader, by subject;
//! - [`federation`]: the `Federation` service partners call (mutual TLS);
//! - [`local_api`]: the `Node` service the CLI calls (Unix socket);
//! - [`words`]: people's words for the API's enums, for the edges;
//! - [`search`]: the full-text search index, fed off the data path;
//! - [`json`]: the JSON shape of the views, for the CLI and the JSON API;
//! - [`blocking`]: blocking store work off the async workers;
//! - [`server`]: starting and stopping all of it.

pub mod accepted;
pub mod accounts;
pub mod api_auth;
pub mod blobs;
pub mod blocking;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod counters;
pub mod datadir;
pub mod durability;
pub mod error;
pub mod federation;
pub mod identity;
pub mod ingest;
pub mod json;
pub mod local_api;
pub mod node;
pub mod offers;
pub mod peering;
pub mod peers;
pub mod pins;
pub mod profile;
pub mod protocol;
pub mod publish;
pub mod recovery;
pub mod replication;
pub mod rotations;
pub mod search;
pub(crate) mod search_part;
pub mod server;
pub mod stubs;
pub mod tokens;
pub mod transfers;
mod trust;
pub mod views;
pub mod words;
pub mod workflow;

pub use config::Config;
pub use datadir::DataDir;
pub use error::NodeError;
pub use node::Node;
pub use server::RunningNode;
