//! `comity attachment get HASH -o FILE`: fetches an attachment through the
//! node (which fetches it from a peer when it does not hold it), resumably.
//!
//! Bytes go to `FILE.part`; a later run resumes from that file's length. The
//! BLAKE3 hash is checked before `FILE.part` becomes `FILE`, so `FILE` only
//! ever holds the exact content the hash names.

use crate::{DataArg, Failure, JsonArg, client, client::status_failure, output};
use clap::Subcommand;
use comity_core::Hash;
use comity_node::DataDir;
use comity_proto::v1 as proto;
use futures::{Stream, StreamExt};
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};
use tokio::io::AsyncWriteExt;

#[derive(Subcommand)]
pub enum AttachmentCommand {
    /// Save an attachment, by its hash, to a file.
    Get {
        /// Hex BLAKE3 of the content, as `show` prints it.
        hash: String,
        /// Where to save it.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
}

/// `FILE.part`, beside `FILE`.
pub fn part_path(output: &Path) -> PathBuf {
    let mut name = OsString::from(output.as_os_str());
    name.push(".part");
    PathBuf::from(name)
}

/// Appends the chunks to `part`, which already holds `offset` bytes, and
/// returns the total size the node announced (0 when none came).
pub async fn append_chunks<S>(stream: S, part: &Path, offset: u64) -> Result<(u64, u64), String>
where
    S: Stream<Item = Result<proto::AttachmentChunk, tonic::Status>>,
{
    let shown = part.display();
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(part)
        .await
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    let mut at = offset;
    let mut total = 0;
    let mut stream = std::pin::pin!(stream);
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(status) => {
                failed = Some(status.message().to_string());
                break;
            }
        };
        if chunk.offset != at {
            failed = Some(format!(
                "the node sent bytes from offset {}, expected {at}",
                chunk.offset
            ));
            break;
        }
        if chunk.total_size != 0 {
            total = chunk.total_size;
        }
        if let Err(e) = file.write_all(&chunk.data).await {
            failed = Some(format!("cannot write {shown}: {e}"));
            break;
        }
        at += chunk.data.len() as u64;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    file.sync_all()
        .await
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    if let Some(why) = failed {
        return Err(format!(
            "{why}; {at} bytes kept in {shown}: run the same command again to resume"
        ));
    }
    Ok((at, total))
}

/// Checks the finished `part` against `hash` and renames it to `output`;
/// a part that does not match is removed, since resuming it cannot help.
pub fn finish(part: &Path, output: &Path, hash: &Hash) -> Result<u64, String> {
    let content =
        std::fs::read(part).map_err(|e| format!("cannot read {}: {e}", part.display()))?;
    let got = Hash::of(&content);
    if got != *hash {
        let _ = std::fs::remove_file(part);
        return Err(format!(
            "the content fetched has hash {}, not {}: discarded it; run again to fetch it afresh",
            got.to_hex(),
            hash.to_hex()
        ));
    }
    std::fs::rename(part, output).map_err(|e| {
        format!(
            "cannot rename {} to {}: {e}",
            part.display(),
            output.display()
        )
    })?;
    Ok(content.len() as u64)
}

pub async fn run(command: AttachmentCommand) -> Result<(), Failure> {
    let AttachmentCommand::Get {
        hash,
        output,
        data,
        json,
    } = command;
    let wanted = Hash::from_hex(hash.trim()).ok_or_else(|| {
        format!("{hash:?} is not an attachment hash: give the 64 hex digits `show` prints")
    })?;
    let part = part_path(&output);
    let offset = match tokio::fs::metadata(&part).await {
        Ok(meta) => meta.len(),
        Err(_) => 0,
    };
    let mut api = client::connect(&DataDir::new(&data.data)).await?;
    let stream = api
        .get_attachment(proto::GetAttachmentRequest {
            hash: wanted.to_hex(),
            offset,
        })
        .await
        .map_err(status_failure)?
        .into_inner();
    let (written, total) = append_chunks(stream, &part, offset).await?;
    if total != 0 && written < total {
        return Err(format!(
            "the transfer stopped at {written} of {total} bytes, kept in {}: run the same command again to resume",
            part.display()
        )
        .into());
    }
    let size = finish(&part, &output, &wanted)?;
    if json.json {
        output::print_json(&serde_json::json!({
            "hash": wanted.to_hex(),
            "size": size,
            "path": output.display().to_string(),
            "resumed_from": offset,
        }));
    } else {
        let resumed = if offset > 0 {
            format!(", resumed from byte {offset}")
        } else {
            String::new()
        };
        println!(
            "saved {} ({size} bytes, BLAKE3 checked{resumed})",
            output.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(
        offset: u64,
        data: &[u8],
        total: u64,
    ) -> Result<proto::AttachmentChunk, tonic::Status> {
        Ok(proto::AttachmentChunk {
            offset,
            data: data.to_vec(),
            total_size: total,
        })
    }

    #[tokio::test]
    async fn resumes_from_the_part_and_checks_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("ls.pdf");
        let part = part_path(&output);
        assert_eq!(part.file_name().unwrap(), "ls.pdf.part");
        let content = b"Review of TTML2, annex A".to_vec();
        let hash = Hash::of(&content);

        // First run: the stream breaks after 10 bytes.
        let broken = futures::stream::iter(vec![
            chunk(0, &content[..10], content.len() as u64),
            Err(tonic::Status::unavailable("peer went away")),
        ]);
        let e = append_chunks(broken, &part, 0).await.unwrap_err();
        assert!(
            e.contains("peer went away") && e.contains("10 bytes kept"),
            "{e}"
        );
        assert_eq!(std::fs::metadata(&part).unwrap().len(), 10);

        // Second run: from offset 10.
        let rest = futures::stream::iter(vec![
            chunk(10, &content[10..20], content.len() as u64),
            chunk(20, &content[20..], content.len() as u64),
        ]);
        let (written, total) = append_chunks(rest, &part, 10).await.unwrap();
        assert_eq!(
            (written, total),
            (content.len() as u64, content.len() as u64)
        );
        assert_eq!(finish(&part, &output, &hash).unwrap(), content.len() as u64);
        assert_eq!(std::fs::read(&output).unwrap(), content);
        assert!(!part.exists());
    }

    #[tokio::test]
    async fn a_wrong_hash_discards_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("x.bin");
        let part = part_path(&output);
        let stream = futures::stream::iter(vec![chunk(0, b"tampered", 8)]);
        append_chunks(stream, &part, 0).await.unwrap();
        let e = finish(&part, &output, &Hash::of(b"original")).unwrap_err();
        assert!(e.contains("discarded"), "{e}");
        assert!(!part.exists() && !output.exists());
    }

    #[tokio::test]
    async fn chunks_out_of_place_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("y.part");
        let stream = futures::stream::iter(vec![chunk(5, b"abc", 8)]);
        let e = append_chunks(stream, &part, 0).await.unwrap_err();
        assert!(e.contains("expected 0"), "{e}");
    }
}
