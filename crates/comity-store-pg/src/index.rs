//! The derived indexes: the rows [`rules::index_rows`] gives for each entry,
//! written in the append's transaction (one multi-row statement per table
//! for a whole batch, [`IndexBatch`]), the queries over them, and their
//! rebuild from the logs in arrival order.

use crate::{PgError, PgStore, Statement, corrupt, from_sql, pipeline, sql, to_sql};
use comity_core::merkle::{CompactRange, leaf_hash};
use comity_core::{EntryKind, Hash, OrgId, PublicKey, SignedEntry};
use comity_store::rules::{self, IndexRows, Target};
use comity_store::{DocumentRef, EntryPos, INDEX_VERSION, IndexStore, StoreError};
use deadpool_postgres::{Pool, Transaction};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};

/// Entries re-indexed per query page by a rebuild.
const REBUILD_PAGE: i64 = 512;

/// The tables a rebuild empties and derives again.
const DERIVED: &[&str] = &[
    "documents",
    "revisions",
    "profiles",
    "responses",
    "replies",
    "receipts",
    "recipients",
    "keys",
    "attachments",
];

pub(crate) fn encode_entry(entry: &SignedEntry) -> Vec<u8> {
    entry.wire().encode_to_vec()
}

pub(crate) fn decode_entry(bytes: Vec<u8>) -> Result<SignedEntry, StoreError> {
    SignedEntry::decode_bytes(&bytes).map_err(|e| corrupt("entry", e))
}

pub(crate) fn org(text: String) -> Result<OrgId, StoreError> {
    OrgId::new(text).map_err(|e| corrupt("origin", e))
}

fn kind(kind: EntryKind) -> i16 {
    i16::from(rules::kind_tag(kind))
}

/// A stored seq, text or bytes: one column of a multi-row statement.
type Column<T> = Vec<T>;

/// A [`Statement`] of `sql` over columns: `statement!(SQL; a, b, c)`.
macro_rules! statement {
    ($sql:expr; $($column:expr),+ $(,)?) => {
        Statement::new($sql, vec![$(Box::new($column)),+])
    };
}

/// The index rows of a run of entries, gathered per table, so that each
/// table takes one multi-row statement (`INSERT ... SELECT FROM UNNEST` of
/// one array per column) however many entries there are.
///
/// Writing the entries one after another, each upsert would overwrite the
/// row of its key (so the last entry wins) and each `DO NOTHING` insert
/// would keep the first. One statement may not upsert one key twice, so
/// the upserted rows are kept here per key, last one wins; the others are
/// sets of whole rows (every column is in their key), which is exactly
/// what `DO NOTHING` keeps.
#[derive(Debug, Default)]
pub(crate) struct IndexBatch {
    /// origin -> seq
    profiles: BTreeMap<String, i64>,
    /// (kind, origin, uuid) -> seq
    documents: BTreeMap<(i16, String, String), i64>,
    revisions: BTreeSet<(i16, String, String, i64)>,
    /// (l_origin, l_uuid, origin, uuid) -> seq
    replies: BTreeMap<(String, String, String, String), i64>,
    /// (org, origin, uuid) -> seq
    recipients: BTreeMap<(String, String, String), i64>,
    /// (c_origin, c_uuid, origin, seq)
    responses: BTreeSet<(String, String, String, i64)>,
    /// (l_origin, l_uuid, origin, seq): the arrival is the entry's own.
    receipts: BTreeSet<(String, String, String, i64)>,
    /// origin -> (seq, key)
    keys: BTreeMap<String, (i64, Vec<u8>)>,
    /// (hash, origin, seq)
    attachments: BTreeSet<(Vec<u8>, String, i64)>,
}

