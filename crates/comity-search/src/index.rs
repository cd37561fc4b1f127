//! The index: its schema, its one writer, commits, and rebuild detection.
//!
//! The index is derived and disposable. Each commit carries a small JSON
//! payload: the index format version, whether the last rebuild finished, and
//! the checkpoint (per origin, the highest log sequence number fed). Opening
//! a directory that is missing, unreadable, of another format version, or
//! whose rebuild did not finish wipes it and reports
//! [`OpenState::RebuildNeeded`]: the caller feeds every document again and
//! calls [`SearchIndex::finish_rebuild`].
//!
//! One `IndexWriter` lives behind a mutex. Writes are buffered in its arena
//! and made visible by a commit, which happens when `commit_batch` operations
//! are pending, when a search finds the last commit older than
//! `search_freshness`, or on the timer of a [`Committer`]; never per
//! document. Commits follow readers because each one writes a segment (and
//! tantivy sets up a new segment writer after it): at one per second on
//! every node of a 51-node mesh sharing two cores, they were the largest
//! cost of propagating an entry (issue 16, BENCHMARKS.md).
//! tantivy's log merge policy merges small segments in the background, and
//! files no longer used are garbage-collected after every commit and merge.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::directory::error::LockError;
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy};
use tantivy::query::{BooleanQuery, Occur, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::SearchError;
use crate::doc::{Audience, IndexDoc, PUBLIC_READER};
use crate::tokenizer::{self, LangGroup};

/// The index format version. Bump it whenever the schema, an analyser or
/// the meaning of a field changes: an index of another version is rebuilt.
pub const INDEX_VERSION: u32 = 1;

/// The file that marks a directory as ours, so that only such a directory
/// (or an empty one) is ever wiped.
const MARKER_FILE: &str = "COMITY-SEARCH-INDEX";
const MARKER_TEXT: &str =
    "Comity full-text search index: derived from the store, safe to delete (it is rebuilt).\n";

/// Per origin, the highest log sequence number fed to the index.
pub type Checkpoint = BTreeMap<String, u64>;

/// Tuning of the index. The defaults suit a node on a 512 MB machine.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// The writer's indexing arena. tantivy's minimum is 15 MB; when it is
    /// full a segment is written out (not committed). Default 24 MB.
    pub writer_arena_bytes: usize,
    /// A [`Committer`] commits pending writes at least this often, which
    /// saves the checkpoint (what a restart need not feed again). Searches
    /// do not wait for it: see `search_freshness`. Default 30 s.
    pub commit_interval: Duration,
    /// A search first commits pending writes when the last commit is older
    /// than this, so that it sees every write made before it, or before a
    /// commit at most this old. Commits thus follow readers: a node whose
    /// index nobody reads writes a segment per `commit_interval` or per
    /// `commit_batch`, not per second. Default 1 s.
    pub search_freshness: Duration,
    /// Commit as soon as this many writes are pending. Default 20,000.
    pub commit_batch: usize,
    /// Decompressed document-store blocks (16 KiB each) cached per segment
    /// by the reader. Default 8 (128 KiB per segment; tantivy's is 100).
    pub doc_store_cache_blocks: usize,
    /// Threads merging segments in the background. Default 1.
    pub merge_threads: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            writer_arena_bytes: 24_000_000,
            commit_interval: Duration::from_secs(30),
            search_freshness: Duration::from_secs(1),
            commit_batch: 20_000,
            doc_store_cache_blocks: 8,
            merge_threads: 1,
        }
    }
}

/// What opening a directory found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenState {
    /// A complete index of this version; feed documents after `checkpoint`.
    Ready {
        /// The checkpoint of the last commit.
        checkpoint: Checkpoint,
    },
    /// The index is empty now: feed every document, then call
    /// [`SearchIndex::finish_rebuild`].
    RebuildNeeded(RebuildReason),
}

