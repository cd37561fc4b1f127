//! The node's configuration: one documented struct, read from
//! `<data>/comity.toml`. `deploy/comity.example.toml` documents every field and
//! a test parses it, so the example can never drift from the code.

use crate::protocol::Endpoint;
use comity_core::OrgId;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::Path, time::Duration};

pub const CONFIG_FILE: &str = "comity.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This organisation's id, e.g. "ietf".
    pub org: OrgId,
    /// Its name, shown to partners in its profile.
    pub name: String,
    /// Federation listener (mutual TLS gRPC).
    pub listen: SocketAddr,
    /// How partners reach this node; defaults to `https://<listen>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    #[serde(default)]
    pub network: NetworkConfig,
    #[serde(default)]
    pub profile: ProfileConfig,
    #[serde(default)]
    pub replication: ReplicationConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub workflow: WorkflowConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub notifications: NotificationsConfig,
    #[serde(default, skip_serializing_if = "LocalApiConfig::is_off")]
    pub local_api: LocalApiConfig,
}

/// The local API beyond its Unix socket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalApiConfig {
    /// A loopback TCP address (e.g. `"127.0.0.1:7409"`) where the local API
    /// is also served, to clients that send an API token (`comity token
    /// create`) as `authorization: Bearer <token>`. Off when absent.
    /// Plain HTTP/2 without TLS, so loopback addresses only: anything else
    /// is refused when the configuration is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<SocketAddr>,
}

impl LocalApiConfig {
    /// Nothing beyond the socket: `comity init` writes no `[local_api]`.
    pub fn is_off(&self) -> bool {
        self.tcp.is_none()
    }

    fn check(&self) -> Result<(), String> {
        match self.tcp {
            Some(addr) if !addr.ip().is_loopback() => Err(format!(
                "[local_api] tcp = \"{addr}\" is not a loopback address: the local API over TCP \
                 has no TLS, so it listens on 127.0.0.1 or ::1 only (for example \"127.0.0.1:7409\"); \
                 reach it from elsewhere through an SSH tunnel"
            )),
            _ => Ok(()),
        }
    }
}

/// How this node meets the network: whether it accepts connections at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// `"on"` (the default): accept partners' connections on `listen`.
    /// `"off"`: open no listening socket at all, only dial out; the node
    /// offers its own log to each partner it dials (`Offer`), so a node
    /// behind NAT or a firewall that drops every inbound connection still
    /// takes full part.
    pub listen: Listen,
}

/// Whether the federation listener is opened (see [`NetworkConfig`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Listen {
    #[default]
    On,
    Off,
}

/// The web dashboard, feeds, JSON API and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve the dashboard at all.
    pub enabled: bool,
    /// Where the dashboard listens.
    pub listen: SocketAddr,
    /// Show public entries read-only to anyone, without a login.
    pub public_pages: bool,
    /// The address people use to reach the dashboard, for links in feeds and
    /// notifications; default `http://<listen>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Set the session cookie's Secure flag (when a TLS proxy fronts the dashboard).
    pub secure_cookies: bool,
    /// Seconds a client has to send a request's headers, whole; an idle
    /// connection is closed after as long.
    pub header_read_timeout_secs: u64,
    /// Connections served at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// `/metrics` answers only requests with a valid API token
    /// (`authorization: Bearer <token>`; a read-only one does).
    pub metrics_require_token: bool,
}

impl HttpConfig {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=MAX_PERIOD_SECS).contains(&self.header_read_timeout_secs) {
            return Err(format!(
                "[http] header_read_timeout_secs = {} is out of range: give 1 to {MAX_PERIOD_SECS} seconds",
                self.header_read_timeout_secs
            ));
        }
        if self.max_connections == 0 {
            return Err("[http] max_connections = 0: give at least 1".into());
        }
        Ok(())
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 7080)),
            public_pages: false,
            base_url: None,
            secure_cookies: false,
            header_read_timeout_secs: 20,
            max_connections: 1024,
            metrics_require_token: false,
        }
    }
}

/// Where notifications go, and when deadline reminders fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// JSON POSTs signed with HMAC-SHA256 over the body.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookConfig>,
    /// E-mail through an SMTP server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailConfig>,
    /// Days before a deadline (0: the day itself) when reminders are sent.
    pub reminder_days: Vec<i64>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            email: None,
            reminder_days: vec![14, 7, 3, 1, 0],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Shared secret for the `X-Comity-Signature: sha256=<hex>` header.
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// "none" (a local relay), "starttls" or "tls".
    #[serde(default = "default_smtp_security")]
    pub security: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

fn default_smtp_port() -> u16 {
    25
}

fn default_smtp_security() -> String {
    "none".into()
}

