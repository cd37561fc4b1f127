//! What the caller feeds the index: one plain struct per document revision.
//!
//! The node turns each readable (never redacted) consultation, response and
//! liaison statement entry into an [`IndexDoc`]. The struct has no
//! dependency on `comity-core`, so the index can be built, tested and
//! benchmarked on its own, and stays derived: everything in it comes from the
//! signed entry it was made from.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::SearchError;

/// The kinds of documents that are searchable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// A consultation (entry kind CONSULTATION).
    Consultation,
    /// A response to a consultation (entry kind RESPONSE).
    Response,
    /// A liaison statement (entry kind LIAISON).
    Liaison,
}

impl DocKind {
    /// The name used in the index, in filters and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Consultation => "consultation",
            DocKind::Response => "response",
            DocKind::Liaison => "liaison",
        }
    }

    /// Parses [`DocKind::as_str`]'s names (for `--kind` and `?kind=`).
    pub fn parse(s: &str) -> Option<DocKind> {
        match s {
            "consultation" => Some(DocKind::Consultation),
            "response" => Some(DocKind::Response),
            "liaison" => Some(DocKind::Liaison),
            _ => None,
        }
    }
}

impl std::fmt::Display for DocKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may read a document: the entry's audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Anyone, anonymous visitors included.
    Public,
    /// Only these organisations (the origin may always read its own).
    Restricted(Vec<String>),
}

/// A text in one language: a BCP 47 tag (`en`, `zh-Hans`, `ar`) and the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    /// BCP 47 language tag, as in the document.
    pub lang: String,
    /// The text.
    pub text: String,
}

impl Localized {
    /// A text in a language.
    pub fn new(lang: impl Into<String>, text: impl Into<String>) -> Self {
        Localized {
            lang: lang.into(),
            text: text.into(),
        }
    }
}

/// One revision of one document, whole (never a redacted stub).
///
/// The index holds, per `(origin, uuid)`, the latest revision fed (by
/// `(revision, seq)`), and for anonymous readers the latest *public* revision
/// when the latest one is restricted, as the node's views do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDoc {
    /// The origin organisation's id (the log it is in).
    pub origin: String,
    /// Consultation, response or liaison statement.
    pub kind: DocKind,
    /// The document's uuid, stable across revisions.
    pub uuid: String,
    /// The revision (from 1; 1 for documents that have no revisions).
    pub revision: u64,
    /// The entry's sequence number in the origin's log.
    pub seq: u64,
    /// The entry's id (hex), so that a hit can link to the exact entry.
    pub entry_id: String,
    /// The entry's creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Titles per language (responses have none).
    pub titles: Vec<Localized>,
    /// Summaries per language.
    pub summaries: Vec<Localized>,
    /// Bodies per language (a response's text, a statement's body).
    pub bodies: Vec<Localized>,
    /// Who may read it.
    pub audience: Audience,
}

impl IndexDoc {
    /// The stable key of the document across revisions.
    pub(crate) fn key(&self) -> String {
        doc_key(&self.origin, &self.uuid)
    }

    pub(crate) fn is_public(&self) -> bool {
        matches!(self.audience, Audience::Public)
    }

    /// Every text with the language it is in.
    pub(crate) fn all_texts(&self) -> impl Iterator<Item = &Localized> {
        self.titles
            .iter()
            .chain(self.summaries.iter())
            .chain(self.bodies.iter())
    }

    /// Refuses what must never be indexed or would make a useless entry.
    pub(crate) fn validate(&self) -> Result<(), SearchError> {
        let invalid = |reason: String| SearchError::InvalidDocument {
            origin: self.origin.clone(),
            uuid: self.uuid.clone(),
            reason,
        };
        if self.origin.is_empty() || self.origin.chars().any(char::is_control) {
            return Err(invalid(
                "the origin must be a non-empty org id without control characters".into(),
            ));
        }
        if self.uuid.is_empty() || self.uuid.chars().any(char::is_control) {
            return Err(invalid(
                "the uuid must be non-empty, without control characters".into(),
            ));
        }
        if let Some(bad) = self.all_texts().find(|t| !valid_lang(&t.lang)) {
            return Err(invalid(format!(
                "{:?} is not a BCP 47 language tag (letters, digits and '-')",
                bad.lang
            )));
        }
        if let Audience::Restricted(orgs) = &self.audience
            && orgs.iter().any(|o| o.is_empty() || o == PUBLIC_READER)
        {
            return Err(invalid(
                "an audience names an empty or reserved org id".into(),
            ));
        }
        if self.all_texts().all(|t| t.text.trim().is_empty()) {
            // A redacted stub has no payload, so no text: it must never
            // reach the index (it would hide the last readable revision).
            return Err(invalid(
                "it has no text (a redacted stub is never indexed)".into(),
            ));
        }
        Ok(())
    }
}

/// The `readers` term that marks a document anyone may read. Org ids never
/// equal it (validated above).
pub(crate) const PUBLIC_READER: &str = "*";

pub(crate) fn doc_key(origin: &str, uuid: &str) -> String {
    // The unit separator cannot appear in either part (validated).
    format!("{origin}\u{1f}{uuid}")
}

pub(crate) fn valid_lang(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 35
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !tag.starts_with('-')
}
