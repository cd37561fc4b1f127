//! # comity-testkit
//!
//! What the test suite (`tests/support`) and the load harness
//! (`comity-bench`) both need, in one dev-only crate instead of a file the
//! harness includes by path: free loopback ports below the ephemeral range,
//! and a throwaway PostgreSQL server ([`pg::TestPg`]).
//! Nothing here is part of a release build of the daemon.

pub mod pg;
pub mod ports;
