//! Ceilings measured in the same run, on the same machine: what the parts a
//! scenario is bounded by can do on their own.

use anyhow::Result;
use comity_core::fixtures::consultation as consultation_body;
use comity_core::{IdentityKey, OrgId, SignedEntry, UnsignedEntry, document, proto, verify};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use proto::{
    HeadsRequest, HeadsResponse, HelloRequest, HelloResponse, SubscribeEvent, SubscribeRequest,
    federation_client::FederationClient,
    federation_server::{Federation, FederationServer},
    subscribe_event::Event,
};
use serde::Serialize;
use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};
use tonic::{Request, Response, Status};

#[derive(Debug, Clone, Serialize, Default)]
pub struct Ceilings {
    /// Ed25519 verify_strict of 2 KiB messages, one core, per second.
    pub verify_strict_per_s: f64,
    /// ed25519-dalek verify_batch (batches of 64), one core, signatures per second.
    pub verify_batch_per_s: f64,
    /// Comity's own check of one ~2 KiB entry (decode, signature over the
    /// header, payload hash, document validation), one core, per second.
    pub entry_verify_per_s: f64,
    /// Ingest's first stage on one core: `comity_node::ingest::check` of
    /// batches of 512 (decode, signatures batched per key, payload checks).
    pub entry_check_batched_per_s: f64,
    /// Ingest's second stage on one core: Comity's store, one `append_batch`
    /// of 512 entries (entry, id, arrival and index rows in one sled
    /// transaction) and one flush per batch.
    pub store_batch_per_s: f64,
    /// sled inserts of 2 KiB values, flushing after each one, per second.
    pub sled_flush_each_per_s: f64,
    /// ... flushing after every 100.
    pub sled_flush_100_per_s: f64,
    /// ... never flushing.
    pub sled_unflushed_per_s: f64,
    /// A plain TLS 1.3 gRPC server stream of 2 KiB messages on loopback, per second.
    pub tls_stream_msgs_per_s: f64,
}

fn rate(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64().max(1e-9)
}

pub fn verify_strict(count: usize) -> f64 {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public = key.verifying_key();
    let message = vec![0x5a_u8; 2048];
    let signature = key.sign(&message);
    let start = Instant::now();
    let mut ok = 0usize;
    for _ in 0..count {
        ok += usize::from(public.verify_strict(&message, &signature).is_ok());
    }
    let took = start.elapsed();
    assert_eq!(ok, count, "verification failed in the ceiling");
    rate(count, took)
}

pub fn verify_batch(count: usize) -> f64 {
    const BATCH: usize = 64;
    let keys: Vec<SigningKey> = (0..BATCH)
        .map(|_| SigningKey::generate(&mut rand::rngs::OsRng))
        .collect();
    let messages: Vec<Vec<u8>> = (0..BATCH).map(|i| vec![i as u8; 2048]).collect();
    let signatures: Vec<_> = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let publics: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let rounds = count.div_ceil(BATCH);
    let start = Instant::now();
    for _ in 0..rounds {
        if ed25519_dalek::verify_batch(&refs, &signatures, &publics).is_err() {
            return 0.0;
        }
    }
    rate(rounds * BATCH, start.elapsed())
}

/// What a node does per entry before storing it (minus the chain check).
pub fn entry_verify(count: usize) -> Result<f64> {
    let key = IdentityKey::generate();
    let org = OrgId::new("ceiling")?;
    let mut head = None;
    let mut wires = Vec::with_capacity(count.min(1000));
    for i in 0..count.min(1000) {
        let (kind, payload) =
            document::encode(consultation_body(i, time::OffsetDateTime::now_utc()));
        let entry = UnsignedEntry::new(org.clone(), kind, payload, time::OffsetDateTime::now_utc())
            .sign(&key, head);
        head = Some(entry.head());
        wires.push(entry.into_wire());
    }
    let public = key.public();
    let start = Instant::now();
    for i in 0..count {
        let entry = SignedEntry::decode(wires[i % wires.len()].clone())?;
        verify::verify_signature(&entry, &public)?;
        verify::verify_payload(&entry)?;
    }
    Ok(rate(count, start.elapsed()))
}