impl IndexBatch {
    /// Adds the rows [`rules::index_rows`] gives for `entry`, which must
    /// follow every entry added before it in arrival order.
    pub(crate) fn add(&mut self, entry: &SignedEntry) -> Result<(), StoreError> {
        let origin = entry.origin().as_str();
        let seq = to_sql(entry.seq())?;
        let IndexRows {
            profile,
            document,
            responds_to,
            replies_to,
            receipt_for,
            recipients,
            new_key,
            attachments,
        } = rules::index_rows(entry);
        if profile {
            self.profiles.insert(origin.to_owned(), seq);
        }
        if let Some((k, uuid)) = &document {
            let k = kind(*k);
            self.documents
                .insert((k, origin.to_owned(), uuid.clone()), seq);
            self.revisions
                .insert((k, origin.to_owned(), uuid.clone(), seq));
            if let Some(Target {
                origin: parent,
                uuid: parent_uuid,
            }) = &replies_to
            {
                self.replies.insert(
                    (
                        parent.to_string(),
                        parent_uuid.clone(),
                        origin.to_owned(),
                        uuid.clone(),
                    ),
                    seq,
                );
            }
            for org in &recipients {
                self.recipients
                    .insert((org.to_string(), origin.to_owned(), uuid.clone()), seq);
            }
        }
        if let Some(Target { origin: c, uuid }) = &responds_to {
            self.responses
                .insert((c.to_string(), uuid.clone(), origin.to_owned(), seq));
        }
        if let Some(Target { origin: l, uuid }) = &receipt_for {
            self.receipts
                .insert((l.to_string(), uuid.clone(), origin.to_owned(), seq));
        }
        if let Some(key) = &new_key {
            self.keys
                .insert(origin.to_owned(), (seq, key.as_bytes().to_vec()));
        }
        for hash in &attachments {
            self.attachments
                .insert((hash.as_bytes().to_vec(), origin.to_owned(), seq));
        }
        Ok(())
    }

