//! How the sled backend lays out keys and values: big-endian numbers, a
//! `0x00` after each origin and uuid, and a version byte in front of every
//! record that may change shape (see the table in the module above).

use crate::rules;
use crate::{DocumentRef, EntryPos, StoreError};
use comity_core::{EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry};
use prost::Message;
use serde::{Serialize, de::DeserializeOwned};
use std::cell::RefCell;

/// The version byte in front of every versioned record this build writes.
pub(super) const RECORD_V1: u8 = 1;
/// In front of an entry kept compressed (schema 3 on): its length (u32,
/// little-endian), then the zstd frame of what a [`RECORD_V1`] entry holds
/// after its byte.
pub(super) const RECORD_ZSTD: u8 = 2;
/// zstd's fastest standard level: higher ones save a few percent more of
/// a 2 KiB entry for several times the CPU, on nodes that are CPU-bound.
const ZSTD_LEVEL: i32 = 1;
/// An entry is kept compressed only when that saves at least this share
/// of it (1/16): prose saves about half, a signed stub or an already
/// compressed payload nothing, and is kept as it is, unpacked on no read.
const MIN_SAVING_SHIFT: u32 = 4;
/// More than any entry holds (the gRPC limits are a few MiB): a compressed
/// row claiming more is corrupt, and is refused before anything is allocated.
const MAX_ENTRY_BYTES: usize = 64 * 1024 * 1024;
pub(super) const SCHEMA_KEY: &[u8] = b"schema_version";
pub(super) const INDEX_KEY: &[u8] = b"index_version";
pub(super) const ARRIVALS_KEY: &[u8] = b"arrivals";
/// Present while the store is (or was last) used without Merkle trees.
pub(super) const MERKLE_OFF_KEY: &[u8] = b"merkle_off";
pub(super) const SEP: u8 = 0;

pub(super) fn origin_key(origin: &OrgId, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(origin.as_str().len() + 1 + rest.len());
    key.extend_from_slice(origin.as_str().as_bytes());
    key.push(SEP);
    key.extend_from_slice(rest);
    key
}

pub(super) fn entry_key(origin: &OrgId, seq: u64) -> Vec<u8> {
    origin_key(origin, &seq.to_be_bytes())
}

pub(super) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

pub(super) fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(what, format!("{} bytes, expected {N}", bytes.len())))
}

pub(super) fn parse_origin(bytes: &[u8]) -> Result<OrgId, StoreError> {
    let text = std::str::from_utf8(bytes).map_err(|e| corrupt("origin key", e))?;
    OrgId::new(text).map_err(|e| corrupt("origin key", e))
}

/// Splits `origin 0 rest`.
pub(super) fn split_origin_key(key: &[u8]) -> Result<(OrgId, &[u8]), StoreError> {
    let at = key
        .iter()
        .position(|b| *b == SEP)
        .ok_or_else(|| corrupt("key", "no origin separator"))?;
    Ok((parse_origin(&key[..at])?, &key[at + 1..]))
}

pub(super) fn parse_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(fixed(bytes, what)?))
}

/// Strips and checks the record version byte.
pub(super) fn unversion<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8], StoreError> {
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => Ok(rest),
        Some((v, _)) => Err(corrupt(what, format!("unknown record version {v}"))),
        None => Err(corrupt(what, "empty record")),
    }
}

pub(super) fn versioned(body: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + body.len());
    value.push(RECORD_V1);
    value.extend_from_slice(body);
    value
}

thread_local! {
    /// zstd's contexts, one pair per thread, reused across entries as
    /// zstd's manual advises for many small inputs. `None` until first
    /// used, or if zstd could not make one (then entries are kept as they
    /// are).
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// An entry as the `entries` tree keeps it: zstd-compressed when that
/// saves enough, else as it is. One zstd version encodes the same entry to
/// the same bytes, so the append's "already held" check can compare bytes;
/// where they differ (a row of another version) it compares ids.
pub(super) fn encode_entry(entry: &SignedEntry) -> Vec<u8> {
    let wire = entry.wire().encode_to_vec();
    compressed(&wire).unwrap_or_else(|| versioned(&wire))
}

/// `wire` as a [`RECORD_ZSTD`] row, if its frame saves at least a
/// sixteenth of it, length included: zstd writes the frame straight into a
/// row with exactly that much room, and one that does not fit is not kept.
fn compressed(wire: &[u8]) -> Option<Vec<u8>> {
    const HEADER: usize = 1 + 4;
    if wire.len() > MAX_ENTRY_BYTES {
        return None;
    }
    let len = u32::try_from(wire.len()).ok()?;
    let room = wire
        .len()
        .checked_sub(4 + (wire.len() >> MIN_SAVING_SHIFT))?;
    let mut row = vec![0; HEADER + room];
    row[0] = RECORD_ZSTD;
    row[1..HEADER].copy_from_slice(&len.to_le_bytes());
    let frame_len = COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        cell.as_mut()?
            .compress_to_buffer(wire, &mut row[HEADER..])
            .ok()
    })?;
    row.truncate(HEADER + frame_len);
    Some(row)
}

pub(super) fn decode_entry(bytes: &[u8]) -> Result<SignedEntry, StoreError> {
    let decoded = match bytes.split_first() {
        Some((&RECORD_ZSTD, packed)) => SignedEntry::decode_bytes(&decompress(packed)?),
        _ => SignedEntry::decode_bytes(unversion(bytes, "entry")?),
    };
    decoded.map_err(|e| corrupt("entry", e))
}