fn signed_entries(count: usize) -> Result<(IdentityKey, OrgId, Vec<SignedEntry>)> {
    let key = IdentityKey::generate();
    let org = OrgId::new("ceiling")?;
    let mut head = None;
    let entries = (0..count)
        .map(|i| {
            let (kind, payload) =
                document::encode(consultation_body(i, time::OffsetDateTime::now_utc()));
            let entry =
                UnsignedEntry::new(org.clone(), kind, payload, time::OffsetDateTime::now_utc())
                    .sign(&key, head);
            head = Some(entry.head());
            entry
        })
        .collect();
    Ok((key, org, entries))
}

const INGEST_BATCH: usize = 512;

/// Ingest's check stage, as a follow task runs it, on one core.
pub fn entry_check_batched(count: usize) -> Result<f64> {
    let (key, org, entries) = signed_entries(count)?;
    let batches: Vec<Vec<proto::Entry>> = entries
        .chunks(INGEST_BATCH)
        .map(|chunk| chunk.iter().map(|e| e.wire().clone()).collect())
        .collect();
    let start = Instant::now();
    for batch in batches {
        let checked = comity_node::ingest::check(&org, Some(key.public()), batch);
        anyhow::ensure!(checked.failure().is_none(), "the ceiling's entries failed");
    }
    Ok(rate(count, start.elapsed()))
}

/// Ingest's store stage: Comity's own store, a batch and a flush at a time.
pub fn store_batches(dir: &Path, count: usize) -> Result<f64> {
    use comity_store::LogStore;
    let (_, _, entries) = signed_entries(count)?;
    let path = tempfile::tempdir_in(dir)?;
    let store = comity_store::SledStore::open(path.path(), comity_store::SledOptions::default())?;
    let start = Instant::now();
    for chunk in entries.chunks(INGEST_BATCH) {
        store.append_batch(chunk)?;
        store.flush()?;
    }
    Ok(rate(count, start.elapsed()))
}

/// `--only postgres`: Comity's store ingest on PostgreSQL beside sled, in
/// the same run: the same signed entries, appended in batches of
/// [`INGEST_BATCH`] (one transaction each on PostgreSQL; one flush each on
/// sled), on a throwaway PostgreSQL server with its durable defaults
/// (fsync on) on the scratch disk's machine, reached over a Unix socket
/// (the run's one server: the node-level figures use it too).
#[derive(Debug, Clone, Serialize)]
pub struct PostgresIngest {
    pub entries: usize,
    pub sled_entries_per_s: f64,
    pub postgres_entries_per_s: f64,
    /// PostgreSQL over sled.
    pub ratio: f64,
    pub server: String,
}

pub fn postgres_ingest(
    dir: &Path,
    pg: &comity_testkit::pg::TestPg,
    count: usize,
) -> Result<PostgresIngest> {
    use comity_store::LogStore;
    let sled = store_batches(dir, count)?;
    let (_, _, entries) = signed_entries(count)?;
    let store = comity_store_pg::PgStore::open(&comity_store_pg::PgOptions::new(pg.database()))?;
    let start = Instant::now();
    for chunk in entries.chunks(INGEST_BATCH) {
        store.append_batch(chunk)?;
        store.flush()?;
    }
    let postgres = rate(count, start.elapsed());
    Ok(PostgresIngest {
        entries: count,
        sled_entries_per_s: sled,
        postgres_entries_per_s: postgres,
        ratio: postgres / sled,
        server: store.target().to_string(),
    })
}

