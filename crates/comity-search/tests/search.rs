//! The search index's behaviour, through its public API only.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use comity_search::{
    Audience, DocKind, IndexDoc, Localized, OpenState, Reader, RebuildReason, SearchConfig,
    SearchError, SearchIndex, SearchQuery, SearchResults, Upserted,
};
use time::OffsetDateTime;

#[allow(
    clippy::too_many_arguments,
    reason = "a test fixture that reads like a table row"
)]
fn doc(
    origin: &str,
    kind: DocKind,
    uuid: &str,
    revision: u64,
    seq: u64,
    titles: &[(&str, &str)],
    bodies: &[(&str, &str)],
    audience: Audience,
) -> IndexDoc {
    IndexDoc {
        origin: origin.into(),
        kind,
        uuid: uuid.into(),
        revision,
        seq,
        entry_id: format!("{seq:064x}"),
        created_at: OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seq),
        titles: titles.iter().map(|(l, t)| Localized::new(*l, *t)).collect(),
        summaries: Vec::new(),
        bodies: bodies.iter().map(|(l, t)| Localized::new(*l, *t)).collect(),
        audience,
    }
}

fn ram() -> SearchIndex {
    SearchIndex::in_ram(SearchConfig::default()).expect("index in RAM")
}

fn search(index: &SearchIndex, text: &str, reader: &Reader) -> SearchResults {
    index
        .search(&SearchQuery::new(text), reader)
        .expect("search")
}

fn uuids(r: &SearchResults) -> Vec<String> {
    r.hits.iter().map(|h| h.uuid.clone()).collect()
}

fn me() -> Reader {
    Reader::Org("itu".into())
}

/// Checks a snippet's invariants: highlights sorted, disjoint, on character
/// boundaries, and the HTML is the escaped fragment with `<mark>`s.
fn check_snippet(s: &comity_search::Snippet) {
    let mut last = 0;
    for h in &s.highlights {
        assert!(
            h.start >= last && h.start < h.end && h.end <= s.fragment.len(),
            "{s:?}"
        );
        assert!(s.fragment.is_char_boundary(h.start) && s.fragment.is_char_boundary(h.end));
        last = h.end;
    }
    let unmarked = s.html.replace("<mark>", "").replace("</mark>", "");
    assert!(!unmarked.contains('<'), "html not escaped: {}", s.html);
    assert_eq!(
        s.html.matches("<mark>").count(),
        s.highlights.len(),
        "{s:?}"
    );
}

#[test]
fn finds_a_french_consultation_by_another_inflection() {
    let index = ram();
    let fr = doc(
        "arcep",
        DocKind::Consultation,
        "c-fr",
        1,
        2,
        &[("fr", "Consultations publiques sur l'adressage IPv6")],
        &[(
            "fr",
            "L'Autorité lance des consultations publiques. Les réponses seront publiées.",
        )],
        Audience::Public,
    );
    let en = doc(
        "ietf",
        DocKind::Consultation,
        "c-en",
        1,
        2,
        &[("en", "Routing security")],
        &[("en", "A call for comments on routing security practice.")],
        Audience::Public,
    );
    index.upsert(&fr).expect("upsert");
    index.upsert(&en).expect("upsert");
    index.commit().expect("commit");

    for query in [
        "publique",
        "consultation",
        "publiee",
        "réponse",
        "consultation publique",
    ] {
        let r = search(&index, query, &Reader::Public);
        assert_eq!(uuids(&r), vec!["c-fr"], "query {query:?}");
        assert_eq!(r.total, 1);
    }
    let r = search(&index, "consultation publique", &Reader::Public);
    let hit = &r.hits[0];
    assert_eq!(hit.kind, DocKind::Consultation);
    assert_eq!(hit.origin, "arcep");
    assert_eq!(
        hit.title.as_ref().map(|t| t.text.as_str()),
        Some("Consultations publiques sur l'adressage IPv6")
    );
    assert_eq!(hit.snippet.lang, "fr");
    check_snippet(&hit.snippet);
    let marked: Vec<&str> = hit
        .snippet
        .highlights
        .iter()
        .map(|h| &hit.snippet.fragment[h.start..h.end])
        .collect();
    assert!(marked.contains(&"consultations"), "{marked:?}");
    assert!(marked.contains(&"publiques"), "{marked:?}");
    assert!(
        hit.snippet.html.contains("<mark>publiques</mark>"),
        "{}",
        hit.snippet.html
    );
    // Searched as French only: the English document has no French text.
    let mut q = SearchQuery::new("routing");
    q.lang = Some("fr".into());
    assert_eq!(index.search(&q, &Reader::Public).expect("search").total, 0);
}

