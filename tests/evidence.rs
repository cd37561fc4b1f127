//! Evidence anyone can check (issue 13), through the `comity` binary: an
//! exported log and its cosigned checkpoint verify with an implementation
//! written here from the specifications alone (C2SP signed-note key IDs and
//! Ed25519 signatures, tlog-cosignature, RFC 6962 hashing), and `comity
//! verify` names any single flipped bit in the log, the checkpoint or a
//! cosignature.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use prost::Message;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use std::{path::Path, process::Command};
use support::{COMITY_BIN, TestNode, eventually, temp_root};

fn comity(args: &[&str]) -> std::process::Output {
    Command::new(COMITY_BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Per C2SP signed-note: the first 4 bytes of SHA-256(name || "\n" || type || key).
fn key_id(name: &str, sig_type: u8, key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([sig_type]);
    h.update(key);
    h.finalize()[..4].try_into().unwrap()
}

/// RFC 6962 section 2.1, written out: MTH of `leaves` (already data, not hashed).
fn mth(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(&leaves[0]);
            h.finalize().into()
        }
        n => {
            let k = n.next_power_of_two() / 2;
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(mth(&leaves[..k]));
            h.update(mth(&leaves[k..]));
            h.finalize().into()
        }
    }
}

fn raw_key(key: &comity_core::PublicKey) -> [u8; 32] {
    *key.as_bytes()
}

