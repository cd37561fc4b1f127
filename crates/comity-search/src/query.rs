//! Searching: free text, filters, the reader's access, snippets, pages.
//!
//! Access is part of the query, not a check on the results: the reader's
//! filter is a required clause, so a document the reader may not read never
//! matches, is never counted, and never reaches the snippet generator.
//! Snippets are cut from the matching document's own text only.

use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::{SnippetGenerator, collapse_overlapped_ranges};
use tantivy::{Searcher, TantivyDocument, Term};

use crate::SearchError;
use crate::doc::{DocKind, IndexDoc, Localized, PUBLIC_READER};
use crate::index::{Fields, SearchIndex, stored_doc};
use crate::tokenizer::LangGroup;

/// At most this many hits per page.
pub const MAX_LIMIT: usize = 100;
/// Pages start at most this deep (deeper pages cost more than they are worth).
pub const MAX_OFFSET: usize = 10_000;
/// Query texts longer than this (in characters) are refused.
pub const MAX_QUERY_CHARS: usize = 500;
/// A snippet's fragment is at most this many bytes of text.
const SNIPPET_BYTES: usize = 240;

/// Who is searching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// Anyone (a dashboard visitor who is not logged in): public documents
    /// only, and of a document whose latest revision is restricted, its
    /// latest public revision.
    Public,
    /// A member of this organisation (the node's own people): public
    /// documents and restricted ones whose audience (or origin) is the org.
    Org(String),
}

/// A search: free text plus optional filters, one page of results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    /// Free text. Words are all required (`a b`); `"a b"` is a phrase, `-a`
    /// excludes, `a OR b` is either.
    pub text: String,
    /// Only documents of this origin.
    pub origin: Option<String>,
    /// Only documents of this kind.
    pub kind: Option<DocKind>,
    /// Only documents with a text in this language (BCP 47; `zh` matches
    /// `zh-Hans`), searched with that language's analyser only.
    pub lang: Option<String>,
    /// The language to show titles and snippets in when the document has
    /// it (the dashboard's language). Does not filter.
    pub prefer_lang: Option<String>,
    /// Hits to skip.
    pub offset: usize,
    /// Hits to return, 1 to [`MAX_LIMIT`].
    pub limit: usize,
}

impl SearchQuery {
    /// A query for `text`, first page of 20.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            limit: 20,
            ..SearchQuery::default()
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    /// Matching documents the reader may read, over all pages.
    pub total: usize,
    /// The offset asked for.
    pub offset: usize,
    /// The limit asked for.
    pub limit: usize,
    /// The hits, best first.
    pub hits: Vec<Hit>,
}

/// One document found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// BM25 relevance (titles weigh double).
    pub score: f32,
    /// The origin organisation.
    pub origin: String,
    /// The kind of document.
    pub kind: DocKind,
    /// The document's uuid.
    pub uuid: String,
    /// The revision found (the latest the reader may read).
    pub revision: u64,
    /// The entry's sequence number in the origin's log.
    pub seq: u64,
    /// The entry's id.
    pub entry_id: String,
    /// The entry's creation time, RFC 3339.
    pub created_at: String,
    /// The title, in the preferred language when the document has it.
    pub title: Option<Localized>,
    /// A passage of the text around the words found.
    pub snippet: Snippet,
}

/// A passage of a document with the words found marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// The language of the passage (for `lang` and `dir` in HTML).
    pub lang: String,
    /// The passage, plain text.
    pub fragment: String,
    /// Byte ranges of `fragment` to highlight: sorted, not overlapping, on
    /// character boundaries. Empty when the words were found in the title
    /// only (the passage is then the start of the text).
    pub highlights: Vec<Highlight>,
    /// The passage HTML-escaped, highlights wrapped in `<mark>`.
    pub html: String,
}