#[test]
fn finds_a_chinese_title_by_a_two_character_word() {
    let index = ram();
    let zh = doc(
        "cac",
        DocKind::Consultation,
        "c-zh",
        1,
        2,
        &[("zh-Hans", "关于互联网治理论坛网络安全标准的公开征求意见")],
        &[("zh-Hans", "本次征求意见涉及数据保护和个人信息。")],
        Audience::Public,
    );
    let other = doc(
        "cac",
        DocKind::Consultation,
        "c-zh2",
        1,
        3,
        &[("zh-Hans", "全国标准化工作")],
        &[("zh-Hans", "安排。")],
        Audience::Public,
    );
    index.upsert(&zh).expect("upsert");
    index.upsert(&other).expect("upsert");
    index.commit().expect("commit");

    // "安全" (security) is in the first title only; the second has both
    // characters, but not next to each other.
    let r = search(&index, "安全", &Reader::Public);
    assert_eq!(uuids(&r), vec!["c-zh"]);
    let t = r.hits[0].title.as_ref().expect("title");
    assert_eq!(t.lang, "zh-Hans");
    // Matched in the title only: the snippet is the text's start, unmarked.
    check_snippet(&r.hits[0].snippet);

    for word in ["网络", "治理", "互联网", "网络安全", "公开征求意见", "数据"] {
        assert_eq!(
            uuids(&search(&index, word, &Reader::Public)),
            vec!["c-zh"],
            "{word}"
        );
    }
    // Two documents have "标准" (standard).
    assert_eq!(search(&index, "标准", &Reader::Public).total, 2);
    // In the body: the snippet marks the word.
    let r = search(&index, "个人信息", &Reader::Public);
    let s = &r.hits[0].snippet;
    check_snippet(s);
    assert_eq!(s.lang, "zh-Hans");
    let marked: String = s
        .highlights
        .iter()
        .map(|h| &s.fragment[h.start..h.end])
        .collect();
    assert_eq!(marked, "个人信息");
    // With the language filter, by its primary subtag.
    let mut q = SearchQuery::new("安全");
    q.lang = Some("zh".into());
    assert_eq!(
        uuids(&index.search(&q, &Reader::Public).expect("search")),
        vec!["c-zh"]
    );
}

#[test]
fn finds_arabic_by_a_word_and_cuts_valid_snippets() {
    let index = ram();
    let ar = doc(
        "tra",
        DocKind::Liaison,
        "l-ar",
        1,
        4,
        &[("ar", "مشاورة عامة بشأن حوكمة الإنترنت")],
        &[(
            "ar",
            "تدعو الهيئة جميع الأطراف إلى تقديم ملاحظاتهم حول حوكمة الإنترنت وأمن الشبكات قبل نهاية الشهر.",
        )],
        Audience::Public,
    );
    index.upsert(&ar).expect("upsert");
    index.commit().expect("commit");
    for word in ["الإنترنت", "حوكمة", "الشبكات", "مشاورة"] {
        let r = search(&index, word, &Reader::Public);
        assert_eq!(uuids(&r), vec!["l-ar"], "{word}");
    }
    let r = search(&index, "الشبكات", &Reader::Public);
    let s = &r.hits[0].snippet;
    check_snippet(s);
    assert_eq!(s.lang, "ar");
    assert_eq!(s.highlights.len(), 1);
    assert_eq!(
        &s.fragment[s.highlights[0].start..s.highlights[0].end],
        "الشبكات"
    );
    assert!(s.html.contains("<mark>الشبكات</mark>"), "{}", s.html);
    assert_eq!(r.hits[0].kind, DocKind::Liaison);
}

