//! Notifications end to end: events found on real nodes, delivered to a real
//! webhook receiver (whose HMAC the test checks with its own code) and a real
//! SMTP receiver, retried, resumed after a restart, and timed by the node's
//! clock.
#![allow(clippy::unwrap_used)]

mod support;

use comity_core::proto::{self, document::Body};
use comity_node::{
    clock::{Clock, ManualClock},
    config::{EmailConfig, WebhookConfig},
};
use comity_notify::{Notifier, NotifierOptions};
use std::{sync::Arc, time::Duration};
use support::*;
use time::macros::datetime;

const SECRET: &str = "s3cret-for-tests";

fn fast() -> NotifierOptions {
    NotifierOptions {
        tick: Duration::from_secs(60),
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        min_rescan: Duration::from_millis(50),
    }
}

fn webhook(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        secret: SECRET.into(),
    }
}

#[tokio::test]
async fn a_partners_consultation_reaches_the_webhook_and_the_mailbox() {
    let clock = Arc::new(ManualClock::starting_now());
    let hooks = WebhookReceiver::bind(Vec::new()).await;
    let smtp = SmtpReceiver::start().await;
    let ietf = mem_node(
        config("ietf", |c| {
            c.notifications.webhooks.push(webhook(&hooks.url));
            c.notifications.email = Some(EmailConfig {
                smtp_host: "127.0.0.1".into(),
                smtp_port: smtp.addr.port(),
                security: "none".into(),
                username: None,
                password: None,
                from: "Comity IETF <comity@ietf.test>".into(),
                to: vec!["liaisons@ietf.test".into()],
            });
        }),
        &clock,
    );
    let itu = mem_node(config("itu", |_| {}), &clock);
    pin(&ietf, &itu);
    let notifier = Notifier::with_options(ietf.clone(), fast()).unwrap();
    assert!(notifier.run_once().await.unwrap().events.is_empty());

    let closes = clock.now().unix_timestamp() + 60 * 86_400;
    let theirs = consultation("Internationalized domain names", closes);
    itu.publish(Body::Consultation(theirs.clone()))
        .await
        .unwrap();
    // Our own consultations are not news to us.
    ietf.publish(Body::Consultation(consultation("Our own", closes)))
        .await
        .unwrap();
    sync(&itu, &ietf).await;

    let report = notifier.run_once().await.unwrap();
    let id = format!("consultation:itu:{}", theirs.uuid);
    assert_eq!(report.events, vec![id.clone()]);
    assert_eq!((report.delivered, report.failed), (2, 0));

    let hits = hooks.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert!(signature_is_valid(hit, SECRET), "bad signature");
    assert!(!signature_is_valid(hit, "another secret"));
    assert_eq!(hit.header("X-Comity-Event"), "consultation");
    assert_eq!(hit.header("content-type"), "application/json");
    let delivery = hit.header("X-Comity-Delivery");
    assert_eq!(delivery.len(), 32, "{delivery}");
    let body = hit.json();
    assert_eq!(body["id"], id);
    assert_eq!(body["event"], "consultation");
    assert_eq!(body["node"], "ietf");
    assert_eq!(body["origin"], "itu");
    assert_eq!(body["uuid"], theirs.uuid);
    assert_eq!(body["title"], "Internationalized domain names");
    assert_eq!(
        body["url"],
        format!("{DASHBOARD}/consultations/itu/{}", theirs.uuid)
    );
    assert!(body["deadline"].as_str().unwrap().ends_with('Z'));

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "comity@ietf.test");
    assert_eq!(mail.to, vec!["liaisons@ietf.test".to_string()]);
    assert_eq!(
        mail.header("Subject").unwrap(),
        "[Comity ietf] New consultation from itu: Internationalized domain names"
    );
    assert_eq!(mail.header("To").unwrap(), "liaisons@ietf.test");
    assert!(mail.header("From").unwrap().contains("<comity@ietf.test>"));
    let text = mail.text();
    assert!(
        text.contains(&format!(
            "Open it: {DASHBOARD}/consultations/itu/{}",
            theirs.uuid
        )),
        "{text}"
    );
    assert!(text.contains("From: itu"), "{text}");

    // Once: scanning again finds nothing, sends nothing.
    let again = notifier.run_once().await.unwrap();
    assert!(again.events.is_empty());
    assert_eq!(again.delivered, 0);
    assert_eq!(hooks.hits().len(), 1);
    assert_eq!(smtp.mails().len(), 1);
    assert!(notifier.pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_webhook_is_retried_and_delivered_once() {
    let clock = Arc::new(ManualClock::starting_now());
    let hooks = WebhookReceiver::bind(vec![500, 503]).await;
    let ietf = mem_node(
        config("ietf", |c| {
            c.notifications.webhooks.push(webhook(&hooks.url))
        }),
        &clock,
    );
    let itu = mem_node(config("itu", |_| {}), &clock);
    pin(&ietf, &itu);
    let notifier = Notifier::with_options(ietf.clone(), fast()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = notifier.start(async move {
        let _ = stopped.await;
    });

    // The background loop wakes on the append; nobody calls run_once.
    let closes = clock.now().unix_timestamp() + 30 * 86_400;
    let c = consultation("Root zone KSK rollover", closes);
    itu.publish(Body::Consultation(c.clone())).await.unwrap();
    sync(&itu, &ietf).await;

    eventually("a delivery answered 200", || hooks.delivered().len() == 1).await;
    // Once: the notifier takes it off its queue, and a pass finds nothing
    // more to send.
    settled(&notifier).await;
    let again = notifier.run_once().await.unwrap();
    assert_eq!(again, Default::default());
    let hits = hooks.hits();
    let statuses: Vec<u16> = hits.iter().map(|h| h.status).collect();
    assert_eq!(statuses, vec![500, 503, 200]);
    let ids: Vec<String> = hits.iter().map(|h| h.header("X-Comity-Delivery")).collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert!(hits.iter().all(|h| signature_is_valid(h, SECRET)));
    assert_eq!(hooks.delivered()[0]["uuid"], c.uuid);

    // Time moves without an append: a nudge makes the loop look again.
    clock.advance(time::Duration::days(16));
    notifier.nudge();
    eventually("the 14-day reminder", || hooks.delivered().len() == 2).await;
    let reminder = &hooks.delivered()[1];
    assert_eq!(reminder["event"], "reminder");
    assert_eq!(reminder["days_left"], 14);
    settled(&notifier).await;

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn queued_deliveries_survive_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("store");
    let open = || {
        let options = comity_store::SledOptions {
            flush_every_ms: None,
            ..Default::default()
        };
        Arc::new(comity_store::SledStore::open(&path, options).unwrap())
    };
    // A port held without listening: connections are refused until the
    // receiver listens on it, and no other socket can take it meanwhile.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = reserved.local_addr().unwrap();
    let url = format!("http://{addr}/hook");
    let clock = Arc::new(ManualClock::starting_now());
    let ietf_config = config("ietf", |c| c.notifications.webhooks.push(webhook(&url)));
    let ietf_key = comity_core::IdentityKey::generate();
    let itu = mem_node(config("itu", |_| {}), &clock);
    let c = consultation("Whois accuracy", clock.now().unix_timestamp() + 20 * 86_400);
    itu.publish(Body::Consultation(c.clone())).await.unwrap();

    {
        let ietf = node(ietf_config.clone(), ietf_key.clone(), open(), &clock);
        pin(&ietf, &itu);
        sync(&itu, &ietf).await;
        let notifier = Notifier::with_options(ietf.clone(), fast()).unwrap();
        let report = notifier.run_once().await.unwrap();
        assert_eq!(report.events, vec![format!("consultation:itu:{}", c.uuid)]);
        assert_eq!((report.delivered, report.failed), (0, 1));
        let pending = notifier.pending().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].attempts, 1);
        assert!(pending[0].last_error.is_some());
    }
    // Everything dropped: the sled directory is closed. Reopen it.

    let hooks = WebhookReceiver::start(reserved.listen(16).unwrap(), Vec::new()).await;
    let ietf = node(ietf_config, ietf_key, open(), &clock);
    let notifier = Notifier::with_options(
        ietf.clone(),
        NotifierOptions {
            // Resuming at start must not wait for the backoff.
            retry_initial: Duration::from_secs(3600),
            ..fast()
        },
    )
    .unwrap();
    assert_eq!(notifier.pending().await.unwrap().len(), 1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = notifier.start(async move {
        let _ = stopped.await;
    });
    eventually("the queued delivery after the restart", || {
        hooks.delivered().len() == 1
    })
    .await;
    let body = &hooks.delivered()[0];
    assert_eq!(body["uuid"], c.uuid);
    assert!(signature_is_valid(&hooks.hits()[0], SECRET));
    // Stopped before it took the delivery off its queue, the notifier would
    // rightly send it again at the next pass.
    settled(&notifier).await;
    stop.send(()).unwrap();
    task.await.unwrap();

    // Remembered as sent across the restart: nothing is queued again.
    let again = notifier.run_once().await.unwrap();
    assert!(again.events.is_empty(), "{:?}", again.events);
    assert!(notifier.pending().await.unwrap().is_empty());
    assert_eq!(hooks.hits().len(), 1);
}

/// The reminders and overdue notices of one node, by event, in order.
fn deadline_events(hooks: &WebhookReceiver) -> Vec<String> {
    hooks
        .delivered()
        .iter()
        .filter(|b| b["event"] == "reminder" || b["event"] == "overdue")
        .map(|b| match b["event"].as_str().unwrap() {
            "reminder" => format!("reminder {}", b["days_left"]),
            _ => format!(
                "overdue {}",
                b["detected_at"].as_str().unwrap()[..10].to_owned()
            ),
        })
        .collect()
}

#[tokio::test]
async fn reminders_and_overdue_follow_the_clock_until_action_is_taken() {
    let clock = Arc::new(ManualClock::new(datetime!(2027-03-01 09:00 UTC)));
    let ietf_hooks = WebhookReceiver::bind(Vec::new()).await;
    let itu_hooks = WebhookReceiver::bind(Vec::new()).await;
    let ietf = mem_node(
        config("ietf", |c| {
            c.notifications.webhooks.push(webhook(&ietf_hooks.url))
        }),
        &clock,
    );
    let itu = mem_node(
        config("itu", |c| {
            c.notifications.webhooks.push(webhook(&itu_hooks.url))
        }),
        &clock,
    );
    pin(&ietf, &itu);
    pin(&itu, &ietf);
    let ietf_notifier = Notifier::with_options(ietf.clone(), fast()).unwrap();
    let itu_notifier = Notifier::with_options(itu.clone(), fast()).unwrap();
    let pass = || async {
        ietf_notifier.run_once().await.unwrap();
        itu_notifier.run_once().await.unwrap();
    };

    // ITU asks the IETF for action by 31 March (UTC).
    let statement = liaison_for_action("Review of Y.3000 series", ietf.org(), "2027-03-31");
    itu.publish(Body::Liaison(statement.clone())).await.unwrap();
    sync(&itu, &ietf).await;
    pass().await;
    let arrived = ietf_hooks.delivered();
    assert_eq!(arrived.len(), 1);
    assert_eq!(arrived[0]["event"], "liaison");
    assert_eq!(arrived[0]["id"], format!("liaison:itu:{}", statement.uuid));
    assert_eq!(arrived[0]["purpose"], "action");
    assert_eq!(arrived[0]["deadline"], "2027-03-31 (+00:00)");
    assert_eq!(
        arrived[0]["url"],
        format!("{DASHBOARD}/liaisons/itu/{}", statement.uuid)
    );
    assert!(itu_hooks.delivered().is_empty());

    // A first receipt ("received") reaches the sender; work is still owed.
    ietf.acknowledge(proto::AcknowledgeRequest {
        liaison: Some(proto::DocumentRef {
            origin: "itu".into(),
            uuid: statement.uuid.clone(),
        }),
        status: proto::ReceiptStatus::Received as i32,
        note: String::new(),
    })
    .await
    .unwrap();
    sync(&ietf, &itu).await;
    pass().await;
    let receipts: Vec<_> = itu_hooks
        .delivered()
        .into_iter()
        .filter(|b| b["event"] == "receipt")
        .collect();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["by"], "ietf");
    assert_eq!(receipts[0]["status"], "received");
    assert_eq!(receipts[0]["uuid"], statement.uuid);

    // Day by day to 2 April, twice a day: each reminder once, overdue daily.
    for day in 1..=33 {
        clock.set(datetime!(2027-02-28 09:00 UTC) + time::Duration::days(day));
        pass().await;
        clock.advance(time::Duration::hours(8));
        pass().await;
    }
    let expected_reminders = [
        "reminder 14",
        "reminder 7",
        "reminder 3",
        "reminder 1",
        "reminder 0",
    ];
    let mut expected: Vec<String> = expected_reminders.iter().map(|s| s.to_string()).collect();
    expected.extend([
        "overdue 2027-04-01".to_string(),
        "overdue 2027-04-02".to_string(),
    ]);
    assert_eq!(deadline_events(&ietf_hooks), expected);
    // The sender is reminded too, and told who is late.
    assert_eq!(deadline_events(&itu_hooks), expected);
    let late = itu_hooks.delivered();
    let overdue = late.iter().rfind(|b| b["event"] == "overdue").unwrap();
    assert_eq!(overdue["recipients"], serde_json::json!(["ietf"]));
    assert_eq!(
        overdue["id"],
        format!("overdue:itu:{}:2027-04-02", statement.uuid)
    );

    // The IETF reports the action taken: overdue stops on both sides.
    ietf.acknowledge(proto::AcknowledgeRequest {
        liaison: Some(proto::DocumentRef {
            origin: "itu".into(),
            uuid: statement.uuid.clone(),
        }),
        status: proto::ReceiptStatus::ActionTaken as i32,
        note: "Done at the April interim.".into(),
    })
    .await
    .unwrap();
    sync(&ietf, &itu).await;
    for day in 0..3 {
        clock.set(datetime!(2027-04-03 09:00 UTC) + time::Duration::days(day));
        pass().await;
    }
    assert_eq!(deadline_events(&ietf_hooks), expected);
    assert_eq!(deadline_events(&itu_hooks), expected);
    let last = itu_hooks.delivered().pop().unwrap();
    assert_eq!(last["event"], "receipt");
    assert_eq!(last["status"], "action_taken");
    assert!(ietf_notifier.pending().await.unwrap().is_empty());
    assert!(itu_notifier.pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn open_consultations_are_reminded_until_answered() {
    let clock = Arc::new(ManualClock::new(datetime!(2027-05-01 09:00 UTC)));
    let hooks = WebhookReceiver::bind(Vec::new()).await;
    let ietf = mem_node(
        config("ietf", |c| {
            c.notifications.webhooks.push(webhook(&hooks.url));
            c.notifications.reminder_days = vec![7, 1];
        }),
        &clock,
    );
    let icann = mem_node(config("icann", |_| {}), &clock);
    let ripe = mem_node(config("ripe-ncc", |_| {}), &clock);
    pin(&ietf, &icann);
    pin(&ietf, &ripe);
    let notifier = Notifier::with_options(ietf.clone(), fast()).unwrap();
    // Both close on 15 May, end of day Anywhere-on-Earth.
    let closes = comity_core::dates::parse_end("2027-05-15")
        .unwrap()
        .unix_timestamp();
    let answered = consultation("Registration data policy", closes);
    let unanswered = consultation("IPv6 allocation policy", closes);
    icann
        .publish(Body::Consultation(answered.clone()))
        .await
        .unwrap();
    ripe.publish(Body::Consultation(unanswered.clone()))
        .await
        .unwrap();
    sync(&icann, &ietf).await;
    sync(&ripe, &ietf).await;
    ietf.respond(proto::RespondRequest {
        consultation: Some(proto::DocumentRef {
            origin: "icann".into(),
            uuid: answered.uuid.clone(),
        }),
        text: "We support the proposal.".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    for day in 0..20 {
        clock.set(datetime!(2027-05-01 09:00 UTC) + time::Duration::days(day));
        notifier.run_once().await.unwrap();
    }
    let reminders: Vec<(String, i64)> = hooks
        .delivered()
        .iter()
        .filter(|b| b["event"] == "reminder")
        .map(|b| {
            (
                b["origin"].as_str().unwrap().to_string(),
                b["days_left"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reminders,
        vec![("ripe-ncc".to_string(), 7), ("ripe-ncc".to_string(), 1)]
    );
    let news = hooks
        .delivered()
        .iter()
        .filter(|b| b["event"] == "consultation")
        .count();
    assert_eq!(news, 2);
}

/// Issue 15: one statement "for action" to one body by its own date and
/// "for information" to another (the ITU template). Each recipient is
/// reminded of its own deadline only; the one informed is never reminded;
/// the sender is told who is late by which date.
#[tokio::test]
async fn each_recipient_is_reminded_of_its_own_deadline() {
    let clock = Arc::new(ManualClock::new(datetime!(2027-03-01 09:00 UTC)));
    // Webhooks of ITU, the IETF and ICANN, in that order.
    let hooks = three_hooks().await;
    let node = |id: &str, hook: &WebhookReceiver| {
        mem_node(
            config(id, |c| c.notifications.webhooks.push(webhook(&hook.url))),
            &clock,
        )
    };
    let (itu, ietf, icann) = (
        node("itu", &hooks[0]),
        node("ietf", &hooks[1]),
        node("icann", &hooks[2]),
    );
    for other in [&ietf, &icann] {
        pin(&itu, other);
        pin(other, &itu);
    }
    let mut statement = liaison_for_action("Numbering for IoT", ietf.org(), "2027-03-31");
    // No statement deadline: the IETF has its own, ICANN is informed.
    statement.deadline = None;
    statement.to[0].deadline = Some(proto::Deadline {
        date: "2027-03-10".into(),
        zone: String::new(),
    });
    statement.to.push(proto::Addressee {
        org: "icann".into(),
        purpose: proto::LiaisonPurpose::Information as i32,
        ..Default::default()
    });
    comity_core::liaison::validate(&statement).unwrap();
    itu.publish(Body::Liaison(statement.clone())).await.unwrap();
    let notifiers =
        [&itu, &ietf, &icann].map(|n| Notifier::with_options(n.clone(), fast()).unwrap());
    let pass = || async {
        for n in &notifiers {
            n.run_once().await.unwrap();
        }
    };
    sync(&itu, &ietf).await;
    sync(&itu, &icann).await;
    pass().await;

    // The inboxes say what each is asked, by when.
    let inbox = |node: &Arc<comity_node::Node>| {
        node.list_liaisons(proto::list_liaisons_request::Box::Inbox)
            .unwrap()
            .into_iter()
            .find(|l| l.uuid == statement.uuid)
            .unwrap()
    };
    let at_ietf = inbox(&ietf);
    assert_eq!(at_ietf.purpose(), proto::LiaisonPurpose::Action);
    assert_eq!(at_ietf.deadline, "2027-03-10 (AoE)");
    let at_icann = inbox(&icann);
    assert_eq!(at_icann.purpose(), proto::LiaisonPurpose::Information);
    assert_eq!(at_icann.deadline, "");
    let arrived = hooks[1].delivered();
    assert_eq!(arrived[0]["deadline"], "2027-03-10 (AoE)");
    assert_eq!(hooks[2].delivered()[0]["purpose"], "information");
    assert!(hooks[2].delivered()[0]["deadline"].is_null());

    for day in 1..=12 {
        clock.set(datetime!(2027-03-01 09:00 UTC) + time::Duration::days(day));
        pass().await;
    }
    // Ten days left (Anywhere-on-Earth) at the first pass; 10 March ends
    // at 11 March 12:00 UTC, so the passes at 09:00 see it overdue from
    // the 12th.
    let expected = [
        "reminder 10",
        "reminder 7",
        "reminder 3",
        "reminder 1",
        "reminder 0",
        "overdue 2027-03-12",
        "overdue 2027-03-13",
    ];
    assert_eq!(deadline_events(&hooks[1]), expected);
    assert_eq!(deadline_events(&hooks[0]), expected);
    assert!(
        deadline_events(&hooks[2]).is_empty(),
        "ICANN is informed, never reminded"
    );
    let sent = hooks[0].delivered();
    let overdue = sent.iter().rfind(|b| b["event"] == "overdue").unwrap();
    assert_eq!(overdue["recipients"], serde_json::json!(["ietf"]));
    assert_eq!(overdue["deadline"], "2027-03-10 (AoE)");
    assert_eq!(
        overdue["id"],
        format!("overdue:itu:{}:2027-03-12:2027-03-10", statement.uuid)
    );
}

async fn three_hooks() -> Vec<WebhookReceiver> {
    let mut hooks = Vec::new();
    for _ in 0..3 {
        hooks.push(WebhookReceiver::bind(Vec::new()).await);
    }
    hooks
}
