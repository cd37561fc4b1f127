//! How the CLI prints: short text for people, `--json` for scripts.

use comity_core::{OrgId, PublicKey, dates};
use comity_node::{
    json::{self, Dialect},
    words,
};
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

/// A calendar day for text output: the date part of an RFC 3339 timestamp.
/// An opening or closing date as it was written: "2027-01-11 (AoE)".
pub fn day(t: Option<&prost_types::Timestamp>) -> String {
    t.map(dates::format_day_or_time)
        .unwrap_or_else(|| "-".into())
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

pub fn entries(entries: &[proto::EntrySummary], json: bool) {
    if json {
        print_json(&Value::Array(
            entries
                .iter()
                .map(|e| json::entry_json(e, Dialect::Cli))
                .collect(),
        ));
        return;
    }
    for e in entries {
        println!(
            "{:<12} {:>6}  {:<13} {}  {}  {}",
            e.origin,
            e.seq,
            words::entry_kind(e.kind()),
            &e.id[..16.min(e.id.len())],
            time(e.created_at.as_ref()),
            e.summary
        );
    }
}

pub fn peers(peers: &[proto::PeerStatus], json: bool) {
    if json {
        print_json(&Value::Array(peers.iter().map(json::peer_json).collect()));
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
        let dialled = match (p.dialled.as_str(), p.we_offer) {
            ("us", true) | ("both", true) => format!("dialled by {}, offered", p.dialled),
            (who, _) => format!("dialled by {who}"),
        };
        println!(
            "{:<12} {:<12} {:<24} {:<12} behind {:<6} {}{}",
            p.org,
            state,
            dialled,
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
            "dial_out_only": s.dial_out_only,
            "version": s.version,
            "http": s.http,
            "heads": s.heads.iter().map(|h| json!({
                "origin": h.origin, "seq": h.seq, "hash": h.hash, "frozen": h.frozen,
            })).collect::<Vec<_>>(),
            "peers": s.peers.iter().map(json::peer_json).collect::<Vec<_>>(),
            "equivocations": s.equivocations.iter().map(|e| json!({
                "origin": e.origin, "seq": e.seq, "held_id": e.held_id,
                "conflicting_id": e.conflicting_id, "reported_by": e.reported_by,
                "detected_at": time(e.detected_at.as_ref()),
            })).collect::<Vec<_>>(),
            "refused": s.refused.iter().map(refusal_json).collect::<Vec<_>>(),
            "refused_by_peers": s.refused_by_peers.iter().map(refusal_json).collect::<Vec<_>>(),
            "recovery": s.recovery.as_ref().map(words::recovery).unwrap_or_default(),
        }));
        return;
    }
    if s.dial_out_only {
        println!(
            "{} {} dial-out only (no listening socket; nobody can dial this node, it offers its log to the partners it dials)",
            s.org, s.key
        );
    } else {
        // Reachable is what the node saw: partners with a live link into it.
        let dialled_in: Vec<&str> = s
            .peers
            .iter()
            .filter(|p| p.dialled == "them" || p.dialled == "both")
            .map(|p| p.org.as_str())
            .collect();
        let reach = if dialled_in.is_empty() {
            "no partner has dialled in yet; if none ever does, this node is behind NAT or a firewall, and its log reaches partners over the links it dials".to_string()
        } else {
            format!("reachable: {} dialled in", dialled_in.join(", "))
        };
        println!(
            "{} {} {} (listening on {}; {reach})",
            s.org, s.key, s.endpoint, s.listen
        );
    }
    let recovery = s.recovery.as_ref().map(words::recovery).unwrap_or_default();
    if !recovery.is_empty() {
        println!("{recovery}");
    }
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
    for r in &s.refused {
        println!(
            "REFUSED: {} seq {} ({}), served by {}: {}",
            r.origin, r.seq, r.id, r.peer, r.reason
        );
        println!(
            "  {}'s log stops here until {} serves an entry this node accepts. If {} confirms \
             that its seq {} is {}, accept it: comity peer accept {} {} {}",
            r.origin, r.origin, r.origin, r.seq, r.id, r.origin, r.seq, r.id
        );
    }
    for r in &s.refused_by_peers {
        println!(
            "REFUSED BY {}: our seq {} ({}): {}",
            r.peer, r.seq, r.id, r.reason
        );
    }
}

fn refusal_json(r: &proto::Refusal) -> Value {
    json!({
        "origin": r.origin, "seq": r.seq, "id": r.id, "peer": r.peer,
        "reason": r.reason, "at": time(r.at.as_ref()),
    })
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
