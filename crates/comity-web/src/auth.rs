//! Logins, sessions, CSRF tokens and the login rate limit.
//!
//! - **Sessions** are keyed by a random 256-bit id that only the session
//!   cookie carries (HttpOnly, SameSite=Strict, Path=/, Secure when
//!   `http.secure_cookies`). They expire after [`SESSION_TTL`] without use,
//!   by the node's clock. They are kept in memory and in the store's local
//!   records (never replicated), under the hash of their id, so a restart
//!   logs nobody out, and the data directory holds no usable session id.
//!   Logout and expiry remove them from both. The account is read again on
//!   every request, so removing a user or changing a role takes effect at
//!   once.
//! - **CSRF**: each session has its own random token, put in a hidden `csrf`
//!   field of every form and checked (in constant time) on every POST. The
//!   login form, before any session exists, uses a double-submit token: a
//!   random value in a short-lived SameSite=Strict cookie and in the form.
//! - **Rate limit**: failed logins are counted per account name and per
//!   client IP address (the TCP peer: headers a client writes are not
//!   trusted). After [`MAX_FAILURES`] failures within [`WINDOW`], further
//!   attempts for that name or from that address get 429 without the password
//!   even being checked, until the oldest failure leaves the window. An
//!   attempt counts as a failure from before its password is checked until
//!   it succeeds, so concurrent attempts cannot overrun the limit.

use comity_store::Store;
use rand::RngCore;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Cookie names carry the organisation: browsers keep cookies per host, not
/// per port, and several nodes' dashboards often share one host (the demo,
/// a test bed). Each keeps its own session.
pub fn session_cookie(org: &comity_core::OrgId) -> String {
    format!("comity_session_{}", org.as_str().replace('-', "_"))
}

pub fn login_cookie_name(org: &comity_core::OrgId) -> String {
    format!("comity_login_{}", org.as_str().replace('-', "_"))
}
pub const LANG_COOKIE: &str = "lang";

/// A session unused this long is gone.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per account name and per address within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(5 * 60);
/// Sessions held at most; the oldest go first.
const MAX_SESSIONS: usize = 10_000;
/// Keys the limiter tracks at most, so that a flood cannot grow it unbounded.
const MAX_TRACKED: usize = 100_000;

/// 32 random bytes, hex: session ids and CSRF tokens.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    /// When it was last used, in Unix seconds of the node's clock (a wall
    /// clock, so that it means the same after a restart).
    last_used: i64,
}

/// The store's space for sessions (local records, never replicated).
const SESSIONS_SPACE: &str = "web-sessions";
/// How stale the stored `last_used` may get before a request writes it
/// again: a session in use is not written on every page.
const TOUCH_EVERY: i64 = 60;

/// The live sessions: in memory, and, given a store, also in its local
/// records so that a restart logs nobody out. The store holds each session
/// under the BLAKE3 hash of its id, never the id itself: whoever reads the
/// data directory cannot take over a session from it.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    store: Option<Arc<dyn Store>>,
}

