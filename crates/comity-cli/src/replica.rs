//! `comity replica init`: a second replica of a node whose store is in
//! PostgreSQL. A replica is the same node (the same identity key, the same
//! database, the same endpoint in its profile) with its own listening
//! addresses and its own data directory; start it with `comity serve`.
//! Every replica accepts publishes: the database's lock keeps them from
//! signing two entries at one seq (ARCHITECTURE.md section 6).

use crate::{DataArg, Failure};
use clap::Subcommand;
use comity_node::{DataDir, datadir::DataDirError};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ReplicaCommand {
    /// Make a new replica of the node in --from, in --data.
    Init {
        /// The data directory of a node on PostgreSQL (`[storage] url`).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// This replica's federation listener address ("off": dial out only).
        #[arg(long)]
        listen: String,
        /// This replica's dashboard address, or "off".
        #[arg(long, default_value = "off")]
        http: String,
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn run(command: ReplicaCommand) -> Result<(), Failure> {
    match command {
        ReplicaCommand::Init {
            from,
            listen,
            http,
            data,
        } => init(&from, &data, &listen, &http),
    }
}

fn init(from: &std::path::Path, data: &DataArg, listen: &str, http: &str) -> Result<(), Failure> {
    let source = DataDir::new(from);
    let mut config = source.load_config()?;
    let Some(url) = config.storage.url.clone() else {
        return Err(format!(
            "{} keeps its store in sled, which one process owns; move it to PostgreSQL first (comity store migrate --to URL)",
            from.display()
        )
        .into());
    };
    let target = DataDir::new(&data.data);
    if target.is_initialised() {
        return Err(DataDirError::AlreadyInitialised(target.root().display().to_string()).into());
    }
    // The profile names one endpoint for the node, whichever replica
    // publishes it: keep the source's, or every start would publish anew.
    config.endpoint = Some(config.endpoint());
    match listen {
        "off" => config.network.listen = comity_node::config::Listen::Off,
        addr => {
            config.network.listen = comity_node::config::Listen::On;
            config.listen = crate::parse_listen(addr)?;
        }
    }
    if http == "off" {
        config.http.enabled = false;
    } else {
        config.http.enabled = true;
        config.http.listen = crate::parse_listen(http)?;
    }
    // The database must answer before anything is written.
    comity_store_pg::PgStore::open(&comity_store_pg::PgOptions::new(url))
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let key = source.load_key()?;
    target.init_with_key(&config, &key)?;
    println!(
        "made a replica of {} in {}; start it with: comity serve --data {}",
        config.org,
        target.root().display(),
        target.root().display()
    );
    Ok(())
}