#[test]
fn restricted_statements_never_reach_readers_outside_their_audience() {
    let index = ram();
    let secret = "Confidential draft on quantum-safe zebracorn signatures for the registry.";
    let restricted = doc(
        "itu",
        DocKind::Liaison,
        "l-secret",
        1,
        5,
        &[("en", "Zebracorn key rollover plan")],
        &[("en", secret)],
        Audience::Restricted(vec!["ietf".into()]),
    );
    let public = doc(
        "itu",
        DocKind::Liaison,
        "l-public",
        1,
        6,
        &[("en", "Zebracorn workshop announcement")],
        &[(
            "en",
            "A public workshop about zebracorn signatures, open to all.",
        )],
        Audience::Public,
    );
    index.upsert(&restricted).expect("upsert");
    index.upsert(&public).expect("upsert");
    index.commit().expect("commit");

    let queries = [
        "zebracorn",
        "confidential",
        "quantum",
        "rollover",
        "\"zebracorn signatures\"",
        "readers:ietf zebracorn",
        "slot:latest confidential",
    ];
    for reader in [Reader::Public, Reader::Org("icann".into())] {
        for query in queries {
            let r = search(&index, query, &reader);
            assert!(
                !uuids(&r).contains(&"l-secret".to_string()),
                "{reader:?} found the restricted statement with {query:?}"
            );
            assert!(r.total <= 1, "{reader:?} {query:?}: restricted counted");
            for hit in &r.hits {
                for leaked in ["onfidential", "quantum", "rollover", "registry"] {
                    assert!(
                        !hit.snippet.fragment.contains(leaked),
                        "{reader:?} {query:?}"
                    );
                    assert!(!hit.snippet.html.contains(leaked));
                    assert!(!hit.title.as_ref().is_some_and(|t| t.text.contains(leaked)));
                }
            }
        }
        assert_eq!(
            uuids(&search(&index, "zebracorn", &reader)),
            vec!["l-public"]
        );
    }
    // The audience and the origin find it, with its text in the snippet.
    for reader in [Reader::Org("ietf".into()), Reader::Org("itu".into())] {
        let r = search(&index, "quantum", &reader);
        assert_eq!(uuids(&r), vec!["l-secret"], "{reader:?}");
        assert!(r.hits[0].snippet.fragment.contains("quantum"));
        assert_eq!(search(&index, "zebracorn", &reader).total, 2);
    }
}

#[test]
fn a_newer_revision_replaces_the_older_one() {
    let index = ram();
    let v1 = doc(
        "itu",
        DocKind::Consultation,
        "c1",
        1,
        2,
        &[("en", "Numbering plan alpha")],
        &[("en", "First text.")],
        Audience::Public,
    );
    let mut v2 = v1.clone();
    v2.revision = 2;
    v2.seq = 7;
    v2.titles = vec![Localized::new("en", "Numbering plan beta")];
    assert_eq!(index.upsert(&v1).expect("upsert"), Upserted::Latest);
    // Both in one batch (uncommitted) and across commits.
    assert_eq!(index.upsert(&v2).expect("upsert"), Upserted::Latest);
    index.commit().expect("commit");
    assert_eq!(search(&index, "alpha", &me()).total, 0);
    let r = search(&index, "numbering", &me());
    assert_eq!(r.total, 1);
    assert_eq!(r.hits[0].revision, 2);
    assert_eq!(r.hits[0].seq, 7);
    // Feeding the old revision again (a replay) changes nothing.
    assert_eq!(index.upsert(&v1).expect("upsert"), Upserted::Stale);
    index.commit().expect("commit");
    assert_eq!(search(&index, "alpha", &me()).total, 0);
    let mut v3 = v2.clone();
    v3.revision = 3;
    v3.seq = 9;
    v3.titles = vec![Localized::new("en", "Numbering plan gamma")];
    index.commit().expect("commit");
    assert_eq!(index.upsert(&v3).expect("upsert"), Upserted::Latest);
    index.commit().expect("commit");
    assert_eq!(search(&index, "beta", &me()).total, 0);
    assert_eq!(search(&index, "numbering", &me()).hits[0].revision, 3);
    assert_eq!(index.stats().expect("stats").docs, 1);
}

