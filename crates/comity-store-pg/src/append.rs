//! Appends, and the rest of [`LogStore`]: entries, heads, trees, evidence.
//!
//! An append decides each entry with [`rules::decide`] against the head it
//! reads `FOR UPDATE` in its own transaction, and writes entry, index rows,
//! head and tree there: all of a batch or none of it. It takes a handful of
//! round trips however long the batch (the reads together, the decisions
//! in memory, the writes as one pipeline of multi-row statements): a round
//! trip per statement per entry was where its time went. Two transactions
//! that race on one head serialise on the row lock; two that race on a
//! head not yet written meet on the `(origin, seq)` primary key, and the
//! loser runs again, deciding against what the winner committed.

use crate::index::{self, IndexBatch};
use crate::{PgError, PgStore, Statement, corrupt, from_sql, pipeline, sql, to_sql};
use comity_core::merkle::{CompactRange, leaf_hash};
use comity_core::{Hash, Head, OrgId, PublicKey, SignedEntry};
use comity_store::rules::{self, LogState};
use comity_store::{AppendWatcher, Appended, Equivocation, LogStore, SignNext, StoreError};
use deadpool_postgres::{Pool, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// How often a batch that lost a race is run again before the error is
/// returned.
const RETRIES: usize = 8;

/// A failure of an own entry's commit, made on purpose by this crate's
/// tests (a commit cannot be made to fail at will otherwise): the rule for
/// commits of unknown outcome is tested against each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum CommitFault {
    #[default]
    None,
    /// The commit happens, then an error is returned.
    ErrorAfterCommit,
    /// The transaction is rolled back, and an error returned.
    ErrorWithoutCommit,
    /// The commit happens, an error is returned, and the re-read fails too.
    ErrorAfterCommitUnreadable,
}

/// An own-log entry whose commit returned an error: it may or may not be
/// in the log. Nothing more is signed until a re-read says which.
#[derive(Debug, Clone)]
pub(crate) struct Unresolved {
    origin: OrgId,
    seq: u64,
    id: Hash,
}

/// An origin's head as this transaction sees it, with its tree.
struct HeadRow {
    head: Option<Head>,
    tree: CompactRange,
    frozen: bool,
    /// Moved by this transaction: written back before it commits.
    moved: bool,
}

/// Reads the heads and trees of `origins`, locking their rows until the
/// transaction ends (in origin order, the same in every transaction, so
/// two batches of the same origins do not deadlock), and which of them are
/// frozen: two statements, one round trip.
async fn load_heads(
    tx: &Transaction<'_>,
    origins: &BTreeSet<&OrgId>,
) -> Result<BTreeMap<OrgId, HeadRow>, PgError> {
    let names: Vec<&str> = origins.iter().map(|o| o.as_str()).collect();
    let (heads, frozen) = futures::try_join!(
        tx.prepare_cached(
            "SELECT origin, seq, hash, tree FROM heads WHERE origin = ANY($1::text[])
             ORDER BY origin FOR UPDATE"
        ),
        tx.prepare_cached("SELECT origin FROM frozen WHERE origin = ANY($1::text[])"),
    )?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&names];
    let (heads, frozen) =
        futures::try_join!(tx.query(&heads, &params), tx.query(&frozen, &params))?;
    let frozen: HashSet<String> = frozen.iter().map(|r| r.get(0)).collect();
    let mut held: HashMap<String, (Head, CompactRange)> = HashMap::with_capacity(heads.len());
    for row in heads {
        let hash: Vec<u8> = row.get(2);
        let tree: Vec<u8> = row.get(3);
        let head = Head {
            seq: from_sql(row.get(1), "head seq")?,
            hash: Hash::from_slice(&hash).ok_or_else(|| corrupt("head hash", "not 32 bytes"))?,
        };
        let tree = CompactRange::from_bytes(&tree).map_err(|e| corrupt("merkle", e))?;
        held.insert(row.get(0), (head, tree));
    }
    Ok(origins
        .iter()
        .map(|origin| {
            let (head, tree) = match held.remove(origin.as_str()) {
                Some((head, tree)) => (Some(head), tree),
                None => (None, CompactRange::new()),
            };
            let row = HeadRow {
                head,
                tree,
                frozen: frozen.contains(origin.as_str()),
                moved: false,
            };
            ((*origin).clone(), row)
        })
        .collect())
}