/// Why the index must be fed again from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildReason {
    /// There was no index (first start, or the directory was deleted).
    Missing,
    /// The index has another format version (`None`: none recorded).
    OtherVersion(Option<u32>),
    /// A rebuild was started and did not finish.
    Incomplete,
    /// The index could not be opened; the error, for the log.
    Corrupt(String),
}

impl std::fmt::Display for RebuildReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebuildReason::Missing => write!(f, "no search index yet"),
            RebuildReason::OtherVersion(Some(v)) => write!(
                f,
                "the search index has format version {v}, this build uses {INDEX_VERSION}"
            ),
            RebuildReason::OtherVersion(None) => {
                write!(f, "the search index records no format version")
            }
            RebuildReason::Incomplete => {
                write!(f, "the last rebuild of the search index did not finish")
            }
            RebuildReason::Corrupt(e) => write!(f, "the search index could not be opened: {e}"),
        }
    }
}

/// What [`SearchIndex::upsert`] did with a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// It is now the document's latest revision in the index.
    Latest,
    /// It is older than the latest (restricted) revision, but now the latest
    /// public one: anonymous readers find it.
    PublicFallback,
    /// The index already holds this revision or a newer one: ignored.
    Stale,
}

/// Counts for status pages and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexStats {
    /// Documents searchable now (revisions kept for anonymous readers included).
    pub docs: u64,
    /// Segments searchable now.
    pub segments: usize,
    /// Bytes of index files on disk (0 for an index in memory).
    pub disk_bytes: u64,
    /// Writes not yet committed.
    pub pending: usize,
    /// Of those, the ones that delete: a revision replacing an older one,
    /// a removal. Each holds its query's weight (about a kilobyte in
    /// tantivy) until the commit, and the commit looks its key up in
    /// every segment.
    pub pending_deletes: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    version: u32,
    complete: bool,
    checkpoint: Checkpoint,
}

/// A document's slot: each document has at most one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The latest revision, with its own audience.
    Latest,
    /// The latest public revision, kept for anonymous readers while the
    /// latest revision is restricted.
    Public,
}

impl Slot {
    fn as_str(self) -> &'static str {
        match self {
            Slot::Latest => "latest",
            Slot::Public => "public",
        }
    }
}

/// A revision's place in a document's history: `(revision, seq)`.
type Version = (u64, u64);

fn version_of(doc: &IndexDoc) -> Version {
    (doc.revision, doc.seq)
}

/// What the index holds for one document key (committed and pending).
#[derive(Debug, Clone, Copy, Default)]
struct KeyState {
    /// The latest revision and whether it is public.
    latest: Option<(Version, bool)>,
    /// The public revision kept for anonymous readers.
    public: Option<Version>,
}

#[derive(Clone)]
pub(crate) struct Fields {
    pub key: Field,
    pub slot: Field,
    pub readers: Field,
    pub origin: Field,
    pub kind: Field,
    pub langs: Field,
    pub stored: Field,
    pub title: [Field; 7],
    pub body: [Field; 7],
}

impl Fields {
    pub(crate) fn title(&self, g: LangGroup) -> Field {
        self.title[group_index(g)]
    }
    pub(crate) fn body(&self, g: LangGroup) -> Field {
        self.body[group_index(g)]
    }
}

fn group_index(g: LangGroup) -> usize {
    LangGroup::ALL.iter().position(|x| *x == g).unwrap_or(0)
}

fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let key = b.add_text_field("key", STRING);
    let slot = b.add_text_field("slot", STRING | STORED);
    let readers = b.add_text_field("readers", STRING);
    let origin = b.add_text_field("origin", STRING);
    let kind = b.add_text_field("kind", STRING);
    let langs = b.add_text_field("lang", STRING);
    let stored = b.add_text_field("doc", STORED);
    let text = |g: LangGroup| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&g.tokenizer_name())
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let title = LangGroup::ALL.map(|g| b.add_text_field(&format!("title_{}", g.name()), text(g)));
    let body = LangGroup::ALL.map(|g| b.add_text_field(&format!("body_{}", g.name()), text(g)));
    let fields = Fields {
        key,
        slot,
        readers,
        origin,
        kind,
        langs,
        stored,
        title,
        body,
    };
    (b.build(), fields)
}