/// How this organisation works with its documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowConfig {
    /// An outgoing liaison statement must be approved (`comity liaison
    /// approve`) before it can be posted.
    pub liaison_approval: bool,
}

/// The stakeholder group an organisation belongs to (WSIS): a typo is
/// refused when the configuration is read, never signed into the profile
/// as "unspecified".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StakeholderGroup {
    Government,
    Intergovernmental,
    PrivateSector,
    CivilSociety,
    TechnicalAcademic,
}

/// A stakeholder group that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stakeholder group {0:?}: use government, intergovernmental, private-sector, civil-society or technical-academic"
)]
pub struct StakeholderGroupError(pub String);

impl StakeholderGroup {
    pub const ALL: [Self; 5] = [
        Self::Government,
        Self::Intergovernmental,
        Self::PrivateSector,
        Self::CivilSociety,
        Self::TechnicalAcademic,
    ];

    /// The group as the signed profile carries it.
    pub fn to_proto(self) -> comity_core::proto::StakeholderGroup {
        use comity_core::proto::StakeholderGroup as G;
        match self {
            Self::Government => G::Government,
            Self::Intergovernmental => G::Intergovernmental,
            Self::PrivateSector => G::PrivateSector,
            Self::CivilSociety => G::CivilSociety,
            Self::TechnicalAcademic => G::TechnicalAcademic,
        }
    }

    /// "government", …, "technical-academic".
    pub fn as_str(self) -> &'static str {
        crate::words::stakeholder_group(self.to_proto())
    }
}

impl std::str::FromStr for StakeholderGroup {
    type Err = StakeholderGroupError;

    /// Any case, `_` or `-`; "technical" and "academic" for technical-academic.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(
            match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "government" => Self::Government,
                "intergovernmental" => Self::Intergovernmental,
                "private-sector" => Self::PrivateSector,
                "civil-society" => Self::CivilSociety,
                "technical-academic" | "technical" | "academic" => Self::TechnicalAcademic,
                _ => return Err(StakeholderGroupError(text.to_string())),
            },
        )
    }
}

impl TryFrom<String> for StakeholderGroup {
    type Error = StakeholderGroupError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<StakeholderGroup> for String {
    fn from(group: StakeholderGroup) -> Self {
        group.as_str().to_string()
    }
}

impl std::fmt::Display for StakeholderGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the node says about its organisation in its signed profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// government, intergovernmental, private-sector, civil-society or technical-academic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stakeholder_group: Option<StakeholderGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Language tags the organisation works in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Groups within the organisation that send and receive statements,
    /// e.g. "itu-t/sg15" or "ccamp".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Seconds between heartbeats on an idle subscription stream.
    pub heartbeat_secs: u64,
    /// Seconds between polls of each peer's heads.
    pub heads_poll_secs: u64,
    /// Upper bound of the reconnect backoff, in seconds.
    pub backoff_max_secs: u64,
    /// Serve subscriptions only to peers that serve this node in return:
    /// that accepted this node's own connection and answered its `Hello`
    /// (`PeerView::reciprocal`), whatever they claim.
    pub require_reciprocity: bool,
    /// Entries verified and stored per group commit.
    pub batch_size: usize,
    /// At start, before signing anything, ask the partners for this node's
    /// own log and fetch what it lacks (`crate::recovery`): a node restored
    /// from an old backup then cannot fork its log. `comity serve
    /// --no-recover` turns it off for one run.
    pub recover: bool,
    /// How long recovery waits for a partner that follows this node to
    /// answer before it publishes anyway, with a loud warning.
    pub recovery_wait_secs: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            heartbeat_secs: 30,
            heads_poll_secs: 15,
            backoff_max_secs: 120,
            require_reciprocity: false,
            batch_size: 512,
            recover: true,
            recovery_wait_secs: 60,
        }
    }
}

/// The longest replication period accepted: a day. Longer ones are typos,
/// and would overflow when multiplied (silence is three heartbeats).
const MAX_PERIOD_SECS: u64 = 86_400;

