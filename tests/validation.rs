//! Every validation rule of the documents, proved twice: through the local
//! gRPC API (its status code and message) and through the CLI (one line,
//! non-zero exit). Nothing is stored on any failure.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_node::words;
use comity_proto::v1 as proto;
use std::process::Command;
use support::{TestNode, temp_root};
use tonic::Code;

const BIN: &str = env!("CARGO_BIN_EXE_comity");
const UNKNOWN: &str = "itu/01890a5d-ac96-774b-bcce-b302099a8057";

/// One rule: the CLI arguments that break it, the API call that breaks it,
/// and what both must say.
struct Rule {
    name: &'static str,
    cli: Vec<&'static str>,
    code: Code,
    says: &'static str,
}

fn rules() -> Vec<Rule> {
    let draft = |extra: &[&'static str]| {
        let mut args = vec![
            "liaison",
            "draft",
            "--to",
            "itu",
            "--title",
            "LS on SRv6 conformance",
        ];
        args.extend_from_slice(extra);
        args
    };
    let publish = |extra: &[&'static str]| {
        let mut args = vec![
            "consultation",
            "publish",
            "--title",
            "Regular abuse-c validation",
        ];
        args.extend_from_slice(extra);
        args
    };
    vec![
        Rule {
            name: "action needs a deadline",
            cli: draft(&["--purpose", "action", "--body", "Please act."]),
            code: Code::InvalidArgument,
            says: "needs a deadline",
        },
        Rule {
            name: "comment needs a deadline",
            cli: draft(&["--purpose", "comment", "--body", "Please comment."]),
            code: Code::InvalidArgument,
            says: "needs a deadline",
        },
        Rule {
            name: "in response needs in_reply_to",
            cli: draft(&["--purpose", "in_response", "--body", "Our answer."]),
            code: Code::InvalidArgument,
            says: "in_reply_to",
        },
        Rule {
            name: "a body or an attachment",
            cli: draft(&["--purpose", "information", "--body", ""]),
            code: Code::InvalidArgument,
            says: "give a body or at least one attachment",
        },
        Rule {
            name: "closes after opens",
            cli: publish(&["--opens", "2027-03-01", "--closes", "2027-02-01"]),
            code: Code::InvalidArgument,
            says: "closes before it opens",
        },
        Rule {
            name: "closing date is a real day",
            cli: publish(&["--closes", "2027-02-30"]),
            code: Code::InvalidArgument,
            says: "invalid date",
        },
        Rule {
            name: "deadline is a real day",
            cli: draft(&[
                "--purpose",
                "action",
                "--deadline",
                "2027-13-01",
                "--body",
                "x",
            ]),
            code: Code::InvalidArgument,
            says: "deadline",
        },
        Rule {
            name: "language tags are BCP 47",
            cli: publish(&["--closes", "2027-03-31", "--lang", "en_GB"]),
            code: Code::InvalidArgument,
            says: "BCP 47",
        },
        Rule {
            name: "a response answers a known consultation",
            cli: vec!["respond", UNKNOWN, "--text", "Our comments."],
            code: Code::NotFound,
            says: "no consultation",
        },
        Rule {
            name: "a reply answers a known statement",
            cli: draft(&[
                "--purpose",
                "in_response",
                "--in-reply-to",
                UNKNOWN,
                "--body",
                "x",
            ]),
            code: Code::NotFound,
            says: "no liaison statement",
        },
        Rule {
            name: "an acknowledgement names a known statement",
            cli: vec!["ack", UNKNOWN, "--received"],
            code: Code::NotFound,
            says: "no liaison statement",
        },
        Rule {
            name: "recipients are known organisations",
            cli: vec![
                "liaison",
                "draft",
                "--to",
                "nobody-known",
                "--title",
                "t",
                "--purpose",
                "information",
                "--body",
                "x",
            ],
            code: Code::InvalidArgument,
            says: "unknown recipient",
        },
    ]
}

/// The same rule broken through the API.
async fn call_api(
    rule: &Rule,
    api: &mut proto::node_client::NodeClient<tonic::transport::Channel>,
) -> tonic::Status {
    let arg = |flag: &str| {
        rule.cli
            .iter()
            .position(|a| *a == flag)
            .map(|i| rule.cli[i + 1].to_string())
            .unwrap_or_default()
    };
    let unknown = Some(proto::DocumentRef {
        origin: "itu".into(),
        uuid: UNKNOWN[4..].into(),
    });
    let result = match rule.cli[0] {
        "liaison" => api
            .draft_liaison(proto::DraftLiaisonRequest {
                to: vec![words::parse_recipient(&arg("--to")).unwrap()],
                title: arg("--title"),
                purpose: words::parse_purpose(&arg("--purpose")).unwrap() as i32,
                deadline: arg("--deadline"),
                body: arg("--body"),
                in_reply_to: rule
                    .cli
                    .contains(&"--in-reply-to")
                    .then(|| unknown.clone().unwrap()),
                ..Default::default()
            })
            .await
            .map(drop),
        "consultation" => api
            .publish_consultation(proto::PublishConsultationRequest {
                title: arg("--title"),
                opens: arg("--opens"),
                closes: arg("--closes"),
                lang: arg("--lang"),
                ..Default::default()
            })
            .await
            .map(drop),
        "respond" => api
            .respond(proto::RespondRequest {
                consultation: unknown,
                text: arg("--text"),
                ..Default::default()
            })
            .await
            .map(drop),
        "ack" => api
            .acknowledge(proto::AcknowledgeRequest {
                liaison: unknown,
                status: proto::ReceiptStatus::Received as i32,
                ..Default::default()
            })
            .await
            .map(drop),
        other => panic!("no API call for {other}"),
    };
    result.expect_err(rule.name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_has_its_named_error_in_the_api_and_the_cli() {
    let root = temp_root();
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    ietf.follow(&itu);
    let head = ietf.head_seq(&ietf.org);
    let mut api = comity_node::local_api::connect(&ietf.data.socket_path())
        .await
        .unwrap();

    for rule in rules() {
        let status = call_api(&rule, &mut api).await;
        assert_eq!(status.code(), rule.code, "{}: {status:?}", rule.name);
        assert!(
            status.message().contains(rule.says),
            "{}: API said {:?}",
            rule.name,
            status.message()
        );

        let data = ietf.data.root().to_path_buf();
        let cli = rule.cli.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(&cli)
                .arg("--data")
                .arg(&data)
                .env_remove("COMITY_DATA")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: the CLI succeeded", rule.name);
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{}: one line, got {stderr:?}",
            rule.name
        );
        assert!(
            stderr.contains(rule.says),
            "{}: CLI said {stderr:?}",
            rule.name
        );
    }
    assert_eq!(ietf.head_seq(&ietf.org), head, "nothing was published");
    assert!(
        ietf.node().store().drafts().unwrap().is_empty(),
        "no draft was kept"
    );
}