pub(crate) struct Inner {
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    /// Query parsers over every language group, and over each one.
    pub(crate) parser_all: QueryParser,
    pub(crate) parser_group: HashMap<LangGroup, QueryParser>,
    dir: Option<PathBuf>,
    config: SearchConfig,
    writer: Mutex<WriterState>,
    /// Whether writes are pending (`pending_ops > 0`), readable without the
    /// writer's mutex: a search takes that mutex only when they are.
    pending: AtomicBool,
}

struct WriterState {
    writer: IndexWriter,
    /// Writes since the last commit.
    pending_ops: usize,
    /// Deletes among them.
    pending_deletes: usize,
    /// Key states changed since the last commit (the searcher does not see them yet).
    pending: HashMap<String, KeyState>,
    checkpoint: Checkpoint,
    complete: bool,
    /// Something other than documents changed (checkpoint, completeness).
    dirty: bool,
    /// When the last commit ended (or the index was opened).
    last_commit: Instant,
}

/// The search index: cheap to clone, safe to share between threads.
///
/// Searches run concurrently, without locks while nothing is pending; a
/// search that finds writes pending commits them first (see
/// `search_freshness`), under the writer's mutex. Writes (`upsert`,
/// `commit`, ...) take that mutex and may block on I/O: call them, and
/// searches, from a blocking thread, not from an async task's executor
/// thread.
#[derive(Clone)]
pub struct SearchIndex {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it when needed. An index that is
    /// missing, unreadable, of another version or half rebuilt is wiped and
    /// comes back empty with [`OpenState::RebuildNeeded`].
    ///
    /// Refuses to wipe a non-empty directory that is not marked as a search
    /// index ([`SearchError::NotAnIndex`]), and an index another process is
    /// writing ([`SearchError::Locked`]).
    pub fn open(dir: &Path, config: SearchConfig) -> Result<(SearchIndex, OpenState), SearchError> {
        let reason = match Self::open_existing(dir, &config) {
            Ok(Existing::Usable(index, checkpoint)) => {
                return Ok((index, OpenState::Ready { checkpoint }));
            }
            Ok(Existing::Unusable(reason)) => reason,
            Err(
                e @ (SearchError::Locked(_) | SearchError::NotAnIndex(_) | SearchError::Io { .. }),
            ) => {
                return Err(e);
            }
            Err(e) => RebuildReason::Corrupt(e.to_string()),
        };
        tracing::info!(dir = %dir.display(), %reason, "search index: rebuilding");
        wipe(dir)?;
        let index = Self::create(dir, &config)?;
        Ok((index, OpenState::RebuildNeeded(reason)))
    }

    /// A fresh index in memory (tests, benchmarks, a node without a disk
    /// index). Its state is that of a finished rebuild.
    pub fn in_ram(config: SearchConfig) -> Result<SearchIndex, SearchError> {
        let (schema, fields) = build_schema();
        let index = Index::create_in_ram(schema);
        let writer = new_writer(&index, &config, None)?;
        let this = Self::assemble(index, writer, fields, None, config, Checkpoint::new(), true)?;
        Ok(this)
    }

