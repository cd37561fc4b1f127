//! Arbitrary bytes -> `SignedEntry::decode_bytes` -> `verify_for_ingest` against
//! a fixed key and head. Nothing may panic, and nothing may be accepted that
//! the key did not sign.
//!
//! Random bytes never carry a valid signature, so each decodable input is also
//! re-signed with the fixed key: that drives the checks after the signature
//! (seq, prev, payload hash, document rules, key rotation) with hostile headers
//! and payloads.
#![no_main]

mod common;

use comity_core::{
    Head, Ingest, SignedEntry, proto,
    verify::{self, verify_chain, verify_for_ingest},
};
use libfuzzer_sys::fuzz_target;

fn check(entry: &SignedEntry, key: &comity_core::PublicKey) {
    // Seeds and re-signed inputs carry a valid signature; mutated ones do not.
    let signed_by_us =
        key.verify(&SignedEntry::signed_message(entry.header_bytes()), entry.signature());
    let genesis = common::bases()[0].entry.head();
    let heads: [Option<Head>; 2] = [None, Some(genesis)];
    for head in heads {
        let result = verify_for_ingest(entry, Some(key), head, |seq| {
            (seq == 1).then_some(genesis.hash)
        });
        match result {
            Ok(Ingest::Append) => {
                assert!(signed_by_us, "appended an entry the key did not sign");
                assert_eq!(entry.seq(), head.map_or(1, |h| h.seq + 1));
                assert_eq!(entry.prev(), head.map(|h| h.hash));
                assert!(
                    entry.is_redacted()
                        || comity_core::Hash::of(entry.payload()) == entry.payload_hash()
                );
            }
            Ok(Ingest::Duplicate) => assert_eq!(Some(entry.id()), head.map(|h| h.hash)),
            Ok(Ingest::Equivocation { .. }) => assert!(signed_by_us, "equivocation with a forged signature"),
            Err(_) => {}
        }
    }
    if signed_by_us {
        let _ = verify_chain([entry], key);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = SignedEntry::decode_bytes(data) else {
        return;
    };
    let key = common::key().public();

    // As received.
    check(&entry, &key);
    let _ = verify_for_ingest(&entry, None, None, |_| None);

    // Helpers a node runs on received entries.
    let _ = verify::verify_payload(&entry);
    let _ = verify::key_rotation_of(&entry);
    let _ = verify::rotated_key(&entry);
    let _ = comity_core::document::decode_for(&entry);
    let reader = common::other_org();
    let _ = entry.readable_by(&reader);
    let _ = entry.for_reader(&reader);
    let _ = entry.is_redacted();
    let _ = entry.head();

    // Re-signed by the fixed key: the same header, now authentic.
    let wire = proto::Entry {
        header: entry.header_bytes().to_vec(),
        signature: common::key()
            .sign(&SignedEntry::signed_message(entry.header_bytes()))
            .to_vec(),
        payload: entry.payload().to_vec(),
    };
    let resigned = SignedEntry::decode(wire).expect("re-signing keeps a decodable entry decodable");
    check(&resigned, &key);
});
