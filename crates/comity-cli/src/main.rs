//! `comity`: one binary for the daemon (`serve`, `demo`) and for the people
//! who run it (`init`, `id`, `peer`, `publish`, `log`, `status`,
//! `consultation`, `respond`, `liaison`, `ack`, `attachment`, `key`, `user`,
//! `token`).
//! Commands that need a running node talk to it over the local API socket.

mod attachment;
mod client;
mod commands;
mod consultation;
mod demo;
mod docfile;
mod evidence;
mod liaison;
mod logging;
mod output;
mod replica;
mod search;
mod store;
mod token;
mod user;

use clap::{Args, Parser, Subcommand};
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

#[derive(Parser)]
#[command(
    name = "comity",
    version,
    about = "Reciprocal exchange of consultations and liaison statements between organisations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct DataArg {
    /// The node's data directory.
    #[arg(
        long,
        env = "COMITY_DATA",
        default_value = "./comity-data",
        global = true
    )]
    pub data: PathBuf,
}

#[derive(Args, Clone, Copy)]
pub struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

// Parsed once per process; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Create a node: identity key, configuration and signed profile.
    Init(commands::InitArgs),
    /// Print this node's identity line, for partners to pin.
    Id {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Run the node until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        data: DataArg,
        /// Start publishing at once, without first asking partners for this
        /// node's own log (a node restored from an old backup may then fork it).
        #[arg(long)]
        no_recover: bool,
    },
    /// Manage pinned peers.
    #[command(subcommand)]
    Peer(commands::PeerCommand),
    /// Write an origin's log as held here (length-delimited comity.v1.Entry).
    Export(evidence::ExportArgs),
    /// Print the latest signed checkpoint of an origin's log, with every
    /// cosignature held, as a C2SP signed note.
    Checkpoint(evidence::CheckpointArgs),
    /// Check an exported log offline: signatures, chain, tree root against a
    /// checkpoint, cosignatures. Needs no node; names the first failure.
    Verify(evidence::VerifyArgs),
    /// Evidence that an origin forked its log.
    #[command(subcommand)]
    Equivocation(evidence::EquivocationCommand),
    /// Publish a document to this node's log.
    #[command(subcommand)]
    Publish(commands::PublishCommand),
    /// List the entries this node holds, from every origin.
    Log {
        #[command(flatten)]
        data: DataArg,
        /// Only this origin.
        #[arg(long)]
        origin: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Show this node, its heads and its peers.
    Status {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Consultations: publish, revise, list and show, across the federation.
    #[command(subcommand)]
    Consultation(consultation::ConsultationCommand),
    /// Respond to a consultation, from this organisation's log.
    Respond(consultation::RespondArgs),
    /// Liaison statements: draft, approve, post, reply, list and show.
    #[command(subcommand)]
    Liaison(liaison::LiaisonCommand),
    /// Acknowledge a liaison statement addressed to this organisation, with a signed receipt.
    Ack(liaison::AckArgs),
    /// Fetch attachments by hash.
    #[command(subcommand)]
    Attachment(attachment::AttachmentCommand),
    /// This organisation's signing key.
    #[command(subcommand)]
    Key(commands::KeyCommand),
    /// Start a small local federation on loopback and show entries propagate.
    Demo(demo::DemoArgs),
    /// Manage dashboard accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// API tokens for the local API over loopback TCP, the JSON API and /metrics.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Replicas of a node on PostgreSQL: `comity replica init --from DIR`.
    #[command(subcommand)]
    Replica(replica::ReplicaCommand),
    /// Move the store: `comity store migrate --to postgresql://...`.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Full-text search of the consultations, responses and liaison
    /// statements this node holds, in any language; `--reindex` rebuilds the index.
    Search(search::SearchArgs),
}

/// What `main` reports: a one-line message and an exit code.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            message: e.to_string(),
            code: 1,
        }
    }
}

/// Clap's own errors, cut to the one line that says what is wrong.
fn usage_error(error: clap::Error) -> ExitCode {
    if !error.use_stderr() {
        // --help and --version: print as usual.
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).skip_while(|l| l.is_empty());
    let mut line = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    // "the following required arguments were not provided:" lists them below.
    // An invalid value is followed by "[possible values: …]".
    let listed: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
    if line.ends_with(':') {
        line = format!("{line} {}", listed.join(", "));
    } else if let Some(values) = listed.iter().find(|l| l.starts_with("[possible values")) {
        line = format!("{line} {values}");
    }
    eprintln!("comity: {} (see --help)", line.trim_end());
    ExitCode::from(2)
}

/// jemalloc instead of glibc's malloc. A node runs many threads (tokio's
/// workers and blocking pool, sled's, tantivy's), and glibc gave them one
/// arena each that it seldom returns: a follower that had ingested 20,000
/// entries held 185 MB of RSS for about 120 MB of peak heap. jemalloc with
/// two arenas, and a background thread that returns freed pages after a
/// second, held 67 MB (BENCHMARKS.md, "Memory: the allocator"). Its
/// options are built in from `.cargo/config.toml`.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Output piped into `head` and closed early is not an error worth a panic
/// message: stop quietly, as other Unix tools do.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("comity: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = failure.message.replace('\n', " ");
            eprintln!("comity: {message}");
            ExitCode::from(failure.code)
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Init(args) => commands::init(args).await,
        Command::Id { data, json } => commands::id(&data, json),
        Command::Serve { data, no_recover } => commands::serve(&data, no_recover).await,
        Command::Peer(command) => commands::peer(command).await,
        Command::Export(args) => evidence::export(args).await,
        Command::Checkpoint(args) => evidence::checkpoint(args).await,
        Command::Verify(args) => evidence::verify(args),
        Command::Equivocation(command) => evidence::equivocation(command).await,
        Command::Publish(command) => commands::publish(command).await,
        Command::Log { data, origin, json } => commands::log(&data, origin, json).await,
        Command::Status { data, json } => commands::status(&data, json).await,
        Command::Consultation(command) => consultation::run(command).await,
        Command::Respond(args) => consultation::respond(args).await,
        Command::Liaison(command) => liaison::run(command).await,
        Command::Ack(args) => liaison::ack(args).await,
        Command::Attachment(command) => attachment::run(command).await,
        Command::Key(command) => commands::key(command).await,
        Command::Demo(args) => demo::run(args).await,
        Command::User(command) => user::run(command).await,
        Command::Token(command) => token::run(command),
        Command::Store(command) => store::run(command),
        Command::Replica(command) => replica::run(command),
        Command::Search(args) => search::run(args).await,
    }
}

/// Default federation listener for `init`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";

pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:7400"))
}