/// A byte range of a snippet's fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Highlight {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl SearchIndex {
    /// Runs a search for a reader. Only what the reader may read is matched,
    /// counted and quoted.
    pub fn search(&self, q: &SearchQuery, reader: &Reader) -> Result<SearchResults, SearchError> {
        let text = q.text.trim();
        if text.is_empty() {
            return Err(SearchError::InvalidQuery("give words to search for".into()));
        }
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchError::InvalidQuery(format!(
                "the query is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        if q.limit == 0 || q.limit > MAX_LIMIT {
            return Err(SearchError::InvalidQuery(format!(
                "limit must be from 1 to {MAX_LIMIT}"
            )));
        }
        if q.offset > MAX_OFFSET {
            return Err(SearchError::InvalidQuery(format!(
                "offset must be at most {MAX_OFFSET}; narrow the search instead"
            )));
        }
        if let Reader::Org(o) = reader
            && (o.is_empty() || o == PUBLIC_READER)
        {
            return Err(SearchError::InvalidQuery(format!("{o:?} is not an org id")));
        }
        let lang = match &q.lang {
            Some(l) if !crate::doc::valid_lang(l) => {
                return Err(SearchError::InvalidQuery(format!(
                    "{l:?} is not a BCP 47 language tag"
                )));
            }
            Some(l) => Some(l.to_ascii_lowercase()),
            None => None,
        };
        self.commit_for_search();
        let inner = &self.inner;
        let f = &inner.fields;
        let parser = match &lang {
            Some(l) => inner
                .parser_group
                .get(&LangGroup::of(l))
                .unwrap_or(&inner.parser_all),
            None => &inner.parser_all,
        };
        // Lenient: a stray quote or colon in a search box is not an error.
        let (user_query, _errors) = parser.parse_query_lenient(text);

        let mut filters: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, access_filter(f, reader))];
        if let Some(o) = &q.origin {
            filters.push((Occur::Must, term(f.origin, o)));
        }
        if let Some(k) = q.kind {
            filters.push((Occur::Must, term(f.kind, k.as_str())));
        }
        if let Some(l) = &lang {
            filters.push((Occur::Must, term(f.langs, l)));
        }
        let query = BooleanQuery::new(vec![
            (Occur::Must, user_query.box_clone()),
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(
                    Box::new(BooleanQuery::new(filters)),
                    0.0,
                )),
            ),
        ]);

        let searcher = inner.reader.searcher();
        let (top, total) = searcher.search(
            &query,
            &(
                TopDocs::with_limit(q.limit)
                    .and_offset(q.offset)
                    .order_by_score(),
                Count,
            ),
        )?;

        let prefs: Vec<&str> = [lang.as_deref(), q.prefer_lang.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let mut snippets = Snippets {
            searcher: &searcher,
            query: user_query.as_ref(),
            fields: f,
            generators: HashMap::new(),
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let doc = stored_doc(&doc, f)?;
            let snippet = snippets.best(&doc, &prefs)?;
            let created_at = doc
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            hits.push(Hit {
                score,
                title: pick(&doc.titles, &prefs).cloned(),
                origin: doc.origin,
                kind: doc.kind,
                uuid: doc.uuid,
                revision: doc.revision,
                seq: doc.seq,
                entry_id: doc.entry_id,
                created_at,
                snippet,
            });
        }
        Ok(SearchResults {
            total,
            offset: q.offset,
            limit: q.limit,
            hits,
        })
    }
}

fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// The documents a reader may see, as a query.
fn access_filter(f: &Fields, reader: &Reader) -> Box<dyn Query> {
    match reader {
        // Public latest revisions, and public revisions kept while the
        // latest is restricted: both carry the public reader term.
        Reader::Public => term(f.readers, PUBLIC_READER),
        // Latest revisions only, public or addressed to the org.
        Reader::Org(org) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, term(f.slot, "latest")),
            (
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, term(f.readers, PUBLIC_READER)),
                    (Occur::Should, term(f.readers, org)),
                ])),
            ),
        ])),
    }
}

/// Whether a text's tag matches a wanted tag: equal, or same primary subtag.
fn lang_matches(tag: &str, wanted: &str) -> bool {
    let primary = |t: &str| t.split('-').next().unwrap_or(t).to_ascii_lowercase();
    tag.eq_ignore_ascii_case(wanted) || primary(tag) == primary(wanted)
}

/// The text in the first preferred language, else the first text.
fn pick<'a>(texts: &'a [Localized], prefs: &[&str]) -> Option<&'a Localized> {
    prefs
        .iter()
        .find_map(|p| texts.iter().find(|t| lang_matches(&t.lang, p)))
        .or_else(|| texts.first())
}

struct Snippets<'a> {
    searcher: &'a Searcher,
    query: &'a dyn Query,
    fields: &'a Fields,
    generators: HashMap<Field, SnippetGenerator>,
}

/// A document's texts of one language group, joined, with where each starts.
struct Joined {
    text: String,
    parts: Vec<(usize, String)>,
}

