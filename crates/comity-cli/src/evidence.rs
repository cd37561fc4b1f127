//! Evidence anyone can check (issue 13): `comity export`, `comity
//! checkpoint`, `comity equivocation show` read them from a running node;
//! `comity verify` checks an exported log offline, with no node: each
//! entry's signature (following key rotations from `--key`), the chain, the
//! payloads, the RFC 6962 root against a checkpoint, the checkpoint's
//! signature with the key in effect at its size, and the cosignatures with
//! the keys given by `--cosigner ORG=KEY`. It names the first failure.
//!
//! Files: an export is a sequence of length-delimited `comity.v1.Entry`
//! messages in seq order; fork evidence of entries is the two entries the
//! same way (header and signature, no payload); fork evidence of
//! checkpoints is the two signed notes, one after the other.

use crate::{DataArg, Failure, client, client::status_failure};
use clap::{Args, Subcommand};
use comity_core::{
    Ingest, OrgId, PublicKey, SignedEntry,
    checkpoint::SignedCheckpoint,
    merkle::{self, leaf_hash},
    note::Note,
    proto, verify,
};
use comity_node::DataDir;
use prost::Message;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataArg,
    /// Whose log.
    #[arg(long)]
    origin: OrgId,
    /// Where to write it (length-delimited `comity.v1.Entry` messages).
    #[arg(long)]
    output: PathBuf,
}

#[derive(Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    data: DataArg,
    /// Whose log.
    #[arg(long)]
    origin: OrgId,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// An exported log (`comity export`).
    file: PathBuf,
    /// The origin's key at seq 1, as `comity id` prints it (`ed25519:…`).
    #[arg(long)]
    key: PublicKey,
    /// A signed checkpoint of the log (`comity checkpoint`), to check the
    /// entries against.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// A cosigner's key, `ORG=KEY`: its cosignature on the checkpoint must
    /// verify. Repeat for each cosigner.
    #[arg(long, value_parser = parse_cosigner)]
    cosigner: Vec<(OrgId, PublicKey)>,
}

#[derive(Subcommand)]
pub enum EquivocationCommand {
    /// Write the evidence held that an origin forked its log.
    Show {
        #[command(flatten)]
        data: DataArg,
        origin: OrgId,
        #[arg(long)]
        output: PathBuf,
    },
}

fn parse_cosigner(text: &str) -> Result<(OrgId, PublicKey), String> {
    let (org, key) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: give ORG=KEY"))?;
    let org = OrgId::new(org).map_err(|e| e.to_string())?;
    let key = key.parse::<PublicKey>().map_err(|e| e.to_string())?;
    Ok((org, key))
}

pub async fn export(args: ExportArgs) -> Result<(), Failure> {
    let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
    let mut out = Vec::new();
    let mut after = 0;
    let mut count = 0u64;
    loop {
        let page = api
            .export_entries(proto::ExportEntriesRequest {
                origin: args.origin.to_string(),
                after_seq: after,
                limit: 0,
            })
            .await
            .map_err(status_failure)?
            .into_inner()
            .entries;
        let Some(last) = page.last() else { break };
        after = proto::EntryHeader::decode(last.header.as_slice())
            .map_err(|e| format!("the node sent an undecodable entry: {e}"))?
            .seq;
        for entry in &page {
            entry
                .encode_length_delimited(&mut out)
                .map_err(|e| e.to_string())?;
            count += 1;
        }
    }
    if count == 0 {
        return Err(format!("the node holds no entry of {}", args.origin).into());
    }
    std::fs::write(&args.output, out)
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    println!(
        "exported {count} entries of {} to {}",
        args.origin,
        args.output.display()
    );
    Ok(())
}

pub async fn checkpoint(args: CheckpointArgs) -> Result<(), Failure> {
    let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
    let answer = api
        .get_checkpoint(proto::GetCheckpointRequest {
            origin: args.origin.to_string(),
        })
        .await
        .map_err(status_failure)?
        .into_inner();
    print!("{}", answer.note);
    Ok(())
}

