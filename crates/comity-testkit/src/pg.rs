//! A throwaway PostgreSQL for tests: one server per test process, started
//! on first use from the distribution's binaries, in a temporary directory,
//! listening on a Unix socket in that directory only (no TCP port at all),
//! as `nobody` when the tests run as root (PostgreSQL refuses root). Or the
//! server `COMITY_TEST_PG_URL` names, when it is set.
//!
//! The server is watched by a small shell that holds a pipe from the test
//! process: when the process ends, however it ends, the pipe closes and the
//! shell stops the server and removes its directory. Nothing outlives the
//! tests. A test that needs to take the database away has a server of its
//! own ([`TestPg::private`]) and sends `stop` and `start` down that pipe.
//!
//! Without PostgreSQL binaries, [`TestPg::shared`] says why and returns
//! `None` (the test passes having checked nothing), except under
//! `CI=true`, where it panics: CI installs PostgreSQL and must run them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The server the tests of this process share.
#[derive(Debug)]
pub struct TestPg {
    /// The URL of the server's `postgres` database.
    url: String,
    /// `psql`, to create databases.
    psql: PathBuf,
    /// The socket directory and port, for URLs of other databases.
    host: Host,
    /// Holds the watcher's stdin open while the process lives.
    _watch: Option<Mutex<ChildStdin>>,
}

#[derive(Debug)]
enum Host {
    /// Started here: a socket directory and the port naming its socket.
    Socket { dir: PathBuf, port: u16 },
    /// Given by `COMITY_TEST_PG_URL`: databases are named in its place.
    Url,
}

/// The port the socket is named by (no TCP is opened).
const PORT: u16 = 5432;
/// The role the tests connect as.
const USER: &str = "comity";