/// Reads `origin`'s head and tree, locking the row until the transaction
/// ends, and whether it is frozen.
async fn load_head(tx: &Transaction<'_>, origin: &OrgId) -> Result<HeadRow, PgError> {
    load_heads(tx, &BTreeSet::from([origin]))
        .await?
        .remove(origin)
        .ok_or_else(|| StoreError::Backend("head row vanished".into()).into())
}

/// Appends `entries` in order inside `tx`; returns how many were new.
///
/// A handful of round trips per batch, not several per entry: the heads
/// (and frozen marks) of the batch's origins are read together, the ids
/// that may be held already are looked up together (none in the common
/// case), every entry is decided in memory with [`rules::decide`] against
/// its origin's running head, exactly as one after another, and then the
/// new entries, their index rows (one statement per table) and the moved
/// heads are written as one pipeline. A rule refusing an entry fails the
/// batch before anything is written.
async fn append_in(tx: &Transaction<'_>, entries: &[SignedEntry]) -> Result<usize, PgError> {
    let origins: BTreeSet<&OrgId> = entries.iter().map(SignedEntry::origin).collect();
    let mut heads = load_heads(tx, &origins).await?;
    // An id names one (origin, seq), and an origin's entries are exactly
    // seqs 1 to its head (both move in one transaction): only an entry at or
    // below its origin's head as read can be held already. Past that, an
    // entry is held only if this batch wrote it, which `written` says.
    let maybe_held: Vec<&SignedEntry> = entries
        .iter()
        .filter(|e| {
            heads
                .get(e.origin())
                .and_then(|row| row.head)
                .is_some_and(|head| e.seq() <= head.seq)
        })
        .collect();
    let held = held_at(tx, &maybe_held).await?;
    let mut written: HashSet<Hash> = HashSet::new();
    let mut new: Vec<&SignedEntry> = Vec::new();
    for entry in entries {
        let origin = entry.origin();
        let Some(row) = heads.get_mut(origin) else {
            return Err(StoreError::Backend("head row vanished".into()).into());
        };
        let past_head = entry.seq() > row.head.map_or(0, |h| h.seq);
        let already_held = written.contains(&entry.id())
            || (!past_head && held.get(&entry.id()) == Some(&(origin.clone(), entry.seq())));
        let state = LogState {
            frozen: row.frozen,
            already_held,
            head: row.head,
        };
        if rules::decide(entry, state)? == Appended::AlreadyHeld {
            continue;
        }
        row.head = Some(entry.head());
        row.tree.append(leaf_hash(entry.header_bytes()));
        row.moved = true;
        written.insert(entry.id());
        new.push(entry);
    }
    if new.is_empty() {
        return Ok(0);
    }
    pipeline(tx, writes(&new, &heads)?).await?;
    Ok(new.len())
}

