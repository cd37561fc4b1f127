//! People's accounts on this node's dashboard: a name, a role and an argon2
//! password hash, kept in the store (never replicated). Roles grow: a viewer
//! reads; an editor also publishes, responds, drafts and acknowledges; an
//! liaison manager also approves and posts liaison statements, but only for
//! the groups named on its account; an approver approves and posts any; an
//! admin does all. Accounts stored before groups existed load unchanged.

use crate::error::NodeError;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use comity_store::Store;
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

const SPACE: &str = "accounts";
const RECORD_VERSION: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    /// An editor that may also approve and post liaison statements sent by
    /// its account's groups (and by no others).
    #[serde(rename = "liaison-manager")]
    LiaisonManager,
    Approver,
    Admin,
}

impl Role {
    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    /// The role as the local API carries it.
    pub fn to_proto(self) -> comity_core::proto::Role {
        use comity_core::proto::Role as P;
        match self {
            Self::Viewer => P::Viewer,
            Self::Editor => P::Editor,
            Self::LiaisonManager => P::LiaisonManager,
            Self::Approver => P::Approver,
            Self::Admin => P::Admin,
        }
    }

    /// A role the local API was sent; unspecified and unknown are refused.
    pub fn from_proto(role: i32) -> Result<Self, NodeError> {
        use comity_core::proto::Role as P;
        match P::try_from(role) {
            Ok(P::Viewer) => Ok(Self::Viewer),
            Ok(P::Editor) => Ok(Self::Editor),
            Ok(P::LiaisonManager) => Ok(Self::LiaisonManager),
            Ok(P::Approver) => Ok(Self::Approver),
            Ok(P::Admin) => Ok(Self::Admin),
            Ok(P::Unspecified) | Err(_) => Err(NodeError::InvalidArgument(
                "give the account a role: viewer, editor, liaison-manager, approver or admin"
                    .into(),
            )),
        }
    }
}

impl FromStr for Role {
    type Err = NodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "liaison-manager" | "liaison_manager" => Ok(Self::LiaisonManager),
            "approver" => Ok(Self::Approver),
            "admin" => Ok(Self::Admin),
            other => Err(NodeError::InvalidArgument(format!(
                "role {other:?}: use viewer, editor, liaison-manager, approver or admin"
            ))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::LiaisonManager => "liaison-manager",
            Self::Approver => "approver",
            Self::Admin => "admin",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// PHC string: argon2id with its salt and parameters.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The sending groups ("ietf/ccamp") a liaison manager approves and
    /// posts for; empty for every other role. Absent from older records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Account {
    /// Whether this account may approve and post a liaison statement sent by
    /// `from_groups` of organisation `org`: see [`may_send`].
    pub fn may_send(&self, org: &str, from_groups: &[String]) -> Result<(), NodeError> {
        may_send(&self.name, self.role, &self.groups, org, from_groups)
    }
}

/// Whether account `name`, of `role` with `groups`, may approve and post a
/// liaison statement sent by `from_groups` (empty: the organisation as a
/// whole) of organisation `org`. Approvers and admins may post any; a
/// liaison manager only when every sending group is one of its own; others
/// none. A group is named with or without its organisation ("ietf/ccamp" is
/// "ccamp" of ietf), as drafts name them both ways. The refusal names the
/// group that is missing.
pub fn may_send(
    name: &str,
    role: Role,
    groups: &[String],
    org: &str,
    from_groups: &[String],
) -> Result<(), NodeError> {
    if role.allows(Role::Approver) {
        return Ok(());
    }
    if role != Role::LiaisonManager {
        return Err(NodeError::PermissionDenied(format!(
            "{name} is a {role}: approving and posting liaison statements needs an approver, or a liaison manager of the sending groups"
        )));
    }
    let managed = groups.join(", ");
    if from_groups.is_empty() {
        return Err(NodeError::PermissionDenied(format!(
            "{name} manages liaisons for {managed} only; this statement is sent by the organisation as a whole, which needs an approver"
        )));
    }
    let prefix = format!("{org}/");
    let local = |g: &str| g.strip_prefix(&prefix).unwrap_or(g).to_string();
    let own: Vec<String> = groups.iter().map(|g| local(g)).collect();
    match from_groups.iter().find(|g| !own.contains(&local(g))) {
        Some(group) => Err(NodeError::PermissionDenied(format!(
            "{name} manages liaisons for {managed} only, not for {group}: an approver or a liaison manager of {group} must approve and post this statement"
        ))),
        None => Ok(()),
    }
}

/// A liaison manager names at least one group, each a group id; other
/// roles name none (their rights do not depend on groups).
fn check_groups(role: Role, groups: &[String]) -> Result<(), NodeError> {
    if role == Role::LiaisonManager && groups.is_empty() {
        return Err(NodeError::InvalidArgument(
            "a liaison manager needs the groups it manages: give at least one, e.g. --group ietf/ccamp".into(),
        ));
    }
    if role != Role::LiaisonManager && !groups.is_empty() {
        return Err(NodeError::InvalidArgument(format!(
            "only a liaison manager has groups; a {role} acts for the whole organisation"
        )));
    }
    for group in groups {
        comity_core::rules::check_group(group)
            .map_err(|e| NodeError::InvalidArgument(e.to_string()))?;
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), NodeError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidArgument(format!(
            "account name {name:?}: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

fn encode(account: &Account) -> Result<Vec<u8>, NodeError> {
    let mut bytes = vec![RECORD_VERSION];
    serde_json::to_writer(&mut bytes, account)
        .map_err(|e| NodeError::Internal(format!("account record: {e}")))?;
    Ok(bytes)
}

fn decode(bytes: &[u8]) -> Result<Account, NodeError> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, json)) => serde_json::from_slice(json)
            .map_err(|e| NodeError::Internal(format!("account record is corrupt: {e}"))),
        _ => Err(NodeError::Internal(
            "account record of an unknown version".into(),
        )),
    }
}

