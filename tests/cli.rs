//! The real `comity` binary, end to end: two organisations made with `init`,
//! peered with `id` and `peer add`, served, one publishes, the other shows the
//! entry in `log --json`. And the one-line errors people see.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use serde_json::Value;
use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};
use support::temp_root;

const BIN: &str = env!("CARGO_BIN_EXE_comity");

fn comity(args: &[&str], data: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("COMITY_DATA")
        .output()
        .unwrap()
}

fn ok_json(args: &[&str], data: &Path) -> Value {
    let out = comity(args, data);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts a failure: non-zero exit and exactly one line on stderr containing `needle`.
fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, got: {stderr}"
    );
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
}

/// A `comity serve` child, stopped with SIGTERM when dropped.
struct Served(Child);

impl Served {
    fn start(data: &Path) -> Self {
        let child = Command::new(BIN)
            .args(["serve", "--data"])
            .arg(data)
            .env("COMITY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// SIGTERM (through kill(1): the workspace forbids unsafe code), then
    /// the exit status of a clean shutdown.
    fn terminate(mut self) -> std::process::ExitStatus {
        self.terminate_in_place()
    }

    /// [`Self::terminate`], keeping `self` to be replaced.
    fn terminate_in_place(&mut self) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.0.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until each node answers and may publish. A node with partners
/// starts by asking them for its own log, and refuses to publish until one
/// that follows it has answered (issue 13's recovery); on a loaded machine
/// that answer comes a while after the node first answers `status`.
fn wait_until_ready(dirs: &[&Path]) {
    wait_until("the nodes to answer and leave recovery", || {
        dirs.iter().all(|dir| {
            let out = comity(&["status", "--json"], dir);
            out.status.success()
                && serde_json::from_slice::<Value>(&out.stdout)
                    .is_ok_and(|status| status["recovery"].as_str() == Some(""))
        })
    });
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < support::DEADLINE,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_organisations_made_with_the_cli_replicate() {
    let root = temp_root();
    let (ietf, itu) = (root.path().join("ietf"), root.path().join("itu"));
    for (dir, org, name) in [
        (&ietf, "ietf", "Internet Engineering Task Force"),
        (&itu, "itu", "International Telecommunication Union"),
    ] {
        let listen = format!("127.0.0.1:{}", support::free_port());
        let http = format!("127.0.0.1:{}", support::free_port());
        let out = comity(
            &[
                "init", "--org", org, "--name", name, "--listen", &listen, "--http", &http,
            ],
            dir,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let id_line = comity(&["id"], &ietf);
    let text = String::from_utf8_lossy(&id_line.stdout);
    assert_eq!(
        text.trim().split(' ').count(),
        3,
        "one line: org key endpoint: {text}"
    );
    assert!(text.starts_with("ietf ed25519:"));

    let ids = [
        ok_json(&["id", "--json"], &ietf),
        ok_json(&["id", "--json"], &itu),
    ];
    for (dir, other) in [(&ietf, &ids[1]), (&itu, &ids[0])] {
        let out = comity(
            &[
                "peer",
                "add",
                other["org"].as_str().unwrap(),
                "--key",
                other["key"].as_str().unwrap(),
                "--endpoint",
                other["endpoint"].as_str().unwrap(),
            ],
            dir,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let served = [Served::start(&ietf), Served::start(&itu)];
    wait_until_ready(&[ietf.as_path(), itu.as_path()]);

    let published = ok_json(
        &[
            "publish",
            "consultation",
            "--title",
            "Developmental Aspects of the Internet",
            "--closes",
            "2027-01-11",
            "--json",
        ],
        &itu,
    );
    let id = published["id"].as_str().unwrap().to_string();
    wait_until("ietf holds the consultation", || {
        let log = ok_json(&["log", "--json"], &ietf);
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str() && e["origin"] == "itu" && e["kind"] == "consultation")
    });
    let log = ok_json(&["log", "--json"], &ietf);
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap();
    assert_eq!(entry["summary"], "Developmental Aspects of the Internet");
    assert!(entry["created_at"].as_str().unwrap().starts_with("20"));

    wait_until("the peers see each other connected and reciprocal", || {
        let peers = ok_json(&["peer", "list", "--json"], &ietf);
        peers[0]["org"] == "itu" && peers[0]["connected"] == true && peers[0]["reciprocal"] == true
    });
    // Each dials the other, and every link offers: each node saw its
    // partner dial in, so it says it is reachable, and by whom.
    wait_until("ietf sees itu dial in", || {
        String::from_utf8_lossy(&comity(&["status"], &ietf).stdout)
            .contains("reachable: itu dialled in")
    });
    let status = ok_json(&["status", "--json"], &ietf);
    assert_eq!(status["org"], "ietf");
    let dashboard = status["http"].as_str().unwrap().to_string();
    assert!(dashboard.starts_with("http://127.0.0.1:"), "{dashboard}");
    assert!(
        status["heads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["origin"] == "itu" && h["seq"] == 2)
    );

    // Bad input to a running node: one line, non-zero, nothing published.
    let out = comity(
        &[
            "publish",
            "consultation",
            "--title",
            "x",
            "--closes",
            "2027-02-30",
        ],
        &itu,
    );
    assert_one_line_error(&out, "invalid date");
    let out = comity(
        &[
            "publish",
            "consultation",
            "--title",
            "x",
            "--opens",
            "2027-03-01",
            "--closes",
            "2027-02-01",
        ],
        &itu,
    );
    assert_one_line_error(&out, "closes before it opens");
    let out = comity(
        &[
            "peer",
            "add",
            "icann",
            "--key",
            "ed25519:AAAA",
            "--endpoint",
            "https://127.0.0.1:1",
        ],
        &itu,
    );
    assert_one_line_error(&out, "ed25519");
    let own = ok_json(&["log", "--json", "--origin", "itu"], &itu);
    assert_eq!(
        own.as_array().unwrap().len(),
        2,
        "profile and one consultation, nothing more"
    );

    // A statement for action from ITU; IETF's reply, posted, is the action
    // taken: `liaison show` says so and names the reply (issue 15).
    let draft = ok_json(
        &[
            "liaison",
            "draft",
            "--to",
            "ietf",
            "--purpose",
            "action",
            "--deadline",
            "2099-06-30",
            "--title",
            "Numbering for IoT",
            "--body",
            "Please tell us your plan.",
            "--json",
        ],
        &itu,
    );
    let uuid = draft["statement"]["uuid"].as_str().unwrap().to_string();
    let post = |dir: &Path, id: &str| {
        for verb in ["approve", "post"] {
            let out = comity(&["liaison", verb, id], dir);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    post(&itu, draft["id"].as_str().unwrap());
    let original = format!("itu/{uuid}");
    wait_until("ietf holds the statement", || {
        comity(&["liaison", "show", &original, "--json"], &ietf)
            .status
            .success()
    });
    let reply = ok_json(
        &[
            "liaison",
            "reply",
            &original,
            "--body",
            "Plan attached.",
            "--json",
        ],
        &ietf,
    );
    let reply_uuid = reply["statement"]["uuid"].as_str().unwrap().to_string();
    post(&ietf, reply["id"].as_str().unwrap());
    let shown = ok_json(&["liaison", "show", &original, "--json"], &ietf);
    let recipient = &shown["recipients"][0];
    assert_eq!(recipient["action_state"], "action_taken", "{shown}");
    assert_eq!(
        recipient["receipts"][0]["reply"]["uuid"],
        reply_uuid.as_str()
    );
    let text =
        String::from_utf8_lossy(&comity(&["liaison", "show", &original], &ietf).stdout).to_string();
    assert!(
        text.contains(&format!("action taken by reply ietf/{reply_uuid}")),
        "{text}"
    );

    for node in served {
        assert!(node.terminate().success(), "SIGTERM shuts down cleanly");
    }
}

#[test]
fn commands_that_need_a_node_say_so_when_none_runs() {
    let root = temp_root();
    let dir = root.path().join("idle");
    let out = comity(&["init", "--org", "idle", "--name", "Idle"], &dir);
    assert!(out.status.success());
    for args in [
        &["status"][..],
        &["log", "--json"],
        &["peer", "list"],
        &[
            "publish",
            "consultation",
            "--title",
            "t",
            "--closes",
            "2027-01-01",
        ],
    ] {
        assert_one_line_error(&comity(args, &dir), "no node is running");
    }
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let root = temp_root();
    let dir = root.path().join("x");
    assert_one_line_error(
        &comity(&["init", "--org", "IT U", "--name", "x"], &dir),
        "organisation id",
    );
    assert_one_line_error(&comity(&["id"], &dir), "comity init");
    assert!(
        comity(&["init", "--org", "itu", "--name", "ITU"], &dir)
            .status
            .success()
    );
    assert_one_line_error(
        &comity(&["init", "--org", "itu", "--name", "ITU"], &dir),
        "already holds",
    );
    assert_one_line_error(
        &comity(&["peer", "add", "itu", "--key", "ed25519:AAAA"], &dir),
        "ed25519",
    );
    assert_one_line_error(
        &comity(
            &[
                "peer",
                "add",
                "ietf",
                "--key",
                "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                "--endpoint",
                "ftp://x",
            ],
            &dir,
        ),
        "https://host:port",
    );
    std::fs::write(
        dir.join("comity.toml"),
        "org = \"itu\"\nname = \"ITU\"\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let out = comity(&["serve"], &dir);
    assert_one_line_error(&out, "invalid configuration");
    assert_eq!(out.status.code(), Some(64));
}

/// Issue 12: `comity init --listen off` makes a node nobody can dial. Its id
/// line says so instead of giving an endpoint, it serves with no listening
/// socket, and `status` shows it as dial-out only; an endpoint with it is
/// refused in one line.
#[test]
fn a_node_initialised_with_listen_off_is_dial_out_only() {
    let root = temp_root();
    let dir = root.path().join("kenya-igf");
    assert_one_line_error(
        &comity(
            &[
                "init",
                "--org",
                "kenya-igf",
                "--name",
                "Kenya IGF",
                "--listen",
                "off",
                "--endpoint",
                "https://kenya.example:7400",
            ],
            &dir,
        ),
        "contradict",
    );
    let out = comity(
        &[
            "init",
            "--org",
            "kenya-igf",
            "--name",
            "Kenya IGF",
            "--listen",
            "off",
            "--http",
            "off",
        ],
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = comity(&["id"], &dir);
    let line = String::from_utf8_lossy(&id.stdout);
    assert!(line.trim_end().ends_with("dial-out-only"), "{line}");
    let id = ok_json(&["id", "--json"], &dir);
    assert_eq!(id["dial_out_only"], true);
    assert!(id["endpoint"].is_null(), "{id}");
    let config = std::fs::read_to_string(dir.join("comity.toml")).unwrap();
    assert!(
        config.contains("[network]") && config.contains("listen = \"off\""),
        "{config}"
    );

    let served = Served::start(&dir);
    wait_until("the node answers on its socket", || {
        comity(&["status"], &dir).status.success()
    });
    let status = String::from_utf8_lossy(&comity(&["status"], &dir).stdout).to_string();
    assert!(status.contains("dial-out only"), "{status}");
    assert!(!status.contains("listening on"), "{status}");
    let status = ok_json(&["status", "--json"], &dir);
    assert_eq!(status["dial_out_only"], true);
    assert!(served.terminate().success());
}

/// Issue 15: API tokens from the CLI. The secret is printed once and never
/// listed; a second token of one name, an unknown name to revoke, a name
/// that is no name and a directory that holds no node are one line each;
/// and a non-loopback `[local_api] tcp` stops `serve` in one line.
#[test]
fn api_tokens_are_made_listed_and_revoked_from_the_cli() {
    let root = temp_root();
    let dir = root.path().join("itu");
    assert_one_line_error(
        &comity(&["token", "create", "--name", "ci"], &dir),
        "comity init",
    );
    assert!(
        comity(
            &["init", "--org", "itu", "--name", "ITU", "--http", "off"],
            &dir
        )
        .status
        .success()
    );
    let made = ok_json(
        &["token", "create", "--name", "ci", "--read-only", "--json"],
        &dir,
    );
    let secret = made["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("comity_"), "{made}");
    assert_eq!(made["read_only"], true);
    // Text output: the secret alone on stdout, for `TOKEN=$(...)`.
    let out = comity(&["token", "create", "--name", "admin"], &dir);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("comity_"), "{stdout}");

    let listed = ok_json(&["token", "list", "--json"], &dir);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "ci"]);
    assert!(!listed.to_string().contains(&secret), "never the secret");
    let kept = std::fs::read_to_string(dir.join("api-tokens/ci.json")).unwrap();
    assert!(!kept.contains(&secret), "stored hashed: {kept}");

    assert_one_line_error(
        &comity(&["token", "create", "--name", "ci"], &dir),
        "exists already",
    );
    assert_one_line_error(
        &comity(&["token", "create", "--name", "../escape"], &dir),
        "token name",
    );
    let out = comity(&["token", "revoke", "ci"], &dir);
    assert!(out.status.success());
    assert_one_line_error(&comity(&["token", "revoke", "ci"], &dir), "no token named");
    let listed = ok_json(&["token", "list", "--json"], &dir);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let config = std::fs::read_to_string(dir.join("comity.toml")).unwrap();
    std::fs::write(
        dir.join("comity.toml"),
        format!("{config}\n[local_api]\ntcp = \"0.0.0.0:7409\"\n"),
    )
    .unwrap();
    let out = comity(&["serve"], &dir);
    assert_one_line_error(&out, "not a loopback address");
    assert_eq!(out.status.code(), Some(64));
}

/// The README's first command: `comity demo` starts the seventeen
/// organisations, publishes the sample documents and sees them reach every
/// node. (Issue 13's recovery at start made every node refuse to publish
/// until a partner had answered, and the demo failed on its first sample;
/// it now waits for the nodes to leave recovery.)
#[test]
fn the_demo_publishes_its_samples_and_every_node_holds_every_log() {
    let root = temp_root();
    let out = Command::new(BIN)
        .args(["demo", "--exit", "--data"])
        .arg(root.path().join("demo"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("17 organisations"), "{stdout}");
    assert!(stdout.contains("every node holds every log"), "{stdout}");
    // W3C's notifier mails the demo's mailbox, which prints what arrives:
    // a reminder of a deadline among them (issue 15).
    assert!(
        stdout.contains("w3c's notifier e-mails a mailbox inside the demo"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("mail to liaisons@w3c.demo.invalid: [Comity w3c] Due in")),
        "{stdout}"
    );
}

/// `comity` with the password an account is made with.
fn comity_with_password(args: &[&str], data: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("COMITY_DATA")
        .env("COMITY_PASSWORD", "correct horse battery")
        .output()
        .unwrap()
}

/// Issue 15: a liaison manager of ietf/ccamp approves and posts a ccamp
/// statement, and is refused (one line, non-zero, nothing posted, the draft
/// unchanged) for an opsawg one; bad groups and a manager without groups are
/// refused at `user add`; the groups survive a restart.
#[test]
fn a_liaison_manager_approves_and_posts_for_its_groups_only() {
    let root = temp_root();
    let (ietf, itu) = (root.path().join("ietf"), root.path().join("itu"));
    for (dir, org) in [(&ietf, "ietf"), (&itu, "itu")] {
        let listen = format!("127.0.0.1:{}", support::free_port());
        let out = comity(
            &[
                "init", "--org", org, "--name", org, "--listen", &listen, "--http", "off",
            ],
            dir,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ids = [
        ok_json(&["id", "--json"], &ietf),
        ok_json(&["id", "--json"], &itu),
    ];
    for (dir, other) in [(&ietf, &ids[1]), (&itu, &ids[0])] {
        let out = comity(
            &[
                "peer",
                "add",
                other["org"].as_str().unwrap(),
                "--key",
                other["key"].as_str().unwrap(),
                "--endpoint",
                other["endpoint"].as_str().unwrap(),
            ],
            dir,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Straight into the store, before the first serve.
    let add = |args: &[&str]| {
        let mut all = vec!["user", "add"];
        all.extend_from_slice(args);
        comity_with_password(&all, &ietf)
    };
    assert_one_line_error(
        &add(&["bob", "--role", "liaison-manager"]),
        "needs the groups",
    );
    assert_one_line_error(
        &add(&["bob", "--role", "liaison-manager", "--group", "IETF CCAMP"]),
        "not a group id",
    );
    assert_one_line_error(
        &add(&["bob", "--role", "editor", "--group", "ietf/ccamp"]),
        "only a liaison manager",
    );
    assert_one_line_error(
        &add(&["bob", "--role", "liaison-manager", "--group", "itu/sg15"]),
        "is not a group of ietf",
    );
    let out = add(&[
        "alice",
        "--role",
        "liaison-manager",
        "--group",
        "ietf/ccamp",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "alice (liaison-manager for ietf/ccamp)"
    );

    let mut served = Served::start(&ietf);
    let _itu = Served::start(&itu);
    wait_until_ready(&[ietf.as_path(), itu.as_path()]);
    // Through the running node, the same checks.
    assert_one_line_error(
        &add(&["carol", "--role", "liaison-manager", "--group", "ietf/"]),
        "not a group id",
    );
    assert_one_line_error(
        &add(&["carol", "--role", "liaison-manager"]),
        "needs the groups",
    );
    assert_one_line_error(
        &add(&["carol", "--role", "liaison-manager", "--group", "itu/sg15"]),
        "is not a group of ietf",
    );
    let listed = ok_json(&["user", "list", "--json"], &ietf);
    assert_eq!(
        listed,
        serde_json::json!([{"name": "alice", "role": "liaison-manager", "groups": ["ietf/ccamp"]}])
    );

    let draft = |from: &str, title: &str| {
        ok_json(
            &[
                "liaison",
                "draft",
                "--from",
                from,
                "--to",
                "itu",
                "--purpose",
                "information",
                "--title",
                title,
                "--body",
                "For your information.",
                "--json",
            ],
            &ietf,
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let log_len = || {
        ok_json(&["log", "--json", "--origin", "ietf"], &ietf)
            .as_array()
            .unwrap()
            .len()
    };

    // Alice's own group: she approves and posts.
    let ccamp = draft("ietf/ccamp", "CCAMP progress");
    let before = log_len();
    for verb in ["approve", "post"] {
        let out = comity(&["liaison", verb, &ccamp, "--by", "alice"], &ietf);
        assert!(
            out.status.success(),
            "{verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(log_len(), before + 1, "the ccamp statement is in the log");

    // Another group: refused, nothing posted, the draft as it was.
    let opsawg = draft("ietf/opsawg", "OPSAWG progress");
    let drafts_before = ok_json(&["liaison", "drafts", "--json"], &ietf);
    let before = log_len();
    for verb in ["approve", "post"] {
        let out = comity(&["liaison", verb, &opsawg, "--by", "alice"], &ietf);
        assert_one_line_error(&out, "not for ietf/opsawg");
    }
    assert_eq!(log_len(), before, "nothing posted");
    let drafts = ok_json(&["liaison", "drafts", "--json"], &ietf);
    assert_eq!(drafts, drafts_before, "the drafts unchanged");
    let refused = drafts
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == opsawg.as_str())
        .unwrap();
    assert_eq!(refused["approved"], false, "{refused}");
    assert!(refused["posted_seq"].is_null(), "{refused}");

    // The groups survive a restart.
    assert!(served.terminate_in_place().success());
    served = Served::start(&ietf);
    wait_until_ready(&[ietf.as_path()]);
    assert_eq!(ok_json(&["user", "list", "--json"], &ietf), listed);
    drop(served);
}
