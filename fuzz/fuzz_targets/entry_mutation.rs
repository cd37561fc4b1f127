//! A valid signed entry, mutated with structure-aware edits (raw bytes,
//! re-encoded header fields, signature malleability, payload edits). The
//! mutated entry must never be accepted unless its header, signature and
//! payload are byte-identical to the original. One designed exception: a
//! restricted entry may arrive without its payload (a redacted stub).
#![no_main]

mod common;

use arbitrary::Arbitrary;
use comity_core::{Ingest, SignedEntry, entry::Audience, proto, verify::verify_for_ingest};
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field {
    Header,
    Signature,
    Payload,
}

#[derive(Arbitrary, Debug)]
enum HeaderEdit {
    Format(u32),
    Origin(String),
    Seq(u64),
    SeqDelta(i8),
    Prev(Vec<u8>),
    PrevOfBase(u8),
    CreatedAt(i64, i32),
    NoCreatedAt,
    Kind(i32),
    PayloadHash(Vec<u8>),
    PayloadSize(u64),
    Scope(i32),
    AudienceOrgs(Vec<String>),
    NoAudience,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    FlipBit { field: Field, index: u16, bit: u8 },
    SetByte { field: Field, index: u16, value: u8 },
    Truncate { field: Field, len: u16 },
    Insert { field: Field, index: u16, bytes: Vec<u8> },
    Replace { field: Field, bytes: Vec<u8> },
    /// The same field taken from another valid entry.
    FromBase { field: Field, base: u8 },
    /// Decode the header, change one field, re-encode.
    Header(HeaderEdit),
    /// Re-encode the header as decoded (drops unknown fields, canonical order).
    Reencode,
    /// Append a protobuf field to the header bytes: unknown, or a repeat of a
    /// known one (last one wins on decode).
    AppendHeaderField { tag: u8, wire_type: u8, bytes: Vec<u8> },
    /// s + L: the classic Ed25519 malleability (strict verify must reject it).
    SignatureAddOrder,
    /// Payload as the restricted stub: empty.
    EmptyPayload,
    /// Payload replaced by another, with header hash and size updated to match.
    ConsistentPayload(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    base: u8,
    mutations: Vec<Mutation>,
    /// Unknown fields appended to the outer `Entry` message.
    outer_suffix: Vec<u8>,
}

/// The Ed25519 group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn field<'a>(wire: &'a mut proto::Entry, f: Field) -> &'a mut Vec<u8> {
    match f {
        Field::Header => &mut wire.header,
        Field::Signature => &mut wire.signature,
        Field::Payload => &mut wire.payload,
    }
}

fn edit_header(wire: &mut proto::Entry, edit: impl FnOnce(&mut proto::EntryHeader)) {
    if let Ok(mut header) = proto::EntryHeader::decode(wire.header.as_slice()) {
        edit(&mut header);
        wire.header = header.encode_to_vec();
    }
}

