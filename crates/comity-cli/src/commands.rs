//! The commands a person runs against one node.

use crate::{DataArg, Failure, JsonArg, client, client::status_failure, output};
use clap::{Args, Subcommand, ValueEnum};
use comity_core::{OrgId, PublicKey};
use comity_daemon::{Daemon, Listeners};
use comity_node::{
    Config, DataDir, Node, config::StakeholderGroup, datadir::DataDirError, protocol::Endpoint,
};
use comity_proto::v1 as proto;

/// Exit code for a configuration that cannot be used (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    data: DataArg,
    /// Organisation id, e.g. "ietf" or "ripe-ncc".
    #[arg(long)]
    org: OrgId,
    /// Organisation name, e.g. "Internet Engineering Task Force".
    #[arg(long)]
    name: String,
    /// Federation listener address, or "off" for a node nobody can dial
    /// (behind NAT): it only dials out, and offers its log to its partners.
    #[arg(long, default_value = crate::DEFAULT_LISTEN)]
    listen: String,
    /// How partners reach this node; default https://<listen>.
    #[arg(long)]
    endpoint: Option<Endpoint>,
    /// Dashboard address, or "off"; several nodes on one machine need one each.
    #[arg(long, default_value = "127.0.0.1:7080")]
    http: String,
    /// The organisation's stakeholder group.
    #[arg(long, ignore_case = true)]
    stakeholder_group: Option<StakeholderGroupArg>,
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    country: Option<String>,
    /// Keep the store in this PostgreSQL database (postgresql://USER@HOST/DB)
    /// instead of sled in the data directory: what replicas of the node share.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

/// A stakeholder group as written on the command line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum StakeholderGroupArg {
    Government,
    Intergovernmental,
    #[value(alias = "private_sector")]
    PrivateSector,
    #[value(alias = "civil_society")]
    CivilSociety,
    #[value(alias = "technical_academic", alias = "technical", alias = "academic")]
    TechnicalAcademic,
}

impl From<StakeholderGroupArg> for StakeholderGroup {
    fn from(group: StakeholderGroupArg) -> Self {
        match group {
            StakeholderGroupArg::Government => Self::Government,
            StakeholderGroupArg::Intergovernmental => Self::Intergovernmental,
            StakeholderGroupArg::PrivateSector => Self::PrivateSector,
            StakeholderGroupArg::CivilSociety => Self::CivilSociety,
            StakeholderGroupArg::TechnicalAcademic => Self::TechnicalAcademic,
        }
    }
}

