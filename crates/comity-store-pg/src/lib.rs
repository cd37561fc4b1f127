//! # comity-store-pg
//!
//! The PostgreSQL [`Store`](comity_store::Store) backend: the same records
//! as the embedded sled store, in tables, so that several replicas of one
//! node (one identity) can share one database that operators already run
//! and back up.
//!
//! Why it is built this way:
//!
//! - **Its own runtime behind a synchronous handle.** The store traits are
//!   synchronous and the node already calls them from blocking threads (and
//!   sometimes straight from async code, as it does sled). `PgStore` owns a
//!   small tokio runtime that drives tokio-postgres and a deadpool pool; each
//!   call sends its work there and waits on a channel. Nothing blocks inside
//!   the runtime, so none of the blocking `postgres` crate's "runtime inside
//!   a runtime" panics can happen, and no store caller had to change.
//! - **Plain runtime SQL**, prepared and cached per connection: nothing needs
//!   a database to build.
//! - **Versioned migrations** ([`migrations`]): a `schema_migrations` table,
//!   each migration applied once in one transaction under an advisory lock,
//!   so replicas starting together do not race. A database written by a
//!   newer build is refused.
//! - **The rule that must never break** (two replicas never sign two entries
//!   at one seq): `(origin, seq)` is the primary key of `entries`, and
//!   [`LogStore::append_next`](comity_store::LogStore::append_next) takes a
//!   lock on the origin (an advisory lock, then the head row `FOR UPDATE`)
//!   *before* it signs, then signs, inserts and commits in one transaction.
//!   A commit whose outcome is unknown is resolved by re-reading the seq
//!   before anything else is signed ([`append`]).
//! - Appends that race on one head (a unique violation, a serialization
//!   failure or a deadlock) are retried as a whole: the retry decides again
//!   against what the winner committed (held already, or not next).
//! - Commits are durable when they return, so `flush` has nothing to do.

mod append;
mod index;
mod local;
pub mod migrations;
mod watch;

use comity_store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::future::try_join_all;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

/// How to open a [`PgStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// A libpq-style URL or key=value string:
    /// `postgresql://USER@HOST/DB`, `host=/run/postgresql dbname=comity`.
    pub url: String,
    /// A schema to keep the tables in (created if missing); `None`: the
    /// database's default search path (normally `public`).
    pub schema: Option<String>,
    /// Connections kept open at most.
    pub pool_size: usize,
    /// Whether appends by other replicas are heard at once through
    /// LISTEN/NOTIFY (off: polling only, for a database without it).
    pub listen: bool,
    /// How often the heads are polled for appends by other replicas: the
    /// fallback for a lost notification.
    pub poll_every: Duration,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            pool_size: 8,
            listen: true,
            poll_every: Duration::from_secs(2),
        }
    }
}

/// How long to wait for a connection (new or from the pool) before a call
/// fails: a database that is down gives an error, not a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`](comity_store::Store) in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// An own-log entry whose commit outcome is unknown: re-read before
    /// anything else is signed (`append::append_next`).
    unresolved: Mutex<Option<append::Unresolved>>,
    /// The failure the next own commit suffers: only this crate's tests
    /// ever set one.
    fault: Mutex<append::CommitFault>,
    /// Where the URL points, without a password, for messages.
    target: String,
    /// Who is told of other replicas' appends (`watch`), and how.
    watch: watch::Watch,
    watching: std::sync::Once,
    config: tokio_postgres::Config,
    /// Where heads are announced; set at open from the schema in use.
    channel: Mutex<String>,
    listen: bool,
    poll_every: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // May run inside another runtime (a node dropped by its task): do
        // not block there waiting for the workers.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What went wrong inside the backend, before it becomes a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Pool(#[from] deadpool_postgres::PoolError),
}

impl PgError {
    /// A conflict with a concurrent transaction: the whole transaction may
    /// be run again, and will decide against what the other one committed.
    fn retryable(&self) -> bool {
        use tokio_postgres::error::SqlState;
        let Self::Db(e) = self else { return false };
        e.code().is_some_and(|code| {
            *code == SqlState::UNIQUE_VIOLATION
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
        })
    }
}