    /// One statement per table that has rows, to run in order after the
    /// entries themselves are in `entries` (a receipt takes its entry's
    /// arrival from there).
    pub(crate) fn statements(self) -> Vec<Statement> {
        /// Four columns, each a `Vec`, from rows of four.
        type Columns4<A, B, C, D> = (Column<A>, Column<B>, Column<C>, Column<D>);
        let mut out = Vec::new();
        if !self.profiles.is_empty() {
            let (origins, seqs): (Column<_>, Column<_>) = self.profiles.into_iter().unzip();
            out.push(statement!(
                "INSERT INTO profiles (origin, seq)
                 SELECT * FROM unnest($1::text[], $2::bigint[])
                 ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq";
                origins, seqs
            ));
        }
        if !self.documents.is_empty() {
            let (kinds, origins, uuids, seqs): Columns4<_, _, _, _> = self
                .documents
                .into_iter()
                .map(|((k, origin, uuid), seq)| (k, origin, uuid, seq))
                .collect();
            out.push(statement!(
                "INSERT INTO documents (kind, origin, uuid, seq)
                 SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[], $4::bigint[])
                 ON CONFLICT (kind, origin, uuid) DO UPDATE SET seq = EXCLUDED.seq";
                kinds, origins, uuids, seqs
            ));
        }
        if !self.revisions.is_empty() {
            let (kinds, origins, uuids, seqs): Columns4<_, _, _, _> =
                self.revisions.into_iter().collect();
            out.push(statement!(
                "INSERT INTO revisions (kind, origin, uuid, seq)
                 SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[], $4::bigint[])
                 ON CONFLICT DO NOTHING";
                kinds, origins, uuids, seqs
            ));
        }
        if !self.replies.is_empty() {
            let (parents, parent_uuids, origins, uuids, seqs): (
                Column<_>,
                Column<_>,
                Column<_>,
                Column<_>,
                Column<_>,
            ) = self
                .replies
                .into_iter()
                .map(|((parent, parent_uuid, origin, uuid), seq)| {
                    (parent, parent_uuid, origin, uuid, seq)
                })
                .collect();
            out.push(statement!(
                "INSERT INTO replies (l_origin, l_uuid, origin, uuid, seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                 ON CONFLICT (l_origin, l_uuid, origin, uuid) DO UPDATE SET seq = EXCLUDED.seq";
                parents, parent_uuids, origins, uuids, seqs
            ));
        }
        if !self.recipients.is_empty() {
            let (orgs, origins, uuids, seqs): Columns4<_, _, _, _> = self
                .recipients
                .into_iter()
                .map(|((org, origin, uuid), seq)| (org, origin, uuid, seq))
                .collect();
            out.push(statement!(
                "INSERT INTO recipients (org, origin, uuid, seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                 ON CONFLICT (org, origin, uuid) DO UPDATE SET seq = EXCLUDED.seq";
                orgs, origins, uuids, seqs
            ));
        }
        if !self.responses.is_empty() {
            let (targets, target_uuids, origins, seqs): Columns4<_, _, _, _> =
                self.responses.into_iter().collect();
            out.push(statement!(
                "INSERT INTO responses (c_origin, c_uuid, origin, seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                 ON CONFLICT DO NOTHING";
                targets, target_uuids, origins, seqs
            ));
        }
        if !self.receipts.is_empty() {
            let (targets, target_uuids, origins, seqs): Columns4<_, _, _, _> =
                self.receipts.into_iter().collect();
            out.push(statement!(
                "INSERT INTO receipts (l_origin, l_uuid, arrival, origin, seq)
                 SELECT u.l_origin, u.l_uuid, e.arrival, u.origin, u.seq
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                      AS u (l_origin, l_uuid, origin, seq)
                 JOIN entries e ON e.origin = u.origin AND e.seq = u.seq
                 ON CONFLICT DO NOTHING";
                targets, target_uuids, origins, seqs
            ));
        }
        if !self.keys.is_empty() {
            let (origins, seqs, keys): (Column<_>, Column<_>, Column<_>) = self
                .keys
                .into_iter()
                .map(|(origin, (seq, key))| (origin, seq, key))
                .collect();
            out.push(statement!(
                "INSERT INTO keys (origin, seq, key)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
                 ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq, key = EXCLUDED.key";
                origins, seqs, keys
            ));
        }
        if !self.attachments.is_empty() {
            let (hashes, origins, seqs): (Column<_>, Column<_>, Column<_>) =
                self.attachments.into_iter().collect();
            out.push(statement!(
                "INSERT INTO attachments (hash, origin, seq)
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::bigint[])
                 ON CONFLICT DO NOTHING";
                hashes, origins, seqs
            ));
        }
        out
    }
}

/// Writes the index rows of `entries` (held in `entries` already, in
/// arrival order) in one pipeline of at most one statement per table.
pub(crate) async fn write_rows(
    tx: &Transaction<'_>,
    entries: impl IntoIterator<Item = &SignedEntry>,
) -> Result<(), PgError> {
    let mut batch = IndexBatch::default();
    for entry in entries {
        batch.add(entry)?;
    }
    pipeline(tx, batch.statements()).await
}

/// The index version recorded, if any.
pub(crate) async fn index_version(pool: &Pool) -> Result<Option<i64>, PgError> {
    let client = pool.get().await?;
    Ok(sql!(
        client,
        query_opt,
        "SELECT value FROM meta WHERE name = 'index_version'",
        &[]
    )
    .map(|r| r.get(0)))
}