// Parsed once per process; boxing the key would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum PeerCommand {
    /// Pin a partner's key and, with an endpoint, connect to it.
    Add {
        /// The partner's organisation id.
        org: OrgId,
        /// The partner's key, as printed by its `comity id`.
        #[arg(long)]
        key: PublicKey,
        /// https://host:port; leave out to follow by key only, through
        /// relays. Give it again for each replica of the partner's node:
        /// they are dialled in turn when a connection fails.
        #[arg(long)]
        endpoint: Vec<Endpoint>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Unpin a partner.
    Remove {
        org: OrgId,
        #[command(flatten)]
        data: DataArg,
    },
    /// Per peer: connected, reciprocal, lag per origin, last error.
    List {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Accept one entry of a followed log that this node refuses (see
    /// `comity status`), by its id, whatever its signature. Only once the
    /// origin has confirmed, out of band, that it published that entry.
    Accept {
        /// The organisation whose log holds the entry.
        origin: OrgId,
        /// The entry's seq.
        seq: u64,
        /// The entry's id (64 hex digits), as `comity status` and the
        /// origin's `comity log` show it.
        id: String,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
pub enum PublishCommand {
    /// Publish a consultation (the same as `comity consultation publish`).
    Consultation(crate::consultation::PublishArgs),
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Move this organisation to a new key: a KeyRotation signed by the
    /// current key goes into the log, and peers follow the new key.
    Rotate {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
}

pub async fn init(args: InitArgs) -> Result<(), Failure> {
    let data = DataDir::new(&args.data.data);
    let (listen, network) = match args.listen.as_str() {
        "off" => (
            crate::parse_listen(crate::DEFAULT_LISTEN)?,
            comity_node::config::Listen::Off,
        ),
        addr => (crate::parse_listen(addr)?, comity_node::config::Listen::On),
    };
    if network == comity_node::config::Listen::Off && args.endpoint.is_some() {
        return Err(
            "--endpoint and --listen off contradict each other: a node that does not \
                    listen has no endpoint; leave one out"
                .into(),
        );
    }
    let mut config = Config::new(args.org, args.name, listen);
    config.network.listen = network;
    config.endpoint = args.endpoint;
    if args.http == "off" {
        config.http.enabled = false;
    } else {
        config.http.listen = crate::parse_listen(&args.http)?;
    }
    config.profile.stakeholder_group = args.stakeholder_group.map(Into::into);
    config.profile.region = args.region;
    config.profile.country = args.country;
    config.storage.url = args.store;
    if data.is_initialised() {
        return Err(DataDirError::AlreadyInitialised(data.root().display().to_string()).into());
    }
    // A database is opened (and migrated) before anything is written, so
    // that a wrong URL or a database that is down leaves no half-made node.
    let database = match &config.storage.url {
        Some(_) => {
            let store = data.open_store(&config)?;
            if store.head(&config.org)?.is_some() {
                return Err(format!(
                    "the database already holds {}'s log, which a new identity would fork; \
                     a replica of that node starts from a copy of its data directory",
                    config.org
                )
                .into());
            }
            Some(store)
        }
        None => None,
    };
    let key = data.init(&config)?;
    let store = match database {
        Some(store) => store,
        None => data.open_store(&config)?,
    };
    let node = Node::new(config.clone(), key, store)?;
    node.publish_profile_if_changed().await?;
    node.store().flush()?;
    println!(
        "initialised {} in {}\n{}",
        config.org,
        data.root().display(),
        output::id_line(&config.org, &node.public_key(), &reach(&config))
    );
    Ok(())
}

pub fn id(data: &DataArg, json: JsonArg) -> Result<(), Failure> {
    let data = DataDir::new(&data.data);
    let config = data.load_config()?;
    let key = data.load_key()?.public();
    if json.json {
        output::print_json(&serde_json::json!({
            "org": config.org.to_string(),
            "key": key.to_string(),
            "endpoint": (!config.dial_out_only()).then(|| config.endpoint()),
            "dial_out_only": config.dial_out_only(),
        }));
    } else {
        println!("{}", output::id_line(&config.org, &key, &reach(&config)));
    }
    Ok(())
}

/// Where partners dial this node, or that nobody can: the id line's last word.
fn reach(config: &Config) -> String {
    if config.dial_out_only() {
        "dial-out-only".to_string()
    } else {
        config.endpoint().to_string()
    }
}

pub async fn serve(data: &DataArg, no_recover: bool) -> Result<(), Failure> {
    crate::logging::init("info");
    let data = DataDir::new(&data.data);
    let mut config = data.load_config().map_err(|e| Failure {
        message: e.to_string(),
        code: EXIT_CONFIG,
    })?;
    if no_recover {
        config.replication.recover = false;
    }
    let store = data.open_store(&config)?;
    let key = data.load_key_recovering(&config.org, &*store)?;
    let options = comity_node::node::NodeOptions {
        key_files: Some(data.key_files()),
        api_tokens: Some(comity_node::tokens::ApiTokens::in_data_dir(data.root())),
        search_dir: Some(data.search_path()),
        ..Default::default()
    };
    let node = Node::with_options(config.clone(), key, store, options)?;
    // Every address is bound before the node starts, so that a taken port
    // is one clear line and nothing is left half-started.
    let listeners = Listeners::bind(&config, Some(data.socket_path())).await?;
    let daemon = Daemon::start(node, listeners).await?;
    // The dashboard, feeds, API and metrics, and the notifier (webhooks,
    // e-mail) run beside the node until shutdown.
    let dashboard = match (daemon.http_addr(), &config.http.base_url) {
        (None, _) => String::new(),
        (Some(_), Some(url)) => format!("; dashboard {url}"),
        (Some(addr), None) => format!("; dashboard http://{addr}"),
    };
    let tcp = daemon
        .local_api_tcp_addr()
        .map(|a| format!(" and {a} (API tokens)"))
        .unwrap_or_default();
    println!(
        "comity {} serving {} on {} (endpoint {}, {} peers); local API {}{tcp}{dashboard}",
        env!("CARGO_PKG_VERSION"),
        config.org,
        daemon
            .federation_addr()
            .map_or("no port: dial-out only".to_string(), |a| a.to_string()),
        reach(&config),
        daemon.node().follows().len(),
        data.socket_path().display()
    );
    daemon.run(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub async fn peer(command: PeerCommand) -> Result<(), Failure> {
    match command {
        PeerCommand::Add {
            org,
            key,
            endpoint,
            data,
        } => peer_add(&DataDir::new(&data.data), org, key, endpoint).await,
        PeerCommand::Remove { org, data } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            api.remove_peer(proto::RemovePeerRequest {
                org: org.to_string(),
            })
            .await
            .map_err(status_failure)?;
            println!("removed {org}");
            Ok(())
        }
        PeerCommand::List { data, json } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            let peers = api
                .list_peers(proto::ListPeersRequest {})
                .await
                .map_err(status_failure)?
                .into_inner()
                .peers;
            output::peers(&peers, json.json);
            Ok(())
        }
        PeerCommand::Accept {
            origin,
            seq,
            id,
            data,
        } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            api.accept_entry(proto::AcceptEntryRequest {
                origin: origin.to_string(),
                seq,
                id: id.clone(),
            })
            .await
            .map_err(status_failure)?;
            println!("accepted {origin} seq {seq} ({id}); replication of {origin} goes on");
            Ok(())
        }
    }
}

/// Through the running node when there is one (it starts replicating at
/// once), otherwise straight into the store, for setting up before `serve`.
async fn peer_add(
    data: &DataDir,
    org: OrgId,
    key: PublicKey,
    endpoints: Vec<Endpoint>,
) -> Result<(), Failure> {
    match client::connect(data).await {
        Ok(mut api) => {
            let mut written = endpoints.iter().map(ToString::to_string);
            api.add_peer(proto::AddPeerRequest {
                org: org.to_string(),
                key: key.to_string(),
                endpoint: written.next().unwrap_or_default(),
                more_endpoints: written.collect(),
            })
            .await
            .map_err(status_failure)?;
        }
        Err(client::ClientError::NotRunning(_)) => {
            let config = data.load_config()?;
            let node = Node::new(config.clone(), data.load_key()?, data.open_store(&config)?)?;
            node.add_peer_at(org.clone(), key, endpoints.clone())?;
        }
    }
    if endpoints.is_empty() {
        println!("pinned {org} by key only (its log comes through relays)");
    } else {
        let list: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
        println!("pinned {org} at {}", list.join(", "));
    }
    Ok(())
}

pub async fn publish(command: PublishCommand) -> Result<(), Failure> {
    match command {
        PublishCommand::Consultation(args) => crate::consultation::publish(args).await,
    }
}

pub async fn key(command: KeyCommand) -> Result<(), Failure> {
    let KeyCommand::Rotate { data, json } = command;
    let mut api = client::connect(&DataDir::new(&data.data)).await?;
    let rotated = api
        .rotate_key(proto::RotateKeyRequest {})
        .await
        .map_err(status_failure)?
        .into_inner();
    // The reply names the entry; the new key is what the node now reports.
    let status = api
        .status(proto::StatusRequest {})
        .await
        .map_err(status_failure)?
        .into_inner();
    if json.json {
        output::print_json(&serde_json::json!({
            "origin": rotated.origin,
            "seq": rotated.seq,
            "id": rotated.id,
            "key": status.key,
        }));
    } else {
        println!(
            "rotated the key of {}: KeyRotation at seq {} (entry {})\nnew identity: {} {} {}",
            rotated.origin, rotated.seq, rotated.id, status.org, status.key, status.endpoint
        );
    }
    Ok(())
}

pub async fn log(data: &DataArg, origin: Option<String>, json: JsonArg) -> Result<(), Failure> {
    let mut api = client::connect(&DataDir::new(&data.data)).await?;
    let entries = api
        .list_entries(proto::ListEntriesRequest {
            origin: origin.unwrap_or_default(),
            after_seq: 0,
            limit: 0,
        })
        .await
        .map_err(status_failure)?
        .into_inner()
        .entries;
    output::entries(&entries, json.json);
    Ok(())
}

pub async fn status(data: &DataArg, json: JsonArg) -> Result<(), Failure> {
    let mut api = client::connect(&DataDir::new(&data.data)).await?;
    let status = api
        .status(proto::StatusRequest {})
        .await
        .map_err(status_failure)?
        .into_inner();
    output::status(&status, json.json);
    Ok(())
}