/// One line a person can act on: what failed, and the database's reason.
fn describe(target: &str, e: PgError) -> StoreError {
    match e {
        PgError::Store(e) => e,
        PgError::Db(e) => match e.as_db_error() {
            Some(db) => StoreError::Backend(format!(
                "PostgreSQL at {target}: {} ({})",
                db.message(),
                db.code().code()
            )),
            None => StoreError::Backend(format!("PostgreSQL at {target}: {}", chain(&e))),
        },
        PgError::Pool(deadpool_postgres::PoolError::Backend(e)) => describe(target, PgError::Db(e)),
        PgError::Pool(deadpool_postgres::PoolError::Timeout(_)) => StoreError::Backend(format!(
            "PostgreSQL at {target}: no connection within {} s (is the database up and reachable?)",
            CONNECT_TIMEOUT.as_secs()
        )),
        PgError::Pool(e) => StoreError::Backend(format!("PostgreSQL at {target}: {}", chain(&e))),
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// A stored seq (BIGINT) from a u64.
pub(crate) fn to_sql(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} is past PostgreSQL's BIGINT")))
}

/// A u64 from a stored BIGINT.
pub(crate) fn from_sql(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what}: negative value {n}")))
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

/// Prepares `$sql` on `$c` (cached per connection) and runs `$method` with
/// `$params`. A macro, not a function: it works on pooled clients and on
/// transactions alike, with futures the compiler can see are `Send`.
macro_rules! sql {
    ($c:expr, $method:ident, $sql:expr, $params:expr) => {{
        let statement = $c.prepare_cached($sql).await?;
        $c.$method(&statement, $params).await?
    }};
}
pub(crate) use sql;

/// One statement of a [`pipeline`]: its SQL and its parameters, owned, so
/// that a batch's statements can all be built before any is sent.
pub(crate) struct Statement {
    sql: &'static str,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Statement {
    pub(crate) fn new(sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) -> Self {
        Self { sql, params }
    }
}

/// Runs `statements` in `tx`, in order, as one pipeline: all are prepared
/// (or taken from the connection's cache) together, then all are sent
/// before any answer is awaited. tokio-postgres sends requests in the order
/// their futures are first polled, which `try_join_all` does in order, and
/// the server runs them in the order received, so a statement sees what
/// the ones before it wrote. A batch costs two round trips (one once its
/// statements are cached) however many statements it has. The first error
/// in order is the one returned: after it the transaction is aborted, and
/// the statements after it fail for that reason only.
pub(crate) async fn pipeline(
    tx: &deadpool_postgres::Transaction<'_>,
    statements: Vec<Statement>,
) -> Result<(), PgError> {
    if statements.is_empty() {
        return Ok(());
    }
    let prepared = try_join_all(statements.iter().map(|s| tx.prepare_cached(s.sql))).await?;
    let params: Vec<Vec<&(dyn ToSql + Sync)>> = statements
        .iter()
        .map(|s| {
            s.params
                .iter()
                .map(|p| &**p as &(dyn ToSql + Sync))
                .collect()
        })
        .collect();
    try_join_all(
        prepared
            .iter()
            .zip(&params)
            .map(|(statement, params)| tx.execute(statement, params)),
    )
    .await?;
    Ok(())
}

impl PgStore {
    /// Connects, applies the migrations this build knows, and rebuilds the
    /// derived indexes if another version wrote them.
    pub fn open(options: &PgOptions) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(&options.url).map_err(|e| {
            StoreError::Backend(format!(
                "{:?} is not a PostgreSQL URL ({e}); use postgresql://USER@HOST/DATABASE",
                redact(&options.url)
            ))
        })?;
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(StoreError::Backend(format!(
                    "schema {schema:?}: use 1 to 63 characters of a-z, 0-9 and '_', starting with a letter"
                )));
            }
            config.options(format!("-c search_path={schema}"));
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("comity");
        let target = target_of(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("comity-pg")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the PostgreSQL runtime: {e}"))
            })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        let store = Self {
            inner: Arc::new(Inner {
                handle: runtime.handle().clone(),
                runtime: Some(runtime),
                pool,
                unresolved: Mutex::new(None),
                fault: Mutex::default(),
                target,
                watch: watch::Watch::new(),
                watching: std::sync::Once::new(),
                config,
                channel: Mutex::new(String::new()),
                listen: options.listen,
                poll_every: options.poll_every,
            }),
        };
        let schema = options.schema.clone();
        store
            .run(move |pool| async move { migrations::migrate(&pool, schema.as_deref()).await })?;
        let schema: String = store.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_one("SELECT current_schema()", &[])
                .await?
                .get(0))
        })?;
        if let Ok(mut channel) = store.inner.channel.lock() {
            *channel = watch::channel(&schema);
        }
        if store.run(|pool| async move { index::index_version(&pool).await })?
            != Some(i64::from(comity_store::INDEX_VERSION))
        {
            tracing::info!("store indexes are out of date or missing; rebuilding them");
            comity_store::IndexStore::rebuild_indexes(&store)?;
        }
        Ok(store)
    }

    /// Where the store is (host and database, no password), for messages.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Adds a watcher of other replicas' appends, starting the listening
    /// and polling tasks with the first.
    fn add_watcher(&self, watcher: comity_store::AppendWatcher) -> Result<(), StoreError> {
        self.inner
            .watch
            .watchers
            .lock()
            .map_err(|_| StoreError::Backend("PostgreSQL store lock poisoned by a panic".into()))?
            .push(watcher);
        let inner = &self.inner;
        inner.watching.call_once(|| {
            let channel = inner.channel.lock().map(|c| c.clone()).unwrap_or_default();
            if inner.listen {
                inner.handle.spawn(watch::listen(
                    inner.config.clone(),
                    channel,
                    inner.watch.clone(),
                ));
            }
            inner.handle.spawn(watch::poll(
                inner.pool.clone(),
                inner.watch.clone(),
                inner.poll_every,
            ));
        });
        Ok(())
    }

    /// Runs `work` on the store's runtime with the pool, and waits for it.
    fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let future = work(self.inner.pool.clone());
        self.inner.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        match rx.recv() {
            Ok(result) => result.map_err(|e| describe(&self.inner.target, e)),
            Err(_) => Err(StoreError::Backend(
                "the PostgreSQL store's runtime stopped".into(),
            )),
        }
    }
}

/// Whether `name` can be a schema name without quoting.
fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// `user@host/db`, for messages (never the password).
fn target_of(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let user = config.get_user().unwrap_or("(default user)");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}/{db}")
}

/// A URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    // postgresql://user:password@host/...
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

#[cfg(test)]
mod tests;