impl Default for Sessions {
    /// Sessions in memory only.
    fn default() -> Self {
        Self {
            map: Mutex::default(),
            store: None,
        }
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("stored", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

fn ttl() -> i64 {
    i64::try_from(SESSION_TTL.as_secs()).unwrap_or(i64::MAX)
}

fn expired(s: &Session, now: i64) -> bool {
    now.saturating_sub(s.last_used) >= ttl()
}

fn stored_key(id: &str) -> Vec<u8> {
    blake3::hash(id.as_bytes()).to_hex().as_bytes().to_vec()
}

impl Sessions {
    /// Sessions kept in `store` too; those expired at `now` are removed.
    pub fn stored(store: Arc<dyn Store>, now: i64) -> Self {
        let sessions = Self {
            map: Mutex::default(),
            store: Some(store),
        };
        sessions.prune_stored(now);
        sessions
    }

    fn prune_stored(&self, now: i64) {
        let Some(store) = &self.store else { return };
        let records = match store.records(SESSIONS_SPACE, b"") {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stored dashboard sessions");
                return;
            }
        };
        for (key, value) in records {
            let live = serde_json::from_slice::<Session>(&value).is_ok_and(|s| !expired(&s, now));
            if !live {
                self.unstore_key(&key);
            }
        }
    }

    fn write(&self, id: &str, session: &Session) {
        let Some(store) = &self.store else { return };
        let written = serde_json::to_vec(session)
            .map_err(|e| e.to_string())
            .and_then(|value| {
                store
                    .put_record(SESSIONS_SPACE, &stored_key(id), &value)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            // The session still works until the next restart.
            tracing::warn!(error = %e, "cannot store a dashboard session");
        }
    }

    fn unstore_key(&self, key: &[u8]) {
        let Some(store) = &self.store else { return };
        if let Err(e) = store.remove_record(SESSIONS_SPACE, key) {
            tracing::warn!(error = %e, "cannot remove a stored dashboard session");
        }
    }

    /// Starts a session at `now` (Unix seconds); returns its id.
    pub fn create(&self, user: &str, now: i64) -> String {
        let id = token();
        let session = Session {
            user: user.to_string(),
            csrf: token(),
            last_used: now,
        };
        let mut gone = Vec::new();
        {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|id, s| {
                let keep = !expired(s, now);
                if !keep {
                    gone.push(id.clone());
                }
                keep
            });
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
                gone.push(oldest);
            }
            map.insert(id.clone(), session.clone());
        }
        for old in gone {
            self.unstore_key(&stored_key(&old));
        }
        self.write(&id, &session);
        id
    }

    /// The live session with this id at `now`, marked as used then; looked
    /// up in the store when not in memory (after a restart).
    pub fn get(&self, id: &str, now: i64) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(id)
            && let Some(store) = &self.store
            && let Ok(Some(value)) = store.record(SESSIONS_SPACE, &stored_key(id))
            && let Ok(session) = serde_json::from_slice::<Session>(&value)
        {
            map.insert(id.to_string(), session);
        }
        let session = map.get_mut(id)?;
        if expired(session, now) {
            map.remove(id);
            drop(map);
            self.unstore_key(&stored_key(id));
            return None;
        }
        let touch = now.saturating_sub(session.last_used) >= TOUCH_EVERY;
        session.last_used = session.last_used.max(now);
        let session = session.clone();
        drop(map);
        if touch {
            self.write(id, &session);
        }
        Some(session)
    }

    /// Ends a session, here and in the store (logout, a removed account).
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.unstore_key(&stored_key(id));
    }
}

/// Failed logins per key ("name:…" or "ip:…"), within the window. An
/// attempt takes its place here *before* its password is checked
/// ([`RateLimiter::reserve`]), and gives it back only if it succeeds: so
/// attempts that run at the same time cannot all pass the check for
/// "blocked" before any of them is counted.
#[derive(Debug, Default)]
pub struct RateLimiter(Mutex<HashMap<String, VecDeque<Instant>>>);

/// An attempt counted as failed until [`RateLimiter::succeeded`] or
/// [`RateLimiter::release`] says otherwise.
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    keys: Vec<String>,
    at: Instant,
}

impl RateLimiter {
    /// Counts an attempt for every one of `keys`, unless one of them has
    /// used up its failures already (then `None`: refuse without checking).
    pub fn reserve(&self, keys: &[String]) -> Option<Attempt> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let blocked = keys.iter().any(|k| match map.get_mut(k) {
            Some(times) => {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                times.len() >= MAX_FAILURES
            }
            None => false,
        });
        if blocked {
            return None;
        }
        if map.len() >= MAX_TRACKED {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        for k in keys {
            map.entry(k.clone()).or_default().push_back(now);
        }
        Some(Attempt {
            keys: keys.to_vec(),
            at: now,
        })
    }

