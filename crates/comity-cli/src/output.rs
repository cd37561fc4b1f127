//! How the CLI prints: short text for people, `--json` for scripts.

use comity_core::{OrgId, PublicKey, dates};
use comity_proto::v1 as proto;
use serde_json::{Value, json};

pub fn id_line(org: &OrgId, key: &PublicKey, endpoint: &str) -> String {
    format!("{org} {key} {endpoint}")
}

pub fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("comity: cannot render JSON: {e}"),
    }
}

pub fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.map(dates::format_timestamp).unwrap_or_default()
}

/// A timestamp for JSON: RFC 3339, or null when absent.
pub fn time_json(t: Option<&prost_types::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(dates::format_timestamp(t)))
}

/// A calendar day for text output: the date part of an RFC 3339 timestamp.
/// An opening or closing date as it was written: "2027-01-11 (AoE)".
pub fn day(t: Option<&prost_types::Timestamp>) -> String {
    t.map(dates::format_day_or_time)
        .unwrap_or_else(|| "-".into())
}

/// Texts by language, as in the proto: `[{"lang": "en", "value": "…"}]`.
pub fn texts_json(texts: &[proto::Text]) -> Value {
    Value::Array(
        texts
            .iter()
            .map(|t| json!({"lang": t.lang, "value": t.value}))
            .collect(),
    )
}

pub fn attachment_json(a: &proto::AttachmentRef) -> Value {
    json!({
        "hash": hash_hex(&a.hash),
        "size": a.size,
        "media_type": a.media_type,
        "name": a.name,
    })
}

pub fn attachments_json(attachments: &[proto::AttachmentRef]) -> Value {
    Value::Array(attachments.iter().map(attachment_json).collect())
}

/// Hex of a 32-byte hash; other lengths (never valid) as plain hex too.
pub fn hash_hex(bytes: &[u8]) -> String {
    comity_core::Hash::from_slice(bytes).map_or_else(
        || bytes.iter().map(|b| format!("{b:02x}")).collect(),
        |h| h.to_hex(),
    )
}

/// A document reference, or null when absent or empty.
pub fn ref_json(r: Option<&proto::DocumentRef>) -> Value {
    match r {
        Some(r) if !r.origin.is_empty() || !r.uuid.is_empty() => {
            json!({"origin": r.origin, "uuid": r.uuid})
        }
        _ => Value::Null,
    }
}

pub fn contact_json(c: &proto::Contact) -> Value {
    json!({"name": c.name, "email": c.email, "role": c.role})
}

/// A proto enum's value name without its prefix, lower case:
/// `LIAISON_PURPOSE_IN_RESPONSE` → `in_response`.
pub fn enum_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// An empty string as null, for optional string fields in JSON.
pub fn opt_str(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_string())
    }
}

/// The first line of a text, cut to `max` characters, for listings.
pub fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

fn entry_json(e: &proto::EntrySummary) -> Value {
    json!({
        "origin": e.origin,
        "seq": e.seq,
        "kind": e.kind,
        "id": e.id,
        "created_at": time(e.created_at.as_ref()),
        "payload_size": e.payload_size,
        "redacted": e.redacted,
        "summary": e.summary,
    })
}

pub fn entries(entries: &[proto::EntrySummary], json: bool) {
    if json {
        print_json(&Value::Array(entries.iter().map(entry_json).collect()));
        return;
    }
    for e in entries {
        println!(
            "{:<12} {:>6}  {:<13} {}  {}  {}",
            e.origin,
            e.seq,
            e.kind,
            &e.id[..16.min(e.id.len())],
            time(e.created_at.as_ref()),
            e.summary
        );
    }
}

fn peer_json(p: &proto::PeerStatus) -> Value {
    json!({
        "org": p.org,
        "key": p.key,
        "endpoint": (!p.endpoint.is_empty()).then_some(&p.endpoint),
        "connected": p.connected,
        "reciprocal": p.reciprocal,
        "last_error": (!p.last_error.is_empty()).then_some(&p.last_error),
        "last_contact": p.last_contact.as_ref().map(dates::format_timestamp),
        "failures": p.failures,
        "serving": p.serving,
        "lag": p.lag.iter().map(|l| json!({
            "origin": l.origin,
            "local_seq": l.local_seq,
            "remote_seq": l.remote_seq,
            "behind": l.remote_seq.saturating_sub(l.local_seq),
        })).collect::<Vec<_>>(),
    })
}

pub fn peers(peers: &[proto::PeerStatus], json: bool) {
    if json {
        print_json(&Value::Array(peers.iter().map(peer_json).collect()));
        return;
    }
    if peers.is_empty() {
        println!("no peers (add one with `comity peer add ORG --key KEY --endpoint URL`)");
    }
    for p in peers {
        let state = match (p.endpoint.is_empty(), p.connected) {
            (true, _) => "key only",
            (false, true) => "connected",
            (false, false) => "disconnected",
        };
        let behind: u64 = p
            .lag
            .iter()
            .map(|l| l.remote_seq.saturating_sub(l.local_seq))
            .sum();
        println!(
            "{:<12} {:<12} {:<12} behind {:<6} {}{}",
            p.org,
            state,
            if p.reciprocal {
                "reciprocal"
            } else {
                "one-way"
            },
            behind,
            p.endpoint,
            if p.last_error.is_empty() {
                String::new()
            } else {
                format!("  last error: {}", p.last_error)
            }
        );
    }
}

pub fn status(s: &proto::StatusResponse, json: bool) {
    if json {
        print_json(&json!({
            "org": s.org,
            "key": s.key,
            "endpoint": s.endpoint,
            "listen": s.listen,
            "version": s.version,
            "http": s.http,
            "heads": s.heads.iter().map(|h| json!({
                "origin": h.origin, "seq": h.seq, "hash": h.hash, "frozen": h.frozen,
            })).collect::<Vec<_>>(),
            "peers": s.peers.iter().map(peer_json).collect::<Vec<_>>(),
            "equivocations": s.equivocations.iter().map(|e| json!({
                "origin": e.origin, "seq": e.seq, "held_id": e.held_id,
                "conflicting_id": e.conflicting_id, "reported_by": e.reported_by,
                "detected_at": time(e.detected_at.as_ref()),
            })).collect::<Vec<_>>(),
        }));
        return;
    }
    println!(
        "{} {} {} (listening on {})",
        s.org, s.key, s.endpoint, s.listen
    );
    if s.http.is_empty() {
        println!("dashboard: off");
    } else {
        println!("dashboard: {}", s.http);
    }
    println!("heads:");
    for h in &s.heads {
        let frozen = if h.frozen {
            "  FROZEN (equivocated)"
        } else {
            ""
        };
        println!(
            "  {:<12} {:>6}  {}{}",
            h.origin,
            h.seq,
            &h.hash[..16.min(h.hash.len())],
            frozen
        );
    }
    println!("peers:");
    peers(&s.peers, false);
    for e in &s.equivocations {
        println!(
            "EQUIVOCATION: {} signed two entries at seq {} ({} and {}), reported by {}",
            e.origin, e.seq, e.held_id, e.conflicting_id, e.reported_by
        );
    }
}

pub fn published_json(p: &proto::PublishResponse) -> Value {
    json!({"origin": p.origin, "seq": p.seq, "id": p.id, "uuid": p.uuid})
}

pub fn published(p: &proto::PublishResponse, json: bool) {
    if json {
        print_json(&published_json(p));
    } else {
        println!(
            "published {}/{} as seq {} (entry {})",
            p.origin, p.uuid, p.seq, p.id
        );
    }
}
