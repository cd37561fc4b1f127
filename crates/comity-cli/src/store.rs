//! `comity store migrate`: move a node's sled store to PostgreSQL.
//!
//! The node must be stopped (sled's directory lock says so otherwise). The
//! copy goes through the store traits (`comity_store::copy`), can be run
//! again, and is compared with its source before the configuration is
//! switched to the database; `--check` only compares. The sled directory is
//! left in place, for the operator to remove once satisfied.

use crate::{DataArg, Failure};
use clap::Subcommand;
use comity_node::DataDir;
use comity_store::copy;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy this node's sled store into a PostgreSQL database, check the
    /// copy, and switch the node to it. Run it with the node stopped; it
    /// may be run again.
    Migrate {
        /// The database, e.g. postgresql://comity@%2Frun%2Fpostgresql/comity.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Only compare the database with the sled store (every log entry by
        /// entry, blob, record, draft, peer and piece of evidence); change
        /// nothing. Right after a migration: entries published since make
        /// the two differ.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn run(command: StoreCommand) -> Result<(), Failure> {
    match command {
        StoreCommand::Migrate { to, check, data } => migrate(&data, &to, check),
    }
}

fn migrate(data: &DataArg, url: &str, check: bool) -> Result<(), Failure> {
    let dir = DataDir::new(&data.data);
    let mut config = dir.load_config()?;
    if let Some(current) = &config.storage.url
        && current != url
    {
        return Err(format!(
            "this node's store is already in another database ({}); nothing was copied",
            comity_store_pg::redact(current)
        )
        .into());
    }
    if !dir.store_path().exists() {
        return Err(format!(
            "{} holds no sled store to move; nothing was copied",
            dir.root().display()
        )
        .into());
    }
    // The sled store itself, whatever the configuration says by now (a
    // second run finds it switched already).
    let mut sled_config = config.clone();
    sled_config.storage.url = None;
    let from = dir.open_store(&sled_config)?;
    let to = comity_store_pg::PgStore::open(&comity_store_pg::PgOptions::new(url))
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let target = to.target().to_string();
    if check {
        return match copy::compare(&*from, &to)? {
            Ok(counts) => {
                println!("{target} holds everything in the sled store: {counts}");
                Ok(())
            }
            Err(differences) => Err(differences_failure(&target, &differences)),
        };
    }
    let counts = copy::copy_store(&*from, &to)?;
    if let Err(differences) = copy::compare(&*from, &to)? {
        return Err(differences_failure(&target, &differences));
    }
    config.storage.url = Some(url.to_string());
    config.save(dir.root())?;
    println!(
        "moved to {target}: {counts}\nthe node now runs on PostgreSQL; {} is no longer used (remove it once satisfied)",
        dir.store_path().display()
    );
    Ok(())
}

fn differences_failure(target: &str, differences: &[String]) -> Failure {
    let more = match differences.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    format!(
        "{target} differs from the sled store: {}{more}",
        differences.first().map_or("", String::as_str)
    )
    .into()
}