    /// The attempt was not a wrong password after all (the check itself
    /// failed): it no longer counts.
    pub fn release(&self, attempt: Attempt) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for k in &attempt.keys {
            Self::forget(&mut map, k, attempt.at);
        }
    }

    /// A successful login clears the account's failures, and its own
    /// attempt from the others (the address's earlier failures stay).
    pub fn succeeded(&self, attempt: Attempt, name_key: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(name_key);
        for k in attempt.keys.iter().filter(|k| *k != name_key) {
            Self::forget(&mut map, k, attempt.at);
        }
    }

    fn forget(map: &mut HashMap<String, VecDeque<Instant>>, key: &str, at: Instant) {
        if let Some(times) = map.get_mut(key) {
            if let Some(i) = times.iter().position(|t| *t == at) {
                times.remove(i);
            }
            if times.is_empty() {
                map.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token(&a, &a[..10]));
    }

    #[test]
    fn the_limiter_blocks_after_five_failures() {
        let limiter = RateLimiter::default();
        let keys = ["name:alice".to_string(), "ip:127.0.0.1".to_string()];
        for _ in 0..MAX_FAILURES {
            let _failed = limiter.reserve(&keys).unwrap();
        }
        assert!(limiter.reserve(&keys).is_none());
        assert!(limiter.reserve(&["ip:127.0.0.1".to_string()]).is_none());
        assert!(
            limiter
                .reserve(&["name:bob".to_string(), "ip:10.0.0.1".to_string()])
                .is_some()
        );
    }

    #[test]
    fn attempts_count_until_they_succeed_or_are_released() {
        let limiter = RateLimiter::default();
        let keys = ["name:alice".to_string(), "ip:127.0.0.1".to_string()];
        let pending: Vec<_> = (0..MAX_FAILURES)
            .map(|_| limiter.reserve(&keys).unwrap())
            .collect();
        // Five attempts in flight: a sixth is refused before any ends.
        assert!(limiter.reserve(&keys).is_none());
        let mut pending = pending.into_iter();
        limiter.release(pending.next().unwrap());
        let again = limiter.reserve(&keys).unwrap();
        // Success clears the name, and gives the address its slot back.
        limiter.succeeded(again, "name:alice");
        assert!(limiter.reserve(&["name:alice".to_string()]).is_some());
        let ip = ["ip:127.0.0.1".to_string()];
        let _last = limiter.reserve(&ip).unwrap();
        assert!(limiter.reserve(&ip).is_none());
    }

    #[test]
    fn sessions_are_found_and_removed() {
        let sessions = Sessions::default();
        let id = sessions.create("alice", 1_000);
        let s = sessions.get(&id, 1_000).unwrap();
        assert_eq!(s.user, "alice");
        sessions.remove(&id);
        assert!(sessions.get(&id, 1_000).is_none());
    }

    #[test]
    fn stored_sessions_outlive_the_memory_and_expire() {
        let store: Arc<dyn Store> = Arc::new(comity_store::MemStore::new());
        let first = Sessions::stored(store.clone(), 1_000);
        let id = first.create("alice", 1_000);
        let stored = store.records(SESSIONS_SPACE, b"").unwrap();
        assert_eq!(stored.len(), 1);
        // The store never holds the id itself.
        assert!(!String::from_utf8_lossy(&stored[0].0).contains(&id));
        assert!(!String::from_utf8_lossy(&stored[0].1).contains(&id));
        // A restart: new memory, same store.
        let second = Sessions::stored(store.clone(), 2_000);
        let s = second.get(&id, 2_000).unwrap();
        assert_eq!(
            (s.user.as_str(), s.csrf.as_str()),
            ("alice", first.get(&id, 2_000).unwrap().csrf.as_str())
        );
        // Used at 2,000: alive until 2,000 + TTL, and gone then, from the store too.
        assert!(second.get(&id, 2_000 + ttl() - 1).is_some());
        let third = Sessions::stored(store.clone(), 2_000 + 2 * ttl());
        assert!(store.records(SESSIONS_SPACE, b"").unwrap().is_empty());
        assert!(third.get(&id, 2_000 + 2 * ttl()).is_none());
    }
}