impl ReplicationConfig {
    /// Every period is between one second and a day.
    fn check_periods(&self) -> Result<(), String> {
        for (name, secs) in [
            ("heartbeat_secs", self.heartbeat_secs),
            ("heads_poll_secs", self.heads_poll_secs),
            ("backoff_max_secs", self.backoff_max_secs),
        ] {
            if !(1..=MAX_PERIOD_SECS).contains(&secs) {
                return Err(format!(
                    "[replication] {name} = {secs} is out of range: give 1 to {MAX_PERIOD_SECS} seconds"
                ));
            }
        }
        Ok(())
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.max(1))
    }
    pub fn heads_poll(&self) -> Duration {
        Duration::from_secs(self.heads_poll_secs.max(1))
    }
    pub fn recovery_wait(&self) -> Duration {
        Duration::from_secs(self.recovery_wait_secs)
    }
    pub fn backoff_max(&self) -> Duration {
        Duration::from_secs(self.backoff_max_secs.max(1))
    }
    /// How long a peer may take to answer a call or to bring what it
    /// promised: three heartbeat periods, after which a silent stream is
    /// dead too.
    pub fn call_deadline(&self) -> Duration {
        self.heartbeat().saturating_mul(3)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest gRPC message accepted or sent, in bytes (one entry per message).
    pub max_message_bytes: usize,
    /// Seconds a TLS handshake may take before the connection is dropped.
    pub handshake_timeout_secs: u64,
    /// Seconds to wait for a TCP+TLS connection to a peer.
    pub connect_timeout_secs: u64,
    /// Largest attachment accepted, published or fetched, in bytes.
    pub max_attachment_bytes: u64,
    /// TLS handshakes in progress at once; more connections are closed at once.
    pub max_pending_handshakes: usize,
    /// Connections one peer may hold open at once.
    pub max_connections_per_peer: usize,
    /// Concurrent requests (streams) on one connection.
    pub max_streams_per_connection: u32,
    /// Live subscriptions one peer may hold (one per origin at most: a
    /// newer subscription to an origin replaces the older).
    pub max_subscriptions_per_peer: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            handshake_timeout_secs: 10,
            connect_timeout_secs: 10,
            max_attachment_bytes: 32 * 1024 * 1024,
            max_pending_handshakes: 128,
            max_connections_per_peer: 4,
            max_streams_per_connection: 512,
            max_subscriptions_per_peer: 256,
        }
    }
}