    /// Opens an existing index, if there is a usable one.
    fn open_existing(dir: &Path, config: &SearchConfig) -> Result<Existing, SearchError> {
        if !dir.exists() || !dir.join("meta.json").exists() {
            if dir.exists() && !is_ours_or_empty(dir)? {
                return Err(SearchError::NotAnIndex(dir.to_path_buf()));
            }
            return Ok(Existing::Unusable(RebuildReason::Missing));
        }
        if !dir.join(MARKER_FILE).exists() {
            return Err(SearchError::NotAnIndex(dir.to_path_buf()));
        }
        let index = Index::open_in_dir(dir)?;
        // Take the writer's lock before anything else: an index that
        // another process is writing is never judged, let alone wiped.
        let writer = new_writer(&index, config, Some(dir))?;
        let metas = index.load_metas()?;
        let (schema, fields) = build_schema();
        let reason = match metas
            .payload
            .as_deref()
            .map(serde_json::from_str::<Payload>)
        {
            Some(Ok(p)) if p.version != INDEX_VERSION => {
                RebuildReason::OtherVersion(Some(p.version))
            }
            Some(Ok(p)) if !p.complete => RebuildReason::Incomplete,
            // Same version number, another schema: written by other code.
            Some(Ok(_)) if index.schema() != schema => RebuildReason::OtherVersion(None),
            Some(Ok(p)) => {
                let checkpoint = p.checkpoint.clone();
                // Building the reader opens every segment, so a damaged
                // segment file is found here rather than by a search.
                let this = Self::assemble(
                    index,
                    writer,
                    fields,
                    Some(dir.to_path_buf()),
                    config.clone(),
                    p.checkpoint,
                    true,
                )?;
                return Ok(Existing::Usable(this, checkpoint));
            }
            Some(Err(e)) => RebuildReason::Corrupt(format!("commit payload: {e}")),
            None => RebuildReason::OtherVersion(None),
        };
        Ok(Existing::Unusable(reason))
    }

