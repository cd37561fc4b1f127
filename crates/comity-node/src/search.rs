//! Full-text search of what the node holds (issue 15), over the
//! `comity-search` index in `<data>/search`: derived from the store,
//! disposable, rebuilt when missing or of an older format.
//!
//! **Off the data path.** Nothing that stores an entry waits for the index,
//! and nothing is handed to it: one indexer task *pulls* from the store. It
//! sleeps on the node's `appended` watch (bumped after every flush, any
//! origin) and, on waking, feeds every durable entry past the index's
//! checkpoint (per origin, the highest seq fed, saved in each commit), page
//! by page, on a blocking thread. A watch holds one value, so wake-ups
//! coalesce: this is the back-pressure. When ingest outruns indexing, the
//! indexer falls behind and catches up in bigger passes (searches are
//! staler meanwhile), but publish and ingest never block on it, and no
//! queue grows. Stubs filled in later are noted in a small bounded set.
//!
//! **Commits** are tantivy's, always from the one writer, never per entry:
//! when 20,000 writes are pending, before a search that would otherwise
//! miss writes fed more than a second before it, and by the index's timer
//! (30 s), which saves the checkpoint. A node nobody searches thus commits
//! rarely, and one being searched shows what it fed up to a second ago.
//!
//! **Access.** Only whole entries are fed (a redacted stub has no text),
//! each with its audience; a search is for a [`Reader`], whose filter is part
//! of the query, so a restricted document never matches, nor appears in a
//! snippet, for a reader outside its audience.

use crate::{
    blocking::blocking,
    error::NodeError,
    node::Node,
    search_part::{Open, lock},
    views::Reader,
};
use comity_core::{
    OrgId, SignedEntry, document,
    entry::{Audience, EntryKind},
    proto::{self, document::Body},
};
pub use comity_search::{DocKind, Hit, SearchQuery, SearchResults, Snippet};
use comity_search::{IndexDoc, Localized, OpenState, SearchConfig, SearchError, SearchIndex};
use std::{sync::Arc, time::Duration};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Entries read from the store per page while feeding.
const PAGE: usize = 512;
/// How long a start waits for a previous run's index lock to go.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// After a flush wakes the indexer, how long it waits before its pass, so
/// that the flushes of that while share one pass. Fed entries show only
/// after a commit anyway; a pass per flush woke the
/// indexer and tantivy's threads for every entry while it was being
/// propagated (issue 16: tantivy's threads were 15 % of a 16-node mesh's
/// CPU, BENCHMARKS.md).
const COALESCE: Duration = Duration::from_millis(200);

impl From<SearchError> for NodeError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::InvalidQuery(_) | SearchError::InvalidDocument { .. } => {
                NodeError::InvalidArgument(e.to_string())
            }
            SearchError::Locked(_) | SearchError::NotAnIndex(_) => {
                NodeError::FailedPrecondition(e.to_string())
            }
            _ => NodeError::Internal(e.to_string()),
        }
    }
}

/// The searchable document of an entry, or `None` for entries that are not
/// consultations, responses or liaison statements, and for redacted stubs.
pub fn index_doc(entry: &SignedEntry) -> Option<IndexDoc> {
    if entry.is_redacted() {
        return None;
    }
    let kind = match entry.kind() {
        EntryKind::Consultation => DocKind::Consultation,
        EntryKind::Response => DocKind::Response,
        EntryKind::Liaison => DocKind::Liaison,
        _ => return None,
    };
    let body = document::decode_for(entry).ok()?;
    let texts = |t: &[proto::Text]| -> Vec<Localized> {
        t.iter()
            .map(|t| Localized::new(t.lang.clone(), t.value.clone()))
            .collect()
    };
    let (uuid, revision, titles, summaries, bodies) = match body {
        Body::Consultation(c) => {
            let mut bodies = texts(&c.body);
            for q in &c.questions {
                bodies.extend(texts(&q.text));
            }
            (
                c.uuid,
                u64::from(c.revision),
                texts(&c.title),
                texts(&c.summary),
                bodies,
            )
        }
        Body::Response(r) => (r.uuid, 1, Vec::new(), Vec::new(), texts(&r.text)),
        Body::Liaison(l) => {
            let body = l.body.map(|b| Localized::new(b.lang, b.value));
            // A statement's subject has no language of its own: that of its body.
            let lang = body.as_ref().map_or("und".to_string(), |b| b.lang.clone());
            let mut summaries = Vec::new();
            if !l.other_identifiers.is_empty() {
                summaries.push(Localized::new(lang.clone(), l.other_identifiers.join(" ")));
            }
            (
                l.uuid,
                u64::from(l.revision),
                vec![Localized::new(lang, l.title)],
                summaries,
                body.into_iter().collect(),
            )
        }
        _ => return None,
    };
    let created_at = entry
        .created_at()
        .and_then(|t| {
            time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
            )
            .ok()
        })
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let audience = match entry.audience() {
        Audience::Public => comity_search::Audience::Public,
        Audience::Restricted(orgs) => {
            comity_search::Audience::Restricted(orgs.iter().map(|o| o.to_string()).collect())
        }
    };
    Some(IndexDoc {
        origin: entry.origin().to_string(),
        kind,
        uuid,
        revision: revision.max(1),
        seq: entry.seq(),
        entry_id: entry.id().to_hex(),
        created_at,
        titles,
        summaries,
        bodies,
        audience,
    })
}

