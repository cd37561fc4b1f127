//! `comity search`: full-text search of what the node holds, over the local
//! API (`Search`, `ReindexSearch`), as the node's own people read it.

use crate::{DataArg, Failure, JsonArg, client, client::status_failure, output};
use clap::{Args, ValueEnum};
use comity_node::{DataDir, words};
use comity_proto::v1 as proto;
use serde_json::{Value, json};

#[derive(Args)]
pub struct SearchArgs {
    /// Words to find (all of them); "a phrase" in quotes, -word to exclude, a OR b.
    #[arg(required_unless_present = "reindex")]
    query: Option<String>,
    /// Only documents of this origin.
    #[arg(long)]
    origin: Option<String>,
    /// Only documents of this kind.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Only documents with a text in this language (BCP 47: en, fr, zh, ar ...),
    /// searched with that language's analyser.
    #[arg(long)]
    lang: Option<String>,
    /// Hits to print, 1 to 100.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Empty the search index and rebuild it from the store, then report.
    #[arg(long, conflicts_with_all = ["query", "origin", "kind", "lang"])]
    reindex: bool,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum Kind {
    Consultation,
    Response,
    Liaison,
}

impl From<Kind> for proto::EntryKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Consultation => proto::EntryKind::Consultation,
            Kind::Response => proto::EntryKind::Response,
            Kind::Liaison => proto::EntryKind::Liaison,
        }
    }
}

pub async fn run(args: SearchArgs) -> Result<(), Failure> {
    let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
    if args.reindex {
        let documents = api
            .reindex_search(proto::ReindexSearchRequest {})
            .await
            .map_err(status_failure)?
            .into_inner()
            .documents;
        if args.json.json {
            output::print_json(&json!({ "reindexed": true, "documents": documents }));
        } else {
            println!("search index rebuilt: {documents} documents");
        }
        return Ok(());
    }
    let response = api
        .search(proto::SearchRequest {
            query: args.query.unwrap_or_default(),
            origin: args.origin.unwrap_or_default(),
            kind: args.kind.map_or(proto::EntryKind::Unspecified, Into::into) as i32,
            lang: args.lang.unwrap_or_default(),
            prefer_lang: String::new(),
            offset: 0,
            limit: args.limit,
        })
        .await
        .map_err(status_failure)?
        .into_inner();
    if args.json.json {
        output::print_json(&response_json(&response));
        return Ok(());
    }
    if response.hits.is_empty() {
        println!("no documents found");
        return Ok(());
    }
    for hit in &response.hits {
        let title = hit.title.as_ref().map_or("", |t| t.value.as_str());
        println!(
            "{}/{}  {}  {}  {}",
            hit.origin,
            hit.uuid,
            words::entry_kind(hit.kind()),
            output::day(hit.created_at.as_ref()),
            output::first_line(title, 80)
        );
        let snippet = marked(&hit.snippet, &hit.highlights);
        println!("    {}", snippet.replace('\n', " "));
    }
    println!("{} of {} documents", response.hits.len(), response.total);
    Ok(())
}

/// The snippet with the words found between `[` and `]`.
fn marked(text: &str, highlights: &[proto::SearchHighlight]) -> String {
    let mut out = String::with_capacity(text.len() + 2 * highlights.len());
    let mut at = 0;
    for h in highlights {
        let (start, end) = (h.start as usize, h.end as usize);
        match (text.get(at..start), text.get(start..end)) {
            (Some(before), Some(word)) => {
                out.push_str(before);
                out.push('[');
                out.push_str(word);
                out.push(']');
                at = end;
            }
            _ => break,
        }
    }
    out.push_str(text.get(at..).unwrap_or(""));
    out
}

fn response_json(response: &proto::SearchResponse) -> Value {
    json!({
        "total": response.total,
        "hits": response.hits.iter().map(|h| json!({
            "origin": h.origin,
            "kind": words::entry_kind(h.kind()),
            "uuid": h.uuid,
            "revision": h.revision,
            "seq": h.seq,
            "entry_id": h.entry_id,
            "created_at": output::time(h.created_at.as_ref()),
            "score": h.score,
            "title": h.title.as_ref().map(|t| json!({"lang": t.lang, "text": t.value})),
            "snippet": {
                "lang": h.snippet_lang,
                "text": h.snippet,
                "highlights": h.highlights.iter().map(|r| json!([r.start, r.end])).collect::<Vec<_>>(),
            },
        })).collect::<Vec<_>>(),
    })
}