    fn create(dir: &Path, config: &SearchConfig) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        std::fs::write(dir.join(MARKER_FILE), MARKER_TEXT).map_err(io_err(dir))?;
        let (schema, fields) = build_schema();
        let index = Index::create_in_dir(dir, schema)?;
        let writer = new_writer(&index, config, Some(dir))?;
        let this = Self::assemble(
            index,
            writer,
            fields,
            Some(dir.to_path_buf()),
            config.clone(),
            Checkpoint::new(),
            false,
        )?;
        // Record the version (and "not complete") at once, so that a crash
        // during the first rebuild is seen as such.
        {
            let mut w = this.lock_writer();
            w.dirty = true;
            this.commit_locked(&mut w)?;
        }
        Ok(this)
    }

    fn assemble(
        index: Index,
        writer: IndexWriter,
        fields: Fields,
        dir: Option<PathBuf>,
        config: SearchConfig,
        checkpoint: Checkpoint,
        complete: bool,
    ) -> Result<SearchIndex, SearchError> {
        let mut policy = LogMergePolicy::default();
        // Revisions replace documents: merge away segments with many
        // deleted documents sooner than tantivy's default (half).
        policy.set_del_docs_ratio_before_merge(0.3);
        writer.set_merge_policy(Box::new(policy));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(config.doc_store_cache_blocks)
            .try_into()?;
        let mut parser_all = QueryParser::for_index(
            &index,
            LangGroup::ALL
                .iter()
                .flat_map(|g| [fields.title(*g), fields.body(*g)])
                .collect(),
        );
        configure_parser(&mut parser_all, &fields, &LangGroup::ALL);
        let parser_group = LangGroup::ALL
            .iter()
            .map(|g| {
                let mut p = QueryParser::for_index(&index, vec![fields.title(*g), fields.body(*g)]);
                configure_parser(&mut p, &fields, &[*g]);
                (*g, p)
            })
            .collect();
        Ok(SearchIndex {
            inner: Arc::new(Inner {
                reader,
                fields,
                parser_all,
                parser_group,
                dir,
                config,
                writer: Mutex::new(WriterState {
                    writer,
                    pending_ops: 0,
                    pending_deletes: 0,
                    pending: HashMap::new(),
                    checkpoint,
                    complete,
                    dirty: false,
                    last_commit: Instant::now(),
                }),
                pending: AtomicBool::new(false),
            }),
        })
    }

    fn lock_writer(&self) -> MutexGuard<'_, WriterState> {
        // A panic while holding the lock leaves tantivy's writer usable:
        // uncommitted writes are at worst lost, and the caller's checkpoint
        // makes them be fed again.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds one revision of a document. A newer revision replaces the older
    /// one (deleted by the document's key, then added); an older one is
    /// ignored, except that it may become the revision anonymous readers see
    /// when the latest is restricted. Also advances the checkpoint of the
    /// document's origin to its `seq`.
    ///
    /// Refuses a document without text (a redacted stub has none and must
    /// never be indexed) and one with malformed ids or language tags.
    /// Commits when `commit_batch` writes are pending.
    pub fn upsert(&self, doc: &IndexDoc) -> Result<Upserted, SearchError> {
        doc.validate()?;
        let mut w = self.lock_writer();
        let outcome = self.upsert_locked(&mut w, doc)?;
        advance(&mut w, &doc.origin, doc.seq);
        if w.pending_ops >= self.inner.config.commit_batch {
            self.commit_locked(&mut w)?;
        }
        Ok(outcome)
    }

    /// Records that every entry of `origin` up to `seq` has been fed (for
    /// entries that are not searchable documents: receipts, profiles,
    /// redacted stubs). Saved with the next commit.
    pub fn advance(&self, origin: &str, seq: u64) {
        let mut w = self.lock_writer();
        advance(&mut w, origin, seq);
    }

    fn upsert_locked(&self, w: &mut WriterState, doc: &IndexDoc) -> Result<Upserted, SearchError> {
        let f = &self.inner.fields;
        let key = doc.key();
        let state = self.key_state(w, &key)?;
        let v = version_of(doc);
        let public = doc.is_public();
        let key_term = Term::from_field_text(f.key, &key);
        let newer = state.latest.is_none_or(|(lv, _)| v > lv);
        let new_state = if newer {
            if public {
                // A key never indexed has nothing to delete.
                if state.latest.is_some() || state.public.is_some() {
                    delete_key(w, key_term);
                }
                w.writer.add_document(self.to_tantivy(doc, Slot::Latest)?)?;
                KeyState {
                    latest: Some((v, true)),
                    public: None,
                }
            } else if let Some((old_v, true)) = state.latest {
                // A restricted revision over a public one: the public one
                // stays for anonymous readers.
                let old = self.committed_doc(w, &key, Slot::Latest)?;
                delete_key(w, key_term);
                if let Some(old) = &old {
                    w.writer.add_document(self.to_tantivy(old, Slot::Public)?)?;
                }
                w.writer.add_document(self.to_tantivy(doc, Slot::Latest)?)?;
                KeyState {
                    latest: Some((v, false)),
                    public: old.map(|_| old_v),
                }
            } else {
                if state.latest.is_some() {
                    delete_slot(w, f, &key, Slot::Latest)?;
                }
                w.writer.add_document(self.to_tantivy(doc, Slot::Latest)?)?;
                KeyState {
                    latest: Some((v, false)),
                    public: state.public,
                }
            }
        } else {
            let latest_restricted = matches!(state.latest, Some((_, false)));
            let newer_public = state.public.is_none_or(|pv| v > pv);
            if !(public && latest_restricted && newer_public) {
                return Ok(Upserted::Stale);
            }
            if state.public.is_some() {
                delete_slot(w, f, &key, Slot::Public)?;
            }
            w.writer.add_document(self.to_tantivy(doc, Slot::Public)?)?;
            w.pending.insert(
                key,
                KeyState {
                    latest: state.latest,
                    public: Some(v),
                },
            );
            self.count_pending(w);
            return Ok(Upserted::PublicFallback);
        };
        w.pending.insert(key, new_state);
        self.count_pending(w);
        Ok(Upserted::Latest)
    }

    /// Counts one write made since the last commit.
    fn count_pending(&self, w: &mut WriterState) {
        w.pending_ops += 1;
        self.inner.pending.store(true, Ordering::Release);
    }

    /// The key's state: pending writes first, else what is committed.
    fn key_state(&self, w: &WriterState, key: &str) -> Result<KeyState, SearchError> {
        if let Some(s) = w.pending.get(key) {
            return Ok(*s);
        }
        let mut state = KeyState::default();
        for (slot, doc) in self.committed_docs(key)? {
            match slot {
                Slot::Latest => state.latest = Some((version_of(&doc), doc.is_public())),
                Slot::Public => state.public = Some(version_of(&doc)),
            }
        }
        Ok(state)
    }

    /// The committed document in a slot, committing pending writes first
    /// when that document is only pending (rare: a restricted revision
    /// right after a public one).
    fn committed_doc(
        &self,
        w: &mut WriterState,
        key: &str,
        slot: Slot,
    ) -> Result<Option<IndexDoc>, SearchError> {
        if w.pending.contains_key(key) {
            self.commit_locked(w)?;
        }
        Ok(self
            .committed_docs(key)?
            .into_iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, d)| d))
    }

    fn committed_docs(&self, key: &str) -> Result<Vec<(Slot, IndexDoc)>, SearchError> {
        let f = &self.inner.fields;
        let searcher = self.inner.reader.searcher();
        let term = Term::from_field_text(f.key, key);
        if searcher.doc_freq(&term)? == 0 {
            return Ok(Vec::new());
        }
        let top = searcher.search(
            &TermQuery::new(term, IndexRecordOption::Basic),
            &TopDocs::with_limit(4).order_by_score(),
        )?;
        let mut out = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let slot = match doc.get_first(f.slot).and_then(|v| v.as_str()) {
                Some("public") => Slot::Public,
                _ => Slot::Latest,
            };
            out.push((slot, stored_doc(&doc, f)?));
        }
        Ok(out)
    }

    fn to_tantivy(&self, doc: &IndexDoc, slot: Slot) -> Result<TantivyDocument, SearchError> {
        let f = &self.inner.fields;
        let mut t = TantivyDocument::new();
        t.add_text(f.key, doc.key());
        t.add_text(f.slot, slot.as_str());
        t.add_text(f.origin, &doc.origin);
        t.add_text(f.kind, doc.kind.as_str());
        match (&doc.audience, slot) {
            (Audience::Public, _) | (_, Slot::Public) => t.add_text(f.readers, PUBLIC_READER),
            (Audience::Restricted(orgs), Slot::Latest) => {
                t.add_text(f.readers, &doc.origin);
                for o in orgs {
                    t.add_text(f.readers, o);
                }
            }
        }
        let mut langs: Vec<String> = Vec::new();
        for text in doc.all_texts() {
            let full = text.lang.to_ascii_lowercase();
            let primary = full.split('-').next().unwrap_or(&full).to_string();
            for l in [full.clone(), primary] {
                if !langs.contains(&l) {
                    langs.push(l);
                }
            }
        }
        for l in &langs {
            t.add_text(f.langs, l);
        }
        for title in &doc.titles {
            t.add_text(f.title(LangGroup::of(&title.lang)), &title.text);
        }
        for text in doc.summaries.iter().chain(doc.bodies.iter()) {
            t.add_text(f.body(LangGroup::of(&text.lang)), &text.text);
        }
        let json = serde_json::to_string(doc).map_err(|e| SearchError::Stored(e.to_string()))?;
        t.add_text(f.stored, json);
        Ok(t)
    }

    /// Removes a document (every revision) from the index.
    pub fn remove(&self, origin: &str, uuid: &str) -> Result<(), SearchError> {
        let mut w = self.lock_writer();
        let key = crate::doc::doc_key(origin, uuid);
        delete_key(&mut w, Term::from_field_text(self.inner.fields.key, &key));
        w.pending.insert(key, KeyState::default());
        self.count_pending(&mut w);
        Ok(())
    }

    /// Commits pending writes now (if any) and makes them searchable.
    pub fn commit(&self) -> Result<(), SearchError> {
        let mut w = self.lock_writer();
        self.commit_locked(&mut w)
    }

    /// Before a search: commits pending documents unless the last commit
    /// is more recent than `search_freshness`. Takes the writer's mutex
    /// only when writes are pending. A commit that fails is logged, and
    /// the search answers from the last commit, as it did before: the
    /// timer and the next search try again.
    pub(crate) fn commit_for_search(&self) {
        if !self.inner.pending.load(Ordering::Acquire) {
            return;
        }
        let mut w = self.lock_writer();
        if w.pending_ops > 0
            && w.last_commit.elapsed() >= self.inner.config.search_freshness
            && let Err(e) = self.commit_locked(&mut w)
        {
            tracing::warn!(error = %e, "search index: commit before a search failed; searching the last commit");
        }
    }

    fn commit_locked(&self, w: &mut WriterState) -> Result<(), SearchError> {
        if w.pending_ops == 0 && !w.dirty {
            return Ok(());
        }
        let payload = serde_json::to_string(&Payload {
            version: INDEX_VERSION,
            complete: w.complete,
            checkpoint: w.checkpoint.clone(),
        })
        .map_err(|e| SearchError::Stored(e.to_string()))?;
        let started = Instant::now();
        let mut prepared = w.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.inner.reader.reload()?;
        tracing::debug!(
            writes = w.pending_ops,
            ms = started.elapsed().as_millis() as u64,
            "search index: committed"
        );
        w.pending.clear();
        w.pending_ops = 0;
        w.pending_deletes = 0;
        self.inner.pending.store(false, Ordering::Release);
        w.dirty = false;
        w.last_commit = Instant::now();
        // Files of segments merged away are deleted once no searcher holds
        // them; the reload above dropped the old searcher.
        drop(w.writer.garbage_collect_files());
        Ok(())
    }

    /// Empties the index and marks it as being rebuilt: feed every
    /// document, then call [`SearchIndex::finish_rebuild`]. (`comity search
    /// --reindex`.)
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut w = self.lock_writer();
        w.writer.delete_all_documents()?;
        w.pending.clear();
        w.checkpoint.clear();
        w.complete = false;
        w.dirty = true;
        self.commit_locked(&mut w)
    }

    /// Marks a rebuild as finished and commits. Until then, a restart
    /// reports [`RebuildReason::Incomplete`].
    pub fn finish_rebuild(&self) -> Result<(), SearchError> {
        let mut w = self.lock_writer();
        w.complete = true;
        w.dirty = true;
        self.commit_locked(&mut w)
    }

    /// Whether the last rebuild finished.
    pub fn is_complete(&self) -> bool {
        self.lock_writer().complete
    }

    /// The checkpoint, including writes not yet committed.
    pub fn checkpoint(&self) -> Checkpoint {
        self.lock_writer().checkpoint.clone()
    }

    /// Counts for status pages and metrics.
    pub fn stats(&self) -> Result<IndexStats, SearchError> {
        let searcher = self.inner.reader.searcher();
        let (pending, pending_deletes) = {
            let w = self.lock_writer();
            (w.pending_ops, w.pending_deletes)
        };
        let disk_bytes = match &self.inner.dir {
            Some(d) => dir_size(d)?,
            None => 0,
        };
        Ok(IndexStats {
            docs: searcher.num_docs(),
            segments: searcher.segment_readers().len(),
            disk_bytes,
            pending,
            pending_deletes,
        })
    }

    /// The directory the index lives in (`None` in memory).
    pub fn dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    /// Starts a thread that commits pending writes every
    /// `config.commit_interval`. It stops, after a last commit, when the
    /// returned handle is stopped or dropped.
    pub fn start_committer(&self) -> Committer {
        let (stop, stopped) = mpsc::channel::<()>();
        let index = self.clone();
        let interval = self.inner.config.commit_interval;
        let thread = std::thread::Builder::new()
            .name("search-commit".into())
            .spawn(move || {
                // Disconnection (the handle stopped or dropped) ends it.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if let Err(e) = index.commit() {
                        tracing::warn!(error = %e, "search index: commit failed");
                    }
                }
                index.commit()
            });
        match thread {
            Ok(t) => Committer {
                stop: Some(stop),
                thread: Some(t),
            },
            Err(e) => {
                tracing::warn!(error = %e, "search index: no commit thread; committing per batch only");
                Committer {
                    stop: None,
                    thread: None,
                }
            }
        }
    }
}

