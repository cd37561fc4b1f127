//! The Chinese tokenizer, measured against the alternative.
//!
//! `cargo bench -p comity-search --bench chinese`. Indexes the same 20,000
//! generated Chinese documents (titles and about 1.5 KiB of text) twice: with
//! comity-search's CJK bigrams (`LangGroup::Cjk`) and with jieba (the
//! `tantivy-jieba` dictionary segmenter, search mode). Prints for each the
//! indexing rate, the index size, query latency, memory, and recall: the share
//! of titles found by a two-character word that they contain.

mod common;

use std::time::Instant;

use comity_search::LangGroup;
use criterion::{Criterion, criterion_group, criterion_main};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::QueryParser;
use tantivy::schema::{
    IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{LowerCaser, TextAnalyzer};
use tantivy::{Index, IndexWriter, TantivyDocument};

const DOCS: u64 = 20_000;
const RECALL_TITLES: usize = 2_000;

struct Corpus {
    titles: Vec<String>,
    bodies: Vec<String>,
}

fn corpus() -> Corpus {
    let mut titles = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..DOCS {
        let mut rng = common::Rng(i ^ 0x5EED);
        titles.push(common::title(&mut rng, "zh"));
        let len = 1024 + rng.below(1024);
        bodies.push(common::text(&mut rng, "zh", len));
    }
    Corpus { titles, bodies }
}

fn measure(name: &str, analyzer: TextAnalyzer, corpus: &Corpus, c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut b = Schema::builder();
    let opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("zh")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let title = b.add_text_field("title", opts.clone());
    let body = b.add_text_field("body", opts);
    let id = b.add_text_field("id", STRING | STORED);
    let index = Index::create_in_dir(tmp.path(), b.build()).expect("index");
    index.tokenizers().register("zh", analyzer);

    let (rss0, _) = common::rss_mib();
    let mut writer: IndexWriter = index
        .writer_with_num_threads(1, 24_000_000)
        .expect("writer");
    let started = Instant::now();
    for (i, (t, body_text)) in corpus.titles.iter().zip(&corpus.bodies).enumerate() {
        let mut d = TantivyDocument::new();
        d.add_text(title, t);
        d.add_text(body, body_text);
        d.add_text(id, i.to_string());
        writer.add_document(d).expect("add");
    }
    writer.commit().expect("commit");
    let took = started.elapsed();
    writer.wait_merging_threads().expect("merges");
    let (rss1, _) = common::rss_mib();
    let bytes: usize = corpus
        .titles
        .iter()
        .chain(&corpus.bodies)
        .map(String::len)
        .sum();
    let reader = index.reader().expect("reader");
    let searcher = reader.searcher();
    let parser = QueryParser::for_index(&index, vec![title]);

    // Recall: each title, queried by a two-character vocabulary word it
    // contains, must come back.
    let two: Vec<&str> = common::vocab("zh")
        .into_iter()
        .filter(|w| w.chars().count() == 2)
        .collect();
    let mut asked = 0;
    let mut found = 0;
    for (i, t) in corpus.titles.iter().enumerate().take(RECALL_TITLES) {
        let Some(word) = two.iter().find(|w| t.contains(**w)) else {
            continue;
        };
        asked += 1;
        let q = parser.parse_query(word).expect("parse");
        let hits = searcher
            .search(&q, &TopDocs::with_limit(DOCS as usize).order_by_score())
            .expect("search");
        let hit = hits.iter().any(|(_, addr)| {
            let d: TantivyDocument = searcher.doc(*addr).expect("doc");
            d.get_first(id).and_then(|v| v.as_str()) == Some(i.to_string().as_str())
        });
        if hit {
            found += 1;
        }
    }

    let body_parser = QueryParser::for_index(&index, vec![title, body]);
    let mut lat = Vec::new();
    for word in ["安全", "数据", "标准", "网络安全", "人工智能", "个人信息"] {
        let q = body_parser.parse_query(word).expect("parse");
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..200 {
            let t = Instant::now();
            let (_top, n) = searcher
                .search(&q, &(TopDocs::with_limit(20).order_by_score(), Count))
                .expect("search");
            times.push(t.elapsed());
            total = n;
        }
        let (p50, p99) = common::percentiles(times);
        lat.push(format!(
            "{word} {total} hits p50 {:.2} ms p99 {:.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        ));
    }
    println!(
        "\n== {name}: {DOCS} documents, {:.1} MiB of text\n\
         indexing: {:.0} documents/s ({:.2} MiB/s)\n\
         index on disk: {:.1} MiB ({:.2} of the text)\n\
         RSS: {rss0:.0} MiB before indexing, {rss1:.0} MiB after\n\
         recall of a two-character word in the title: {found}/{asked}\n\
         queries (title + body): {}",
        bytes as f64 / 1048576.0,
        DOCS as f64 / took.as_secs_f64(),
        bytes as f64 / 1048576.0 / took.as_secs_f64(),
        common::dir_bytes(tmp.path()) as f64 / 1048576.0,
        common::dir_bytes(tmp.path()) as f64 / bytes as f64,
        lat.join("; ")
    );
    let q = body_parser.parse_query("网络安全").expect("parse");
    c.bench_function(&format!("chinese/{name}/网络安全"), |b| {
        b.iter(|| {
            searcher
                .search(&q, &(TopDocs::with_limit(20).order_by_score(), Count))
                .expect("search")
        })
    });
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    measure(
        "bigram (comity-search)",
        LangGroup::Cjk.analyzer(),
        &corpus,
        c,
    );
    let (before, _) = common::rss_mib();
    let mut jieba = TextAnalyzer::builder(tantivy_jieba::JiebaTokenizer::new())
        .filter(LowerCaser)
        .build();
    // The dictionary loads on first use.
    {
        let mut stream = jieba.token_stream("网络安全");
        while stream.advance() {}
    }
    let (after, _) = common::rss_mib();
    println!("\njieba dictionary: {:.0} MiB of RSS", after - before);
    measure("jieba (tantivy-jieba, search mode)", jieba, &corpus, c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