/// Refuses a group that is not one of organisation `org`'s: neither listed
/// in its profile (`profile_groups`) nor named `org/...`, the rule a draft's
/// sending groups follow, so a manager never names a group it could not
/// send for.
pub fn check_own_groups(
    org: &str,
    profile_groups: &[String],
    groups: &[String],
) -> Result<(), NodeError> {
    for group in groups {
        comity_core::rules::check_group(group)
            .map_err(|e| NodeError::InvalidArgument(e.to_string()))?;
    }
    let prefix = format!("{org}/");
    match groups
        .iter()
        .find(|g| !profile_groups.contains(g) && !g.starts_with(&prefix))
    {
        Some(group) => Err(NodeError::InvalidArgument(format!(
            "{group:?} is not a group of {org}: name one of its groups, e.g. {org}/ccamp, or one listed under [profile] groups in comity.toml"
        ))),
        None => Ok(()),
    }
}

/// Creates or replaces an account that has no groups.
pub fn add_user(
    store: &dyn Store,
    name: &str,
    role: Role,
    password: &str,
    now: i64,
) -> Result<Account, NodeError> {
    add_account(store, name, role, &[], password, now)
}

/// Creates or replaces an account; `groups` only for a liaison manager.
pub fn add_account(
    store: &dyn Store,
    name: &str,
    role: Role,
    groups: &[String],
    password: &str,
    now: i64,
) -> Result<Account, NodeError> {
    check_name(name)?;
    check_groups(role, groups)?;
    let mut groups = groups.to_vec();
    groups.sort();
    groups.dedup();
    if password.chars().count() < 8 {
        return Err(NodeError::InvalidArgument(
            "the password must have at least 8 characters".into(),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    let password_hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| NodeError::Internal(format!("hashing the password: {e}")))?
        .to_string();
    let account = Account {
        name: name.to_string(),
        role,
        password_hash,
        created_at: now,
        groups,
    };
    store.put_record(SPACE, name.as_bytes(), &encode(&account)?)?;
    store.flush()?;
    Ok(account)
}

pub fn user(store: &dyn Store, name: &str) -> Result<Option<Account>, NodeError> {
    store
        .record(SPACE, name.as_bytes())?
        .map(|bytes| decode(&bytes))
        .transpose()
}

pub fn users(store: &dyn Store) -> Result<Vec<Account>, NodeError> {
    store
        .records(SPACE, b"")?
        .iter()
        .map(|(_, bytes)| decode(bytes))
        .collect()
}

pub fn remove_user(store: &dyn Store, name: &str) -> Result<bool, NodeError> {
    let removed = store.remove_record(SPACE, name.as_bytes())?;
    store.flush()?;
    Ok(removed)
}

/// The account, if `password` is its password. Takes the same time whether
/// or not the account exists, so names cannot be probed by timing.
pub fn authenticate(
    store: &dyn Store,
    name: &str,
    password: &str,
) -> Result<Option<Account>, NodeError> {
    let account = user(store, name)?;
    // A fixed hash to verify against when the account does not exist.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jv6wiT0i3oF9H8Hn6fG2o1vZlJ3k2bq8rQvMqQb0v2E";
    let stored = account.as_ref().map_or(DUMMY, |a| a.password_hash.as_str());
    let ok = PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false);
    Ok(account.filter(|_| ok))
}

/// Password checks (argon2id verifications) that run at once, at most. Each
/// holds 19 MiB and a core for tens of milliseconds: more at once only queue
/// for the cores, and a flood of logins could exhaust a small VM's memory.
pub const MAX_CONCURRENT_CHECKS: usize = 2;

/// Where the dashboard checks passwords: at most [`MAX_CONCURRENT_CHECKS`]
/// at once (the others wait their turn), counted: how many started, and the
/// most that ever ran at once, which the tests read.
#[derive(Debug, Clone)]
pub struct PasswordChecks(Arc<Checks>);

#[derive(Debug)]
struct Checks {
    permits: Arc<tokio::sync::Semaphore>,
    started: AtomicU64,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Default for PasswordChecks {
    fn default() -> Self {
        Self(Arc::new(Checks {
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS)),
            started: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }))
    }
}

