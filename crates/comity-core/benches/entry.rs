//! Entry encode, sign and verify for a consultation of about 2 KiB, one by
//! one and (as ingest does) in batches of one origin's chain.
//!
//! `cargo bench -p comity-core --bench entry`

use comity_core::{IdentityKey, OrgId, SignedEntry, UnsignedEntry, document, fixtures, verify};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use std::{hint::black_box, time::Duration};

const CHAIN: usize = 512;

fn entry(c: &mut Criterion) {
    let org = OrgId::new("itu").expect("org id");
    let key = IdentityKey::generate();
    let public = key.public();
    let (kind, payload) =
        document::encode(fixtures::consultation(0, time::OffsetDateTime::now_utc()));
    let signed = UnsignedEntry::new(
        org.clone(),
        kind,
        payload.clone(),
        time::OffsetDateTime::now_utc(),
    )
    .sign(&key, None);
    let wire_bytes = signed.wire().encode_to_vec();

    let mut group = c.benchmark_group("entry_2KiB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    group.bench_function("encode_document", |b| {
        b.iter_batched(
            || fixtures::consultation(0, time::OffsetDateTime::now_utc()),
            |body| black_box(document::encode(body)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("encode_entry_wire", |b| {
        b.iter(|| black_box(signed.wire().encode_to_vec()))
    });
    group.bench_function("sign", |b| {
        b.iter_batched(
            || {
                UnsignedEntry::new(
                    org.clone(),
                    kind,
                    payload.clone(),
                    time::OffsetDateTime::now_utc(),
                )
            },
            |unsigned| black_box(unsigned.sign(&key, None)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("decode_and_verify", |b| {
        b.iter(|| {
            let entry = SignedEntry::decode_bytes(&wire_bytes).expect("decodes");
            verify::verify_signature(&entry, &public).expect("signature");
            verify::verify_payload(&entry).expect("payload");
            black_box(entry)
        })
    });
    group.bench_function("verify_signature_only", |b| {
        b.iter(|| verify::verify_signature(black_box(&signed), &public).expect("signature"))
    });

    // What ingest does: a chain of one origin's entries, signatures checked
    // in batches of one key (`verify_signatures`).
    let mut head = None;
    let chain: Vec<SignedEntry> = (0..CHAIN)
        .map(|_| {
            let (kind, payload) =
                document::encode(fixtures::consultation(0, time::OffsetDateTime::now_utc()));
            let entry =
                UnsignedEntry::new(org.clone(), kind, payload, time::OffsetDateTime::now_utc())
                    .sign(&key, head);
            head = Some(entry.head());
            entry
        })
        .collect();
    group.throughput(Throughput::Elements(CHAIN as u64));
    group.bench_function("verify_signatures_batched_512", |b| {
        b.iter(|| {
            let (good, _, failure) = verify::verify_signatures(black_box(&chain), &public);
            assert_eq!((good, failure), (CHAIN, None));
        })
    });
    group.finish();
}

criterion_group!(benches, entry);
criterion_main!(benches);
