//! Versioned schema migrations: each one a SQL file embedded in the build,
//! applied at most once, in order, each recorded in `schema_migrations` in
//! the transaction that applies it. All of them run under one advisory lock,
//! so that replicas starting together apply each migration once.

use crate::PgError;
use comity_store::StoreError;
use deadpool_postgres::Pool;

/// One migration: its version (from 1, without gaps) and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "notify_heads",
        sql: include_str!("../migrations/0002_notify_heads.sql"),
    },
];

/// The schema version this build writes.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The advisory lock migrations hold (any fixed number: "comity" in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_6d69_7479;

/// Creates `schema` if given, then applies every migration not yet applied.
/// Refuses a database whose schema a newer build wrote.
pub(crate) async fn migrate(pool: &Pool, schema: Option<&str>) -> Result<(), PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    if let Some(schema) = schema {
        // Checked by `PgStore::open`: lower-case letters, digits, '_'.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await?
        .get(0);
    let applied = applied.unwrap_or(0);
    if applied > latest() {
        return Err(StoreError::SchemaTooNew {
            found: u32::try_from(applied).unwrap_or(u32::MAX),
            supported: u32::try_from(latest()).unwrap_or(0),
        }
        .into());
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > applied) {
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied a PostgreSQL migration"
        );
    }
    tx.commit().await?;
    Ok(())
}