/// A document the index has never seen is added without a delete: a
/// delete held until the commit costs a kilobyte of memory, and a look-up
/// in every segment at the commit, for nothing (issue 16). Revisions and
/// removals still delete what they replace.
#[test]
fn only_a_document_already_indexed_is_deleted_before_it_is_replaced() {
    let index = ram();
    let first = |uuid: &str, seq: u64, audience: Audience| {
        doc(
            "itu",
            DocKind::Consultation,
            uuid,
            1,
            seq,
            &[("en", "Roaming charges")],
            &[("en", "A first text.")],
            audience,
        )
    };
    let pending = |index: &SearchIndex| {
        let s = index.stats().expect("stats");
        (s.pending, s.pending_deletes)
    };
    index
        .upsert(&first("c1", 1, Audience::Public))
        .expect("upsert");
    index
        .upsert(&first("c2", 2, Audience::Restricted(vec!["ietf".into()])))
        .expect("upsert");
    assert_eq!(
        pending(&index),
        (2, 0),
        "two new documents, nothing to delete"
    );

    // A revision of a pending document, and one of a committed document.
    let mut c1 = first("c1", 3, Audience::Public);
    c1.revision = 2;
    c1.titles = vec![Localized::new("en", "Roaming charges, revised")];
    index.upsert(&c1).expect("upsert");
    assert_eq!(pending(&index), (3, 1));
    index.commit().expect("commit");
    assert_eq!(pending(&index), (0, 0));
    let mut c2 = first("c2", 4, Audience::Restricted(vec!["ietf".into()]));
    c2.revision = 2;
    index.upsert(&c2).expect("upsert");
    index.remove("itu", "c1").expect("remove");
    assert_eq!(pending(&index), (2, 2));
    index.commit().expect("commit");

    let ietf = Reader::Org("ietf".into());
    let r = search(&index, "roaming", &ietf);
    assert_eq!(uuids(&r), vec!["c2".to_string()], "c1 removed, c2 once");
    assert_eq!(r.hits[0].revision, 2);
    assert_eq!(index.stats().expect("stats").docs, 1);
}

#[test]
fn anonymous_readers_keep_the_latest_public_revision() {
    let index = ram();
    let v1 = doc(
        "itu",
        DocKind::Liaison,
        "l1",
        1,
        2,
        &[("en", "Spectrum liaison, public edition")],
        &[("en", "Public text about spectrum.")],
        Audience::Public,
    );
    let mut v2 = v1.clone();
    v2.revision = 2;
    v2.seq = 3;
    v2.titles = vec![Localized::new("en", "Spectrum liaison, restricted edition")];
    v2.bodies = vec![Localized::new(
        "en",
        "Restricted text about spectrum and sanctions.",
    )];
    v2.audience = Audience::Restricted(vec!["ietf".into()]);
    index.upsert(&v1).expect("upsert");
    // In the same batch as v1: the index commits v1 first to keep it.
    index.upsert(&v2).expect("upsert");
    index.commit().expect("commit");

    let anon = search(&index, "spectrum", &Reader::Public);
    assert_eq!(anon.total, 1);
    assert_eq!(anon.hits[0].revision, 1);
    assert_eq!(search(&index, "sanctions", &Reader::Public).total, 0);
    let ietf = search(&index, "spectrum", &Reader::Org("ietf".into()));
    assert_eq!(ietf.total, 1, "the audience sees one document, not two");
    assert_eq!(ietf.hits[0].revision, 2);
    // A later public revision replaces both.
    let mut v3 = v1.clone();
    v3.revision = 3;
    v3.seq = 4;
    v3.titles = vec![Localized::new("en", "Spectrum liaison, final edition")];
    index.upsert(&v3).expect("upsert");
    index.commit().expect("commit");
    for reader in [Reader::Public, Reader::Org("ietf".into())] {
        let r = search(&index, "spectrum", &reader);
        assert_eq!((r.total, r.hits[0].revision), (1, 3), "{reader:?}");
    }
    // A replayed old public revision does not come back.
    assert_eq!(index.upsert(&v1).expect("upsert"), Upserted::Stale);
}