/// A two-node federation in which itu's checkpoint carries ietf's
/// cosignature; returns the nodes, the export and the note.
async fn cosigned_export(root: &Path) -> (TestNode, TestNode, Vec<u8>, String) {
    let itu = TestNode::start_new(root, "itu").await;
    let ietf = TestNode::start_new(root, "ietf").await;
    itu.follow(&ietf);
    ietf.follow(&itu);
    itu.publish(4).await;
    let head = itu.head_seq(&itu.org);
    eventually("ietf's cosignature of itu's head comes back", || {
        itu.node()
            .checkpoint_of(&itu.org)
            .unwrap()
            .is_some_and(|c| {
                c.checkpoint.size == head && c.cosigned_by(&ietf.org, &ietf.public_key()).is_some()
            })
    })
    .await;
    let data = itu.data.root().to_str().unwrap().to_string();
    let file = root.join("itu.log");
    ok(comity(&[
        "export",
        "--data",
        &data,
        "--origin",
        "itu",
        "--output",
        file.to_str().unwrap(),
    ]));
    let note = ok(comity(&["checkpoint", "--data", &data, "--origin", "itu"]));
    let log = std::fs::read(&file).unwrap();
    (itu, ietf, log, note)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_checkpoint_verifies_with_an_implementation_written_from_the_specs() {
    let root = temp_root();
    let (itu, ietf, log, note) = cosigned_export(root.path()).await;

    // The entries, read as length-delimited comity.v1.Entry messages.
    let mut rest = &log[..];
    let mut headers = Vec::new();
    while !rest.is_empty() {
        let entry = comity_proto::v1::Entry::decode_length_delimited(&mut rest).unwrap();
        headers.push(entry.header);
    }
    assert_eq!(headers.len() as u64, itu.head_seq(&itu.org));

    // The note: text, a blank line, then "— name base64(keyid || sig)" lines.
    let (text, sigs) = note.split_at(note.rfind("\n\n").unwrap() + 1);
    let sigs = &sigs[1..];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "comity/itu");
    let size: usize = lines[1].parse().unwrap();
    assert_eq!(size, headers.len());
    let root_hash = BASE64.decode(lines[2]).unwrap();
    assert_eq!(
        root_hash,
        mth(&headers),
        "RFC 6962 root of the exported headers"
    );

    let itu_key = raw_key(&itu.public_key());
    let ietf_key = raw_key(&ietf.public_key());
    let mut origin_ok = false;
    let mut cosigned_ok = false;
    for line in sigs.lines() {
        let rest = line.strip_prefix("\u{2014} ").unwrap();
        let (name, blob) = rest.split_once(' ').unwrap();
        let blob = BASE64.decode(blob).unwrap();
        let (id, sig) = blob.split_at(4);
        if name == "comity/itu" {
            assert_eq!(id, key_id(name, 0x01, &itu_key));
            let sig = Signature::from_slice(sig).unwrap();
            VerifyingKey::from_bytes(&itu_key)
                .unwrap()
                .verify(text.as_bytes(), &sig)
                .unwrap();
            origin_ok = true;
        } else if name == "comity/ietf" {
            // tlog-cosignature v1: 8-byte big-endian timestamp, then the
            // signature over "cosignature/v1\ntime T\n" || checkpoint text.
            assert_eq!(id, key_id(name, 0x04, &ietf_key));
            let (time, sig) = sig.split_at(8);
            let time = u64::from_be_bytes(time.try_into().unwrap());
            let message = format!("cosignature/v1\ntime {time}\n{text}");
            let sig = Signature::from_slice(sig).unwrap();
            VerifyingKey::from_bytes(&ietf_key)
                .unwrap()
                .verify(message.as_bytes(), &sig)
                .unwrap();
            cosigned_ok = true;
        }
    }
    assert!(origin_ok && cosigned_ok, "{note}");

    // And `comity verify` agrees, offline.
    let note_file = root.path().join("itu.note");
    std::fs::write(&note_file, &note).unwrap();
    let out = ok(comity(&[
        "verify",
        root.path().join("itu.log").to_str().unwrap(),
        "--key",
        &itu.public_key().to_string(),
        "--checkpoint",
        note_file.to_str().unwrap(),
        "--cosigner",
        &format!("ietf={}", ietf.public_key()),
    ]));
    assert!(
        out.contains("root matches") && out.contains("cosigned by ietf"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comity_verify_names_a_single_flipped_bit_anywhere() {
    let root = temp_root();
    let (itu, ietf, log, note) = cosigned_export(root.path()).await;
    let key = itu.public_key().to_string();
    let cosigner = format!("ietf={}", ietf.public_key());
    let log_file = root.path().join("flipped.log");
    let note_file = root.path().join("flipped.note");
    let verify = |log: &[u8], note: &[u8]| {
        std::fs::write(&log_file, log).unwrap();
        std::fs::write(&note_file, note).unwrap();
        comity(&[
            "verify",
            log_file.to_str().unwrap(),
            "--key",
            &key,
            "--checkpoint",
            note_file.to_str().unwrap(),
            "--cosigner",
            &cosigner,
        ])
    };
    assert!(verify(&log, note.as_bytes()).status.success());
    let flip = |bytes: &[u8], bit: usize| {
        let mut out = bytes.to_vec();
        out[bit / 8] ^= 1 << (bit % 8);
        out
    };
    let mut rng = StdRng::seed_from_u64(13);
    // Which part of the note is which: text, the origin's line, ietf's line.
    let text_end = note.rfind("\n\n").unwrap() + 2;
    let cosig_start = note.find("\u{2014} comity/ietf").unwrap();
    let note_bytes = note.as_bytes();
    let mut cases: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    for _ in 0..40 {
        let bit = rng.gen_range(0..log.len() * 8);
        cases.push((
            format!("log bit {bit}"),
            flip(&log, bit),
            note_bytes.to_vec(),
        ));
    }
    for (part, range) in [
        ("checkpoint text", 0..text_end),
        ("origin signature", text_end..cosig_start.max(text_end + 1)),
        ("cosignature", cosig_start..note.len()),
    ] {
        for _ in 0..12 {
            let bit = rng.gen_range(range.start * 8..range.end * 8);
            cases.push((
                format!("{part} bit {bit}"),
                log.clone(),
                flip(note_bytes, bit),
            ));
        }
    }
    for (what, log, note) in cases {
        let out = verify(&log, &note);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} was not noticed");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains("verification failed: "), "{what}: {stderr}");
    }
}
