//! Generated protobuf types and gRPC stubs for Comity (package `comity.v1`).
//!
//! Nothing but generated code lives here: conversion into validated core
//! types happens once, at the edge, in `comity-core` and `comity-node`.

#![allow(clippy::all, clippy::pedantic)]

pub mod v1 {
    tonic::include_proto!("comity.v1");
}

/// The encoded `FileDescriptorSet` of every Comity proto file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("comity_descriptor");

/// The federation protocol version spoken by this build.
pub const PROTOCOL_VERSION: u32 = 1;