impl Joined {
    fn lang_at(&self, offset: usize) -> String {
        self.parts
            .iter()
            .rev()
            .find(|(start, _)| *start <= offset)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }
}

fn join(texts: &[&Localized]) -> Joined {
    let mut text = String::new();
    let mut parts = Vec::new();
    for t in texts {
        if !text.is_empty() {
            text.push('\n');
        }
        parts.push((text.len(), t.lang.clone()));
        text.push_str(t.text.trim());
    }
    Joined { text, parts }
}

/// Language groups of texts, preferred languages first, then in document order.
fn groups_in_order(texts: &[&Localized], prefs: &[&str]) -> Vec<LangGroup> {
    let mut out: Vec<LangGroup> = Vec::new();
    let preferred = prefs.iter().map(|p| LangGroup::of(p));
    for g in preferred.chain(texts.iter().map(|t| LangGroup::of(&t.lang))) {
        if !out.contains(&g) && texts.iter().any(|t| LangGroup::of(&t.lang) == g) {
            out.push(g);
        }
    }
    out
}

impl Snippets<'_> {
    fn generator(&mut self, field: Field) -> Result<&SnippetGenerator, SearchError> {
        if !self.generators.contains_key(&field) {
            let mut g = SnippetGenerator::create(self.searcher, self.query, field)?;
            g.set_max_num_chars(SNIPPET_BYTES);
            self.generators.insert(field, g);
        }
        self.generators
            .get(&field)
            .ok_or_else(|| SearchError::Stored("snippet generator vanished".into()))
    }

    /// The passage with the most words found: from the summaries and
    /// bodies, else the titles, preferred languages first; else the start
    /// of the text.
    fn best(&mut self, doc: &IndexDoc, prefs: &[&str]) -> Result<Snippet, SearchError> {
        let bodies: Vec<&Localized> = doc
            .summaries
            .iter()
            .chain(doc.bodies.iter())
            .filter(|t| !t.text.trim().is_empty())
            .collect();
        let titles: Vec<&Localized> = doc
            .titles
            .iter()
            .filter(|t| !t.text.trim().is_empty())
            .collect();
        let mut best: Option<Snippet> = None;
        for (texts, is_title) in [(&bodies, false), (&titles, true)] {
            for g in groups_in_order(texts, prefs) {
                let in_group: Vec<&Localized> = texts
                    .iter()
                    .copied()
                    .filter(|t| LangGroup::of(&t.lang) == g)
                    .collect();
                let joined = join(&in_group);
                let field = if is_title {
                    self.fields.title(g)
                } else {
                    self.fields.body(g)
                };
                let mut s = self.generator(field)?.snippet(&joined.text);
                if s.is_empty() {
                    continue;
                }
                s.set_snippet_prefix_postfix("<mark>", "</mark>");
                let highlights: Vec<Highlight> = collapse_overlapped_ranges(s.highlighted())
                    .into_iter()
                    .map(|r: Range<usize>| Highlight {
                        start: r.start,
                        end: r.end,
                    })
                    .collect();
                let better = best
                    .as_ref()
                    .is_none_or(|b| highlights.len() > b.highlights.len());
                if better {
                    best = Some(Snippet {
                        lang: joined.lang_at(s.fragment_range().start),
                        fragment: s.fragment().to_string(),
                        html: s.to_html(),
                        highlights,
                    });
                }
            }
            if best.is_some() {
                break;
            }
        }
        Ok(best.unwrap_or_else(|| plain_start(&bodies, &titles, prefs)))
    }
}

/// The start of the text in the preferred language, nothing highlighted.
fn plain_start(bodies: &[&Localized], titles: &[&Localized], prefs: &[&str]) -> Snippet {
    fn from<'a>(texts: &[&'a Localized], prefs: &[&str]) -> Option<&'a Localized> {
        prefs
            .iter()
            .find_map(|p| texts.iter().find(|t| lang_matches(&t.lang, p)).copied())
            .or_else(|| texts.first().copied())
    }
    let Some(t) = from(bodies, prefs).or_else(|| from(titles, prefs)) else {
        return Snippet {
            lang: String::new(),
            fragment: String::new(),
            highlights: Vec::new(),
            html: String::new(),
        };
    };
    let text = t.text.trim();
    let mut end = text.len().min(SNIPPET_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let fragment = text[..end].to_string();
    Snippet {
        lang: t.lang.clone(),
        html: escape_html(&fragment),
        fragment,
        highlights: Vec::new(),
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
