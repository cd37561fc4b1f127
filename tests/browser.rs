//! The dashboard in a real browser: headless Chromium driven through
//! WebDriver (chromedriver, spoken to with fantoccini over plain HTTP on
//! loopback), against real nodes peered on 127.0.0.1.
//!
//! - A consultation published through ITU's form appears on IETF's list.
//! - A liaison for action is acknowledged through ITU's form, and IETF sees
//!   the receipt.
//! - Arabic pages are laid out right to left.
//! - The search box finds a partner's documents, with marked snippets, in
//!   Arabic (right to left) and in Chinese.
//!
//! - A reply drafted and posted through ITU's forms marks ITU's receipt
//!   "action taken", with the reply linked, at ITU and at IETF.
//! - Times read "à l’instant" / "il y a 3 minutes" in the reader's
//!   language, with the exact instant in the browser's own zone on hover.
//!
//! Screenshots (full-page PNGs) are written to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; override with `CHROMIUM` and `CHROMEDRIVER`).
//! Without them each test says why and passes, except under `CI=true`, where
//! a missing browser fails the test: `.ci/run` installs them.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::proto;
use comity_node::accounts::{self, Role};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use std::{
    future::Future,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use support::{DEADLINE, TestNode, eventually, temp_root};

const USER: &str = "editor";
const PASSWORD: &str = "password123";

/// The browser's time zone (UTC+5:30 all year).
const BROWSER_TZ: &str = "Asia/Kolkata";

/// How often a condition is looked at again while waiting for it.
const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------

/// Writes a line to the real stderr: unlike `println!`, not swallowed by the
/// test harness's capture, so skips and screenshot paths show in `cargo test`.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Where the browser and its driver are, or why they cannot be used.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn find_tool(env: &str, default: &str, name: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{env}={} does not exist", path.display()))
        };
    }
    let default = PathBuf::from(default);
    if default.is_file() {
        return Ok(default);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            format!(
                "{name} is not installed (looked for {}, then PATH; set {env})",
                default.display()
            )
        })
}

/// The browser and driver, or `None` (after saying why) when this machine has
/// none. Under `CI=true` a missing browser is a failure, not a skip.
fn tools(test: &str) -> Option<Tools> {
    let found = find_tool("CHROMIUM", "/usr/bin/chromium", "chromium").and_then(|chromium| {
        find_tool("CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver").map(|chromedriver| {
            Tools {
                chromium,
                chromedriver,
            }
        })
    });
    match found {
        Ok(tools) => Some(tools),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "{test}: {why}; CI must run the browser tests (apt-get install chromium chromium-driver)"
            )
        }
        Err(why) => {
            say(&format!(
                "skipping {test}: {why} (apt-get install chromium chromium-driver)"
            ));
            None
        }
    }
}

/// A chromedriver process on a 127.0.0.1 port it picked, killed when dropped.
struct ChromeDriver {
    child: Child,
    port: u16,
    _log_dir: tempfile::TempDir,
}

