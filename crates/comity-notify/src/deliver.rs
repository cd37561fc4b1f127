//! Sending one delivery: a signed JSON POST, or an e-mail through SMTP.

use crate::events::{Event, EventKind};
use comity_node::config::{EmailConfig, WebhookConfig};
use hmac::{Hmac, Mac};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use sha2::Sha256;
use std::time::Duration;

/// Why an attempt failed. Either way the delivery stays queued, except when
/// its destination is no longer configured.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Failed(String),
    #[error("destination no longer configured")]
    Gone,
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`, the `X-Comity-Signature`
/// header. Receivers compute the same over the raw body and compare.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", crate::hex(&mac.finalize().into_bytes()))
}

pub async fn webhook(
    client: &reqwest::Client,
    hook: &WebhookConfig,
    delivery_id: &str,
    event: &Event,
) -> Result<(), SendError> {
    let body = serde_json::to_vec(event).map_err(|e| SendError::Failed(e.to_string()))?;
    let response = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            "X-Comity-Signature",
            signature(hook.secret.as_bytes(), &body),
        )
        .header("X-Comity-Event", event.event.as_str())
        .header("X-Comity-Delivery", delivery_id)
        .body(body)
        .send()
        .await
        .map_err(|e| SendError::Failed(error_chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError::Failed(format!("{} answered {status}", hook.url)))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The SMTP transport the configuration describes. `none` is plain SMTP to a
/// local relay; `starttls` and `tls` verify the server against the Web PKI.
pub fn transport(
    config: &EmailConfig,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    type T = AsyncSmtpTransport<Tokio1Executor>;
    let failed = |e: lettre::transport::smtp::Error| SendError::Failed(error_chain(&e));
    let builder = match config.security.trim().to_ascii_lowercase().as_str() {
        "none" | "" => T::builder_dangerous(&config.smtp_host),
        "starttls" => T::starttls_relay(&config.smtp_host).map_err(failed)?,
        "tls" => T::relay(&config.smtp_host).map_err(failed)?,
        other => {
            return Err(SendError::Failed(format!(
                "e-mail security {other:?}: use none, starttls or tls"
            )));
        }
    };
    let mut builder = builder.port(config.smtp_port).timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

pub fn subject(event: &Event) -> String {
    let what = match event.event {
        EventKind::Consultation => format!("New consultation from {}", event.origin),
        EventKind::Liaison => format!("Liaison statement from {}", event.origin),
        EventKind::Receipt => format!(
            "{} acknowledged: {}",
            event.by.as_deref().unwrap_or("a recipient"),
            event.status.as_deref().unwrap_or("").replace('_', " ")
        ),
        EventKind::Reminder => match event.days_left {
            Some(0) => "Due today".to_string(),
            Some(1) => "Due tomorrow".to_string(),
            Some(n) => format!("Due in {n} days"),
            None => "Reminder".to_string(),
        },
        EventKind::Overdue => "Overdue".to_string(),
    };
    format!("[Comity {}] {what}: {}", event.node, event.title)
}

pub fn body(event: &Event) -> String {
    let mut lines = vec![event.text.clone(), String::new()];
    let kind = if event.document == "consultation" {
        "Consultation"
    } else {
        "Liaison statement"
    };
    lines.push(format!("{kind}: {}", event.title));
    lines.push(format!("From: {}", event.origin));
    if let Some(purpose) = &event.purpose {
        lines.push(format!("Purpose: {}", purpose.replace('_', " ")));
    }
    if let Some(deadline) = &event.deadline {
        lines.push(format!("Deadline: {deadline}"));
    }
    if let Some(by) = &event.by {
        lines.push(format!(
            "Receipt from {by}: {}",
            event.status.as_deref().unwrap_or("").replace('_', " ")
        ));
    }
    if !event.recipients.is_empty() {
        lines.push(format!("Awaiting action: {}", event.recipients.join(", ")));
    }
    if let Some(url) = &event.url {
        lines.push(String::new());
        lines.push(format!("Open it: {url}"));
    }
    lines.push(String::new());
    lines.push("-- ".into());
    lines.push(format!(
        "Sent by the Comity node of {} ({})",
        event.node, event.id
    ));
    lines.join("\r\n") + "\r\n"
}

pub fn message(config: &EmailConfig, event: &Event) -> Result<Message, SendError> {
    let parse = |what: &str, text: &str| {
        text.parse::<Mailbox>()
            .map_err(|e| SendError::Failed(format!("e-mail {what} {text:?}: {e}")))
    };
    let mut builder = Message::builder()
        .from(parse("from", &config.from)?)
        .subject(subject(event))
        .header(ContentType::TEXT_PLAIN);
    if config.to.is_empty() {
        return Err(SendError::Failed("e-mail has no recipients (to)".into()));
    }
    for to in &config.to {
        builder = builder.to(parse("to", to)?);
    }
    builder
        .body(body(event))
        .map_err(|e| SendError::Failed(e.to_string()))
}

pub async fn email(
    config: &EmailConfig,
    event: &Event,
    timeout: Duration,
) -> Result<(), SendError> {
    let message = message(config, event)?;
    transport(config, timeout)?
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| SendError::Failed(error_chain(&e)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tls_transports_build_with_the_ring_provider() {
        for security in ["none", "starttls", "tls"] {
            let config = EmailConfig {
                smtp_host: "smtp.example.org".into(),
                smtp_port: 587,
                security: security.into(),
                username: Some("u".into()),
                password: Some("p".into()),
                from: "comity@example.org".into(),
                to: vec!["a@example.org".into()],
            };
            transport(&config, Duration::from_secs(1)).unwrap();
        }
    }
}