/// `writers` threads, each with its own file under `dir`, append 2 KiB and
/// `fdatasync` together, `rounds` times; returns the sorted per-round time
/// until the last one is done, in ms. Followers on one machine share one
/// file system journal: this is the floor under their all being durable.
pub fn fsync_fanout(dir: &Path, writers: usize, rounds: usize) -> Result<Vec<f64>> {
    use std::io::Write;
    let scratch = tempfile::tempdir_in(dir)?;
    let start = std::sync::Barrier::new(writers + 1);
    let done = std::sync::Barrier::new(writers + 1);
    let mut rounds_ms = Vec::with_capacity(rounds);
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for i in 0..writers {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(scratch.path().join(format!("w{i}")))?;
            let (start, done) = (&start, &done);
            handles.push(scope.spawn(move || -> std::io::Result<()> {
                let record = [0x5a_u8; 2048];
                for _ in 0..rounds {
                    start.wait();
                    let written = file.write_all(&record).and_then(|()| file.sync_data());
                    done.wait();
                    written?;
                }
                Ok(())
            }));
        }
        for _ in 0..rounds {
            start.wait();
            let began = Instant::now();
            done.wait();
            rounds_ms.push(began.elapsed().as_secs_f64() * 1e3);
        }
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("an fsync writer panicked"))??;
        }
        Ok(())
    })?;
    rounds_ms.sort_by(f64::total_cmp);
    Ok(rounds_ms)
}

/// sled inserts of 2 KiB values in a directory on the same disk as the nodes.
pub fn sled_appends(dir: &Path, count: usize, flush_every: Option<usize>) -> Result<f64> {
    let path = tempfile::tempdir_in(dir)?;
    let db = sled::Config::new()
        .path(path.path())
        .cache_capacity(16 * 1024 * 1024)
        .open()?;
    let tree = db.open_tree("entries")?;
    let value = vec![0xa5_u8; 2048];
    let start = Instant::now();
    for i in 0..count {
        tree.insert((i as u64).to_be_bytes(), value.as_slice())?;
        if let Some(every) = flush_every
            && (i + 1) % every == 0
        {
            db.flush()?;
        }
    }
    if flush_every.is_some() {
        db.flush()?;
    }
    Ok(rate(count, start.elapsed()))
}

/// A Federation service whose Subscribe streams `count` copies of one entry.
struct StreamOnly {
    entry: proto::Entry,
}

#[tonic::async_trait]
impl Federation for StreamOnly {
    async fn checkpoints(
        &self,
        _: Request<comity_proto::v1::CheckpointsRequest>,
    ) -> Result<Response<comity_proto::v1::CheckpointsResponse>, Status> {
        Err(Status::unimplemented("no checkpoints here"))
    }

    async fn consistency(
        &self,
        _: Request<comity_proto::v1::ConsistencyRequest>,
    ) -> Result<Response<comity_proto::v1::ConsistencyResponse>, Status> {
        Err(Status::unimplemented("no consistency proofs here"))
    }

    type OfferStream = tokio_stream::wrappers::ReceiverStream<
        Result<comity_core::proto::OfferDown, tonic::Status>,
    >;

    /// Takes no offers (it does not announce the capability).
    async fn offer(
        &self,
        _: tonic::Request<tonic::Streaming<comity_core::proto::OfferUp>>,
    ) -> Result<tonic::Response<Self::OfferStream>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "this test peer takes no offers",
        ))
    }

    async fn hello(&self, _: Request<HelloRequest>) -> Result<Response<HelloResponse>, Status> {
        Err(Status::unimplemented("ceiling"))
    }
    async fn heads(&self, _: Request<HeadsRequest>) -> Result<Response<HeadsResponse>, Status> {
        Err(Status::unimplemented("ceiling"))
    }
    type GetBlobStream = tokio_stream::Empty<Result<proto::BlobChunk, Status>>;
    async fn get_blob(
        &self,
        _: Request<proto::GetBlobRequest>,
    ) -> Result<Response<Self::GetBlobStream>, Status> {
        Err(Status::unimplemented("ceiling"))
    }
    type SubscribeStream =
        futures::stream::Iter<std::iter::RepeatN<Result<SubscribeEvent, Status>>>;
    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let count = request.into_inner().after_seq as usize;
        let event = SubscribeEvent {
            event: Some(Event::Entry(self.entry.clone())),
        };
        Ok(Response::new(futures::stream::iter(std::iter::repeat_n(
            Ok(event),
            count,
        ))))
    }
}