pub async fn equivocation(command: EquivocationCommand) -> Result<(), Failure> {
    let EquivocationCommand::Show {
        data,
        origin,
        output,
    } = command;
    let mut api = client::connect(&DataDir::new(&data.data)).await?;
    let evidence = api
        .show_equivocation(proto::ShowEquivocationRequest {
            origin: origin.to_string(),
        })
        .await
        .map_err(status_failure)?
        .into_inner()
        .evidence;
    // The first evidence held (the one that froze the origin).
    let first = evidence
        .into_iter()
        .next()
        .ok_or_else(|| format!("no evidence against {origin}"))?;
    let kind = first.kind();
    let mut out = Vec::new();
    if kind == proto::EvidenceKind::Checkpoints {
        out.extend_from_slice(&first.held);
        out.extend_from_slice(&first.conflicting);
    } else {
        for (header, signature) in [
            (first.held, first.held_signature),
            (first.conflicting, first.conflicting_signature),
        ] {
            proto::Entry {
                header,
                signature,
                ..Default::default()
            }
            .encode_length_delimited(&mut out)
            .map_err(|e| e.to_string())?;
        }
    }
    std::fs::write(&output, out).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    println!(
        "wrote the {} evidence that {origin} forked at {} (reported by {}) to {}",
        comity_node::words::evidence_kind(kind),
        first.seq,
        first.reported_by,
        output.display()
    );
    Ok(())
}

/// Reads length-delimited entries.
fn read_entries(bytes: &[u8]) -> Result<Vec<SignedEntry>, String> {
    let mut rest = bytes;
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let n = entries.len() + 1;
        let wire = proto::Entry::decode_length_delimited(&mut rest)
            .map_err(|e| format!("entry {n} of the file is not a comity.v1.Entry: {e}"))?;
        let entry = SignedEntry::decode(wire).map_err(|e| format!("entry {n} of the file: {e}"))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// What `comity verify` found: one line per check passed.
pub fn verify_offline(
    log: &[u8],
    key: &PublicKey,
    checkpoint: Option<&[u8]>,
    cosigners: &[(OrgId, PublicKey)],
) -> Result<Vec<String>, String> {
    let entries = read_entries(log)?;
    let first = entries.first().ok_or("the file holds no entry")?;
    let origin = first.origin().clone();
    // The key in effect after each seq: rotations followed.
    let mut keys_after: Vec<PublicKey> = Vec::with_capacity(entries.len() + 1);
    keys_after.push(*key);
    let mut head = None;
    let mut current = *key;
    for entry in &entries {
        if entry.origin() != &origin {
            return Err(format!(
                "seq {}: an entry of {}, in a log of {origin}",
                entry.seq(),
                entry.origin()
            ));
        }
        match verify::verify_for_ingest(entry, Some(&current), head, |_| None) {
            Ok(Ingest::Append) => {}
            Ok(_) => {
                return Err(format!(
                    "seq {}: not the next entry of the chain",
                    entry.seq()
                ));
            }
            Err(e) => return Err(format!("seq {}: {e}", entry.seq())),
        }
        if let Some(rotated) = verify::rotated_key(entry) {
            current = rotated;
        }
        keys_after.push(current);
        head = Some(entry.head());
    }
    let mut report = vec![format!(
        "{origin}: seq 1 to {} verify (signatures, chain, payloads)",
        entries.len()
    )];
    let Some(note_bytes) = checkpoint else {
        return Ok(report);
    };
    let note = Note::parse(note_bytes).map_err(|e| format!("the checkpoint: {e}"))?;
    let size = comity_core::checkpoint::Checkpoint::parse_text(&note.text)
        .map_err(|e| format!("the checkpoint: {e}"))?
        .size;
    if size == 0 || size > entries.len() as u64 {
        return Err(format!(
            "the checkpoint covers {size} entries; the file holds {}",
            entries.len()
        ));
    }
    let signer = keys_after[size as usize];
    let signed = SignedCheckpoint::verify(note_bytes, &origin, &signer)
        .map_err(|e| format!("the checkpoint's signature by {origin}: {e}"))?;
    let leaves: Vec<_> = entries[..size as usize]
        .iter()
        .map(|e| leaf_hash(e.header_bytes()))
        .collect();
    if merkle::root_of(&leaves) != signed.checkpoint.root {
        return Err(format!(
            "the checkpoint's root is not the RFC 6962 root of seq 1 to {size} in the file"
        ));
    }
    report.push(format!(
        "checkpoint at {size}: signed by {origin}, root matches"
    ));
    for (cosigner, key) in cosigners {
        let at = signed.cosigned_by(cosigner, key).ok_or_else(|| {
            format!("the checkpoint carries no cosignature by {cosigner} that verifies with the key given")
        })?;
        report.push(format!("cosigned by {cosigner} at {at} (unix seconds)"));
    }
    Ok(report)
}

pub fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let log = std::fs::read(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let checkpoint = match &args.checkpoint {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        }
        None => None,
    };
    let report =
        verify_offline(&log, &args.key, checkpoint.as_deref(), &args.cosigner).map_err(|e| {
            Failure {
                message: format!("verification failed: {e}"),
                code: 1,
            }
        })?;
    for line in report {
        println!("ok: {line}");
    }
    Ok(())
}