/// The entry's bytes from its length and zstd frame; a length over
/// [`MAX_ENTRY_BYTES`] is refused before anything is allocated for it.
fn decompress(packed: &[u8]) -> Result<Vec<u8>, StoreError> {
    let (len, frame) = match packed.split_first_chunk::<4>() {
        Some((len, frame)) => (u32::from_le_bytes(*len) as usize, frame),
        None => return Err(corrupt("entry", "compressed entry without its length")),
    };
    if len > MAX_ENTRY_BYTES {
        return Err(corrupt(
            "entry",
            format!("compressed entry claims {len} bytes"),
        ));
    }
    let wire = DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match &mut *cell {
            Some(d) => d,
            empty => empty.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(frame, len)
    });
    match wire {
        Ok(wire) if wire.len() == len => Ok(wire),
        Ok(wire) => Err(corrupt(
            "entry",
            format!("compressed entry holds {} bytes, not {len}", wire.len()),
        )),
        Err(e) => Err(corrupt("entry", e)),
    }
}

pub(super) fn encode_head(head: Head) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + 8 + 32);
    value.push(RECORD_V1);
    value.extend_from_slice(&head.seq.to_be_bytes());
    value.extend_from_slice(head.hash.as_bytes());
    value
}

pub(super) fn decode_head(bytes: &[u8]) -> Result<Head, StoreError> {
    let body: [u8; 40] = fixed(unversion(bytes, "head")?, "head")?;
    let (seq, hash) = body.split_at(8);
    Ok(Head {
        seq: parse_u64(seq, "head seq")?,
        hash: Hash(fixed(hash, "head hash")?),
    })
}

pub(super) fn encode_json<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    let body = serde_json::to_vec(record).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(versioned(&body))
}

pub(super) fn decode_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(unversion(bytes, what)?).map_err(|e| corrupt(what, e))
}

pub(super) fn parse_text(bytes: &[u8], what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| corrupt(what, e))
}

/// `origin 0 uuid 0`: the prefix of every row about one document.
pub(super) fn ref_prefix(origin: &OrgId, uuid: &str) -> Vec<u8> {
    let mut key = origin_key(origin, uuid.as_bytes());
    key.push(SEP);
    key
}

/// `kind origin 0 uuid`: a document's key in `documents`.
pub(super) fn doc_key(kind: EntryKind, origin: &OrgId, uuid: &str) -> Vec<u8> {
    let mut key = vec![rules::kind_tag(kind)];
    key.extend_from_slice(&origin_key(origin, uuid.as_bytes()));
    key
}

/// A document's row in `documents`: the seq of its latest readable
/// revision, then the seq of each of its revisions, in order (8 bytes each,
/// big-endian). One row per document, rewritten by each revision, where
/// a row per revision would be one more row per entry at a random place.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct DocumentRow {
    pub(super) latest: u64,
    pub(super) revisions: Vec<u64>,
}

impl DocumentRow {
    /// Records the revision at `seq` as the latest.
    pub(super) fn revise(&mut self, seq: u64) {
        self.latest = seq;
        if let Err(at) = self.revisions.binary_search(&seq) {
            self.revisions.insert(at, seq);
        }
    }
}

pub(super) fn encode_document(row: &DocumentRow) -> Vec<u8> {
    std::iter::once(row.latest)
        .chain(row.revisions.iter().copied())
        .flat_map(u64::to_be_bytes)
        .collect()
}

pub(super) fn decode_document(bytes: &[u8]) -> Result<DocumentRow, StoreError> {
    let (chunks, rest) = bytes.as_chunks::<8>();
    match (chunks.split_first(), rest.is_empty()) {
        (Some((latest, revisions)), true) => Ok(DocumentRow {
            latest: u64::from_be_bytes(*latest),
            revisions: revisions.iter().map(|s| u64::from_be_bytes(*s)).collect(),
        }),
        _ => Err(corrupt(
            "document row",
            format!("{} bytes, expected a non-zero multiple of 8", bytes.len()),
        )),
    }
}

/// Parses `origin 0 uuid` into a document reference at `seq`.
pub(super) fn parse_doc(bytes: &[u8], seq: u64) -> Result<DocumentRef, StoreError> {
    let (origin, uuid) = split_origin_key(bytes)?;
    Ok(DocumentRef {
        origin,
        uuid: parse_text(uuid, "uuid")?,
        seq,
    })
}

/// Parses `origin 0 seq`.
pub(super) fn parse_pos(bytes: &[u8]) -> Result<EntryPos, StoreError> {
    let (origin, seq) = split_origin_key(bytes)?;
    Ok(EntryPos {
        origin,
        seq: parse_u64(seq, "entry seq")?,
    })
}

pub(super) fn encode_key(seq: u64, key: &PublicKey) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + 8 + 32);
    value.push(RECORD_V1);
    value.extend_from_slice(&seq.to_be_bytes());
    value.extend_from_slice(key.as_bytes());
    value
}

pub(super) fn decode_key(bytes: &[u8]) -> Result<(u64, PublicKey), StoreError> {
    let body: [u8; 40] = fixed(unversion(bytes, "key")?, "key")?;
    let (seq, key) = body.split_at(8);
    let key = PublicKey::from_bytes(key).map_err(|e| corrupt("key", e))?;
    Ok((parse_u64(seq, "key seq")?, key))
}

pub(super) fn partial_key(hash: &Hash, offset: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(hash.as_bytes());
    key.extend_from_slice(&offset.to_be_bytes());
    key
}

pub(super) fn poisoned() -> StoreError {
    StoreError::Backend("sled store lock poisoned by a panic".into())
}

/// A record's key: its space, NUL, then its own key.
pub(super) fn record_key(space: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(space.len() + 1 + key.len());
    k.extend_from_slice(space.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}
