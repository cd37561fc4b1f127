//! The search crate's one error type: each variant says what to do about it.

use std::path::PathBuf;

/// Why a search-index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A document handed to the index cannot be indexed as given.
    #[error("document {origin}/{uuid} cannot be indexed: {reason}")]
    InvalidDocument {
        /// The document's origin, as given.
        origin: String,
        /// The document's uuid, as given.
        uuid: String,
        /// What is wrong, for a person.
        reason: String,
    },
    /// A query that cannot be run as given (empty text, limit out of range, ...).
    #[error("invalid search: {0}")]
    InvalidQuery(String),
    /// The directory exists and holds files, but not a search index of ours:
    /// it is left untouched rather than wiped.
    #[error(
        "{} is not empty and is not a Comity search index; refusing to delete it (point the index at its own directory)",
        .0.display()
    )]
    NotAnIndex(PathBuf),
    /// Another writer (another process) holds the index.
    #[error("the search index at {} is in use by another process", .0.display())]
    Locked(PathBuf),
    /// A file-system error outside tantivy (creating or wiping the directory).
    #[error("search index directory {}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An error inside tantivy. The index is derived and disposable: when
    /// this persists, `clear` (or deleting the directory) and feeding every
    /// document again repairs it.
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A stored document could not be decoded (an index written by other code).
    #[error("search index holds an unreadable stored document: {0}")]
    Stored(String),
}