/// Empties the derived tables and writes them again from the logs, in
/// arrival order, and every origin's tree from its entries; one transaction
/// that holds appends off (they lock `heads` rows, this the whole table).
async fn rebuild(pool: &Pool) -> Result<usize, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("LOCK TABLE heads IN EXCLUSIVE MODE")
        .await?;
    for table in DERIVED {
        tx.batch_execute(&format!("DELETE FROM {table}")).await?;
    }
    let mut indexed = 0usize;
    let mut after = 0i64;
    loop {
        let rows = sql!(
            tx,
            query,
            "SELECT arrival, body FROM entries WHERE arrival > $1 ORDER BY arrival LIMIT $2",
            &[&after, &REBUILD_PAGE]
        );
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        let page = rows
            .into_iter()
            .map(|row| decode_entry(row.get(1)))
            .collect::<Result<Vec<_>, _>>()?;
        write_rows(&tx, &page).await?;
        indexed += page.len();
    }
    let origins = sql!(tx, query, "SELECT origin FROM heads", &[]);
    for row in origins {
        let origin: String = row.get(0);
        let mut tree = CompactRange::new();
        let mut seq = 0i64;
        loop {
            let rows = sql!(
                tx,
                query,
                "SELECT seq, body FROM entries WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&origin, &seq, &REBUILD_PAGE]
            );
            let Some(last) = rows.last() else { break };
            seq = last.get(0);
            for row in rows {
                tree.append(leaf_hash(decode_entry(row.get(1))?.header_bytes()));
            }
        }
        sql!(
            tx,
            execute,
            "UPDATE heads SET tree = $2 WHERE origin = $1",
            &[&origin, &tree.to_bytes()]
        );
    }
    sql!(
        tx,
        execute,
        "INSERT INTO meta (name, value) VALUES ('index_version', $1)
         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        &[&i64::from(INDEX_VERSION)]
    );
    tx.commit().await?;
    Ok(indexed)
}

fn doc_refs(rows: Vec<tokio_postgres::Row>) -> Result<Vec<DocumentRef>, PgError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(DocumentRef {
            origin: org(row.get(0))?,
            uuid: row.get(1),
            seq: from_sql(row.get(2), "document seq")?,
        });
    }
    Ok(out)
}

fn positions(rows: Vec<tokio_postgres::Row>) -> Result<Vec<EntryPos>, PgError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(EntryPos {
            origin: org(row.get(0))?,
            seq: from_sql(row.get(1), "entry seq")?,
        });
    }
    Ok(out)
}

fn seqs(rows: Vec<tokio_postgres::Row>) -> Result<Vec<u64>, PgError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(from_sql(row.get(0), "seq")?);
    }
    Ok(out)
}

