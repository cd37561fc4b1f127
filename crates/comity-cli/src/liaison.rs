//! `comity liaison draft|approve|post|reply|drafts|list|show` and `comity ack`.
//!
//! Drafts and approvals stay on this node; `post` appends the statement to
//! the log, and `ack` publishes a signed receipt in ours.

use crate::{
    DataArg, Failure, JsonArg, client,
    client::status_failure,
    docfile::{self, Contact, Layer, Loaded, display_ref, parse_contact, parse_ref},
    output,
};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use comity_core::liaison::display_addressee;
use comity_node::{
    DataDir,
    json::{self, Dialect, opt_str, purpose_name, statement_json},
    words,
};
use comity_proto::v1 as proto;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

// Parsed once per process; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum LiaisonCommand {
    /// Write a liaison statement as a draft; it never leaves the node until posted.
    Draft(DraftArgs),
    /// Approve a draft for posting, where this node requires approval.
    Approve {
        /// The draft's id, as `draft` printed it.
        id: String,
        /// Who approves (a name or role, recorded on this node); an account
        /// of this node must be an approver or manage every sending group.
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Post a draft: the statement goes into the log and to its recipients.
    Post {
        /// The draft's id.
        id: String,
        /// Who posts; an account of this node must be an approver or manage
        /// every sending group.
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Draft a reply to a statement: from and to swapped, purpose in_response.
    Reply(ReplyArgs),
    /// List this node's drafts, posted or not.
    Drafts {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List statements in one box.
    List(ListArgs),
    /// Show a statement: its thread, per-recipient receipts and action state.
    Show {
        /// ORIGIN/UUID.
        #[arg(value_parser = parse_ref)]
        liaison: proto::DocumentRef,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
}

/// Why a statement is sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Action,
    Comment,
    Information,
    #[value(name = "in_response", alias = "in-response")]
    #[serde(alias = "in-response")]
    InResponse,
}

impl From<Purpose> for proto::LiaisonPurpose {
    fn from(purpose: Purpose) -> Self {
        match purpose {
            Purpose::Action => Self::Action,
            Purpose::Comment => Self::Comment,
            Purpose::Information => Self::Information,
            Purpose::InResponse => Self::InResponse,
        }
    }
}

/// A recipient as written: "org", "org/group" or a partner's group id, with
/// its own purpose after '=' ("itu-t/sg17=information").
fn parse_recipient(text: &str) -> Result<proto::Recipient, String> {
    words::parse_recipient(text).map_err(|e| e.to_string())
}

/// A recipient flag's value, checked as clap parses it and kept as written,
/// so that flag and file share one field; [`written_recipients`] reads it.
fn recipient_arg(text: &str) -> Result<String, String> {
    parse_recipient(text).map(|_| text.to_string())
}

/// Recipients as written in the flags or the file. The flags' were checked
/// by [`recipient_arg`] already, so an error here is the file's.
fn written_recipients(field: &str, written: &[String]) -> Result<Vec<proto::Recipient>, String> {
    written
        .iter()
        .map(|r| parse_recipient(r).map_err(|e| format!("{field} in the file: {e}")))
        .collect()
}

#[derive(Args, Clone)]
pub struct DraftArgs {
    #[command(flatten)]
    pub doc: LiaisonDoc,
    /// Read the statement from a TOML file (see examples/liaison.toml); flags
    /// given here replace the file's values, lists included.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

docfile::document! {
    /// A liaison statement, as `liaison draft` flags or as a TOML file for
    /// `--from-file`: each field is a flag and the file's key of the same
    /// name. Paths in the file are relative to it.
    ///
    /// ```toml
    /// from = ["itu-t/sg16"]
    /// to = ["w3c/timed-text"]
    /// purpose = "comment"
    /// deadline = "2017-09-30"
    /// title = "Review of TTML2"
    /// body = "…"
    /// ```
    #[derive(Args, Clone, Debug, Default, Deserialize)]
    #[command(group(ArgGroup::new("body_source").args(["body_file", "body"])))]
    #[serde(default, deny_unknown_fields)]
    pub struct LiaisonDoc {
        /// Sending groups of this organisation, e.g. ietf/ccamp; default: the organisation.
        #[arg(long, value_name = "GROUP", num_args = 1..)]
        pub from: Vec<String>,
        /// Recipients: "org", "org/group" or a partner's group id such as
        /// itu-t/sg15; "itu-t/sg17=information" gives one recipient its own purpose.
        #[arg(long, value_name = "RECIPIENT", num_args = 1.., required_unless_present = "from_file", value_parser = recipient_arg)]
        pub to: Vec<String>,
        /// Copied recipients, same forms.
        #[arg(long, value_name = "RECIPIENT", num_args = 1.., value_parser = recipient_arg)]
        pub cc: Vec<String>,
        /// Why it is sent.
        #[arg(long, required_unless_present = "from_file")]
        pub purpose: Option<Purpose>,
        /// YYYY-MM-DD (Anywhere-on-Earth), optionally with a zone: "2027-02-28 +02:00".
        /// Required for action and comment.
        #[arg(long, value_name = "DATE")]
        pub deadline: Option<String>,
        /// Subject, e.g. "Review of TTML2".
        #[arg(long, required_unless_present = "from_file")]
        pub title: Option<String>,
        /// The statement's text, from a file.
        #[arg(long, value_name = "FILE")]
        pub body_file: Option<PathBuf>,
        /// The statement's text, inline.
        #[arg(long, value_name = "TEXT")]
        pub body: Option<String>,
        /// Language tag of title and body; default "en".
        #[arg(long)]
        pub lang: Option<String>,
        /// The statement as a file, or an annex; repeat for more (64 MiB each at most).
        #[arg(long = "attach", value_name = "FILE")]
        pub attachments: Vec<PathBuf>,
        /// Only the organisations addressed get the text; other peers get a stub.
        #[arg(long)]
        pub restricted: bool,
        /// The statement this one answers: ORIGIN/UUID.
        #[arg(long, value_name = "ORIGIN/UUID", value_parser = docfile::ref_arg)]
        pub in_reply_to: Option<String>,
        /// The bodies' own document number, e.g. SG16-LS123; repeat for more.
        #[arg(long = "other-id", value_name = "ID")]
        pub other_ids: Vec<String>,
        /// ROLE:NAME:EMAIL, role from, response-to, technical or cc; repeat for more.
        #[arg(long = "contact", value_name = "ROLE:NAME:EMAIL", value_parser = parse_contact)]
        pub contacts: Vec<Contact>,
    }
}

impl LiaisonDoc {
    /// The file's paths, read from the file's folder.
    fn paths_from(mut self, base: &Path) -> Self {
        self.body_file = self.body_file.map(|p| base.join(p));
        self.attachments = self.attachments.iter().map(|p| base.join(p)).collect();
        self
    }
}

/// The request `liaison draft` sends, and the files to attach to it.
pub fn draft_request(
    args: &DraftArgs,
    file: Option<&Loaded<LiaisonDoc>>,
) -> Result<(proto::DraftLiaisonRequest, Vec<PathBuf>), String> {
    let flags = args.doc.clone();
    let file = file.map_or_else(Default::default, |f| f.doc.clone().paths_from(&f.base));
    // A body is one choice made of two fields, so it is taken as a whole
    // before the flags are laid over the file field by field.
    let body = docfile::body_text(
        flags.body.clone(),
        flags.body_file.as_deref(),
        file.body.as_ref(),
        file.body_file.clone(),
        "body",
    )?;
    let doc = flags.over(file);
    let request = proto::DraftLiaisonRequest {
        from: doc.from,
        to: written_recipients("to", &doc.to)?,
        cc: written_recipients("cc", &doc.cc)?,
        purpose: doc
            .purpose
            .map_or(proto::LiaisonPurpose::Unspecified, Into::into) as i32,
        deadline: doc.deadline.unwrap_or_default(),
        title: doc.title.unwrap_or_default(),
        body,
        lang: doc.lang.unwrap_or_default(),
        attachments: Vec::new(),
        restricted: doc.restricted,
        in_reply_to: docfile::written_ref("in_reply_to", doc.in_reply_to.as_ref())?,
        contacts: doc.contacts.into_iter().map(Into::into).collect(),
        other_identifiers: doc.other_ids,
    };
    Ok((request, doc.attachments))
}

#[derive(Args, Clone)]
#[command(group(ArgGroup::new("body_source").args(["body_file", "body"])))]
pub struct ReplyArgs {
    /// The statement answered: ORIGIN/UUID.
    #[arg(value_parser = parse_ref)]
    pub original: proto::DocumentRef,
    /// The reply's text, from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// The reply's text, inline.
    #[arg(long, value_name = "TEXT")]
    pub body: Option<String>,
    /// Language tag of the text; default "en".
    #[arg(long)]
    pub lang: Option<String>,
    /// Subject; default "Re: " and the original's.
    #[arg(long)]
    pub title: Option<String>,
    /// Sending groups; default: the groups the original addressed here.
    #[arg(long, value_name = "GROUP", num_args = 1..)]
    pub from: Vec<String>,
    /// A file to attach; repeat for more (64 MiB each at most).
    #[arg(long = "attach", value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// Only the organisations addressed get the text.
    #[arg(long)]
    pub restricted: bool,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn reply_request(args: &ReplyArgs) -> Result<proto::ReplyLiaisonRequest, String> {
    let body = docfile::body_text(
        args.body.clone(),
        args.body_file.as_deref(),
        None,
        None,
        "body",
    )?;
    Ok(proto::ReplyLiaisonRequest {
        original: Some(args.original.clone()),
        body,
        lang: args.lang.clone().unwrap_or_default(),
        title: args.title.clone().unwrap_or_default(),
        from: args.from.clone(),
        attachments: Vec::new(),
        restricted: args.restricted,
    })
}

#[derive(Args, Clone)]
#[command(group(
    ArgGroup::new("box")
        .args(["inbox", "outbox", "awaiting_action", "overdue"])
        .required(true)
        .multiple(false)
))]
pub struct ListArgs {
    /// Statements addressed to this organisation.
    #[arg(long)]
    pub inbox: bool,
    /// Statements this organisation posted.
    #[arg(long)]
    pub outbox: bool,
    /// Incoming statements for action, with no "action taken" from us yet.
    #[arg(long)]
    pub awaiting_action: bool,
    /// Incoming or outgoing, past the deadline, action not taken.
    #[arg(long)]
    pub overdue: bool,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

impl ListArgs {
    pub fn request(&self) -> proto::ListLiaisonsRequest {
        use proto::list_liaisons_request::Box as B;
        let chosen = if self.inbox {
            B::Inbox
        } else if self.outbox {
            B::Outbox
        } else if self.awaiting_action {
            B::AwaitingAction
        } else if self.overdue {
            B::Overdue
        } else {
            B::Unspecified
        };
        proto::ListLiaisonsRequest {
            r#box: chosen as i32,
        }
    }
}

#[derive(Args, Clone)]
#[command(group(
    ArgGroup::new("ack_status")
        .args(["received", "accepted_for_action", "action_taken", "reply_coming"])
        .required(true)
        .multiple(false)
))]
pub struct AckArgs {
    /// The statement acknowledged: ORIGIN/UUID.
    #[arg(value_parser = parse_ref)]
    pub liaison: proto::DocumentRef,
    /// It has arrived and is with the right people.
    #[arg(long)]
    pub received: bool,
    /// It is taken up for action.
    #[arg(long)]
    pub accepted_for_action: bool,
    /// The action asked for is done: no longer overdue.
    #[arg(long)]
    pub action_taken: bool,
    /// A reply statement will follow.
    #[arg(long)]
    pub reply_coming: bool,
    /// Free text, e.g. "Forwarded to Q14/15".
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

impl AckArgs {
    pub fn request(&self) -> proto::AcknowledgeRequest {
        use proto::ReceiptStatus as R;
        let status = if self.received {
            R::Received
        } else if self.accepted_for_action {
            R::AcceptedForAction
        } else if self.action_taken {
            R::ActionTaken
        } else if self.reply_coming {
            R::ReplyComing
        } else {
            R::Unspecified
        };
        proto::AcknowledgeRequest {
            liaison: Some(self.liaison.clone()),
            status: status as i32,
            note: self.note.clone().unwrap_or_default(),
        }
    }
}

pub async fn run(command: LiaisonCommand) -> Result<(), Failure> {
    match command {
        LiaisonCommand::Draft(args) => {
            let file = docfile::load_opt::<LiaisonDoc>(args.from_file.as_deref())?;
            let (mut request, attachments) = draft_request(&args, file.as_ref())?;
            request.attachments = docfile::read_attachments(&attachments)?;
            let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
            let draft = api
                .draft_liaison(request)
                .await
                .map_err(status_failure)?
                .into_inner();
            print_draft_made(&draft, "drafted", args.json.json);
            Ok(())
        }
        LiaisonCommand::Approve { id, by, data, json } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            let draft = api
                .approve_liaison(proto::DraftAction {
                    id,
                    by: by.unwrap_or_default(),
                })
                .await
                .map_err(status_failure)?
                .into_inner();
            if json.json {
                output::print_json(&draft_json(&draft));
            } else {
                let by = if draft.approved_by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", draft.approved_by)
                };
                println!(
                    "approved draft {}{by}; post it with `comity liaison post {}`",
                    draft.id, draft.id
                );
            }
            Ok(())
        }
        LiaisonCommand::Post { id, by, data, json } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            let published = api
                .post_liaison(proto::DraftAction {
                    id,
                    by: by.unwrap_or_default(),
                })
                .await
                .map_err(status_failure)?
                .into_inner();
            output::published(&published, json.json);
            Ok(())
        }
        LiaisonCommand::Reply(args) => {
            let mut request = reply_request(&args)?;
            request.attachments = docfile::read_attachments(&args.attach)?;
            let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
            let draft = api
                .reply_liaison(request)
                .await
                .map_err(status_failure)?
                .into_inner();
            print_draft_made(&draft, "drafted reply", args.json.json);
            Ok(())
        }
        LiaisonCommand::Drafts { data, json } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            let drafts = api
                .list_drafts(proto::ListDraftsRequest {})
                .await
                .map_err(status_failure)?
                .into_inner()
                .drafts;
            print_drafts(&drafts, json.json);
            Ok(())
        }
        LiaisonCommand::List(args) => {
            let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
            let list = api
                .list_liaisons(args.request())
                .await
                .map_err(status_failure)?
                .into_inner()
                .liaisons;
            print_list(&list, args.json.json);
            Ok(())
        }
        LiaisonCommand::Show {
            liaison,
            data,
            json,
        } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            let view = api
                .show_liaison(liaison)
                .await
                .map_err(status_failure)?
                .into_inner();
            print_view(&view, json.json);
            Ok(())
        }
    }
}

