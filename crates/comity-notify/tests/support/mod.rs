//! Test harness: in-process nodes that exchange entries by direct ingest, a
//! real webhook receiver (axum) and a real SMTP receiver, both on loopback.
#![allow(dead_code, clippy::unwrap_used)]

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use comity_core::{IdentityKey, OrgId, proto};
use comity_node::{Config, Node, clock::ManualClock, node::NodeOptions};
use comity_store::Store;
use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

pub const DEADLINE: Duration = Duration::from_secs(30);
pub const DASHBOARD: &str = "https://dash.example.org";

pub fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

pub fn config(id: &str, tune: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::new(
        org(id),
        format!("{} (test)", id.to_uppercase()),
        "127.0.0.1:1".parse().unwrap(),
    );
    config.http.base_url = Some(DASHBOARD.into());
    tune(&mut config);
    config
}

pub fn node(
    config: Config,
    key: IdentityKey,
    store: Arc<dyn Store>,
    clock: &Arc<ManualClock>,
) -> Arc<Node> {
    let options = NodeOptions {
        clock: clock.clone(),
        key_files: None,
        api_tokens: None,
        search_dir: None,
    };
    Node::with_options(config, key, store, options).unwrap()
}

pub fn mem_node(config: Config, clock: &Arc<ManualClock>) -> Arc<Node> {
    node(
        config,
        IdentityKey::generate(),
        Arc::new(comity_store::MemStore::new()),
        clock,
    )
}

/// `follower` pins `origin` by key (no endpoint: entries come by [`sync`]).
pub fn pin(follower: &Arc<Node>, origin: &Arc<Node>) {
    follower
        .add_peer(origin.org().clone(), origin.public_key(), None)
        .unwrap();
}

/// Hands `to` every entry of `from`'s own log it does not hold, as a
/// subscription would.
pub async fn sync(from: &Node, to: &Node) {
    let held = to
        .store()
        .head(from.org())
        .unwrap()
        .map_or(0, |head| head.seq);
    let batch: Vec<proto::Entry> = from
        .store()
        .entries_after(from.org(), held, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.for_reader(to.org()))
        .collect();
    if !batch.is_empty() {
        to.ingest(from.org(), from.org(), batch).await.unwrap();
    }
}

pub fn text(value: &str) -> Vec<proto::Text> {
    vec![proto::Text {
        lang: "en".into(),
        value: value.into(),
    }]
}

/// An open consultation closing at `closes` (unix seconds).
pub fn consultation(title: &str, closes: i64) -> proto::Consultation {
    proto::Consultation {
        uuid: comity_core::document::new_uuid(time::OffsetDateTime::now_utc()),
        revision: 1,
        title: text(title),
        body: text("Please comment."),
        closes_at: Some(prost_types::Timestamp {
            seconds: closes,
            nanos: 0,
        }),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    }
}

/// A posted statement to `to` for action, due on `deadline` (YYYY-MM-DD, UTC).
pub fn liaison_for_action(title: &str, to: &OrgId, deadline: &str) -> proto::LiaisonStatement {
    proto::LiaisonStatement {
        uuid: comity_core::document::new_uuid(time::OffsetDateTime::now_utc()),
        revision: 1,
        title: title.into(),
        to: vec![proto::Addressee {
            org: to.to_string(),
            ..Default::default()
        }],
        purpose: proto::LiaisonPurpose::Action as i32,
        deadline: Some(proto::Deadline {
            date: deadline.into(),
            zone: "Z".into(),
        }),
        body: Some(proto::Text {
            lang: "en".into(),
            value: "Please review and act.".into(),
        }),
        state: proto::LiaisonState::Posted as i32,
        ..Default::default()
    }
}

pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits, up to [`DEADLINE`], until `notifier` has no delivery queued. A
/// receiver records a request before the notifier reads the answer and
/// takes the delivery off its queue: a test that saw the request waits for
/// this before it asserts on the queue, or stops the notifier.
pub async fn settled(notifier: &comity_notify::Notifier) {
    let start = Instant::now();
    loop {
        let pending = notifier.pending().await.unwrap();
        if pending.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "deliveries still queued after {DEADLINE:?}: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------- webhooks

#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct HookState {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Answers to give, in order; 200 once they run out.
    answers: Arc<Mutex<VecDeque<u16>>>,
}

pub struct WebhookReceiver {
    pub url: String,
    pub addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Serves on `listener`, answering `answers` in order, then 200.
    pub async fn start(listener: TcpListener, answers: Vec<u16>) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = HookState {
            hits: Default::default(),
            answers: Arc::new(Mutex::new(answers.into())),
        };
        let hits = state.hits.clone();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{addr}/hook"),
            addr,
            hits,
            server,
        }
    }

    pub async fn bind(answers: Vec<u16>) -> Self {
        Self::start(TcpListener::bind("127.0.0.1:0").await.unwrap(), answers).await
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The bodies of the requests answered 2xx.
    pub fn delivered(&self) -> Vec<serde_json::Value> {
        self.hits()
            .iter()
            .filter(|h| (200..300).contains(&h.status))
            .map(Hit::json)
            .collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(state): State<HookState>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    let status = state.answers.lock().unwrap().pop_front().unwrap_or(200);
    state.hits.lock().unwrap().push(Hit {
        headers,
        body,
        status,
    });
    axum::http::StatusCode::from_u16(status).unwrap()
}

/// The test's own check of `X-Comity-Signature`, written from the spec:
/// `sha256=` and the hex HMAC-SHA256 of the raw body under the secret.
pub fn signature_is_valid(hit: &Hit, secret: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Some(hex) = hit
        .header("X-Comity-Signature")
        .strip_prefix("sha256=")
        .map(str::to_owned)
    else {
        return false;
    };
    let Some(claimed) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&hit.body);
    mac.verify_slice(&claimed).is_ok()
}

// ----------------------------------------------------------------- SMTP

#[derive(Debug, Clone)]
pub struct Mail {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body), dot-unstuffed.
    pub data: String,
}

impl Mail {
    /// A header's value, unfolded (RFC 5322 section 2.2.3).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body, decoded when it is quoted-printable (RFC 2045 section 6.7).
    pub fn text(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return body.to_string();
        }
        let bytes = body.replace("=\r\n", "").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
}

/// A small SMTP server (RFC 5321: greeting, EHLO/HELO, MAIL, RCPT, DATA,
/// RSET, NOOP, QUIT) on 127.0.0.1 that keeps every message it accepts.
pub struct SmtpReceiver {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    server: tokio::task::JoinHandle<()>,
}

impl SmtpReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails: Arc<Mutex<Vec<Mail>>> = Default::default();
        let kept = mails.clone();
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = session(socket, kept).await;
                });
            }
        });
        Self {
            addr,
            mails,
            server,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 smtp.test ESMTP ready\r\n").await?;
    let mut helo = String::new();
    let mut from = None;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let path = |c: &str| {
            c.split_once('<')
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(p, _)| p.to_string())
                .unwrap_or_default()
        };
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => {
                helo = command[4..].trim().to_string();
                b"250-smtp.test greets you\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            }
            "HELO" => {
                helo = command[4..].trim().to_string();
                b"250 smtp.test\r\n"
            }
            "MAIL" => {
                from = Some(path(&command));
                to.clear();
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" if from.is_some() => {
                to.push(path(&command));
                b"250 2.1.5 OK\r\n"
            }
            "RCPT" => b"503 5.5.1 MAIL first\r\n",
            "DATA" if !to.is_empty() => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                mails.lock().unwrap().push(Mail {
                    helo: helo.clone(),
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 2.0.0 queued\r\n"
            }
            "DATA" => b"503 5.5.1 RCPT first\r\n",
            "RSET" => {
                from = None;
                to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognised\r\n",
        };
        write.write_all(reply).await?;
    }
}