/// The statements that write `new` (decided, in order), their index rows
/// and the heads that moved, in the order they must run: entries first,
/// since a receipt's index row takes its entry's arrival.
fn writes(
    new: &[&SignedEntry],
    heads: &BTreeMap<OrgId, HeadRow>,
) -> Result<Vec<Statement>, StoreError> {
    let (mut origins, mut seqs, mut ids, mut bodies) = (
        Vec::with_capacity(new.len()),
        Vec::with_capacity(new.len()),
        Vec::with_capacity(new.len()),
        Vec::with_capacity(new.len()),
    );
    let mut index = IndexBatch::default();
    for entry in new {
        origins.push(entry.origin().to_string());
        seqs.push(to_sql(entry.seq())?);
        ids.push(entry.id().as_bytes().to_vec());
        bodies.push(index::encode_entry(entry));
        index.add(entry)?;
    }
    // Arrivals are numbered in the order of the batch.
    let mut statements = vec![Statement::new(
        "INSERT INTO entries (origin, seq, id, body)
         SELECT origin, seq, id, body
         FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[])
              WITH ORDINALITY AS u (origin, seq, id, body, n)
         ORDER BY n",
        vec![
            Box::new(origins),
            Box::new(seqs),
            Box::new(ids),
            Box::new(bodies),
        ],
    )];
    statements.extend(index.statements());
    let (mut origins, mut seqs, mut hashes, mut trees) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (origin, row) in heads {
        let Some(head) = row.head.filter(|_| row.moved) else {
            continue;
        };
        origins.push(origin.to_string());
        seqs.push(to_sql(head.seq)?);
        hashes.push(head.hash.as_bytes().to_vec());
        trees.push(row.tree.to_bytes());
    }
    statements.push(Statement::new(
        "INSERT INTO heads (origin, seq, hash, tree)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[])
         ON CONFLICT (origin) DO UPDATE
         SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, tree = EXCLUDED.tree",
        vec![
            Box::new(origins),
            Box::new(seqs),
            Box::new(hashes),
            Box::new(trees),
        ],
    ));
    Ok(statements)
}

/// The (origin, seq) each of `entries` is held at, by id, for those held.
async fn held_at(
    tx: &Transaction<'_>,
    entries: &[&SignedEntry],
) -> Result<HashMap<Hash, (OrgId, u64)>, PgError> {
    if entries.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Vec<u8>> = entries.iter().map(|e| e.id().as_bytes().to_vec()).collect();
    let rows = sql!(
        tx,
        query,
        "SELECT id, origin, seq FROM entries WHERE id = ANY($1::bytea[])",
        &[&ids]
    );
    let mut held = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Vec<u8> = row.get(0);
        let id = Hash::from_slice(&id).ok_or_else(|| corrupt("entry id", "not 32 bytes"))?;
        let origin = OrgId::new(row.get::<_, String>(1)).map_err(|e| corrupt("entry origin", e))?;
        held.insert(id, (origin, from_sql(row.get(2), "entry seq")?));
    }
    Ok(held)
}

/// A batch in one transaction, run again (deciding anew) when it lost a
/// race with another writer.
async fn append_batch(pool: &Pool, entries: &[SignedEntry]) -> Result<usize, PgError> {
    let mut attempt = 0;
    loop {
        let result = async {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let new = append_in(&tx, entries).await?;
            tx.commit().await?;
            Ok::<_, PgError>(new)
        }
        .await;
        match result {
            Err(e) if e.retryable() && attempt < RETRIES => {
                attempt += 1;
                tracing::debug!(attempt, error = %e, "append lost a race; deciding again");
            }
            other => return other,
        }
    }
}