impl LimitsConfig {
    /// Every cap lets at least one through.
    fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("max_pending_handshakes", self.max_pending_handshakes),
            ("max_connections_per_peer", self.max_connections_per_peer),
            (
                "max_streams_per_connection",
                self.max_streams_per_connection as usize,
            ),
            (
                "max_subscriptions_per_peer",
                self.max_subscriptions_per_peer,
            ),
        ] {
            if value == 0 {
                return Err(format!("[limits] {name} = 0: give at least 1"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// A PostgreSQL database to keep the store in
    /// (`postgresql://USER@HOST/DB`), shared by every replica of this node;
    /// none: sled in `<data>/store` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// sled page cache, in MiB. Small by default: nodes run on small VMs.
    pub cache_mb: u64,
    /// Keep each log's Merkle tree and sign and cosign checkpoints (issue
    /// 13). On by default; off only for a benchmark's baseline.
    pub witness: bool,
    /// Keep the full-text search index in `<data>/search` (issue 15). On by
    /// default; off only for a benchmark's baseline.
    pub search: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            cache_mb: 16,
            witness: true,
            search: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl Config {
    pub fn new(org: OrgId, name: impl Into<String>, listen: SocketAddr) -> Self {
        Self {
            org,
            name: name.into(),
            listen,
            endpoint: None,
            network: NetworkConfig::default(),
            profile: ProfileConfig::default(),
            replication: ReplicationConfig::default(),
            limits: LimitsConfig::default(),
            storage: StorageConfig::default(),
            workflow: WorkflowConfig::default(),
            http: HttpConfig::default(),
            notifications: NotificationsConfig::default(),
            local_api: LocalApiConfig::default(),
        }
    }

    /// True when this node opens no listening socket and only dials out
    /// (`[network] listen = "off"`): nobody can dial it.
    pub fn dial_out_only(&self) -> bool {
        self.network.listen == Listen::Off
    }

    /// The endpoint partners should dial.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
            .clone()
            .unwrap_or_else(|| Endpoint::for_listener(self.listen))
    }

    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        if config.name.trim().is_empty() {
            return Err(ConfigError::Parse {
                path: path.to_owned(),
                message: "name must not be empty".into(),
            });
        }
        config
            .replication
            .check_periods()
            .and_then(|()| config.http.check())
            .and_then(|()| config.limits.check())
            .and_then(|()| config.local_api.check())
            .map_err(|message| ConfigError::Parse {
                path: path.to_owned(),
                message,
            })?;
        Ok(config)
    }

    pub fn load(data_dir: &Path) -> Result<Self, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn save(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|source| ConfigError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../../deploy/comity.example.toml");
        let config = Config::parse(text, "comity.example.toml").unwrap();
        assert_eq!(config.org.as_str(), "ietf");
        assert_eq!(
            config.endpoint().as_str(),
            "https://comity.example.org:7400"
        );
        assert_eq!(config.replication.backoff_max_secs, 120);
        assert_eq!(config.http.header_read_timeout_secs, 20);
        assert_eq!(config.http.max_connections, 1024);
        assert!(!config.http.metrics_require_token);
        assert_eq!(
            config.local_api.tcp,
            Some(SocketAddr::from(([127, 0, 0, 1], 7409)))
        );
        assert_eq!(config.limits, LimitsConfig::default());
        assert!(!config.dial_out_only());
    }

    #[test]
    fn network_listen_is_on_or_off() {
        let base = "org = \"itu\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\n";
        assert!(!Config::parse(base, "t").unwrap().dial_out_only());
        let off = format!("{base}[network]\nlisten = \"off\"\n");
        assert!(Config::parse(&off, "t").unwrap().dial_out_only());
        let bad = format!("{base}[network]\nlisten = \"sometimes\"\n");
        let err = Config::parse(&bad, "t").unwrap_err().to_string();
        assert!(err.contains("on") && err.contains("off"), "{err}");
    }

    #[test]
    fn defaults_fill_missing_sections() {
        let config = Config::parse(
            "org = \"itu\"\nname = \"ITU\"\nlisten = \"127.0.0.1:7402\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(config.endpoint().as_str(), "https://127.0.0.1:7402");
        assert_eq!(config.limits, LimitsConfig::default());
    }

    #[test]
    fn mistakes_are_reported_with_the_field() {
        let err = Config::parse(
            "org = \"IT U\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\n",
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("organisation id"), "{err}");
        let err = Config::parse(
            "org = \"itu\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\nlisen = 3\n",
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn a_stakeholder_group_typo_is_refused_at_load() {
        let base = "org = \"itu\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\n[profile]\n";
        let err =
            Config::parse(&format!("{base}stakeholder_group = \"goverment\"\n"), "t").unwrap_err();
        assert!(
            err.to_string().contains("goverment") && err.to_string().contains("government"),
            "{err}"
        );
        for (written, group) in [
            ("Government", StakeholderGroup::Government),
            ("private_sector", StakeholderGroup::PrivateSector),
            ("technical", StakeholderGroup::TechnicalAcademic),
        ] {
            let config =
                Config::parse(&format!("{base}stakeholder_group = \"{written}\"\n"), "t").unwrap();
            assert_eq!(config.profile.stakeholder_group, Some(group));
        }
    }

    #[test]
    fn replication_periods_out_of_range_are_refused() {
        let base = "org = \"itu\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\n[replication]\n";
        for line in [
            "heartbeat_secs = 0",
            "heads_poll_secs = 18446744073709551615",
        ] {
            let err = Config::parse(&format!("{base}{line}\n"), "t").unwrap_err();
            let field = line.split(' ').next().unwrap();
            assert!(
                err.to_string().contains(field) && err.to_string().contains("out of range"),
                "{err}"
            );
        }
        let ok = Config::parse(&format!("{base}heartbeat_secs = 86400\n"), "t").unwrap();
        assert_eq!(ok.replication.heartbeat(), Duration::from_secs(86_400));
    }

    #[test]
    fn federation_caps_of_zero_are_refused() {
        let base = "org = \"itu\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\n[limits]\n";
        for field in [
            "max_pending_handshakes",
            "max_connections_per_peer",
            "max_streams_per_connection",
            "max_subscriptions_per_peer",
        ] {
            let err = Config::parse(&format!("{base}{field} = 0\n"), "t").unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn the_local_api_listens_on_loopback_tcp_only() {
        let base = "org = \"itu\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\n";
        assert_eq!(Config::parse(base, "t").unwrap().local_api.tcp, None);
        for addr in ["127.0.0.1:7409", "[::1]:7409", "127.0.0.2:0"] {
            let config =
                Config::parse(&format!("{base}[local_api]\ntcp = \"{addr}\"\n"), "t").unwrap();
            assert_eq!(config.local_api.tcp, Some(addr.parse().unwrap()));
        }
        for addr in ["0.0.0.0:7409", "[::]:7409", "192.0.2.1:7409"] {
            let err = Config::parse(&format!("{base}[local_api]\ntcp = \"{addr}\"\n"), "t")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("[local_api] tcp") && err.contains(addr) && err.contains("loopback"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_dashboard_closes_a_silent_connection_within_30s_by_default() {
        let http = HttpConfig::default();
        assert!(http.header_read_timeout() <= Duration::from_secs(30));
        assert!(http.max_connections >= 1000);
        let base = "org = \"itu\"\nname = \"x\"\nlisten = \"127.0.0.1:1\"\n[http]\n";
        for (line, field) in [
            ("header_read_timeout_secs = 0", "header_read_timeout_secs"),
            ("max_connections = 0", "max_connections"),
        ] {
            let err = Config::parse(&format!("{base}{line}\n"), "t").unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}