impl ChromeDriver {
    /// Starts chromedriver on a port it picks itself (`--port=0`) and reads
    /// which from its first lines: a port picked here and released before
    /// chromedriver binds it could be taken meanwhile (as an outgoing
    /// connection's source port, say).
    async fn start(path: &Path) -> Self {
        let log_dir = temp_root();
        let mut child = Command::new(path)
            // Chromium inherits it: a zone that is not UTC, so that the
            // dashboard's local times can be told from its UTC ones.
            .env("TZ", BROWSER_TZ)
            .arg("--port=0")
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!(
                "--log-path={}",
                log_dir.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (listening, port) = tokio::sync::oneshot::channel();
        // Reads every line, so that chromedriver never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut listening = Some(listening);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let port = line
                    .split_once("started successfully on port ")
                    .and_then(|(_, rest)| rest.trim().trim_end_matches('.').parse::<u16>().ok());
                if let Some(port) = port
                    && let Some(listening) = listening.take()
                {
                    let _ = listening.send(port);
                }
            }
        });
        let mut driver = ChromeDriver {
            child,
            port: 0,
            _log_dir: log_dir,
        };
        match tokio::time::timeout(DEADLINE, port).await {
            Ok(Ok(port)) => driver.port = port,
            Ok(Err(_)) => panic!(
                "chromedriver closed its output without saying it listens ({:?})",
                driver.child.try_wait()
            ),
            Err(_) => panic!("chromedriver did not say it listens within {DEADLINE:?}"),
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session; the driver (and the browser profile) go with it.
struct Browser {
    client: Client,
    _driver: ChromeDriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(tools: &Tools) -> Self {
        let driver = ChromeDriver::start(&tools.chromedriver).await;
        let profile = temp_root();
        // As root Chromium needs --no-sandbox; the network flags keep it from
        // reaching for Google's services, which this sandbox refuses.
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=en-US".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": tools.chromium.display().to_string(),
                "args": args,
            }),
        );
        let client = tokio::time::timeout(
            DEADLINE,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&driver.url()),
        )
        .await
        .expect("Chromium did not start in time")
        .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Waits, up to [`DEADLINE`], for an element to be on the page.
    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .client
            .wait()
            .at_most(DEADLINE)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!("no {css} on {url:?}: {e}")
            }
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Sets a field's value from script: for `<input type="date">`, whose
    /// typed form depends on the browser's locale.
    async fn set_value(&self, css: &str, value: &str) {
        let field = self.wait_for(css).await;
        let arg = serde_json::to_value(&field).unwrap();
        self.client
            .execute(
                "arguments[0].value = arguments[1]; return arguments[0].value;",
                vec![arg, value.into()],
            )
            .await
            .unwrap();
        assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(value));
    }

    async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap();
    }

    async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The element's text; an element replaced while it is read (the page
    /// re-rendered or navigated) is looked up again, until the deadline.
    async fn text_of(&self, css: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            match self.wait_for(css).await.text().await {
                Ok(text) => return text,
                Err(e) if start.elapsed() < DEADLINE => {
                    let _ = e;
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => panic!("cannot read {css}: {e}"),
            }
        }
    }

    /// Logs in through `/login` at `base`, asking to land on `next`.
    async fn login(&self, base: &str, next: &str) {
        self.goto(&format!("{base}/login?next={next}")).await;
        self.fill("#username", USER).await;
        self.fill("#password", PASSWORD).await;
        self.click("#login-submit").await;
        // Logged in: the page names the user.
        self.wait_for("#current-user").await;
        let url = self.client.current_url().await.unwrap();
        assert_eq!(url.path(), next, "after logging in");
    }

    /// Saves a full-page PNG screenshot as `target/screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        // WebDriver captures the viewport: grow it to the whole page first.
        let size = self
            .js("const d = document.documentElement; \
                 return [Math.max(d.scrollWidth, 1280), d.scrollHeight, \
                         window.outerWidth - window.innerWidth, \
                         window.outerHeight - window.innerHeight];")
            .await;
        let n = |i: usize| u32::try_from(size[i].as_u64().unwrap()).unwrap();
        let (width, height) = (n(0) + n(2), (n(1) + n(3)).clamp(600, 10_000));
        let (old_width, old_height) = self.client.get_window_size().await.unwrap();
        self.client.set_window_size(width, height).await.unwrap();
        let png = self.client.screenshot().await.unwrap();
        self.client
            .set_window_size(
                u32::try_from(old_width).unwrap(),
                u32::try_from(old_height).unwrap(),
            )
            .await
            .unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        say(&format!(
            "screenshot: {} ({} bytes)",
            path.display(),
            png.len()
        ));
        path
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// `target/screenshots` of this workspace (or of `CARGO_TARGET_DIR`).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("screenshots")
}

/// Polls `check` until it yields a value, failing after [`DEADLINE`].
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------
// The nodes
// ---------------------------------------------------------------------------

/// A started node serving its dashboard, with one approver account.
async fn dashboard_node(root: &Path, id: &str) -> TestNode {
    let mut node = TestNode::create_with_dashboard(root, id, |_| {}).await;
    node.start().await;
    accounts::add_user(&**node.node().store(), USER, Role::Approver, PASSWORD, 0).unwrap();
    node
}