/// Locks `origin`'s log against every other writer of the database, then
/// signs the next entry on the head held, inserts and commits it.
async fn append_next(
    pool: &Pool,
    origin: &OrgId,
    signer: PublicKey,
    sign: SignNext,
    fault: CommitFault,
) -> Result<Result<SignedEntry, Unresolved>, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // The origin's lock, before anything is signed: an advisory lock covers
    // a log with no head row yet, the row lock (in `load_head`) the rest.
    sql!(
        tx,
        execute,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&origin.as_str()]
    );
    let held = load_head(&tx, origin).await?;
    if held.frozen {
        return Err(StoreError::Frozen {
            origin: origin.clone(),
        }
        .into());
    }
    // Under the lock: a rotation another replica committed is seen here.
    let rotated = sql!(
        tx,
        query_opt,
        "SELECT seq, key FROM keys WHERE origin = $1",
        &[&origin.as_str()]
    );
    let current = match rotated {
        Some(row) => {
            let key: Vec<u8> = row.get(1);
            let key = PublicKey::from_bytes(&key).map_err(|e| corrupt("key", e))?;
            Some((from_sql(row.get(0), "key seq")?, key))
        }
        None => None,
    };
    rules::check_signing_key(origin, &signer, current)?;
    let entry = sign(held.head);
    if entry.origin() != origin {
        return Err(StoreError::Backend(format!(
            "asked to append the next entry of {origin}, given one of {}",
            entry.origin()
        ))
        .into());
    }
    if append_in(&tx, std::slice::from_ref(&entry)).await? != 1 {
        return Err(StoreError::Backend(format!(
            "{origin} seq {} was signed on the held head but not appended",
            entry.seq()
        ))
        .into());
    }
    let injected = || StoreError::Backend("injected commit failure".into()).into();
    let committed: Result<(), PgError> = match fault {
        CommitFault::None => tx.commit().await.map_err(PgError::from),
        CommitFault::ErrorWithoutCommit => {
            tx.rollback().await?;
            Err(injected())
        }
        CommitFault::ErrorAfterCommit | CommitFault::ErrorAfterCommitUnreadable => {
            tx.commit().await?;
            Err(injected())
        }
    };
    match committed {
        Ok(()) => Ok(Ok(entry)),
        // The commit may or may not have happened: say which, by reading.
        Err(e) => {
            tracing::warn!(%origin, seq = entry.seq(), error = %e,
                "the commit of an own entry returned an error; re-reading its seq");
            Ok(Err(Unresolved {
                origin: origin.clone(),
                seq: entry.seq(),
                id: entry.id(),
            }))
        }
    }
}

/// Whether the entry of an unknown commit is in the log (`Some(true)`),
/// is not (`Some(false)`), or cannot be told now (`None`).
async fn resolve(pool: &Pool, unresolved: &Unresolved, unreadable: bool) -> Option<bool> {
    if unreadable {
        return None;
    }
    // A few tries over a few seconds: the database may be restarting.
    for attempt in 0..5u32 {
        let read = async {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT id FROM entries WHERE origin = $1 AND seq = $2",
                &[&unresolved.origin.as_str(), &to_sql(unresolved.seq)?]
            );
            Ok::<_, PgError>(row.map(|r| r.get::<_, Vec<u8>>(0)))
        }
        .await;
        match read {
            Ok(id) => return Some(id.as_deref() == Some(unresolved.id.as_bytes().as_slice())),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "cannot re-read an own entry's seq yet");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    None
}

impl PgStore {
    /// The failure the next own commit is to suffer (tests only), taken.
    fn commit_fault(&self) -> Result<CommitFault, StoreError> {
        Ok(std::mem::take(&mut *self.inner.fault.lock().map_err(
            |_| StoreError::Backend("PostgreSQL store lock poisoned by a panic".into()),
        )?))
    }

    /// Makes the next own commit fail as `fault` says (tests only).
    #[cfg(test)]
    pub(crate) fn inject(&self, fault: CommitFault) {
        if let Ok(mut slot) = self.inner.fault.lock() {
            *slot = fault;
        }
    }