fn apply(wire: &mut proto::Entry, m: Mutation) {
    let bases = common::bases();
    match m {
        Mutation::FlipBit { field: f, index, bit } => {
            let v = field(wire, f);
            if !v.is_empty() {
                let i = index as usize % v.len();
                v[i] ^= 1 << (bit % 8);
            }
        }
        Mutation::SetByte { field: f, index, value } => {
            let v = field(wire, f);
            if !v.is_empty() {
                let i = index as usize % v.len();
                v[i] = value;
            }
        }
        Mutation::Truncate { field: f, len } => {
            let v = field(wire, f);
            v.truncate(len as usize % (v.len() + 1));
        }
        Mutation::Insert { field: f, index, bytes } => {
            let v = field(wire, f);
            let i = index as usize % (v.len() + 1);
            v.splice(i..i, bytes);
        }
        Mutation::Replace { field: f, bytes } => *field(wire, f) = bytes,
        Mutation::FromBase { field: f, base } => {
            let other = bases[base as usize % bases.len()].entry.wire().clone();
            let mut other = other;
            *field(wire, f) = std::mem::take(field(&mut other, f));
        }
        Mutation::Header(edit) => edit_header(wire, |h| match edit {
            HeaderEdit::Format(v) => h.format = v,
            HeaderEdit::Origin(v) => h.origin = v,
            HeaderEdit::Seq(v) => h.seq = v,
            HeaderEdit::SeqDelta(d) => h.seq = h.seq.wrapping_add_signed(i64::from(d)),
            HeaderEdit::Prev(v) => h.prev = v,
            HeaderEdit::PrevOfBase(b) => {
                h.prev = bases[b as usize % bases.len()].entry.id().0.to_vec()
            }
            HeaderEdit::CreatedAt(seconds, nanos) => {
                h.created_at = Some(prost_types::Timestamp { seconds, nanos })
            }
            HeaderEdit::NoCreatedAt => h.created_at = None,
            HeaderEdit::Kind(v) => h.kind = v,
            HeaderEdit::PayloadHash(v) => h.payload_hash = v,
            HeaderEdit::PayloadSize(v) => h.payload_size = v,
            HeaderEdit::Scope(v) => h.audience.get_or_insert_default().scope = v,
            HeaderEdit::AudienceOrgs(v) => h.audience.get_or_insert_default().orgs = v,
            HeaderEdit::NoAudience => h.audience = None,
        }),
        Mutation::Reencode => edit_header(wire, |_| {}),
        Mutation::AppendHeaderField { tag, wire_type, bytes } => {
            let wire_type = [0u8, 1, 2, 5][wire_type as usize % 4];
            let tag = u32::from(tag % 32).max(1);
            prost::encoding::encode_varint(u64::from(tag << 3 | u32::from(wire_type)), &mut wire.header);
            match wire_type {
                0 => prost::encoding::encode_varint(
                    bytes.iter().take(8).fold(0u64, |a, b| a << 8 | u64::from(*b)),
                    &mut wire.header,
                ),
                1 => wire.header.extend((0..8).map(|i| bytes.get(i).copied().unwrap_or(0))),
                5 => wire.header.extend((0..4).map(|i| bytes.get(i).copied().unwrap_or(0))),
                _ => {
                    prost::encoding::encode_varint(bytes.len() as u64, &mut wire.header);
                    wire.header.extend_from_slice(&bytes);
                }
            }
        }
        Mutation::SignatureAddOrder => {
            if wire.signature.len() == 64 {
                let mut carry = 0u16;
                for (s, l) in wire.signature[32..].iter_mut().zip(L) {
                    let sum = u16::from(*s) + u16::from(l) + carry;
                    *s = sum as u8;
                    carry = sum >> 8;
                }
            }
        }
        Mutation::EmptyPayload => wire.payload.clear(),
        Mutation::ConsistentPayload(payload) => {
            let hash = comity_core::Hash::of(&payload).0.to_vec();
            let size = payload.len() as u64;
            wire.payload = payload;
            edit_header(wire, |h| {
                h.payload_hash = hash;
                h.payload_size = size;
            });
        }
    }
}

fuzz_target!(|input: Input| {
    let bases = common::bases();
    let base = &bases[input.base as usize % bases.len()];
    let original = base.entry.wire();
    let mut wire = original.clone();
    for m in input.mutations {
        apply(&mut wire, m);
    }
    let mut bytes = wire.encode_to_vec();
    bytes.extend_from_slice(&input.outer_suffix);
    let Ok(entry) = SignedEntry::decode_bytes(&bytes) else {
        return;
    };

    // `FromBase` can transplant another genuine entry's header and signature
    // (a replay, not a forgery), so "unchanged" means: byte-identical to one
    // of the genuine entries, payload included.
    let genuine = |e: &SignedEntry| {
        bases.iter().map(|b| &b.entry).chain(base.held.as_ref()).any(|g| {
            e.header_bytes() == g.header_bytes()
                && e.signature() == g.signature()
                && (e.payload() == g.payload()
                    || (e.payload().is_empty() && matches!(g.audience(), Audience::Restricted(_))))
        })
    };
    let genuine_signed = |e: &SignedEntry| {
        bases
            .iter()
            .map(|b| &b.entry)
            .any(|g| e.header_bytes() == g.header_bytes() && e.signature() == g.signature())
    };
    let key = common::key().public();

    // As the next entry of the log. A genuine entry at a held seq comes back
    // as a duplicate or, for another genuine entry at that seq, equivocation.
    let held = base.held.as_ref().map(|e| e.id());
    match verify_for_ingest(&entry, Some(&key), base.head, |seq| (seq == 1).then_some(held).flatten()) {
        Ok(Ingest::Append) => assert!(genuine(&entry), "a mutated entry was accepted: {:?}", entry.wire()),
        Ok(_) => assert!(genuine_signed(&entry), "forged duplicate/equivocation: {:?}", entry.wire()),
        Err(_) => {}
    }

    // When the original is already held too.
    let held_head = Some(base.entry.head());
    let id = base.entry.id();
    match verify_for_ingest(&entry, Some(&key), held_head, |seq| {
        if seq == base.entry.seq() {
            Some(id)
        } else if seq == 1 {
            held
        } else {
            None
        }
    }) {
        Ok(Ingest::Append) => assert!(genuine(&entry), "a mutated entry was accepted: {:?}", entry.wire()),
        // A duplicate's payload is not checked: header and signature must be genuine.
        Ok(_) => assert!(genuine_signed(&entry), "forged duplicate/equivocation: {:?}", entry.wire()),
        Err(_) => {}
    }
});
