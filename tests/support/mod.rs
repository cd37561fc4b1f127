//! Test harness: real nodes on 127.0.0.1, each in its own temporary data
//! directory, started and stopped in-process, or run as `comity serve`
//! processes; their ports are below the ephemeral range (see [`ports`]).
//! One file per job: `node` (in-process nodes), `process` (child
//! processes), `fake_peer` (a peer that misbehaves on purpose), `held_flush` (a
//! store whose flush a test holds back), `waits`
//! (conditions with a deadline) and `fixtures` (what tests are made of).
#![allow(dead_code)]

mod fake_peer;
mod fixtures;
mod held_flush;
mod node;
mod process;
mod waits;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use {
    comity_testkit::ports, fake_peer::*, fixtures::*, held_flush::*, node::*, process::*, waits::*,
};