#[test]
fn refuses_documents_without_text_and_bad_queries() {
    let index = ram();
    let mut stub = doc(
        "itu",
        DocKind::Liaison,
        "l1",
        1,
        2,
        &[],
        &[("en", "   ")],
        Audience::Restricted(vec!["ietf".into()]),
    );
    let err = index.upsert(&stub).expect_err("a stub has no text");
    assert!(
        matches!(&err, SearchError::InvalidDocument { reason, .. } if reason.contains("no text")),
        "{err}"
    );
    stub.bodies = vec![Localized::new("en fr", "text")];
    assert!(matches!(
        index.upsert(&stub),
        Err(SearchError::InvalidDocument { .. })
    ));
    for q in [
        SearchQuery::new("   "),
        SearchQuery {
            limit: 0,
            ..SearchQuery::new("x")
        },
        SearchQuery {
            limit: 101,
            ..SearchQuery::new("x")
        },
        SearchQuery {
            lang: Some("e n".into()),
            ..SearchQuery::new("x")
        },
        SearchQuery::new("x".repeat(501)),
    ] {
        assert!(
            matches!(
                index.search(&q, &Reader::Public),
                Err(SearchError::InvalidQuery(_))
            ),
            "{q:?}"
        );
    }
    // Query syntax a search box may receive is not an error.
    for text in ["\"unbalanced", "a:b:c", "(", "-", "AND"] {
        index
            .search(&SearchQuery::new(text), &Reader::Public)
            .expect(text);
    }
}

