//! The demo's mailbox: an SMTP listener on 127.0.0.1 that takes every mail
//! one demo node's notifier sends and prints who it is for and its subject,
//! so a newcomer sees a reminder e-mail arrive without a mail server.
//!
//! It speaks just the part of SMTP (RFC 5321) the notifier's client uses
//! on a local relay without TLS or login: EHLO/HELO, MAIL, RCPT, DATA,
//! RSET, NOOP and QUIT. It is a sink for the demo on loopback, not a mail
//! server: nothing is stored or relayed.

use std::sync::{Arc, Mutex};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// A mail as the demo shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
}

/// The listener, and the mails it has taken.
pub struct MailSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<tokio::sync::Notify>,
}

/// A mail's DATA is cut here: notifications are a few kilobytes.
const MAX_DATA: usize = 1 << 20;

impl MailSink {
    /// Listens on 127.0.0.1 (a port of the system's choosing) and prints
    /// each mail with `show`.
    pub async fn start(show: impl Fn(&Mail) + Send + Sync + 'static) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let show = Arc::new(show);
        let (count, notify) = (received.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (show, count, notify) = (show.clone(), count.clone(), notify.clone());
                tokio::spawn(async move {
                    match session(stream).await {
                        Ok(mails) => {
                            for mail in mails {
                                show(&mail);
                                count.lock().unwrap_or_else(|e| e.into_inner()).push(mail);
                                notify.notify_waiters();
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "demo mailbox: session ended"),
                    }
                });
            }
        });
        Ok(Self {
            port,
            received,
            arrived,
        })
    }

    /// Waits up to `limit` for a mail that `wanted` accepts; whether one came.
    pub async fn wait_for(
        &self,
        wanted: impl Fn(&Mail) -> bool,
        limit: std::time::Duration,
    ) -> bool {
        let wait = async {
            loop {
                let arrived = self.arrived.notified();
                let found = self
                    .received
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .any(&wanted);
                if found {
                    return;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

/// One SMTP session; the mails it delivered.
async fn session(stream: TcpStream) -> std::io::Result<Vec<Mail>> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 comity-demo ESMTP sink\r\n").await?;
    let mut mails = Vec::new();
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 comity-demo\r\n",
            "MAIL" => {
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let address = line
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_start_matches('<').trim_end_matches('>'))
                    .unwrap_or_default();
                to.push(address.to_string());
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut subject = String::new();
                // Inside the Subject header, which may be folded over lines.
                let mut in_subject = false;
                let mut in_headers = true;
                let mut size = 0;
                while let Some(data) = lines.next_line().await? {
                    if data == "." {
                        break;
                    }
                    size += data.len();
                    if size > MAX_DATA {
                        return Err(std::io::Error::other("mail too large"));
                    }
                    if !in_headers {
                        continue;
                    }
                    if data.is_empty() {
                        in_headers = false;
                    } else if in_subject && data.starts_with([' ', '\t']) {
                        subject.push(' ');
                        subject.push_str(data.trim());
                    } else if let Some(s) = data.strip_prefix("Subject:") {
                        subject = s.trim().to_string();
                        in_subject = true;
                    } else {
                        in_subject = false;
                    }
                }
                mails.push(Mail {
                    to: std::mem::take(&mut to),
                    subject,
                });
                b"250 OK: queued\r\n"
            }
            "RSET" => {
                to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                break;
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(mails)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Mutex;

    /// Long enough for the client to fold it over lines.
    const SUBJECT: &str = "[Comity w3c] Due in 12 days: Review of TTML2, the Timed Text Markup Language, second edition, and its profiles for subtitles";

    /// The notifier's own client (lettre, as `comity-notify` sends) delivers
    /// to the sink, and the sink shows the mail.
    #[tokio::test]
    async fn the_sink_takes_what_the_notifiers_client_sends() {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shown = seen.clone();
        let sink = MailSink::start(move |m| shown.lock().unwrap().push(m.clone()))
            .await
            .unwrap();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(sink.port)
            .build();
        let message = Message::builder()
            .from("comity@w3c.demo.invalid".parse().unwrap())
            .to("liaisons@w3c.demo.invalid".parse().unwrap())
            .subject(SUBJECT)
            .body("Due soon.".to_string())
            .unwrap();
        transport.send(message).await.unwrap();
        assert!(
            sink.wait_for(
                |m| m.subject.contains("Due in"),
                std::time::Duration::from_secs(10)
            )
            .await
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [Mail {
                to: vec!["liaisons@w3c.demo.invalid".into()],
                subject: SUBJECT.into(),
            }]
        );
    }
}
