//! Blobs, partial downloads, and the local state that never leaves the
//! node (drafts, records, pinned peers): shared by every replica, so an
//! account, a session or a draft survives the loss of one.

use crate::{PgError, PgStore, corrupt, from_sql, sql, to_sql};
use comity_core::{Hash, OrgId};
use comity_store::rules;
use comity_store::{BlobStore, LiaisonDraft, LocalStore, PeerRecord, Record, StoreError};
use deadpool_postgres::Transaction;

/// Serialises writers of one partial download across replicas: an advisory
/// lock named by the hash's first eight bytes, held to the end of `tx`.
async fn lock_partial(tx: &Transaction<'_>, hash: &Hash) -> Result<(), PgError> {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    sql!(
        tx,
        execute,
        "SELECT pg_advisory_xact_lock($1)",
        &[&i64::from_be_bytes(first)]
    );
    Ok(())
}

/// The bytes held of a partial download.
async fn partial_len(tx: &Transaction<'_>, hash: &Hash) -> Result<u64, PgError> {
    let row = sql!(
        tx,
        query_one,
        "SELECT coalesce(max(at_offset + length(chunk)), 0)::BIGINT FROM partial_blobs WHERE hash = $1",
        &[&hash.as_bytes().as_slice()]
    );
    Ok(from_sql(row.get(0), "partial blob length")?)
}

fn json<T: serde::Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("{what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, e))
}