/// Feeds one entry: its document, or only the checkpoint.
fn feed(index: &SearchIndex, entry: &SignedEntry) -> Result<(), SearchError> {
    match index_doc(entry) {
        Some(doc) => match index.upsert(&doc) {
            Ok(_) => Ok(()),
            Err(SearchError::InvalidDocument { reason, .. }) => {
                // Another node's odd document must not stop indexing.
                tracing::debug!(origin = %entry.origin(), seq = entry.seq(), %reason, "search: entry not indexed");
                index.advance(entry.origin().as_str(), entry.seq());
                Ok(())
            }
            Err(e) => Err(e),
        },
        None => {
            index.advance(entry.origin().as_str(), entry.seq());
            Ok(())
        }
    }
}

impl Node {
    /// Opens the index (waiting for a previous run's lock to go) and starts
    /// the indexer task, which stops with `stop`. Called by
    /// [`crate::RunningNode`]; a node that is not running has no index.
    pub async fn start_search(
        self: &Arc<Self>,
        stop: CancellationToken,
    ) -> Result<Option<JoinHandle<()>>, NodeError> {
        let search = self.search_part();
        if search.disabled {
            return Ok(None);
        }
        let config = SearchConfig::default();
        let dir = search.dir.clone();
        let started = tokio::time::Instant::now();
        let index = loop {
            let (dir, config) = (dir.clone(), config.clone());
            let opened = blocking(move || match &dir {
                Some(dir) => SearchIndex::open(dir, config).map_err(NodeError::from),
                None => Ok((
                    SearchIndex::in_ram(config)?,
                    OpenState::RebuildNeeded(comity_search::RebuildReason::Missing),
                )),
            })
            .await;
            match opened {
                Ok((index, state)) => {
                    if let OpenState::RebuildNeeded(reason) = &state
                        && search.dir.is_some()
                    {
                        tracing::info!(org = %self.org(), %reason, "search index: rebuilding from the store");
                    }
                    break index;
                }
                // A node stopped in this process may not have let go yet.
                Err(NodeError::FailedPrecondition(m))
                    if m.contains("in use") && started.elapsed() < LOCK_WAIT =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let committer = index.start_committer();
        *lock(&search.open) = Some(Open { index, committer });
        let node = self.clone();
        Ok(Some(tokio::spawn(async move {
            node.run_indexer(stop).await;
        })))
    }

    /// Stops the commit timer after a last commit and lets go of the index
    /// (and its lock), so that the node can start again in this process.
    pub fn close_search(&self) {
        let search = self.search_part();
        let _feeding = lock(&search.feeding);
        if let Some(open) = lock(&search.open).take()
            && let Err(e) = open.committer.stop()
        {
            tracing::warn!(error = %e, "search index: last commit failed");
        }
    }

    async fn run_indexer(self: Arc<Self>, stop: CancellationToken) {
        let mut appended = self.appended();
        loop {
            let node = self.clone();
            let token = stop.clone();
            let pass = blocking(move || node.index_pending(&token)).await;
            if let Err(e) = pass {
                tracing::warn!(org = %self.org(), error = %e, "search: indexing failed; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                changed = appended.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // The flushes of the next moment share this pass.
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(COALESCE) => {}
                    }
                }
                () = self.search_part().wake.notified() => {}
            }
        }
    }

    /// One pass: feeds every durable entry past the checkpoint, and the
    /// stubs filled meanwhile; finishes a rebuild. Returns entries fed.
    fn index_pending(&self, stop: &CancellationToken) -> Result<u64, NodeError> {
        let search = self.search_part();
        let _feeding = lock(&search.feeding);
        let index = search.index()?;
        let checkpoint = index.checkpoint();
        let mut fed = 0;
        for (origin, _) in self.store().heads()? {
            let durable = self.durable_head(&origin);
            let mut after = checkpoint.get(origin.as_str()).copied().unwrap_or(0);
            while after < durable {
                if stop.is_cancelled() {
                    return Ok(fed);
                }
                let page = self.store().entries_after(&origin, after, PAGE)?;
                if page.is_empty() {
                    break;
                }
                for entry in page.iter().take_while(|e| e.seq() <= durable) {
                    feed(&index, entry)?;
                    after = entry.seq();
                    fed += 1;
                }
                if page.last().is_some_and(|e| e.seq() > durable) {
                    break;
                }
            }
        }
        let fills = std::mem::take(&mut *lock(&search.fills));
        let filled = !fills.is_empty();
        for (origin, seq) in fills {
            if let Some(entry) = self.store().entry(&origin, seq)? {
                feed(&index, &entry)?;
            }
        }
        if filled {
            // A fill is behind the checkpoint (its stub was fed): a restart
            // would not feed it again, so only a commit keeps it. Fills are
            // rare; commit them now rather than at the timer.
            index.commit()?;
        }
        if !index.is_complete() {
            index.finish_rebuild()?;
            tracing::info!(org = %self.org(), documents = index.stats()?.docs, "search index: rebuilt");
        }
        Ok(fed)
    }

    /// Searches what `reader` may read.
    pub async fn search(
        &self,
        query: SearchQuery,
        reader: Reader,
    ) -> Result<SearchResults, NodeError> {
        let index = self.search_part().index()?;
        let reader = match reader {
            Reader::Node => comity_search::Reader::Org(self.org().to_string()),
            Reader::Public => comity_search::Reader::Public,
        };
        blocking(move || Ok::<_, NodeError>(index.search(&query, &reader)?)).await
    }

    /// Empties the index and feeds it again from the store; returns the
    /// documents searchable after (`comity search --reindex`).
    pub async fn reindex_search(self: &Arc<Self>) -> Result<u64, NodeError> {
        let node = self.clone();
        blocking(move || {
            let search = node.search_part();
            let index = search.index()?;
            {
                let _feeding = lock(&search.feeding);
                index.clear()?;
            }
            node.index_pending(&CancellationToken::new())?;
            index.commit()?;
            Ok::<_, NodeError>(index.stats()?.docs)
        })
        .await
    }

    /// Commits what the indexer has fed, now: for tests that must not wait
    /// for the timer, and for `--reindex`.
    pub async fn index_now(self: &Arc<Self>) -> Result<(), NodeError> {
        let node = self.clone();
        blocking(move || {
            node.index_pending(&CancellationToken::new())?;
            node.search_part().index()?.commit()?;
            Ok::<_, NodeError>(())
        })
        .await
    }
}

/// The search a local API request asks for; a kind that is not searchable
/// or an origin that is no org id is refused.
pub fn query_of(request: &proto::SearchRequest) -> Result<SearchQuery, NodeError> {
    let kind = match request.kind() {
        proto::EntryKind::Unspecified => None,
        proto::EntryKind::Consultation => Some(DocKind::Consultation),
        proto::EntryKind::Response => Some(DocKind::Response),
        proto::EntryKind::Liaison => Some(DocKind::Liaison),
        other => {
            return Err(NodeError::InvalidArgument(format!(
                "{} entries are not searchable: search consultations, responses or liaison statements",
                other.as_str_name()
            )));
        }
    };
    let origin = match request.origin.as_str() {
        "" => None,
        o => Some(OrgId::new(o).map_err(|e| NodeError::InvalidArgument(e.to_string()))?),
    };
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(SearchQuery {
        text: request.query.clone(),
        origin: origin.map(|o| o.to_string()),
        kind,
        lang: nonempty(&request.lang),
        prefer_lang: nonempty(&request.prefer_lang),
        offset: request.offset as usize,
        limit: match request.limit {
            0 => 20,
            n => n as usize,
        },
    })
}

/// A kind of the index as the API's entry kind.
pub fn entry_kind_of(kind: DocKind) -> proto::EntryKind {
    match kind {
        DocKind::Consultation => proto::EntryKind::Consultation,
        DocKind::Response => proto::EntryKind::Response,
        DocKind::Liaison => proto::EntryKind::Liaison,
    }
}

/// Results as the local API answers them.
pub fn response_of(results: SearchResults) -> proto::SearchResponse {
    let hits = results
        .hits
        .into_iter()
        .map(|hit| {
            let created_at = time::OffsetDateTime::parse(
                &hit.created_at,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
            .map(|t| prost_types::Timestamp {
                seconds: t.unix_timestamp(),
                nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
            });
            proto::SearchHit {
                score: hit.score,
                origin: hit.origin,
                kind: entry_kind_of(hit.kind) as i32,
                uuid: hit.uuid,
                revision: hit.revision,
                seq: hit.seq,
                entry_id: hit.entry_id,
                created_at,
                title: hit.title.map(|t| proto::Text {
                    lang: t.lang,
                    value: t.text,
                }),
                snippet: hit.snippet.fragment,
                snippet_lang: hit.snippet.lang,
                highlights: hit
                    .snippet
                    .highlights
                    .iter()
                    .map(|h| proto::SearchHighlight {
                        start: u32::try_from(h.start).unwrap_or(u32::MAX),
                        end: u32::try_from(h.end).unwrap_or(u32::MAX),
                    })
                    .collect(),
            }
        })
        .collect();
    proto::SearchResponse {
        total: results.total as u64,
        hits,
    }
}