pub async fn ack(args: AckArgs) -> Result<(), Failure> {
    let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
    let published = api
        .acknowledge(args.request())
        .await
        .map_err(status_failure)?
        .into_inner();
    if args.json.json {
        output::print_json(&output::published_json(&published));
    } else {
        println!(
            "acknowledged {} as {}: receipt at seq {} (entry {})",
            display_ref(&args.liaison),
            words::receipt(args.request().status()).replace('_', " "),
            published.seq,
            published.id
        );
    }
    Ok(())
}

pub fn draft_json(d: &proto::DraftView) -> Value {
    json!({
        "id": d.id,
        "statement": d.statement.as_ref().map(statement_json),
        "restricted": d.restricted,
        "approved": d.approved,
        "approved_by": opt_str(&d.approved_by),
        "needs_approval": d.needs_approval,
        "posted_seq": (d.posted_seq != 0).then_some(d.posted_seq),
    })
}

/// A liaison as `comity liaison list --json` prints it.
pub fn summary_json(s: &proto::LiaisonSummary) -> Value {
    json::liaison_summary_json(s, Dialect::Cli)
}

/// A liaison as `comity liaison show --json` prints it.
pub fn view_json(v: &proto::LiaisonView) -> Value {
    json::liaison_view_json(v, Dialect::Cli)
}