impl TestPg {
    /// The server, started on first use; `None` (after saying why) when
    /// PostgreSQL is not installed and this is not CI.
    pub fn shared() -> Option<&'static TestPg> {
        static PG: OnceLock<Result<TestPg, Missing>> = OnceLock::new();
        available(PG.get_or_init(start).as_ref())
    }

    /// A server of the caller's own, which it may stop and start again
    /// ([`stop`](Self::stop), [`start`](Self::start)); removed when dropped.
    /// `None` as for [`shared`](Self::shared); `COMITY_TEST_PG_URL` is not
    /// used (a server given from outside cannot be stopped here).
    pub fn private() -> Option<TestPg> {
        match start_server(false) {
            Ok(pg) => Some(pg),
            Err(missing) => available::<()>(Err(&missing)).and(None),
        }
    }

    /// A server of the caller's own with PostgreSQL's durable defaults
    /// (fsync on), for benchmarks; the tests' servers run without fsync.
    pub fn durable() -> Result<TestPg, String> {
        start_server(true).map_err(|missing| match missing {
            Missing::Binaries(why) | Missing::Failed(why) => why,
        })
    }

    /// Stops the server (a fast shutdown: sessions are cut) and waits
    /// until it no longer answers.
    pub fn stop(&self) {
        self.command("stop");
        self.wait_ready(false);
    }

    /// Starts the server again and waits until it answers.
    pub fn start(&self) {
        self.command("start");
        self.wait_ready(true);
    }

    fn command(&self, line: &str) {
        use std::io::Write;
        let watch = self
            ._watch
            .as_ref()
            .expect("only a server started here can be stopped and started");
        let mut stdin = watch.lock().expect("watcher pipe");
        writeln!(stdin, "{line}").expect("the watcher reads its pipe");
        stdin.flush().expect("the watcher reads its pipe");
    }

    fn wait_ready(&self, ready: bool) {
        let Host::Socket { dir, port } = &self.host else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while is_ready(&self.psql, dir, *port) != ready {
            assert!(
                Instant::now() < deadline,
                "the test PostgreSQL did not become {} within 60 s",
                if ready { "ready" } else { "unreachable" }
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of the server's default database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new, empty database, and its URL.
    pub fn database(&self) -> String {
        let name = unique("comity_test");
        let status = Command::new(&self.psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.url, "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .status()
            .expect("psql runs");
        assert!(status.success(), "psql could not create database {name}");
        match &self.host {
            Host::Socket { dir, port } => socket_url(dir, *port, &name),
            Host::Url => replace_database(&self.url, &name),
        }
    }

    /// A schema name no other test of this run uses.
    pub fn schema(&self) -> String {
        unique("t")
    }
}

/// The server, or `None` after saying why there is none (outside CI),
/// or a panic (under `CI=true`, or when it failed to start).
fn available<T>(server: Result<T, &Missing>) -> Option<T> {
    match server {
        Ok(pg) => Some(pg),
        Err(Missing::Binaries(why)) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipping a PostgreSQL test: {why}");
            None
        }
        Err(Missing::Binaries(why)) => panic!("PostgreSQL is required under CI=true: {why}"),
        Err(Missing::Failed(why)) => panic!("cannot start the test PostgreSQL: {why}"),
    }
}

/// Whether the server in `dir` answers (`pg_isready`, beside `psql`).
fn is_ready(psql: &Path, dir: &Path, port: u16) -> bool {
    Command::new(psql.with_file_name("pg_isready"))
        .arg("-q")
        .arg("-h")
        .arg(dir)
        .args(["-p", &port.to_string(), "-U", USER])
        .status()
        .is_ok_and(|s| s.success())
}

/// Why there is no server.
#[derive(Debug)]
enum Missing {
    /// Not installed: skipped outside CI.
    Binaries(String),
    /// Installed, but it did not start: always a failure.
    Failed(String),
}

/// A name unique in this run: prefix, process id, a counter.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn socket_url(dir: &Path, port: u16, database: &str) -> String {
    let host = dir.display().to_string().replace('/', "%2F");
    format!("postgresql://{USER}@{host}:{port}/{database}")
}

/// `url` with its database replaced by `database`.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// The directory holding `initdb`, `postgres`, `pg_isready`, `psql`.
fn binaries() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("COMITY_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    // Debian's layout: /usr/lib/postgresql/<major>/bin, the newest first.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| dir.join("initdb").exists())
}

fn find_psql() -> Option<PathBuf> {
    if let Some(dir) = binaries()
        && dir.join("psql").exists()
    {
        return Some(dir.join("psql"));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("psql"))
        .find(|p| p.exists())
}

fn start() -> Result<TestPg, Missing> {
    match std::env::var("COMITY_TEST_PG_URL") {
        Ok(url) => given(url),
        Err(_) => start_server(false),
    }
}

/// The server `COMITY_TEST_PG_URL` names.
fn given(url: String) -> Result<TestPg, Missing> {
    let psql = find_psql().ok_or_else(|| {
        Missing::Failed("COMITY_TEST_PG_URL is set, but psql is not installed".into())
    })?;
    Ok(TestPg {
        url,
        psql,
        host: Host::Url,
        _watch: None,
    })
}

/// Starts a server of this process's own; `durable`: with PostgreSQL's
/// own defaults (fsync on), as a benchmark needs, else without fsync.
fn start_server(durable: bool) -> Result<TestPg, Missing> {
    let bin = binaries().ok_or_else(|| {
        Missing::Binaries(
            "no PostgreSQL binaries (install Debian's postgresql, or set COMITY_PG_BIN or COMITY_TEST_PG_URL)"
                .into(),
        )
    })?;
    let failed = |what: &str, e: &dyn std::fmt::Display| Missing::Failed(format!("{what}: {e}"));
    let dir = std::env::temp_dir().join(unique("comity-pg"));
    std::fs::create_dir(&dir).map_err(|e| failed("creating its directory", &e))?;
    let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if as_root {
        // PostgreSQL will not run as root: the server's files are nobody's.
        run(Command::new("chown").arg("nobody").arg(&dir))
            .map_err(|e| failed("chown nobody", &e))?;
    }
    let command = |program: &str| {
        let mut c = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(bin.join(program));
            c
        } else {
            Command::new(bin.join(program))
        };
        c.current_dir(&dir);
        c
    };
    let data = dir.join("data");
    run(command("initdb").arg("-D").arg(&data).args([
        "-U",
        USER,
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-sync",
    ]))
    .map_err(|e| failed("initdb", &e))?;
    // The watcher: starts the server, waits for its stdin to close (the test
    // process ended), then stops the server and removes the directory.
    let script = format!(
        r#""$1" -D "$2" -k "$3" -p {PORT} -c listen_addresses= $4 -c max_connections=300 >"$3/server.log" 2>&1 &
pid=$!
while read -r line; do
  case "$line" in
    stop) kill -INT "$pid" 2>/dev/null; wait "$pid" ;;
    start) "$1" -D "$2" -k "$3" -p {PORT} -c listen_addresses= $4 -c max_connections=300 >>"$3/server.log" 2>&1 &
      pid=$! ;;
  esac
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$3""#
    );
    // `sh` from PATH, not from the PostgreSQL directory.
    let mut watcher = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "sh", "-c", &script, "sh"]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script, "sh"]);
        c
    };
    let mut child = watcher
        .arg(bin.join("postgres"))
        .arg(&data)
        .arg(&dir)
        .arg(if durable {
            ""
        } else {
            // Tests need no durability across a power cut.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        })
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed("starting postgres", &e))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| Missing::Failed("no pipe to the watcher".into()))?;
    // The watcher is reaped by nobody: it ends after this process does.
    std::mem::forget(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .arg("-q")
            .arg("-h")
            .arg(&dir)
            .args(["-p", &PORT.to_string(), "-U", USER])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            return Err(Missing::Failed(format!(
                "not ready after 60 s; its log:\n{log}"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(TestPg {
        url: socket_url(&dir, PORT, "postgres"),
        psql: bin.join("psql"),
        host: Host::Socket { dir, port: PORT },
        _watch: Some(Mutex::new(stdin)),
    })
}

/// Runs a command to completion; its output becomes the error if it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        Err(format!("{}: {}", out.status, text.trim()))
    }
}
