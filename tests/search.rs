//! Full-text search on real nodes (issue 15): documents replicated from a
//! partner are found in their own language (a French word of another
//! inflection, a two-character Chinese word), through the local API and the
//! `comity search` command; a restricted statement is never found, nor
//! quoted, outside its audience; and the index, deleted, is rebuilt.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::proto;
use comity_node::{
    search::{SearchQuery, SearchResults},
    views::Reader,
};
use std::time::{Duration, Instant};
use support::{TestNode, temp_root};

fn mesh(nodes: &[&TestNode]) {
    for a in nodes {
        for b in nodes {
            if a.org != b.org {
                a.follow(b);
            }
        }
    }
}

fn text(lang: &str, value: &str) -> proto::Text {
    proto::Text {
        lang: lang.into(),
        value: value.into(),
    }
}

/// A consultation with a title and a body in one language.
fn consultation(lang: &str, title: &str, body: &str) -> proto::document::Body {
    let proto::document::Body::Consultation(mut c) = support::consultation(title) else {
        unreachable!()
    };
    c.title = vec![text(lang, title)];
    c.body = vec![text(lang, body)];
    proto::document::Body::Consultation(c)
}

async fn search(node: &TestNode, words: &str, reader: Reader) -> SearchResults {
    node.node()
        .search(SearchQuery::new(words), reader)
        .await
        .unwrap()
}

