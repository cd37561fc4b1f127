//! Logins, sessions, CSRF tokens and the login rate limit.
//!
//! - **Sessions** are kept in memory, keyed by a random 256-bit id that only
//!   the session cookie carries (HttpOnly, SameSite=Strict, Path=/, Secure
//!   when `http.secure_cookies`). They expire after [`SESSION_TTL`] without
//!   use. A restart logs everyone out; nothing secret reaches the disk or the
//!   federation. The account is read again on every request, so removing a
//!   user or changing a role takes effect at once.
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

use rand::RngCore;
use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
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

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    last_used: Instant,
}

#[derive(Debug, Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    /// Starts a session; returns its id.
    pub fn create(&self, user: &str) -> String {
        let id = token();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_used) < SESSION_TTL);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                user: user.to_string(),
                csrf: token(),
                last_used: now,
            },
        );
        id
    }

    /// The live session with this id, marked as used now.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match map.get_mut(id) {
            Some(s) if now.duration_since(s.last_used) < SESSION_TTL => {
                s.last_used = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
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
        let id = sessions.create("alice");
        let s = sessions.get(&id).unwrap();
        assert_eq!(s.user, "alice");
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
    }
}