    pub(crate) fn unresolved(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Option<Unresolved>>, StoreError> {
        self.inner
            .unresolved
            .lock()
            .map_err(|_| StoreError::Backend("PostgreSQL store lock poisoned by a panic".into()))
    }

    /// Settles an own entry whose commit outcome was unknown, if any:
    /// nothing else may be signed before.
    fn settle(&self) -> Result<(), StoreError> {
        let Some(pending) = self.unresolved()?.clone() else {
            return Ok(());
        };
        let p = pending.clone();
        match self.run(move |pool| async move { Ok(resolve(&pool, &p, false).await) })? {
            Some(held) => {
                tracing::info!(origin = %pending.origin, seq = pending.seq, held,
                    "settled an own entry whose commit outcome was unknown");
                *self.unresolved()? = None;
                Ok(())
            }
            None => Err(StoreError::Backend(format!(
                "nothing can be signed yet: whether {} seq {} was committed is unknown, and the database cannot be read",
                pending.origin, pending.seq
            ))),
        }
    }
}

impl LogStore for PgStore {
    fn append(&self, entry: &SignedEntry) -> Result<Appended, StoreError> {
        Ok(match self.append_batch(std::slice::from_ref(entry))? {
            0 => Appended::AlreadyHeld,
            _ => Appended::New,
        })
    }

    fn append_batch(&self, entries: &[SignedEntry]) -> Result<usize, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let entries = entries.to_vec();
        self.run(move |pool| async move { append_batch(&pool, &entries).await })
    }

    fn append_next(
        &self,
        origin: &OrgId,
        signer: &PublicKey,
        sign: SignNext,
    ) -> Result<SignedEntry, StoreError> {
        self.settle()?;
        let (o, signer) = (origin.clone(), *signer);
        let fault = self.commit_fault()?;
        let outcome =
            self.run(move |pool| async move { append_next(&pool, &o, signer, sign, fault).await })?;
        match outcome {
            Ok(entry) => Ok(entry),
            Err(pending) => {
                let p = pending.clone();
                let unreadable = fault == CommitFault::ErrorAfterCommitUnreadable;
                match self
                    .run(move |pool| async move { Ok(resolve(&pool, &p, unreadable).await) })?
                {
                    Some(true) => Ok(entry_of_unknown_commit(self, &pending)?),
                    Some(false) => Err(StoreError::Backend(format!(
                        "{origin} seq {} was not committed (the database failed during the commit); nothing was published",
                        pending.seq
                    ))),
                    None => {
                        let seq = pending.seq;
                        *self.unresolved()? = Some(pending);
                        Err(StoreError::Backend(format!(
                            "the database failed during the commit of {origin} seq {seq}, and whether it was committed is unknown; it is re-read before anything else is signed"
                        )))
                    }
                }
            }
        }
    }

    fn watch_appends(&self, watcher: AppendWatcher) -> Result<(), StoreError> {
        self.add_watcher(watcher)
    }

    fn fill_payload(&self, entry: &SignedEntry) -> Result<bool, StoreError> {
        if entry.is_redacted() {
            return Ok(false);
        }
        let entry = entry.clone();
        self.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let origin = entry.origin().as_str();
            let seq = to_sql(entry.seq())?;
            // Share-lock the head: a rebuild of the indexes waits for us.
            sql!(
                tx,
                query_opt,
                "SELECT 1 FROM heads WHERE origin = $1 FOR SHARE",
                &[&origin]
            );
            let row = sql!(
                tx,
                query_opt,
                "SELECT body FROM entries WHERE origin = $1 AND seq = $2 FOR UPDATE",
                &[&origin, &seq]
            );
            let Some(row) = row else { return Ok(false) };
            let held = index::decode_entry(row.get(0))?;
            if held.id() != entry.id() || !held.is_redacted() {
                return Ok(false);
            }
            index::write_rows(&tx, [&entry]).await?;
            sql!(
                tx,
                execute,
                "UPDATE entries SET body = $3 WHERE origin = $1 AND seq = $2",
                &[&origin, &seq, &index::encode_entry(&entry)]
            );
            tx.commit().await?;
            Ok(true)
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every commit is durable when it returns.
        Ok(())
    }