#[test]
fn filters_and_pages() {
    let index = ram();
    for i in 0..30u64 {
        let (origin, kind) = match i % 3 {
            0 => ("itu", DocKind::Consultation),
            1 => ("ietf", DocKind::Response),
            _ => ("icann", DocKind::Liaison),
        };
        let lang = if i % 2 == 0 { "en" } else { "es" };
        let text = if lang == "en" {
            format!("Document {i} about internet governance")
        } else {
            format!("Documento {i} sobre gobernanza de internet")
        };
        index
            .upsert(&doc(
                origin,
                kind,
                &format!("d{i}"),
                1,
                i + 2,
                &[(lang, &text)],
                &[],
                Audience::Public,
            ))
            .expect("upsert");
    }
    index.commit().expect("commit");
    assert_eq!(search(&index, "internet", &Reader::Public).total, 30);
    let mut q = SearchQuery::new("internet");
    q.origin = Some("ietf".into());
    let r = index.search(&q, &Reader::Public).expect("search");
    assert_eq!(r.total, 10);
    assert!(
        r.hits
            .iter()
            .all(|h| h.origin == "ietf" && h.kind == DocKind::Response)
    );
    q.origin = None;
    q.kind = Some(DocKind::Liaison);
    assert_eq!(index.search(&q, &Reader::Public).expect("search").total, 10);
    q.kind = None;
    q.lang = Some("es".into());
    let r = index.search(&q, &Reader::Public).expect("search");
    assert_eq!(r.total, 15);
    assert!(
        r.hits
            .iter()
            .all(|h| h.title.as_ref().is_some_and(|t| t.lang == "es"))
    );
    // Pages: every hit once, in order.
    let mut seen = BTreeSet::new();
    for page in 0..4 {
        let q = SearchQuery {
            offset: page * 8,
            limit: 8,
            ..SearchQuery::new("internet")
        };
        let r = index.search(&q, &Reader::Public).expect("search");
        assert_eq!(r.total, 30);
        assert_eq!(r.hits.len(), if page == 3 { 6 } else { 8 });
        for h in r.hits {
            assert!(seen.insert(h.uuid));
        }
    }
    assert_eq!(seen.len(), 30);
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn writes_are_visible_after_a_commit_by_batch_or_by_timer() {
    let config = SearchConfig {
        commit_batch: 5,
        commit_interval: Duration::from_millis(100),
        // Searches never commit here: only the batch and the timer do.
        search_freshness: Duration::MAX,
        ..SearchConfig::default()
    };
    let index = SearchIndex::in_ram(config).expect("index");
    let d = |i: u64| {
        doc(
            "itu",
            DocKind::Consultation,
            &format!("c{i}"),
            1,
            i,
            &[("en", "Batch commit probe")],
            &[],
            Audience::Public,
        )
    };
    for i in 1..=4 {
        index.upsert(&d(i)).expect("upsert");
    }
    assert_eq!(
        search(&index, "probe", &me()).total,
        0,
        "not committed per document"
    );
    assert_eq!(index.stats().expect("stats").pending, 4);
    index.upsert(&d(5)).expect("upsert");
    assert_eq!(
        search(&index, "probe", &me()).total,
        5,
        "committed by the batch"
    );
    index.upsert(&d(6)).expect("upsert");
    let committer = index.start_committer();
    wait_until("the timer commit", || {
        search(&index, "probe", &me()).total == 6
    });
    index.upsert(&d(7)).expect("upsert");
    committer.stop().expect("last commit");
    assert_eq!(search(&index, "probe", &me()).total, 7, "stopping commits");
    assert_eq!(index.checkpoint().get("itu"), Some(&7));
}

#[test]
fn a_search_commits_what_was_fed_unless_the_last_commit_is_recent() {
    let d = |i: u64| {
        doc(
            "itu",
            DocKind::Consultation,
            &format!("c{i}"),
            1,
            i,
            &[("en", "Reader driven commit probe")],
            &[],
            Audience::Public,
        )
    };
    // No timer, no batch: only a search can commit.
    let config = |search_freshness| SearchConfig {
        commit_interval: Duration::MAX,
        search_freshness,
        ..SearchConfig::default()
    };
    let fresh = SearchIndex::in_ram(config(Duration::ZERO)).expect("index");
    fresh.upsert(&d(1)).expect("upsert");
    assert_eq!(fresh.stats().expect("stats").pending, 1);
    assert_eq!(
        search(&fresh, "probe", &me()).total,
        1,
        "a search sees what was fed before it"
    );
    assert_eq!(fresh.stats().expect("stats").pending, 0, "by committing it");
    assert_eq!(fresh.stats().expect("stats").docs, 1);

    let recent = SearchIndex::in_ram(config(Duration::from_secs(3600))).expect("index");
    recent.commit().expect("commit");
    recent.upsert(&d(1)).expect("upsert");
    assert_eq!(
        search(&recent, "probe", &me()).total,
        0,
        "a commit within search_freshness is fresh enough"
    );
    assert_eq!(
        recent.stats().expect("stats").pending,
        1,
        "nothing committed"
    );
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn survives_deletion_of_the_index_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("search");
    let statement = doc(
        "itu",
        DocKind::Liaison,
        "l1",
        1,
        3,
        &[("en", "Liaison on numbering resources")],
        &[("en", "Body.")],
        Audience::Public,
    );
    let feed = |index: &SearchIndex| {
        index.upsert(&statement).expect("upsert");
        index.advance("itu", 4);
        index.finish_rebuild().expect("finish");
    };

    let (index, state) = SearchIndex::open(&dir, SearchConfig::default()).expect("open");
    assert_eq!(state, OpenState::RebuildNeeded(RebuildReason::Missing));
    feed(&index);
    drop(index);
    let (index, state) = SearchIndex::open(&dir, SearchConfig::default()).expect("reopen");
    let checkpoint = [("itu".to_string(), 4)].into_iter().collect();
    assert_eq!(state, OpenState::Ready { checkpoint });
    assert_eq!(search(&index, "numbering", &me()).total, 1);
    drop(index);

    std::fs::remove_dir_all(&dir).expect("delete the index");
    let (index, state) = SearchIndex::open(&dir, SearchConfig::default()).expect("reopen");
    assert_eq!(state, OpenState::RebuildNeeded(RebuildReason::Missing));
    assert_eq!(search(&index, "numbering", &me()).total, 0);
    feed(&index);
    assert_eq!(search(&index, "numbering", &me()).total, 1);
    drop(index);

    // A rebuild that did not finish is done again.
    let (index, _) = SearchIndex::open(&dir, SearchConfig::default()).expect("reopen");
    index.clear().expect("clear");
    index.upsert(&statement).expect("upsert");
    index.commit().expect("commit");
    drop(index);
    let (index, state) = SearchIndex::open(&dir, SearchConfig::default()).expect("reopen");
    assert_eq!(state, OpenState::RebuildNeeded(RebuildReason::Incomplete));
    assert_eq!(search(&index, "numbering", &me()).total, 0);
    drop(index);

    // A damaged index is rebuilt.
    std::fs::write(dir.join("meta.json"), b"{ not json").expect("damage");
    let (index, state) = SearchIndex::open(&dir, SearchConfig::default()).expect("reopen");
    assert!(
        matches!(state, OpenState::RebuildNeeded(RebuildReason::Corrupt(_))),
        "{state:?}"
    );
    feed(&index);
    assert_eq!(search(&index, "numbering", &me()).total, 1);
}

#[test]
fn an_index_of_another_version_is_rebuilt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("search");
    let (index, _) = SearchIndex::open(&dir, SearchConfig::default()).expect("open");
    index.finish_rebuild().expect("finish");
    drop(index);
    // Rewrite the version recorded in the last commit, as an older build
    // would have left it.
    let meta_path = dir.join("meta.json");
    let meta = std::fs::read_to_string(&meta_path).expect("meta");
    let current = format!("\\\"version\\\":{}", comity_search::INDEX_VERSION);
    assert!(meta.contains(&current), "{meta}");
    std::fs::write(&meta_path, meta.replace(&current, "\\\"version\\\":0")).expect("write");
    let (_index, state) = SearchIndex::open(&dir, SearchConfig::default()).expect("reopen");
    assert_eq!(
        state,
        OpenState::RebuildNeeded(RebuildReason::OtherVersion(Some(0)))
    );
}