fn draft_line(d: &proto::DraftView) -> String {
    let s = d.statement.clone().unwrap_or_default();
    let state = if d.posted_seq != 0 {
        format!("posted as seq {}", d.posted_seq)
    } else if d.approved {
        "approved".to_string()
    } else if d.needs_approval {
        "awaiting approval".to_string()
    } else {
        "ready to post".to_string()
    };
    let to: Vec<String> = s.to.iter().map(display_addressee).collect();
    format!(
        "{}  {:<18} {:<12} to {}  {}{}",
        d.id,
        state,
        purpose_name(s.purpose).replace('_', " "),
        to.join(", "),
        s.title,
        if d.restricted { "  [restricted]" } else { "" }
    )
}

fn print_draft_made(d: &proto::DraftView, what: &str, json: bool) {
    if json {
        output::print_json(&draft_json(d));
        return;
    }
    let next = if d.needs_approval && !d.approved {
        format!("approve it with `comity liaison approve {}`", d.id)
    } else {
        format!("post it with `comity liaison post {}`", d.id)
    };
    let title = d.statement.as_ref().map_or("", |s| s.title.as_str());
    println!("{what} {} ({title:?}); {next}", d.id);
}

fn print_drafts(drafts: &[proto::DraftView], json: bool) {
    if json {
        output::print_json(&Value::Array(drafts.iter().map(draft_json).collect()));
        return;
    }
    if drafts.is_empty() {
        println!("no drafts");
    }
    for d in drafts {
        println!("{}", draft_line(d));
    }
}