impl IndexStore for PgStore {
    fn documents(&self, k: EntryKind) -> Result<Vec<DocumentRef>, StoreError> {
        let k = kind(k);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            doc_refs(sql!(
                client,
                query,
                "SELECT origin, uuid, seq FROM documents WHERE kind = $1 ORDER BY origin, uuid",
                &[&k]
            ))
        })
    }

    fn document(
        &self,
        k: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Option<u64>, StoreError> {
        if !rules::key_safe(uuid) {
            return Ok(None);
        }
        let (k, origin, uuid) = (kind(k), origin.clone(), uuid.to_owned());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT seq FROM documents WHERE kind = $1 AND origin = $2 AND uuid = $3",
                &[&k, &origin.as_str(), &uuid]
            );
            Ok(row
                .map(|r| from_sql(r.get(0), "document seq"))
                .transpose()?)
        })
    }

    fn document_revisions(
        &self,
        k: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Vec<u64>, StoreError> {
        if !rules::key_safe(uuid) {
            return Ok(Vec::new());
        }
        let (k, origin, uuid) = (kind(k), origin.clone(), uuid.to_owned());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            seqs(sql!(
                client,
                query,
                "SELECT seq FROM revisions WHERE kind = $1 AND origin = $2 AND uuid = $3 ORDER BY seq",
                &[&k, &origin.as_str(), &uuid]
            ))
        })
    }

    fn responses_to(
        &self,
        consultation_origin: &OrgId,
        consultation_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        if !rules::key_safe(consultation_uuid) {
            return Ok(Vec::new());
        }
        let (c, uuid) = (consultation_origin.clone(), consultation_uuid.to_owned());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            positions(sql!(
                client,
                query,
                "SELECT origin, seq FROM responses WHERE c_origin = $1 AND c_uuid = $2
                 ORDER BY origin, seq",
                &[&c.as_str(), &uuid]
            ))
        })
    }

    fn liaison_replies(&self, origin: &OrgId, uuid: &str) -> Result<Vec<DocumentRef>, StoreError> {
        if !rules::key_safe(uuid) {
            return Ok(Vec::new());
        }
        let (l, uuid, k) = (origin.clone(), uuid.to_owned(), kind(EntryKind::Liaison));
        // A row counts while it came from the statement's latest revision.
        self.run(move |pool| async move {
            let client = pool.get().await?;
            doc_refs(sql!(
                client,
                query,
                "SELECT r.origin, r.uuid, r.seq FROM replies r
                 JOIN documents d ON d.kind = $3 AND d.origin = r.origin AND d.uuid = r.uuid AND d.seq = r.seq
                 WHERE r.l_origin = $1 AND r.l_uuid = $2 ORDER BY r.origin, r.uuid",
                &[&l.as_str(), &uuid, &k]
            ))
        })
    }

    fn receipts_for(
        &self,
        liaison_origin: &OrgId,
        liaison_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        if !rules::key_safe(liaison_uuid) {
            return Ok(Vec::new());
        }
        let (l, uuid) = (liaison_origin.clone(), liaison_uuid.to_owned());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            positions(sql!(
                client,
                query,
                "SELECT origin, seq FROM receipts WHERE l_origin = $1 AND l_uuid = $2 ORDER BY arrival",
                &[&l.as_str(), &uuid]
            ))
        })
    }

    fn liaisons_addressed_to(&self, org_id: &OrgId) -> Result<Vec<DocumentRef>, StoreError> {
        let (o, k) = (org_id.clone(), kind(EntryKind::Liaison));
        self.run(move |pool| async move {
            let client = pool.get().await?;
            doc_refs(sql!(
                client,
                query,
                "SELECT r.origin, r.uuid, r.seq FROM recipients r
                 JOIN documents d ON d.kind = $2 AND d.origin = r.origin AND d.uuid = r.uuid AND d.seq = r.seq
                 WHERE r.org = $1 ORDER BY r.origin, r.uuid",
                &[&o.as_str(), &k]
            ))
        })
    }

    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError> {
        let origin = origin.clone();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT seq FROM profiles WHERE origin = $1",
                &[&origin.as_str()]
            );
            Ok(row.map(|r| from_sql(r.get(0), "profile seq")).transpose()?)
        })
    }

    fn entries_naming_blob(&self, hash: &Hash) -> Result<Vec<EntryPos>, StoreError> {
        let hash = *hash;
        self.run(move |pool| async move {
            let client = pool.get().await?;
            positions(sql!(
                client,
                query,
                "SELECT origin, seq FROM attachments WHERE hash = $1 ORDER BY origin, seq",
                &[&hash.as_bytes().as_slice()]
            ))
        })
    }

    fn current_key(&self, origin: &OrgId) -> Result<Option<(u64, PublicKey)>, StoreError> {
        let origin = origin.clone();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT seq, key FROM keys WHERE origin = $1",
                &[&origin.as_str()]
            );
            let Some(row) = row else { return Ok(None) };
            let key: Vec<u8> = row.get(1);
            let key = PublicKey::from_bytes(&key).map_err(|e| corrupt("key", e))?;
            Ok(Some((from_sql(row.get(0), "key seq")?, key)))
        })
    }

    fn rebuild_indexes(&self) -> Result<(), StoreError> {
        let indexed = self.run(|pool| async move { rebuild(&pool).await })?;
        tracing::info!(
            entries = indexed,
            index_version = INDEX_VERSION,
            "rebuilt the store indexes from the logs"
        );
        Ok(())
    }
}
