//! Compiles `proto/comity/v1/*.proto` with protox, a pure-Rust compiler, so no
//! protoc is needed to build Comity.

use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = ["log", "documents", "federation", "node"]
        .map(|name| root.join(format!("comity/v1/{name}.proto")));
    let descriptors = protox::compile(&files, [&root])?;

    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("comity_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