fn summary_line(s: &proto::LiaisonSummary) -> String {
    let deadline = if s.deadline.is_empty() {
        "-".to_string()
    } else {
        s.deadline.clone()
    };
    let mut flags = String::new();
    if s.overdue {
        flags.push_str("  OVERDUE");
    }
    if s.restricted {
        flags.push_str("  [restricted]");
    }
    if s.redacted {
        flags.push_str("  [stub]");
    }
    format!(
        "{}/{}  {:<11} deadline {:<10} {:<19} {}{flags}",
        s.origin,
        s.uuid,
        words::purpose(s.purpose()).replace('_', " "),
        deadline,
        match words::action_state(s.action_state()) {
            "" => "-",
            state => state,
        },
        s.title,
    )
}

fn print_list(list: &[proto::LiaisonSummary], json: bool) {
    if json {
        output::print_json(&Value::Array(list.iter().map(summary_json).collect()));
        return;
    }
    if list.is_empty() {
        println!("no liaison statements");
    }
    for s in list {
        println!("{}", summary_line(s));
        let from = if s.from.is_empty() {
            s.origin.clone()
        } else {
            s.from.join(", ")
        };
        let cc = if s.cc.is_empty() {
            String::new()
        } else {
            format!(" (cc {})", s.cc.join(", "))
        };
        println!("    from {from} to {}{cc}", s.to.join(", "));
    }
}

