//! Moving a node's store to another backend (`comity store migrate`): copy
//! everything one [`Store`] holds into another, and compare the two.
//!
//! The copy goes through the traits only, so it works between any two
//! backends, and it can be run again: blobs, records, drafts and peers are
//! written by key, and a log is continued from the head the target holds
//! (entries are checked against that head, so a target holding a different
//! log is an error, never a fork). Blobs come first, so that an entry
//! naming one can be served the moment it is copied; evidence of
//! equivocation comes after the logs, since it freezes its origin.
//!
//! What is not copied: partial downloads (they start again), and the order
//! entries of different origins arrived in (logs are copied one after the
//! other; only the order of receipts listed for one statement can show it).

use crate::{Store, StoreError};
use comity_core::SignedEntry;

/// Entries read and appended per batch.
const CHUNK: usize = 1000;

/// What a copy wrote, or what a comparison found, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub logs: usize,
    pub entries: u64,
    pub blobs: usize,
    pub records: usize,
    pub drafts: usize,
    pub peers: usize,
    pub equivocations: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} logs ({} entries), {} blobs, {} records, {} drafts, {} peers, {} equivocations",
            self.logs,
            self.entries,
            self.blobs,
            self.records,
            self.drafts,
            self.peers,
            self.equivocations
        )
    }
}

/// Copies everything `from` holds into `to`, and flushes `to`; returns what
/// `from` holds. Safe to run again on the same pair.
pub fn copy_store(from: &dyn Store, to: &dyn Store) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    for hash in from.blob_hashes()? {
        counts.blobs += 1;
        if to.blob_size(&hash)?.is_some() {
            continue;
        }
        if let Some(bytes) = from.blob(&hash)? {
            to.put_blob(&bytes)?;
        }
    }
    for (origin, head) in from.heads()? {
        counts.logs += 1;
        counts.entries += head.seq;
        let mut after = to.head(&origin)?.map_or(0, |h| h.seq);
        while after < head.seq {
            let chunk = from.entries_after(&origin, after, CHUNK)?;
            let Some(last) = chunk.last() else { break };
            after = last.seq();
            to.append_batch(&chunk)?;
        }
    }
    for evidence in from.equivocations()? {
        counts.equivocations += 1;
        to.record_equivocation(&evidence)?;
    }
    for peer in from.peers()? {
        counts.peers += 1;
        to.put_peer(&peer)?;
    }
    for draft in from.drafts()? {
        counts.drafts += 1;
        to.put_draft(&draft)?;
    }
    for (space, key, value) in from.all_records()? {
        counts.records += 1;
        to.put_record(&space, &key, &value)?;
    }
    to.flush()?;
    Ok(counts)
}

