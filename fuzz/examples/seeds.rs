//! Writes a seed corpus of valid entries and documents:
//! `cargo run --example seeds` (from fuzz/), then `cargo fuzz run <target>`.

#[path = "../fuzz_targets/common.rs"]
mod common;

use prost::Message;

fn main() -> std::io::Result<()> {
    let bases = common::bases();
    let dir = std::path::Path::new("corpus");
    for t in ["entry_decode_verify", "document_validate"] {
        std::fs::create_dir_all(dir.join(t))?;
    }
    for (i, base) in bases.iter().enumerate() {
        let entry = base.entry.wire();
        std::fs::write(dir.join(format!("entry_decode_verify/seed-{i}")), entry.encode_to_vec())?;
        // document_validate: selector byte 0 = document.
        let mut doc = vec![0u8];
        doc.extend_from_slice(&entry.payload);
        std::fs::write(dir.join(format!("document_validate/seed-{i}")), doc)?;
    }
    for (i, text) in ["2027-03-31|", "2027-03-31|+02:00", "2027-03-31T17:00:00+02:00"].iter().enumerate() {
        std::fs::write(dir.join(format!("document_validate/deadline-{i}")), format!("\x01{text}"))?;
    }
    Ok(())
}