fn print_view(v: &proto::LiaisonView, json: bool) {
    if json {
        output::print_json(&view_json(v));
        return;
    }
    let summary = v.summary.clone().unwrap_or_default();
    println!("{}", summary_line(&summary));
    println!(
        "posted {} as seq {}",
        output::time(summary.created_at.as_ref()),
        summary.seq
    );
    match &v.statement {
        Some(s) => {
            let from = if s.from_groups.is_empty() {
                summary.origin.clone()
            } else {
                s.from_groups.join(", ")
            };
            let to: Vec<String> = s.to.iter().map(display_addressee).collect();
            println!("from {from} to {}", to.join(", "));
            if !s.cc.is_empty() {
                let cc: Vec<String> = s.cc.iter().map(display_addressee).collect();
                println!("cc {}", cc.join(", "));
            }
            if !s.other_identifiers.is_empty() {
                println!("also known as {}", s.other_identifiers.join(", "));
            }
            for c in &s.contacts {
                println!("contact ({}): {} <{}>", c.role, c.name, c.email);
            }
            if let Some(body) = s.body.as_ref().filter(|b| !b.value.is_empty()) {
                println!();
                for line in body.value.lines() {
                    println!("  {line}");
                }
                println!();
            }
            for a in &s.attachments {
                println!(
                    "attachment: {}  {} bytes  {}  {}",
                    a.name,
                    a.size,
                    a.media_type,
                    json::hash_hex(&a.hash)
                );
            }
        }
        None => println!("(restricted: this node holds only the signed stub)"),
    }
    if let Some(parent) = &v.in_reply_to {
        println!(
            "in reply to {}/{}  {}",
            parent.origin, parent.uuid, parent.title
        );
    }
    if !v.recipients.is_empty() {
        println!("recipients:");
    }
    for r in &v.recipients {
        let who = if r.group.is_empty() {
            r.org.clone()
        } else {
            format!("{}/{}", r.org, r.group)
        };
        let due = if r.deadline.is_empty() {
            String::new()
        } else {
            format!("  due {}", r.deadline)
        };
        println!(
            "  {:<24} {}{:<12} {}{due}{}",
            who,
            if r.cc { "cc " } else { "" },
            words::purpose(r.purpose()).replace('_', " "),
            words::action_state(r.action_state()).replace('_', " "),
            if r.overdue { "  OVERDUE" } else { "" }
        );
        for receipt in &r.receipts {
            let note = if receipt.note.is_empty() {
                String::new()
            } else {
                format!(": {}", receipt.note)
            };
            let reply = receipt
                .reply
                .as_ref()
                .map(|d| format!(" by reply {}/{}", d.origin, d.uuid))
                .unwrap_or_default();
            println!(
                "      {}  {}{reply} (seq {}){note}",
                output::time(receipt.created_at.as_ref()),
                words::receipt(receipt.status()).replace('_', " "),
                receipt.seq
            );
        }
    }
    if !v.replies.is_empty() {
        println!("replies:");
        for r in &v.replies {
            println!("  {}", summary_line(r));
        }
    }
    if v.revisions.len() > 1 {
        println!("revisions:");
        for r in &v.revisions {
            println!(
                "  {:>3}  seq {:<6} {}  {}",
                r.revision,
                r.seq,
                output::time(r.created_at.as_ref()),
                words::phase(r.phase())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    #[derive(Parser)]
    struct Draft {
        #[command(flatten)]
        args: DraftArgs,
    }

    #[derive(Parser)]
    struct List {
        #[command(flatten)]
        args: ListArgs,
    }

    #[derive(Parser)]
    struct Ack {
        #[command(flatten)]
        args: AckArgs,
    }

    #[derive(Parser)]
    struct Reply {
        #[command(flatten)]
        args: ReplyArgs,
    }

    const LIAISON: &str = include_str!("../examples/liaison.toml");

    /// Recipients as they were written.
    fn written(recipients: &[proto::Recipient]) -> Vec<String> {
        recipients
            .iter()
            .map(|r| match words::purpose(r.purpose()) {
                "" => r.to.clone(),
                purpose => format!("{}={purpose}", r.to),
            })
            .collect()
    }

    fn loaded() -> Loaded<LiaisonDoc> {
        Loaded {
            doc: docfile::parse_toml(LIAISON).unwrap(),
            base: Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        }
    }

    #[test]
    fn liaison_example_maps_into_the_request() {
        let file = loaded();
        let args = Draft::try_parse_from(["t", "--from-file", "liaison.toml"])
            .unwrap()
            .args;
        let (r, attachments) = draft_request(&args, Some(&file)).unwrap();
        assert_eq!(r.from, ["itu-t/sg16"]);
        assert_eq!(written(&r.to), ["w3c/timed-text"]);
        assert_eq!(written(&r.cc), ["w3c/html-media=information"]);
        assert_eq!(r.purpose(), proto::LiaisonPurpose::Comment);
        assert_eq!(r.deadline, "2017-09-30");
        assert_eq!(r.title, "Review of TTML2");
        assert_eq!(r.lang, "en");
        assert!(r.body.contains("TTML2"), "{}", r.body);
        assert!(!r.restricted);
        assert!(r.in_reply_to.is_none());
        assert_eq!(r.other_identifiers, ["SG16-LS123"]);
        assert_eq!(r.contacts.len(), 2);
        assert_eq!(r.contacts[0].role, "from");
        assert_eq!(r.contacts[0].email, "tsbsg16@itu.int");
        assert_eq!(r.contacts[1].role, "response-to");
        assert!(attachments.is_empty());
    }

    #[test]
    fn flags_replace_the_file() {
        let file = loaded();
        let args = Draft::try_parse_from([
            "t",
            "--from-file",
            "liaison.toml",
            "--purpose",
            "in-response",
            "--in-reply-to",
            "w3c/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b",
            "--to",
            "w3c",
            "itu/itu-t/sg15",
            "--restricted",
            "--contact",
            "technical:Q14/16 Rapporteur:q14@example.org",
            "--body",
            "Thanks.",
        ])
        .unwrap()
        .args;
        let (r, _) = draft_request(&args, Some(&file)).unwrap();
        assert_eq!(r.purpose(), proto::LiaisonPurpose::InResponse);
        assert_eq!(r.in_reply_to.unwrap().origin, "w3c");
        assert_eq!(written(&r.to), ["w3c", "itu/itu-t/sg15"]);
        assert!(r.restricted);
        assert_eq!(r.contacts.len(), 1);
        assert_eq!(r.contacts[0].name, "Q14/16 Rapporteur");
        assert_eq!(r.body, "Thanks.");
        assert_eq!(r.deadline, "2017-09-30");
    }

    #[test]
    fn recipients_pass_through_as_written() {
        let args = Draft::try_parse_from([
            "t",
            "--from",
            "ietf/ccamp",
            "ietf/teas",
            "--to",
            "itu-t/sg15",
            "--to",
            "itu-t/sg17=information",
            "--cc",
            "ICANN",
            "--purpose",
            "action",
            "--deadline",
            "2027-02-28 +02:00",
            "--title",
            "T",
            "--body",
            "B",
        ])
        .unwrap()
        .args;
        let (r, _) = draft_request(&args, None).unwrap();
        assert_eq!(r.from, ["ietf/ccamp", "ietf/teas"]);
        assert_eq!(written(&r.to), ["itu-t/sg15", "itu-t/sg17=information"]);
        assert_eq!(written(&r.cc), ["ICANN"]);
        assert_eq!(r.deadline, "2027-02-28 +02:00");
        assert_eq!(r.purpose(), proto::LiaisonPurpose::Action);
    }

    #[test]
    fn draft_usage_errors() {
        // Without a file: to, purpose and title are needed.
        assert!(Draft::try_parse_from(["t", "--to", "itu", "--purpose", "action"]).is_err());
        assert!(
            Draft::try_parse_from(["t", "--to", "x", "--purpose", "urgent", "--title", "T"])
                .is_err()
        );
        assert!(
            Draft::try_parse_from(["t", "--from-file", "f", "--body", "a", "--body-file", "b"])
                .is_err()
        );
        assert!(Draft::try_parse_from(["t", "--from-file", "f", "--contact", "nope"]).is_err());
        let e = Draft::try_parse_from(["t", "--from-file", "f", "--in-reply-to", "w3c"])
            .err()
            .unwrap();
        assert!(e.to_string().contains("is not a document reference"), "{e}");
    }

    #[test]
    fn list_takes_exactly_one_box() {
        use proto::list_liaisons_request::Box as B;
        for (flag, want) in [
            ("--inbox", B::Inbox),
            ("--outbox", B::Outbox),
            ("--awaiting-action", B::AwaitingAction),
            ("--overdue", B::Overdue),
        ] {
            let args = List::try_parse_from(["t", flag]).unwrap().args;
            assert_eq!(args.request().r#box, want as i32);
        }
        assert!(List::try_parse_from(["t"]).is_err());
        assert!(List::try_parse_from(["t", "--inbox", "--overdue"]).is_err());
    }

    #[test]
    fn ack_takes_exactly_one_status() {
        let r = "itu/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b";
        let args = Ack::try_parse_from(["t", r, "--action-taken", "--note", "Done in G.8275"])
            .unwrap()
            .args;
        let req = args.request();
        assert_eq!(req.status(), proto::ReceiptStatus::ActionTaken);
        assert_eq!(req.note, "Done in G.8275");
        assert_eq!(
            req.liaison.unwrap().uuid,
            "0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b"
        );
        let args = Ack::try_parse_from(["t", r, "--accepted-for-action"])
            .unwrap()
            .args;
        assert_eq!(
            args.request().status(),
            proto::ReceiptStatus::AcceptedForAction
        );
        assert!(Ack::try_parse_from(["t", r]).is_err());
        assert!(Ack::try_parse_from(["t", r, "--received", "--reply-coming"]).is_err());
        assert!(Ack::try_parse_from(["t", "itu:uuid", "--received"]).is_err());
    }

    #[test]
    fn reply_request_keeps_overrides() {
        let args = Reply::try_parse_from([
            "t",
            "ietf/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b",
            "--body",
            "SG15 thanks CCAMP.",
            "--from",
            "itu-t/sg15",
            "--restricted",
        ])
        .unwrap()
        .args;
        let r = reply_request(&args).unwrap();
        assert_eq!(r.original.unwrap().origin, "ietf");
        assert_eq!(r.from, ["itu-t/sg15"]);
        assert_eq!(r.title, "");
        assert!(r.restricted);
    }

    #[test]
    fn statement_json_uses_proto_names() {
        let s = proto::LiaisonStatement {
            uuid: "u".into(),
            revision: 1,
            title: "Review of TTML2".into(),
            purpose: proto::LiaisonPurpose::InResponse as i32,
            state: proto::LiaisonState::Posted as i32,
            to: vec![proto::Addressee {
                org: "w3c".into(),
                group: "timed-text".into(),
                purpose: 0,
                ..Default::default()
            }],
            deadline: Some(proto::Deadline {
                date: "2017-09-30".into(),
                zone: String::new(),
            }),
            attachments: vec![proto::AttachmentRef {
                hash: vec![0xab; 32],
                size: 3,
                media_type: "application/pdf".into(),
                name: "ls.pdf".into(),
            }],
            ..Default::default()
        };
        let v = statement_json(&s);
        assert_eq!(v["purpose"], "in_response");
        assert_eq!(v["state"], "posted");
        assert_eq!(v["to"][0]["group"], "timed-text");
        assert!(v["to"][0]["purpose"].is_null());
        assert_eq!(v["deadline"]["date"], "2017-09-30");
        assert_eq!(v["attachments"][0]["hash"], "ab".repeat(32));
        assert!(v["in_reply_to"].is_null());
    }
}
