//! The derived indexes: the rows [`rules::index_rows`] gives for each entry,
//! written in the append's transaction, the queries over them, and their
//! rebuild from the logs in arrival order.

use crate::{PgError, PgStore, corrupt, from_sql, sql, to_sql};
use comity_core::merkle::{CompactRange, leaf_hash};
use comity_core::{EntryKind, Hash, OrgId, PublicKey, SignedEntry};
use comity_store::rules::{self, IndexRows, Target};
use comity_store::{DocumentRef, EntryPos, INDEX_VERSION, IndexStore, StoreError};
use deadpool_postgres::{Pool, Transaction};
use prost::Message;

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

/// Writes the index rows of `entry`, which arrived `arrival`-th.
pub(crate) async fn write_rows(
    tx: &Transaction<'_>,
    entry: &SignedEntry,
    arrival: i64,
) -> Result<(), PgError> {
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
        sql!(
            tx,
            execute,
            "INSERT INTO profiles (origin, seq) VALUES ($1, $2)
             ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq",
            &[&origin, &seq]
        );
    }
    if let Some((k, uuid)) = &document {
        let k = kind(*k);
        sql!(
            tx,
            execute,
            "INSERT INTO documents (kind, origin, uuid, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, origin, uuid) DO UPDATE SET seq = EXCLUDED.seq",
            &[&k, &origin, &uuid.as_str(), &seq]
        );
        sql!(
            tx,
            execute,
            "INSERT INTO revisions (kind, origin, uuid, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&k, &origin, &uuid.as_str(), &seq]
        );
        if let Some(Target {
            origin: parent,
            uuid: parent_uuid,
        }) = &replies_to
        {
            sql!(
                tx,
                execute,
                "INSERT INTO replies (l_origin, l_uuid, origin, uuid, seq) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (l_origin, l_uuid, origin, uuid) DO UPDATE SET seq = EXCLUDED.seq",
                &[
                    &parent.as_str(),
                    &parent_uuid.as_str(),
                    &origin,
                    &uuid.as_str(),
                    &seq
                ]
            );
        }
        for org in &recipients {
            sql!(
                tx,
                execute,
                "INSERT INTO recipients (org, origin, uuid, seq) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org, origin, uuid) DO UPDATE SET seq = EXCLUDED.seq",
                &[&org.as_str(), &origin, &uuid.as_str(), &seq]
            );
        }
    }
    if let Some(Target { origin: c, uuid }) = &responds_to {
        sql!(
            tx,
            execute,
            "INSERT INTO responses (c_origin, c_uuid, origin, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&c.as_str(), &uuid.as_str(), &origin, &seq]
        );
    }
    if let Some(Target { origin: l, uuid }) = &receipt_for {
        sql!(
            tx,
            execute,
            "INSERT INTO receipts (l_origin, l_uuid, arrival, origin, seq) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
            &[&l.as_str(), &uuid.as_str(), &arrival, &origin, &seq]
        );
    }
    if let Some(key) = &new_key {
        sql!(
            tx,
            execute,
            "INSERT INTO keys (origin, seq, key) VALUES ($1, $2, $3)
             ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq, key = EXCLUDED.key",
            &[&origin, &seq, &key.as_bytes().as_slice()]
        );
    }
    for hash in &attachments {
        sql!(
            tx,
            execute,
            "INSERT INTO attachments (hash, origin, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&hash.as_bytes().as_slice(), &origin, &seq]
        );
    }
    Ok(())
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
        for row in rows {
            let entry = decode_entry(row.get(1))?;
            write_rows(&tx, &entry, row.get(0)).await?;
            indexed += 1;
        }
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