/// Messages per second over one mutual-TLS gRPC server stream on loopback,
/// with the same TLS setup (rustls, ring, TLS 1.3, pinned keys) as the nodes.
pub async fn tls_stream(count: usize) -> Result<f64> {
    let server_org = OrgId::new("ceiling-server")?;
    let client_org = OrgId::new("ceiling-client")?;
    let server_key = IdentityKey::generate();
    let client_key = IdentityKey::generate();
    let server_tls = comity_tls::TlsIdentity::new(&server_key, &server_org)?;
    let client_tls = comity_tls::TlsIdentity::new(&client_key, &client_org)?;
    let pins: Arc<dyn comity_tls::PinnedKeys> = Arc::new(RwLock::new(HashMap::from([(
        client_key.public(),
        client_org.clone(),
    )])));
    let config =
        comity_tls::server_config(Arc::new(comity_tls::SharedIdentity::new(server_tls)), pins)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = comity_tls::incoming(listener, config, Duration::from_secs(10));
    let (kind, payload) = document::encode(consultation_body(0, time::OffsetDateTime::now_utc()));
    let entry = UnsignedEntry::new(server_org, kind, payload, time::OffsetDateTime::now_utc())
        .sign(&server_key, None)
        .into_wire();
    let service =
        FederationServer::new(StreamOnly { entry }).max_encoding_message_size(4 * 1024 * 1024);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop_rx.await;
            }),
    );
    let config = comity_tls::client_config(&client_tls, server_key.public())?;
    let channel =
        comity_tls::connect(&format!("https://{addr}"), config, Duration::from_secs(10)).await?;
    let mut client = FederationClient::new(channel).max_decoding_message_size(4 * 1024 * 1024);
    // Warm up, then measure.
    for (round, n) in [(0, count / 10), (1, count)] {
        let start = Instant::now();
        let mut stream = client
            .subscribe(SubscribeRequest {
                origin: String::new(),
                after_seq: n as u64,
                ..Default::default()
            })
            .await?
            .into_inner();
        let mut got = 0usize;
        while let Some(event) = stream.message().await? {
            if matches!(event.event, Some(Event::Entry(_))) {
                got += 1;
            }
        }
        if round == 1 {
            let took = start.elapsed();
            let _ = stop_tx.send(());
            let _ = server.await;
            return Ok(rate(got, took));
        }
    }
    Ok(0.0)
}

pub async fn measure(dir: &Path, quick: bool) -> Result<Ceilings> {
    let scale = if quick { 1 } else { 3 };
    let mut c = Ceilings {
        verify_strict_per_s: verify_strict(10_000 * scale),
        verify_batch_per_s: verify_batch(20_000 * scale),
        entry_verify_per_s: entry_verify(10_000 * scale)?,
        ..Default::default()
    };
    c.entry_check_batched_per_s = entry_check_batched(20_480 * scale)?;
    c.store_batch_per_s = store_batches(dir, 20_480 * scale)?;
    c.sled_flush_each_per_s = sled_appends(dir, 1_000 * scale, Some(1))?;
    c.sled_flush_100_per_s = sled_appends(dir, 20_000 * scale, Some(100))?;
    c.sled_unflushed_per_s = sled_appends(dir, 20_000 * scale, None)?;
    c.tls_stream_msgs_per_s = tls_stream(200_000 * scale).await?;
    Ok(c)
}