#[test]
fn never_wipes_a_directory_that_is_not_an_index_and_is_single_writer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("precious.txt"), b"keep me").expect("write");
    let err = SearchIndex::open(&other, SearchConfig::default()).expect_err("not an index");
    assert!(matches!(err, SearchError::NotAnIndex(_)), "{err}");
    assert_eq!(
        std::fs::read(other.join("precious.txt")).expect("kept"),
        b"keep me"
    );

    let dir = tmp.path().join("search");
    let (_index, _) = SearchIndex::open(&dir, SearchConfig::default()).expect("open");
    let err = SearchIndex::open(&dir, SearchConfig::default()).expect_err("second writer");
    assert!(matches!(err, SearchError::Locked(_)), "{err}");
}

#[test]
fn old_segment_files_are_collected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("search");
    let (index, _) = SearchIndex::open(&dir, SearchConfig::default()).expect("open");
    // Many small commits, each replacing the same documents: many
    // segments, most of them soon all deleted documents.
    for round in 1..=12u64 {
        for i in 0..5u64 {
            let d = doc(
                "itu",
                DocKind::Consultation,
                &format!("c{i}"),
                round,
                round * 10 + i,
                &[("en", &format!("Round {round} of consultation {i}"))],
                &[],
                Audience::Public,
            );
            index.upsert(&d).expect("upsert");
        }
        index.commit().expect("commit");
    }
    assert_eq!(search(&index, "consultation", &me()).total, 5);
    // Merges run in the background; wait until the directory holds only
    // the files of live segments (each segment has a handful of files).
    wait_until("merged segments' files to be deleted", || {
        index.commit().expect("commit");
        let stats = index.stats().expect("stats");
        // Segment files are named `<32 hex digits of the segment id>.<ext>`.
        let ids_on_disk: BTreeSet<String> = files_in(&dir)
            .into_iter()
            .filter(|f| f.len() > 33 && f.as_bytes()[32] == b'.')
            .map(|f| f[..32].to_string())
            .collect();
        stats.segments < 12 && ids_on_disk.len() == stats.segments
    });
}