impl BlobStore for PgStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<Hash, StoreError> {
        let hash = Hash::of(bytes);
        let bytes = bytes.to_vec();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            sql!(
                client,
                execute,
                "INSERT INTO blobs (hash, content) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&hash.as_bytes().as_slice(), &bytes]
            );
            Ok(hash)
        })
    }

    fn blob(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let hash = *hash;
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(sql!(
                client,
                query_opt,
                "SELECT content FROM blobs WHERE hash = $1",
                &[&hash.as_bytes().as_slice()]
            )
            .map(|r| r.get(0)))
        })
    }

    fn blob_size(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        let hash = *hash;
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT length(content)::BIGINT FROM blobs WHERE hash = $1",
                &[&hash.as_bytes().as_slice()]
            );
            Ok(row.map(|r| from_sql(r.get(0), "blob size")).transpose()?)
        })
    }

    fn read_blob(
        &self,
        hash: &Hash,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        // The range is cut here, by the rule every backend shares.
        Ok(self
            .blob(hash)?
            .map(|b| rules::blob_range(&b, offset, max_len).to_vec()))
    }

    fn append_partial_blob(
        &self,
        hash: &Hash,
        offset: u64,
        chunk: &[u8],
    ) -> Result<u64, StoreError> {
        let (hash, chunk) = (*hash, chunk.to_vec());
        self.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            lock_partial(&tx, &hash).await?;
            let held = partial_len(&tx, &hash).await?;
            if offset != held {
                return Err(StoreError::BlobOffset {
                    expected: held,
                    got: offset,
                }
                .into());
            }
            if !chunk.is_empty() {
                sql!(
                    tx,
                    execute,
                    "INSERT INTO partial_blobs (hash, at_offset, chunk) VALUES ($1, $2, $3)",
                    &[&hash.as_bytes().as_slice(), &to_sql(offset)?, &chunk]
                );
            }
            tx.commit().await?;
            Ok(held + chunk.len() as u64)
        })
    }

    fn blob_hashes(&self) -> Result<Vec<Hash>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(client, query, "SELECT hash FROM blobs ORDER BY hash", &[]);
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(
                    Hash::from_slice(row.get::<_, &[u8]>(0))
                        .ok_or_else(|| corrupt("blob", "hash is not 32 bytes"))?,
                );
            }
            Ok(out)
        })
    }

    fn partial_blob_len(&self, hash: &Hash) -> Result<u64, StoreError> {
        let hash = *hash;
        self.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let len = partial_len(&tx, &hash).await?;
            tx.commit().await?;
            Ok(len)
        })
    }

    fn discard_partial_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        let hash = *hash;
        self.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            lock_partial(&tx, &hash).await?;
            sql!(
                tx,
                execute,
                "DELETE FROM partial_blobs WHERE hash = $1",
                &[&hash.as_bytes().as_slice()]
            );
            tx.commit().await?;
            Ok(())
        })
    }

    fn finish_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        let hash = *hash;
        self.run(move |pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            lock_partial(&tx, &hash).await?;
            let key = hash.as_bytes().as_slice();
            let chunks = sql!(
                tx,
                query,
                "SELECT chunk FROM partial_blobs WHERE hash = $1 ORDER BY at_offset",
                &[&key]
            );
            let mut bytes = Vec::new();
            for row in chunks {
                bytes.extend_from_slice(row.get::<_, &[u8]>(0));
            }
            sql!(
                tx,
                execute,
                "DELETE FROM partial_blobs WHERE hash = $1",
                &[&key]
            );
            let held = sql!(
                tx,
                query_opt,
                "SELECT 1 FROM blobs WHERE hash = $1",
                &[&key]
            );
            if held.is_none() {
                if let Err(e) = rules::check_blob(&hash, &bytes) {
                    // The partial download is discarded with the error.
                    tx.commit().await?;
                    return Err(e.into());
                }
                sql!(
                    tx,
                    execute,
                    "INSERT INTO blobs (hash, content) VALUES ($1, $2)",
                    &[&key, &bytes]
                );
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

impl LocalStore for PgStore {
    fn put_draft(&self, draft: &LiaisonDraft) -> Result<(), StoreError> {
        let (id, record) = (draft.id.clone(), json(draft, "draft")?);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            sql!(
                client,
                execute,
                "INSERT INTO drafts (id, record) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                &[&id, &record]
            );
            Ok(())
        })
    }

    fn draft(&self, id: &str) -> Result<Option<LiaisonDraft>, StoreError> {
        let id = id.to_owned();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = sql!(
                client,
                query_opt,
                "SELECT record FROM drafts WHERE id = $1",
                &[&id]
            );
            Ok(row
                .map(|r| from_json(r.get::<_, &[u8]>(0), "draft"))
                .transpose()?)
        })
    }

    fn drafts(&self) -> Result<Vec<LiaisonDraft>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(client, query, "SELECT record FROM drafts ORDER BY id", &[]);
            Ok(rows
                .iter()
                .map(|r| from_json(r.get::<_, &[u8]>(0), "draft"))
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn remove_draft(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(sql!(client, execute, "DELETE FROM drafts WHERE id = $1", &[&id]) > 0)
        })
    }

    fn put_record(&self, space: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (space, key, value) = (space.to_owned(), key.to_vec(), value.to_vec());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            sql!(
                client,
                execute,
                "INSERT INTO records (space, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (space, key) DO UPDATE SET value = EXCLUDED.value",
                &[&space, &key, &value]
            );
            Ok(())
        })
    }

    fn record(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (space, key) = (space.to_owned(), key.to_vec());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(sql!(
                client,
                query_opt,
                "SELECT value FROM records WHERE space = $1 AND key = $2",
                &[&space, &key]
            )
            .map(|r| r.get(0)))
        })
    }

    fn records(&self, space: &str, prefix: &[u8]) -> Result<Vec<Record>, StoreError> {
        let (space, prefix) = (space.to_owned(), prefix.to_vec());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(
                client,
                query,
                "SELECT key, value FROM records
                 WHERE space = $1 AND substring(key FROM 1 FOR length($2::BYTEA)) = $2::BYTEA
                 ORDER BY key",
                &[&space, &prefix]
            );
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn remove_record(&self, space: &str, key: &[u8]) -> Result<bool, StoreError> {
        let (space, key) = (space.to_owned(), key.to_vec());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(sql!(
                client,
                execute,
                "DELETE FROM records WHERE space = $1 AND key = $2",
                &[&space, &key]
            ) > 0)
        })
    }

    fn all_records(&self) -> Result<Vec<comity_store::SpacedRecord>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(
                client,
                query,
                "SELECT space, key, value FROM records ORDER BY space, key",
                &[]
            );
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    fn put_peer(&self, peer: &PeerRecord) -> Result<(), StoreError> {
        let (org, record) = (peer.org.clone(), json(peer, "peer")?);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            sql!(
                client,
                execute,
                "INSERT INTO peers (org, record) VALUES ($1, $2)
                 ON CONFLICT (org) DO UPDATE SET record = EXCLUDED.record",
                &[&org.as_str(), &record]
            );
            Ok(())
        })
    }

    fn remove_peer(&self, org: &OrgId) -> Result<bool, StoreError> {
        let org = org.clone();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(sql!(
                client,
                execute,
                "DELETE FROM peers WHERE org = $1",
                &[&org.as_str()]
            ) > 0)
        })
    }

    fn peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = sql!(client, query, "SELECT record FROM peers ORDER BY org", &[]);
            Ok(rows
                .iter()
                .map(|r| from_json(r.get::<_, &[u8]>(0), "peer"))
                .collect::<Result<Vec<_>, _>>()?)
        })
    }
}