/// The one writer (it takes the directory's lock), with its arena, and the
/// index's analysers registered.
fn new_writer(
    index: &Index,
    config: &SearchConfig,
    dir: Option<&Path>,
) -> Result<IndexWriter, SearchError> {
    tokenizer::register(index.tokenizers());
    let options = IndexWriterOptions::builder()
        .memory_budget_per_thread(config.writer_arena_bytes.max(15_000_000))
        .num_worker_threads(1)
        .num_merge_threads(config.merge_threads.max(1))
        .build();
    index
        .writer_with_options(options)
        .map_err(|e| match (&e, dir) {
            (TantivyError::LockFailure(LockError::LockBusy, _), Some(d)) => {
                SearchError::Locked(d.to_path_buf())
            }
            _ => SearchError::Tantivy(e),
        })
}

fn configure_parser(p: &mut QueryParser, f: &Fields, groups: &[LangGroup]) {
    // Every word must match (in some field): what people expect of a
    // search box.
    p.set_conjunction_by_default();
    for g in groups {
        p.set_field_boost(f.title(*g), 2.0);
    }
}

fn advance(w: &mut WriterState, origin: &str, seq: u64) {
    let e = w.checkpoint.entry(origin.to_string()).or_insert(0);
    if seq > *e {
        *e = seq;
        w.dirty = true;
    }
}