/// Counts a check as running while it lives.
struct Running(Arc<Checks>);

impl Running {
    fn start(checks: &Arc<Checks>) -> Self {
        checks.started.fetch_add(1, Ordering::Relaxed);
        let now = checks.running.fetch_add(1, Ordering::SeqCst) + 1;
        checks.peak.fetch_max(now, Ordering::SeqCst);
        Self(checks.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordChecks {
    /// [`authenticate`], on the blocking pool, once a permit is free.
    pub async fn authenticate(
        &self,
        store: Arc<dyn Store>,
        name: String,
        password: String,
    ) -> Result<Option<Account>, NodeError> {
        let checks = self.0.clone();
        // The permit moves into the blocking task: a caller that gives up
        // waiting does not free it while its hash still runs.
        let permit = checks
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| NodeError::Internal(format!("password check: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let running = Running::start(&checks);
            let checked = authenticate(&*store, &name, &password);
            drop(running);
            drop(permit);
            checked
        })
        .await
        .map_err(|e| NodeError::Internal(format!("password check: {e}")))?
    }

    /// Password checks started since the node started.
    pub fn started(&self) -> u64 {
        self.0.started.load(Ordering::Relaxed)
    }

    /// The most password checks that ever ran at once.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comity_store::{MemStore, prelude::*};

    #[test]
    fn passwords_are_hashed_and_checked() {
        let store = MemStore::new();
        let account = add_user(&store, "alice", Role::Editor, "correct horse", 0).unwrap();
        assert!(account.password_hash.starts_with("$argon2id$"));
        assert!(!account.password_hash.contains("correct horse"));
        assert_eq!(
            authenticate(&store, "alice", "correct horse")
                .unwrap()
                .unwrap()
                .role,
            Role::Editor
        );
        assert!(
            authenticate(&store, "alice", "wrong horse")
                .unwrap()
                .is_none()
        );
        assert!(
            authenticate(&store, "mallory", "correct horse")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_input_is_refused() {
        let store = MemStore::new();
        assert!(add_user(&store, "bob", Role::Viewer, "short", 0).is_err());
        assert!(add_user(&store, "bob smith", Role::Viewer, "long enough", 0).is_err());
        assert!("superuser".parse::<Role>().is_err());
        assert!(users(&store).unwrap().is_empty());
    }

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|g| g.to_string()).collect()
    }

    #[test]
    fn a_liaison_manager_sends_for_its_own_groups_only() {
        let store = MemStore::new();
        let alice = add_account(
            &store,
            "alice",
            Role::LiaisonManager,
            &groups(&["ietf/opsawg", "ietf/ccamp", "ietf/ccamp"]),
            "correct horse",
            0,
        )
        .unwrap();
        assert_eq!(
            alice.groups,
            ["ietf/ccamp", "ietf/opsawg"],
            "sorted, once each"
        );
        alice.may_send("ietf", &groups(&["ietf/ccamp"])).unwrap();
        alice
            .may_send("ietf", &groups(&["ietf/ccamp", "ietf/opsawg"]))
            .unwrap();
        let refused = alice
            .may_send("ietf", &groups(&["ietf/ccamp", "ietf/idr"]))
            .unwrap_err();
        assert!(
            matches!(refused, NodeError::PermissionDenied(_)),
            "{refused:?}"
        );
        assert!(
            refused.to_string().contains("not for ietf/idr"),
            "{refused}"
        );
        // The organisation as a whole is an approver's to speak for.
        // "ccamp" of ietf is ietf/ccamp; itu's is not.
        alice.may_send("ietf", &groups(&["ccamp"])).unwrap();
        assert!(alice.may_send("itu", &groups(&["ccamp"])).is_err());
        let refused = alice.may_send("ietf", &[]).unwrap_err();
        assert!(
            refused.to_string().contains("organisation as a whole"),
            "{refused}"
        );
        // Other roles keep their meaning.
        for (role, may) in [
            (Role::Viewer, false),
            (Role::Editor, false),
            (Role::Approver, true),
            (Role::Admin, true),
        ] {
            let account = add_user(&store, "someone", role, "correct horse", 0).unwrap();
            assert_eq!(
                account.may_send("ietf", &groups(&["ietf/idr"])).is_ok(),
                may,
                "{role}"
            );
            assert_eq!(account.may_send("ietf", &[]).is_ok(), may, "{role}");
        }
        assert!(Role::LiaisonManager.allows(Role::Editor));
        assert!(!Role::LiaisonManager.allows(Role::Approver));
        assert!(Role::Approver.allows(Role::LiaisonManager));
        assert_eq!(
            "liaison-manager".parse::<Role>().unwrap(),
            Role::LiaisonManager
        );
        assert_eq!(Role::LiaisonManager.to_string(), "liaison-manager");
        assert_eq!(
            Role::from_proto(Role::LiaisonManager.to_proto() as i32).unwrap(),
            Role::LiaisonManager
        );
    }

    #[test]
    fn groups_are_checked_when_the_account_is_made() {
        let store = MemStore::new();
        let no_groups = add_account(
            &store,
            "alice",
            Role::LiaisonManager,
            &[],
            "correct horse",
            0,
        )
        .unwrap_err();
        assert!(
            no_groups.to_string().contains("needs the groups"),
            "{no_groups}"
        );
        let bad = add_account(
            &store,
            "alice",
            Role::LiaisonManager,
            &groups(&["IETF CCAMP"]),
            "correct horse",
            0,
        )
        .unwrap_err();
        assert!(matches!(bad, NodeError::InvalidArgument(_)), "{bad:?}");
        assert!(bad.to_string().contains("IETF CCAMP"), "{bad}");
        let editor_with_groups = add_account(
            &store,
            "alice",
            Role::Editor,
            &groups(&["ietf/ccamp"]),
            "correct horse",
            0,
        )
        .unwrap_err();
        assert!(
            editor_with_groups
                .to_string()
                .contains("only a liaison manager"),
            "{editor_with_groups}"
        );
        assert!(users(&store).unwrap().is_empty(), "nothing stored");
        let other =
            check_own_groups("ietf", &[], &groups(&["ietf/ccamp", "itu-t/sg15"])).unwrap_err();
        assert!(
            other
                .to_string()
                .contains("\"itu-t/sg15\" is not a group of ietf"),
            "{other}"
        );
        check_own_groups(
            "itu",
            &groups(&["itu-t/sg15"]),
            &groups(&["itu-t/sg15", "itu/tsb"]),
        )
        .unwrap();
    }

    #[test]
    fn groups_survive_a_restart_and_older_records_load_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = comity_store::SledStore::open(&path, Default::default()).unwrap();
            add_account(
                &store,
                "alice",
                Role::LiaisonManager,
                &groups(&["ietf/ccamp"]),
                "correct horse",
                7,
            )
            .unwrap();
            // A record as stored before roles had groups.
            store
                .put_record(
                    SPACE,
                    b"olga",
                    b"\x01{\"name\":\"olga\",\"role\":\"approver\",\"password_hash\":\"x\",\"created_at\":3}",
                )
                .unwrap();
            store.flush().unwrap();
        }
        let store = comity_store::SledStore::open(&path, Default::default()).unwrap();
        let alice = user(&store, "alice").unwrap().unwrap();
        assert_eq!(alice.role, Role::LiaisonManager);
        assert_eq!(alice.groups, ["ietf/ccamp"]);
        assert!(
            authenticate(&store, "alice", "correct horse")
                .unwrap()
                .is_some()
        );
        let olga = user(&store, "olga").unwrap().unwrap();
        assert_eq!(
            olga,
            Account {
                name: "olga".into(),
                role: Role::Approver,
                password_hash: "x".into(),
                created_at: 3,
                groups: Vec::new(),
            }
        );
        // Written back, an account without groups reads as it was.
        let json = String::from_utf8(encode(&olga).unwrap()[1..].to_vec()).unwrap();
        assert!(!json.contains("groups"), "{json}");
    }

    #[test]
    fn roles_grow() {
        assert!(Role::Admin.allows(Role::Approver));
        assert!(Role::Approver.allows(Role::Editor));
        assert!(!Role::Editor.allows(Role::Approver));
        assert!(!Role::Viewer.allows(Role::Editor));
    }
}