    fn head(&self, origin: &OrgId) -> Result<Option<Head>, StoreError> {
        let origin = origin.clone();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT seq, hash FROM heads WHERE origin = $1",
                &[&origin.as_str()]
            );
            row.map(|row| head_of(row.get(0), row.get(1)))
                .transpose()
                .map_err(PgError::from)
        })
    }

    fn heads(&self) -> Result<Vec<(OrgId, Head)>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(
                client,
                query,
                "SELECT origin, seq, hash FROM heads ORDER BY origin",
                &[]
            );
            let mut heads = Vec::with_capacity(rows.len());
            for row in rows {
                heads.push((index::org(row.get(0))?, head_of(row.get(1), row.get(2))?));
            }
            Ok(heads)
        })
    }

    fn entry(&self, origin: &OrgId, seq: u64) -> Result<Option<SignedEntry>, StoreError> {
        let origin = origin.clone();
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT body FROM entries WHERE origin = $1 AND seq = $2",
                &[&origin.as_str(), &seq]
            );
            Ok(row.map(|r| index::decode_entry(r.get(0))).transpose()?)
        })
    }

    fn entries_after(
        &self,
        origin: &OrgId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SignedEntry>, StoreError> {
        let Ok(after) = i64::try_from(after_seq) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let origin = origin.clone();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(
                client,
                query,
                "SELECT body FROM entries WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&origin.as_str(), &after, &limit]
            );
            Ok(rows
                .iter()
                .map(|r| index::decode_entry(r.get(0)))
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn record_equivocation(&self, evidence: &Equivocation) -> Result<(), StoreError> {
        let evidence = evidence.clone();
        self.run(move |pool| async move {
            let json = serde_json::to_vec(&evidence)
                .map_err(|e| StoreError::Backend(format!("evidence: {e}")))?;
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let origin = evidence.origin.as_str();
            // The first evidence for a seq is kept; it is as good as any.
            sql!(
                tx,
                execute,
                "INSERT INTO equivocations (origin, seq, evidence) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&origin, &to_sql(evidence.seq)?, &json]
            );
            sql!(
                tx,
                execute,
                "INSERT INTO frozen (origin) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&origin]
            );
            tx.commit().await?;
            Ok(())
        })
    }

    fn equivocations(&self) -> Result<Vec<Equivocation>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(
                client,
                query,
                "SELECT evidence FROM equivocations ORDER BY origin, seq",
                &[]
            );
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let bytes: Vec<u8> = row.get(0);
                out.push(serde_json::from_slice(&bytes).map_err(|e| corrupt("equivocation", e))?);
            }
            Ok(out)
        })
    }

    fn is_frozen(&self, origin: &OrgId) -> Result<bool, StoreError> {
        let origin = origin.clone();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(sql!(
                client,
                query_opt,
                "SELECT 1 FROM frozen WHERE origin = $1",
                &[&origin.as_str()]
            )
            .is_some())
        })
    }

    fn tree(&self, origin: &OrgId) -> Result<Option<CompactRange>, StoreError> {
        let origin = origin.clone();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT tree FROM heads WHERE origin = $1",
                &[&origin.as_str()]
            );
            Ok(row
                .map(|r| {
                    let bytes: Vec<u8> = r.get(0);
                    CompactRange::from_bytes(&bytes).map_err(|e| corrupt("merkle", e))
                })
                .transpose()?)
        })
    }
}

/// The entry a commit of unknown outcome turned out to have stored.
fn entry_of_unknown_commit(
    store: &PgStore,
    pending: &Unresolved,
) -> Result<SignedEntry, StoreError> {
    store
        .entry(&pending.origin, pending.seq)?
        .filter(|e| e.id() == pending.id)
        .ok_or_else(|| {
            StoreError::Backend(format!(
                "{} seq {} was committed but cannot be read back",
                pending.origin, pending.seq
            ))
        })
}

fn head_of(seq: i64, hash: Vec<u8>) -> Result<Head, StoreError> {
    Ok(Head {
        seq: from_sql(seq, "head seq")?,
        hash: Hash::from_slice(&hash).ok_or_else(|| corrupt("head hash", "not 32 bytes"))?,
    })
}