/// Queues the deletion of every document of a key (both slots).
fn delete_key(w: &mut WriterState, key_term: Term) {
    w.writer.delete_term(key_term);
    w.pending_deletes += 1;
}

/// Queues the deletion of a key's document in one slot.
fn delete_slot(w: &mut WriterState, f: &Fields, key: &str, slot: Slot) -> Result<(), SearchError> {
    w.writer.delete_query(slot_query(f, key, slot))?;
    w.pending_deletes += 1;
    Ok(())
}

fn slot_query(f: &Fields, key: &str, slot: Slot) -> Box<dyn tantivy::query::Query> {
    Box::new(BooleanQuery::new(vec![
        (
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.key, key),
                IndexRecordOption::Basic,
            )),
        ),
        (
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.slot, slot.as_str()),
                IndexRecordOption::Basic,
            )),
        ),
    ]))
}

pub(crate) fn stored_doc(doc: &TantivyDocument, f: &Fields) -> Result<IndexDoc, SearchError> {
    let json = doc
        .get_first(f.stored)
        .and_then(|v| v.as_str())
        .ok_or_else(|| SearchError::Stored("a document without its stored copy".into()))?;
    serde_json::from_str(json).map_err(|e| SearchError::Stored(e.to_string()))
}

enum Existing {
    Usable(SearchIndex, Checkpoint),
    Unusable(RebuildReason),
}

fn is_ours_or_empty(dir: &Path) -> Result<bool, SearchError> {
    if dir.join(MARKER_FILE).exists() {
        return Ok(true);
    }
    let mut entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    Ok(entries.next().is_none())
}

/// Deletes the index directory, if it is ours (marked) or empty.
fn wipe(dir: &Path) -> Result<(), SearchError> {
    if !dir.exists() {
        return Ok(());
    }
    if !is_ours_or_empty(dir)? {
        return Err(SearchError::NotAnIndex(dir.to_path_buf()));
    }
    std::fs::remove_dir_all(dir).map_err(io_err(dir))
}

fn dir_size(dir: &Path) -> Result<u64, SearchError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let meta = entry.metadata().map_err(io_err(dir))?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// The timer commit thread of [`SearchIndex::start_committer`].
pub struct Committer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Result<(), SearchError>>>,
}

impl Committer {
    /// Stops the thread after a last commit, and returns that commit's result.
    pub fn stop(mut self) -> Result<(), SearchError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), SearchError> {
        drop(self.stop.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(SearchError::Stored("the commit thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::warn!(error = %e, "search index: last commit failed");
        }
    }
}