/// ITU and IETF, each with a dashboard, following each other.
async fn itu_and_ietf(root: &Path) -> (TestNode, TestNode) {
    let itu = dashboard_node(root, "itu").await;
    let ietf = dashboard_node(root, "ietf").await;
    itu.follow(&ietf);
    ietf.follow(&itu);
    (itu, ietf)
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_published_in_the_browser_reaches_the_other_dashboard() {
    let Some(tools) = tools("a_consultation_published_in_the_browser_reaches_the_other_dashboard")
    else {
        return;
    };
    let root = temp_root();
    let (mut itu, mut ietf) = itu_and_ietf(root.path()).await;
    let browser = Browser::start(&tools).await;
    let title = "Review of the International Telecommunication Regulations";

    // At ITU: log in and publish through the form.
    browser.login(&itu.http_url(), "/consultations/new").await;
    browser.wait_for("#publish-form").await;
    browser.fill("#consultation-title", title).await;
    browser
        .fill(
            "#consultation-summary",
            "Comments are invited on the scope of the next review.",
        )
        .await;
    browser
        .set_value("#consultation-closes", "2099-06-30")
        .await;
    browser
        .fill("#consultation-topics", "itrs, internet-governance")
        .await;
    browser.click("#publish-submit").await;
    // The form leads to the new consultation's page.
    browser.wait_for("#consultation").await;
    let path = browser
        .client
        .current_url()
        .await
        .unwrap()
        .path()
        .to_string();
    assert!(path.starts_with("/consultations/itu/"), "landed on {path}");
    assert!(
        browser.text_of("#main").await.contains(title),
        "the new consultation's page shows its title"
    );

    // At IETF (same host, another port: the cookie jar is shared, so log in
    // again): reload the list until ITU's consultation is there.
    let ietf_list = format!("{}/consultations", ietf.http_url());
    browser.login(&ietf.http_url(), "/consultations").await;
    let row_css = "#consultations-table tr[data-origin='itu'][data-uuid]";
    let row = until("ITU's consultation on IETF's dashboard", || async {
        browser.goto(&ietf_list).await;
        browser.wait_for("#consultations-table").await;
        browser
            .client
            .find_all(Locator::Css(row_css))
            .await
            .unwrap()
            .into_iter()
            .next()
    })
    .await;
    let text = row.text().await.unwrap();
    assert!(text.contains(title), "IETF's row reads {text:?}");
    let uuid = row.attr("data-uuid").await.unwrap().unwrap();
    assert_eq!(path, format!("/consultations/itu/{uuid}"));

    browser.screenshot("consultations").await;
    browser.close().await;
    ietf.stop().await;
    itu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liaison_is_acknowledged_in_the_browser_and_the_sender_sees_the_receipt() {
    let Some(tools) =
        tools("a_liaison_is_acknowledged_in_the_browser_and_the_sender_sees_the_receipt")
    else {
        return;
    };
    let root = temp_root();
    let (mut itu, mut ietf) = itu_and_ietf(root.path()).await;
    let title = "Liaison statement on IPv6 address planning";

    // IETF posts a statement for action to ITU.
    let draft = ietf
        .node()
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2099-06-30".into(),
            title: title.into(),
            body: "Please review the attached guidance and tell us what you did.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    let posted = ietf.node().post_liaison(&draft.id).await.unwrap();
    let uuid = comity_core::document::decode_for(&posted)
        .ok()
        .and_then(|b| comity_core::document::uuid_of(&b))
        .unwrap();
    itu.wait_for_seq(&ietf.org, posted.seq()).await;

    // At ITU: log in, find it awaiting action, open it.
    let browser = Browser::start(&tools).await;
    browser.login(&itu.http_url(), "/liaisons").await;
    browser
        .goto(&format!("{}/liaisons?box=awaiting", itu.http_url()))
        .await;
    let row = browser
        .wait_for(&format!(
            "#liaisons-table tr[data-origin='ietf'][data-uuid='{uuid}']"
        ))
        .await;
    assert!(row.text().await.unwrap().contains(title));
    row.find(Locator::Css("a[href*='/liaisons/ietf/']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("#liaison").await;
    let page = format!("/liaisons/ietf/{uuid}");
    assert_eq!(browser.client.current_url().await.unwrap().path(), page);
    let itu_state = "#recipients-table tr[data-org='itu'] td.action-state";
    assert!(
        !browser.text_of(itu_state).await.contains("Action taken"),
        "not acknowledged yet"
    );

    // Acknowledge through the form.
    browser
        .wait_for("#ack-status")
        .await
        .select_by_value("action_taken")
        .await
        .unwrap();
    browser.fill("#ack-note", "Guidance adopted by SG2.").await;
    browser.click("#ack-submit").await;

    // The page shows the new state and the note.
    let state = until("the page to show 'Action taken'", || async {
        let state = browser.text_of(itu_state).await;
        state.contains("Action taken").then_some(state)
    })
    .await;
    assert_eq!(browser.client.current_url().await.unwrap().path(), page);
    let recipients = browser.text_of("#recipients-table").await;
    assert!(
        recipients.contains("Guidance adopted by SG2."),
        "recipients table reads {recipients:?} (state {state:?})"
    );
    // No longer awaiting action at ITU.
    browser
        .goto(&format!("{}/liaisons?box=awaiting", itu.http_url()))
        .await;
    browser.wait_for("#main").await;
    let awaiting = browser
        .client
        .find_all(Locator::Css(&format!("tr[data-uuid='{uuid}']")))
        .await
        .unwrap();
    assert!(
        awaiting.is_empty(),
        "still awaiting action after acknowledging"
    );
    browser.goto(&format!("{}{page}", itu.http_url())).await;
    browser.wait_for("#recipients-table").await;
    browser.screenshot("liaison-acknowledged").await;

    // IETF, the sender, receives ITU's receipt.
    let node = ietf.node().clone();
    eventually("IETF to see ITU's receipt with action taken", || {
        node.show_liaison(&ietf.org, &uuid).is_ok_and(|view| {
            view.recipients.iter().any(|r| {
                r.org == "itu"
                    && r.action_state() == proto::ActionState::ActionTaken
                    && r.receipts.iter().any(|rc| {
                        rc.status() == proto::ReceiptStatus::ActionTaken
                            && rc.note == "Guidance adopted by SG2."
                    })
            })
        })
    })
    .await;

    browser.close().await;
    ietf.stop().await;
    itu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arabic_pages_are_right_to_left() {
    let Some(tools) = tools("arabic_pages_are_right_to_left") else {
        return;
    };
    let root = temp_root();
    let mut itu = dashboard_node(root.path(), "itu").await;
    itu.publish(2).await;
    let browser = Browser::start(&tools).await;
    browser.login(&itu.http_url(), "/consultations").await;

    // English first: left to right.
    let dir = "return [document.documentElement.dir, document.documentElement.lang];";
    assert_eq!(
        browser.js(dir).await,
        serde_json::json!(["ltr", "en"]),
        "the English page"
    );

    browser
        .goto(&format!("{}/consultations?lang=ar", itu.http_url()))
        .await;
    browser.wait_for("#consultations-table").await;
    assert_eq!(
        browser.js(dir).await,
        serde_json::json!(["rtl", "ar"]),
        "<html dir=\"rtl\" lang=\"ar\">"
    );
    // The layout really is mirrored: the computed direction of the page.
    assert_eq!(
        browser
            .js("return getComputedStyle(document.getElementById('main')).direction;")
            .await,
        "rtl"
    );
    // The choice sticks for the next page, without ?lang.
    browser.goto(&format!("{}/liaisons", itu.http_url())).await;
    browser.wait_for("#main").await;
    assert_eq!(browser.js(dir).await, serde_json::json!(["rtl", "ar"]));

    browser
        .goto(&format!("{}/consultations?lang=ar", itu.http_url()))
        .await;
    browser.wait_for("#consultations-table").await;
    browser.screenshot("consultations-ar").await;
    browser.close().await;
    itu.stop().await;
}

/// A consultation of `node`'s in one language, published now.
async fn publish_in(node: &TestNode, lang: &str, title: &str, body: &str) -> String {
    let text = |value: &str| {
        vec![proto::Text {
            lang: lang.into(),
            value: value.into(),
        }]
    };
    let uuid = comity_core::document::new_uuid(time::OffsetDateTime::now_utc());
    let entry = node
        .node()
        .publish(proto::document::Body::Consultation(proto::Consultation {
            uuid: uuid.clone(),
            revision: 1,
            title: text(title),
            body: text(body),
            closes_at: Some(prost_types::Timestamp {
                seconds: 4_000_000_000,
                nanos: 0,
            }),
            status: proto::ConsultationStatus::Open as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    let _ = entry;
    uuid
}

/// Types `words` in the search box of the page open now, submits, and
/// waits for a hit on `uuid` (the partner's index commits on a timer:
/// searches again until it is there). Returns the hit's snippet's marks.
async fn search_in_box(
    browser: &Browser,
    base: &str,
    lang: &str,
    words: &str,
    uuid: &str,
) -> Vec<String> {
    let hit = format!(".search-hit[data-uuid='{uuid}']");
    until(&format!("a hit on {uuid} for {words:?}"), || async {
        browser
            .goto(&format!("{base}/consultations?lang={lang}"))
            .await;
        browser.fill("#search-q", words).await;
        browser.click("#search-submit").await;
        browser.wait_for("#search-count").await;
        browser
            .client
            .find(Locator::Css(&hit))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let marks = browser
        .js(&format!(
            "return Array.from(document.querySelectorAll(\"{hit} .snippet mark\")).map(m => m.textContent);"
        ))
        .await;
    marks
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_box_shows_snippets_in_arabic_and_chinese() {
    let Some(tools) = tools("the_search_box_shows_snippets_in_arabic_and_chinese") else {
        return;
    };
    let root = temp_root();
    let (mut itu, mut ietf) = itu_and_ietf(root.path()).await;
    let arabic = publish_in(
        &ietf,
        "ar",
        "مشاورة بشأن حوكمة الإنترنت",
        "تدعو الهيئة إلى التعليق على مبادئ حوكمة الإنترنت والأمن.",
    )
    .await;
    let chinese = publish_in(
        &ietf,
        "zh-Hans",
        "关于网络安全国际合作的咨询",
        "请各方就网络安全和数据流动提出意见。",
    )
    .await;
    let browser = Browser::start(&tools).await;
    let base = itu.http_url();
    browser.login(&base, "/consultations").await;

    // Arabic: the page and the snippet right to left, the word marked.
    let marks = search_in_box(&browser, &base, "ar", "حوكمة", &arabic).await;
    assert!(
        !marks.is_empty() && marks.iter().all(|m| m == "حوكمة"),
        "{marks:?}"
    );
    assert_eq!(
        browser
            .js("return [document.documentElement.dir, getComputedStyle(document.querySelector('.search-hit .snippet')).direction, document.querySelector('.search-hit .snippet').lang];")
            .await,
        serde_json::json!(["rtl", "rtl", "ar"])
    );
    // The words stay in the box.
    assert_eq!(
        browser
            .wait_for("#search-q")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("حوكمة")
    );
    browser.screenshot("search-ar").await;

    // Chinese: a two-character word inside longer runs of characters.
    let marks = search_in_box(&browser, &base, "zh", "安全", &chinese).await;
    assert!(
        !marks.is_empty() && marks.iter().all(|m| m == "安全"),
        "{marks:?}"
    );
    assert_eq!(
        browser.js("return document.documentElement.lang;").await,
        "zh"
    );
    assert!(
        browser.text_of("#search-count").await.contains('1'),
        "one document found"
    );
    browser.screenshot("search-zh").await;
    browser.close().await;
    itu.stop().await;
    ietf.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_are_relative_with_the_exact_local_time_on_hover() {
    let Some(tools) = tools("times_are_relative_with_the_exact_local_time_on_hover") else {
        return;
    };
    let root = temp_root();
    let mut itu = dashboard_node(root.path(), "itu").await;
    let uuid = publish_in(
        &itu,
        "fr",
        "Révision du Règlement des télécommunications internationales",
        "Vos commentaires sont les bienvenus.",
    )
    .await;
    let browser = Browser::start(&tools).await;
    browser.login(&itu.http_url(), "/consultations").await;
    browser
        .goto(&format!(
            "{}/consultations/itu/{uuid}?lang=fr",
            itu.http_url()
        ))
        .await;
    let published = browser.wait_for("#revisions-table time").await;
    // Relative, in French: published a moment ago (a slow machine may make
    // it a minute or two).
    let text = published.text().await.unwrap();
    assert!(
        text == "à l’instant" || (text.starts_with("il y a ") && text.contains("minute")),
        "the publication time reads {text:?}"
    );
    let datetime = published.attr("datetime").await.unwrap().unwrap();
    assert!(
        time::OffsetDateTime::parse(&datetime, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "datetime={datetime:?}"
    );
    // On hover: the exact instant, which the page's script has put in the
    // browser's own zone (UTC+5:30), no longer the server's UTC.
    let title = until("the script to give the local time", || async {
        let local = published.attr("data-local").await.unwrap();
        let title = published.attr("title").await.unwrap()?;
        local.map(|_| title)
    })
    .await;
    assert!(title.contains("5:30"), "title {title:?}");
    assert!(!title.ends_with(" UTC"), "title {title:?}");
    // The closing date: a day in French, with the time left; no raw RFC 3339
    // anywhere a person reads.
    let main = browser.text_of("#main").await;
    assert!(main.contains("(dans "), "{main}");
    let raw = browser
        .js("return /\\d{4}-\\d{2}-\\d{2}T\\d{2}:/.test(document.body.innerText);")
        .await;
    assert_eq!(
        raw,
        serde_json::json!(false),
        "raw RFC 3339 on the page: {main}"
    );
    browser.screenshot("times-fr").await;
    browser.close().await;
    itu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_posted_in_the_browser_marks_action_taken() {
    let Some(tools) = tools("a_reply_posted_in_the_browser_marks_action_taken") else {
        return;
    };
    let root = temp_root();
    let (mut itu, mut ietf) = itu_and_ietf(root.path()).await;
    let title = "Liaison statement on numbering for IoT";

    // IETF posts a statement for action to ITU.
    let draft = ietf
        .node()
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2099-06-30".into(),
            title: title.into(),
            body: "Please reply with your plan.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    let posted = ietf.node().post_liaison(&draft.id).await.unwrap();
    let uuid = comity_core::document::decode_for(&posted)
        .ok()
        .and_then(|b| comity_core::document::uuid_of(&b))
        .unwrap();
    itu.wait_for_seq(&ietf.org, posted.seq()).await;

    // At ITU: reply through the statement's form; it is saved as a draft.
    let browser = Browser::start(&tools).await;
    let page = format!("/liaisons/ietf/{uuid}");
    browser.login(&itu.http_url(), &page).await;
    let itu_state = "#recipients-table tr[data-org='itu'] td.action-state";
    assert!(browser.text_of(itu_state).await.contains("Awaiting"));
    browser
        .fill("#reply-body", "Our plan is attached to this reply.")
        .await;
    browser.click("#reply-submit").await;
    let row = browser.wait_for("#drafts-table tr[data-draft]").await;
    let id = row.attr("data-draft").await.unwrap().unwrap();
    assert!(row.text().await.unwrap().contains(&format!("Re: {title}")));
    // Not yet posted: not yet action taken.
    assert!(
        !itu.node()
            .show_liaison(&ietf.org, &uuid)
            .unwrap()
            .recipients
            .iter()
            .any(|r| r.action_state() == proto::ActionState::ActionTaken)
    );
    // Approve where the node asks for it, then post.
    if !browser
        .client
        .find_all(Locator::Css(&format!("#approve-{id} button")))
        .await
        .unwrap()
        .is_empty()
    {
        browser.click(&format!("#approve-{id} button")).await;
        browser.wait_for("#drafts-table").await;
    }
    browser.click(&format!("#post-{id} button")).await;
    // Posting leads to the reply's page, which links the original.
    browser.wait_for("#liaison[data-origin='itu']").await;
    let reply_path = browser
        .client
        .current_url()
        .await
        .unwrap()
        .path()
        .to_string();
    let reply_uuid = reply_path.rsplit('/').next().unwrap().to_string();
    browser.click("#in-reply-to a").await;
    browser
        .wait_for(&format!("#liaison[data-uuid='{uuid}']"))
        .await;

    // The original now reads "Action taken" for ITU, with the reply linked.
    assert!(
        browser.text_of(itu_state).await.contains("Action taken"),
        "ITU's state after posting the reply"
    );
    let link = browser
        .wait_for("#recipients-table tr[data-org='itu'] a.receipt-reply")
        .await;
    assert_eq!(link.text().await.unwrap(), format!("Re: {title}"));
    assert_eq!(
        link.attr("href").await.unwrap().unwrap(),
        format!("/liaisons/itu/{reply_uuid}")
    );
    browser.screenshot("liaison-action-taken-by-reply").await;
    // No longer awaiting action at ITU.
    browser
        .goto(&format!("{}/liaisons?box=awaiting", itu.http_url()))
        .await;
    browser.wait_for("#main").await;
    assert!(
        browser
            .client
            .find_all(Locator::Css(&format!("tr[data-uuid='{uuid}']")))
            .await
            .unwrap()
            .is_empty(),
        "still awaiting action after the reply"
    );

    // IETF, the sender, sees the receipt with the reply named.
    let node = ietf.node().clone();
    eventually("IETF to see ITU's action taken by reply", || {
        node.show_liaison(&ietf.org, &uuid).is_ok_and(|view| {
            view.recipients.iter().any(|r| {
                r.org == "itu"
                    && r.action_state() == proto::ActionState::ActionTaken
                    && r.receipts
                        .iter()
                        .any(|rc| rc.reply.as_ref().is_some_and(|d| d.uuid == reply_uuid))
            })
        })
    })
    .await;

    browser.close().await;
    ietf.stop().await;
    itu.stop().await;
}
