//! The delivery queue and the memory of events already acted on, kept in the
//! store's local records (never replicated). Each value is one version byte
//! and JSON, so a later build can migrate them.
//!
//! - `notify-queue`: key = delivery id, value = [`Delivery`]. Written and
//!   flushed *before* the first attempt; removed only after a success.
//! - `notify-sent`: key = event id, value = [`SentRecord`]. Written in the same
//!   flush as the event's deliveries, so an event is queued once, ever.

use crate::{NotifyError, events::Event};
use comity_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const QUEUE_SPACE: &str = "notify-queue";
pub const SENT_SPACE: &str = "notify-sent";

/// The version byte in front of every value this crate writes.
const RECORD_VERSION: u8 = 1;

/// Where one delivery goes. Secrets and SMTP credentials are not copied into
/// the store: they are read from the configuration at each attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    Webhook { url: String },
    Email,
}

impl Destination {
    pub fn key(&self) -> String {
        match self {
            Self::Webhook { url } => format!("webhook:{url}"),
            Self::Email => "email".into(),
        }
    }
}

/// One event on its way to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Hex id, the same for every attempt (`X-Comity-Delivery`), derived from
    /// the event id and the destination, so queueing twice is harmless.
    pub id: String,
    pub destination: Destination,
    pub event: Event,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Unix milliseconds (wall clock) before which it is not retried.
    pub next_attempt_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Delivery {
    pub fn new(event: Event, destination: Destination, now_ms: i64) -> Self {
        Self {
            id: delivery_id(&event.id, &destination),
            destination,
            event,
            attempts: 0,
            next_attempt_ms: now_ms,
            last_error: None,
        }
    }
}

/// What is remembered about an event once its deliveries are queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentRecord {
    /// When it was queued (node clock, RFC 3339).
    pub at: String,
    /// How many deliveries were queued for it (0 when none is configured).
    pub deliveries: usize,
}

pub fn delivery_id(event_id: &str, destination: &Destination) -> String {
    let digest = Sha256::new()
        .chain_update(event_id.as_bytes())
        .chain_update([0])
        .chain_update(destination.key().as_bytes())
        .finalize();
    crate::hex(&digest[..16])
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, NotifyError> {
    let mut bytes = vec![RECORD_VERSION];
    serde_json::to_writer(&mut bytes, value)
        .map_err(|e| NotifyError::Internal(format!("encoding a record: {e}")))?;
    Ok(bytes)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, NotifyError> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|e| NotifyError::Corrupt(e.to_string()))
        }
        Some((v, _)) => Err(NotifyError::Corrupt(format!("unknown record version {v}"))),
        None => Err(NotifyError::Corrupt("empty record".into())),
    }
}

pub fn is_sent(store: &dyn Store, event_id: &str) -> Result<bool, NotifyError> {
    Ok(store.record(SENT_SPACE, event_id.as_bytes())?.is_some())
}

pub fn mark_sent(
    store: &dyn Store,
    event_id: &str,
    record: &SentRecord,
) -> Result<(), NotifyError> {
    Ok(store.put_record(SENT_SPACE, event_id.as_bytes(), &encode(record)?)?)
}

pub fn put(store: &dyn Store, delivery: &Delivery) -> Result<(), NotifyError> {
    Ok(store.put_record(QUEUE_SPACE, delivery.id.as_bytes(), &encode(delivery)?)?)
}

pub fn remove(store: &dyn Store, id: &str) -> Result<(), NotifyError> {
    store.remove_record(QUEUE_SPACE, id.as_bytes())?;
    Ok(())
}

/// Every queued delivery, soonest due first. A record this build cannot read
/// is logged and left in place for a build that can.
pub fn pending(store: &dyn Store) -> Result<Vec<Delivery>, NotifyError> {
    let mut list = Vec::new();
    for (key, value) in store.records(QUEUE_SPACE, b"")? {
        match decode::<Delivery>(&value) {
            Ok(d) => list.push(d),
            Err(e) => tracing::warn!(
                key = %String::from_utf8_lossy(&key),
                "unreadable queued notification left in place: {e}"
            ),
        }
    }
    list.sort_by(|a, b| {
        a.next_attempt_ms
            .cmp(&b.next_attempt_ms)
            .then(a.id.cmp(&b.id))
    });
    Ok(list)
}