/// Compares `to` with `from`: every log (entry by entry, payloads
/// included), every blob of `from`, every record, draft, pinned peer and
/// piece of evidence. Returns what `from` holds, or the differences found
/// (each one line).
pub fn compare(
    from: &dyn Store,
    to: &dyn Store,
) -> Result<Result<Counts, Vec<String>>, StoreError> {
    let mut counts = Counts::default();
    let mut differences = Vec::new();
    let heads = from.heads()?;
    if heads != to.heads()? {
        differences.push("the logs held, or their heads, differ".to_string());
    }
    for (origin, head) in &heads {
        counts.logs += 1;
        counts.entries += head.seq;
        let mut after = 0;
        loop {
            let ours = from.entries_after(origin, after, CHUNK)?;
            let theirs: Vec<SignedEntry> = to.entries_after(origin, after, CHUNK)?;
            if ours != theirs {
                let at = ours
                    .iter()
                    .zip(&theirs)
                    .find(|(a, b)| a != b)
                    .map_or(after + 1 + ours.len().min(theirs.len()) as u64, |(a, _)| {
                        a.seq()
                    });
                differences.push(format!("{origin}'s log differs at seq {at}"));
                break;
            }
            let Some(last) = ours.last() else { break };
            after = last.seq();
        }
    }
    for hash in from.blob_hashes()? {
        counts.blobs += 1;
        if from.blob(&hash)? != to.blob(&hash)? {
            differences.push(format!("blob {hash} is missing or differs"));
        }
    }
    let evidence = from.equivocations()?;
    counts.equivocations = evidence.len();
    if evidence != to.equivocations()? {
        differences.push("the equivocation evidence differs".to_string());
    }
    let peers = from.peers()?;
    counts.peers = peers.len();
    if peers != to.peers()? {
        differences.push("the pinned peers differ".to_string());
    }
    let drafts = from.drafts()?;
    counts.drafts = drafts.len();
    if drafts != to.drafts()? {
        differences.push("the drafts differ".to_string());
    }
    let records = from.all_records()?;
    counts.records = records.len();
    if records != to.all_records()? {
        differences.push("the local records (accounts, queues) differ".to_string());
    }
    Ok(if differences.is_empty() {
        Ok(counts)
    } else {
        Err(differences)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::testsuite::{self, Author};
    use crate::{LiaisonDraft, MemStore, PeerRecord, SledStore};

    /// A store holding something of everything.
    fn populated() -> MemStore {
        let store = MemStore::new();
        testsuite::populate_every_kind(&store);
        let mut other = Author::new("ripe-ncc");
        store.append_batch(&other.chain(2500)).expect("a long log");
        store
            .put_blob(b"an attachment no entry names yet")
            .expect("blob");
        store
            .put_record("accounts", b"alice", b"v1 alice")
            .expect("record");
        store
            .put_record("notify-queue", b"\x00\x01", b"pending")
            .expect("record");
        store
            .put_draft(&LiaisonDraft {
                id: "d1".into(),
                statement: vec![1, 2, 3],
                restricted: false,
                approved_by: None,
                created_at: 7,
                posted_seq: None,
            })
            .expect("draft");
        store
            .put_peer(&PeerRecord {
                org: testsuite::org("ietf"),
                key: other.key().public(),
                endpoint: Some("https://ietf.example:7400".into()),
                added_at: 1,
                key_since: 0,
                more_endpoints: vec!["https://ietf2.example:7400".into()],
            })
            .expect("peer");
        store
    }

    #[test]
    fn a_copy_compares_equal_and_can_be_run_again() {
        let from = populated();
        for to in [
            Box::new(MemStore::new()) as Box<dyn Store>,
            Box::new(SledStore::temporary().expect("sled")),
        ] {
            let copied = copy_store(&from, to.as_ref()).expect("copies");
            assert!(copied.entries > 2500 && copied.blobs >= 1, "{copied}");
            assert_eq!(copied.records, 2);
            assert_eq!(
                compare(&from, to.as_ref()).expect("compares"),
                Ok(copied.clone())
            );
            assert_eq!(copy_store(&from, to.as_ref()).expect("again"), copied);
            assert_eq!(
                compare(&from, to.as_ref()).expect("compares"),
                Ok(copied.clone())
            );
            // The derived indexes answer alike too.
            assert_eq!(
                from.consultations().expect("from"),
                to.consultations().expect("to")
            );
        }
    }

    #[test]
    fn compare_names_what_differs() {
        let from = populated();
        let to = MemStore::new();
        copy_store(&from, &to).expect("copies");
        to.put_record("accounts", b"mallory", b"v1")
            .expect("record");
        to.remove_draft("d1").expect("draft");
        let differences = compare(&from, &to).expect("compares").expect_err("differs");
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences.iter().any(|d| d.contains("records")));
        assert!(differences.iter().any(|d| d.contains("drafts")));
        // A log that went further on the target is a difference too.
        let mut late = Author::new("lacnic");
        from.append_batch(&late.chain(3)).expect("more");
        let differences = compare(&from, &to).expect("compares").expect_err("differs");
        assert!(differences.iter().any(|d| d.contains("heads")));
    }

    #[test]
    fn a_target_holding_another_log_is_an_error_not_a_fork() {
        let from = MemStore::new();
        let to = MemStore::new();
        let mut author = Author::new("itu");
        let mut fork = author.fork();
        from.append_batch(&author.chain(3)).expect("ours");
        to.append_batch(&fork.chain(1)).expect("theirs");
        assert!(matches!(
            copy_store(&from, &to),
            Err(StoreError::NotNext { .. })
        ));
        assert_eq!(
            to.head(author.origin()).expect("head").map(|h| h.seq),
            Some(1)
        );
    }
}
