//! Full-text search over the documents a node holds.
//!
//! A derived, disposable [tantivy] index of consultations, responses and
//! liaison statements of every origin, in any language: the store stays the
//! source of truth, and the index is rebuilt from it whenever it is missing,
//! damaged or of an older format ([`OpenState::RebuildNeeded`]).
//!
//! - **Input**: one [`IndexDoc`] per readable document revision. Redacted
//!   stubs have no text and are refused. A newer revision replaces the older
//!   one; for anonymous readers, the latest *public* revision stays when the
//!   latest is restricted.
//! - **Languages**: one analyser per language group ([`LangGroup`]):
//!   Snowball stemmers for Arabic, English, French, Russian and Spanish, CJK
//!   bigrams for Chinese (and Japanese), lower-casing and ASCII folding.
//! - **Access**: every search is for a [`Reader`], and the reader's filter
//!   is a clause of the query itself, so a restricted document never
//!   matches, is never counted and is never quoted in a snippet for anyone
//!   outside its audience.
//! - **Writing**: one writer behind a mutex, commits per batch, before a
//!   search that would otherwise miss writes older than a second, or on a
//!   timer ([`Committer`]), never per document; a checkpoint per origin in
//!   each commit says where to resume feeding after a restart.
//!
//! The crate knows nothing of the store or the protocol, so it is tested
//! and benchmarked alone; the node converts entries into [`IndexDoc`]s.

mod doc;
mod error;
mod index;
mod query;
mod tokenizer;

pub use doc::{Audience, DocKind, IndexDoc, Localized};
pub use error::SearchError;
pub use index::{
    Checkpoint, Committer, INDEX_VERSION, IndexStats, OpenState, RebuildReason, SearchConfig,
    SearchIndex, Upserted,
};
pub use query::{
    Highlight, Hit, MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, Reader, SearchQuery, SearchResults,
    Snippet,
};
pub use tokenizer::{LangGroup, MultiScriptTokenStream, MultiScriptTokenizer};