/// Waits, up to the suite's deadline, until a search at `node` finds `uuid`
/// (the indexer runs behind the store, and a search commits what it fed),
/// and returns the results.
async fn found(node: &TestNode, words: &str, uuid: &str) -> SearchResults {
    let start = Instant::now();
    loop {
        let results = search(node, words, Reader::Node).await;
        if results.hits.iter().any(|h| h.uuid == uuid) {
            return results;
        }
        assert!(
            start.elapsed() < support::DEADLINE,
            "{} never found {uuid} for {words:?}: {results:?}",
            node.org
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn uuid_of(entry: &comity_core::SignedEntry) -> String {
    comity_core::document::uuid_of(&comity_core::document::decode_for(entry).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_of_a_partner_are_found_in_french_and_chinese() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    mesh(&[&itu, &ietf]);

    let french = ietf
        .node()
        .publish(consultation(
            "fr",
            "Consultation sur les réseaux publics",
            "Les opérateurs des réseaux ont publié leurs observations.",
        ))
        .await
        .unwrap();
    let chinese = ietf
        .node()
        .publish(consultation(
            "zh-Hans",
            "关于网络安全国际合作的咨询",
            "各方就跨境数据流动提出意见。",
        ))
        .await
        .unwrap();
    let english = ietf
        .node()
        .publish(consultation(
            "en",
            "Routing security",
            "Operators of networks are asked for comments.",
        ))
        .await
        .unwrap();
    itu.wait_for_seq(&ietf.org, english.seq()).await;

    // "réseau" (singular) finds "réseaux" (plural) at the partner, by the
    // French stemmer; the English consultation is not found by it.
    let results = found(&itu, "réseau", &uuid_of(&french)).await;
    assert_eq!(results.total, 1, "{results:?}");
    let hit = &results.hits[0];
    assert_eq!(hit.origin, "ietf");
    assert_eq!(hit.title.as_ref().unwrap().lang, "fr");
    assert!(
        hit.snippet.html.contains("<mark>réseaux</mark>"),
        "{:?}",
        hit.snippet
    );
    // A two-character Chinese word inside a longer run of characters.
    let results = found(&itu, "安全", &uuid_of(&chinese)).await;
    assert_eq!(results.total, 1, "{results:?}");
    assert!(
        results.hits[0].snippet.html.contains("<mark>")
            || results.hits[0]
                .title
                .as_ref()
                .unwrap()
                .text
                .contains("安全"),
        "{:?}",
        results.hits[0]
    );

    // The local API answers the same, with typed kinds and filters.
    let mut api = comity_node::local_api::connect(&itu.data.socket_path())
        .await
        .unwrap();
    let response = api
        .search(proto::SearchRequest {
            query: "observation".into(),
            kind: proto::EntryKind::Consultation as i32,
            lang: "fr".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.total, 1, "{response:?}");
    assert_eq!(response.hits[0].uuid, uuid_of(&french));
    assert_eq!(response.hits[0].kind(), proto::EntryKind::Consultation);
    let snippet = &response.hits[0].snippet;
    let marked: Vec<&str> = response.hits[0]
        .highlights
        .iter()
        .map(|h| &snippet[h.start as usize..h.end as usize])
        .collect();
    assert_eq!(marked, ["observations"], "{snippet}");
    let none = api
        .search(proto::SearchRequest {
            query: "réseau".into(),
            kind: proto::EntryKind::Liaison as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.total, 0, "a kind filter: {none:?}");
    let refused = api
        .search(proto::SearchRequest {
            query: "réseau".into(),
            kind: proto::EntryKind::Receipt as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("not searchable"), "{refused:?}");
    let empty = api
        .search(proto::SearchRequest::default())
        .await
        .unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);

    // And `comity search`, over the same socket.
    let out = std::process::Command::new(support::COMITY_BIN)
        .args(["search", "安全", "--origin", "ietf", "--json", "--data"])
        .arg(itu.data.root())
        .env_remove("COMITY_DATA")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"], 1, "{json}");
    assert_eq!(json["hits"][0]["uuid"], uuid_of(&chinese));
    assert_eq!(json["hits"][0]["kind"], "consultation");
    let out = std::process::Command::new(support::COMITY_BIN)
        .args(["search", "安全", "--kind", "profile", "--data"])
        .arg(itu.data.root())
        .env_remove("COMITY_DATA")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_statement_is_found_only_by_its_audience() {
    let root = temp_root();
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    mesh(&[&ietf, &itu, &icann]);
    for node in [&itu, &icann] {
        support::wait_until_direct(node, &ietf.org).await;
    }

    let post = |title: &str, body: &str, restricted: bool| {
        let node = ietf.node().clone();
        let (title, body) = (title.to_string(), body.to_string());
        async move {
            let draft = node
                .draft_liaison(proto::DraftLiaisonRequest {
                    to: vec![proto::Recipient {
                        to: "itu".into(),
                        purpose: 0,
                        ..Default::default()
                    }],
                    purpose: proto::LiaisonPurpose::Information as i32,
                    title,
                    body,
                    lang: "en".into(),
                    restricted,
                    ..Default::default()
                })
                .unwrap();
            node.post_liaison(&draft.id).await.unwrap()
        }
    };
    let secret = post(
        "Confidential coordination on quasar filtering",
        "The quasar filtering plan stays between IETF and ITU. Coordination continues.",
        true,
    )
    .await;
    let public = post(
        "Coordination of numbering plans",
        "Coordination between registries, in the open.",
        false,
    )
    .await;
    for node in [&itu, &icann] {
        node.wait_for_seq(&ietf.org, public.seq()).await;
    }
    assert!(
        icann
            .node()
            .store()
            .entry(&ietf.org, secret.seq())
            .unwrap()
            .unwrap()
            .is_redacted(),
        "ICANN holds only the stub"
    );

    // The addressee finds it, quoted.
    let at_itu = found(&itu, "quasar", &uuid_of(&secret)).await;
    assert!(at_itu.hits[0].snippet.fragment.contains("quasar"));

    // ICANN has fed everything it holds (the stub included) and committed:
    // nothing of the statement is found, counted or quoted.
    icann.node().index_now().await.unwrap();
    found(&icann, "coordination", &uuid_of(&public)).await;
    let none = search(&icann, "quasar", Reader::Node).await;
    assert_eq!(none.total, 0, "{none:?}");
    assert!(none.hits.is_empty());
    let shared = search(&icann, "coordination", Reader::Node).await;
    assert_eq!(shared.total, 1, "only the public statement: {shared:?}");
    let rendered = format!("{shared:?}");
    assert!(
        !rendered.contains("quasar") && !rendered.contains(&uuid_of(&secret)),
        "{rendered}"
    );

    // At the origin, its own people find it; an anonymous dashboard
    // visitor (the public reader) does not, nor sees it in a snippet.
    found(&ietf, "quasar", &uuid_of(&secret)).await;
    found(&ietf, "coordination", &uuid_of(&public)).await;
    assert_eq!(search(&ietf, "quasar", Reader::Public).await.total, 0);
    let anonymous = search(&ietf, "coordination", Reader::Public).await;
    assert_eq!(anonymous.total, 1, "{anonymous:?}");
    assert!(!format!("{anonymous:?}").contains("quasar"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_when_its_directory_is_deleted() {
    let root = temp_root();
    let mut ietf = TestNode::start_new(root.path(), "ietf").await;
    let doc = ietf
        .node()
        .publish(consultation(
            "fr",
            "Gouvernance des noms de domaine",
            "Les registres publieront leurs politiques.",
        ))
        .await
        .unwrap();
    let uuid = uuid_of(&doc);
    found(&ietf, "politique", &uuid).await;
    let dir = ietf.data.search_path();
    assert!(dir.join("meta.json").exists(), "the index is in {dir:?}");

    ietf.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
    ietf.start().await;
    let results = found(&ietf, "politique", &uuid).await;
    assert_eq!(results.total, 1);
    assert!(dir.join("meta.json").exists());

    // `comity search --reindex` empties it and feeds it again.
    let out = std::process::Command::new(support::COMITY_BIN)
        .args(["search", "--reindex", "--json", "--data"])
        .arg(ietf.data.root())
        .env_remove("COMITY_DATA")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["documents"], 1, "{json}");
    assert_eq!(search(&ietf, "politique", Reader::Node).await.total, 1);
}
