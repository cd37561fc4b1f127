//! Restricted entries: whichever route an entry takes through the federation,
//! no organisation outside its audience ever receives its payload, and every
//! copy, stub or whole, still verifies and chains.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use comity_core::{
    IdentityKey, OrgId, SignedEntry, UnsignedEntry, document,
    entry::{Audience, EntryKind},
    proto,
    verify::verify_for_ingest,
};
use proptest::prelude::*;

fn org(i: usize) -> OrgId {
    OrgId::new(format!("org{i}")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_non_addressee_ever_receives_a_restricted_payload(
        orgs in 3usize..9,
        audience_mask in 1u16..512,
        route in proptest::collection::vec(0usize..9, 1..12),
    ) {
        let key = IdentityKey::generate();
        let origin = org(0);
        let audience: Vec<OrgId> = (1..orgs).filter(|i| audience_mask & (1 << i) != 0).map(org).collect();
        prop_assume!(!audience.is_empty());
        let statement = proto::LiaisonStatement {
            uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
            revision: 1,
            title: "Confidential coordination".into(),
            to: audience.iter().map(|o| proto::Addressee { org: o.to_string(), ..Default::default() }).collect(),
            purpose: proto::LiaisonPurpose::Information as i32,
            body: Some(proto::Text { lang: "en".into(), value: "For the addressees only.".into() }),
            state: proto::LiaisonState::Posted as i32,
            ..Default::default()
        };
        let (kind, payload) = document::encode(proto::document::Body::Liaison(statement));
        prop_assert_eq!(kind, EntryKind::Liaison);
        let mut draft = UnsignedEntry::new(origin.clone(), kind, payload, time::OffsetDateTime::now_utc());
        draft.audience = Audience::Restricted(audience.clone());
        let original = draft.sign(&key, None);

        // Relay the entry along the route: each holder serves it to the next
        // as that reader may receive it.
        let mut holder = (origin.clone(), original.clone());
        for hop in route {
            let reader = org(hop % orgs);
            let served = holder.1.for_reader(&reader);
            let copy = SignedEntry::decode(served).unwrap();
            // Every copy verifies: same id, same signature, chain intact.
            prop_assert_eq!(copy.id(), original.id());
            prop_assert!(verify_for_ingest(&copy, Some(&key.public()), None, |_| None).is_ok());
            let entitled = reader == origin || audience.contains(&reader);
            if !entitled {
                prop_assert!(copy.payload().is_empty(), "{} outside the audience got the payload", reader);
            }
            holder = (reader, copy);
        }
    }
}
