//! `comity consultation publish|revise|list|show` and `comity respond`.

use crate::{
    DataArg, Failure, JsonArg, client,
    client::status_failure,
    docfile::{self, Contact, Layer, Loaded, display_ref, parse_ref},
    output,
};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use comity_node::{
    DataDir,
    json::{self, Dialect},
    words,
};
use comity_proto::v1 as proto;
use serde::Deserialize;
use serde_json::Value;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

// Parsed once per process; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ConsultationCommand {
    /// Publish a consultation to this node's log.
    Publish(PublishArgs),
    /// Publish a new revision of one of this node's consultations: extend or
    /// shorten it, close or withdraw it, publish its report.
    Revise(ReviseArgs),
    /// List consultations across the whole federation.
    List(ListArgs),
    /// Show a consultation: revisions, responses, participation, attachments.
    Show {
        /// ORIGIN/UUID, e.g. itu/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b.
        #[arg(value_parser = parse_ref)]
        consultation: proto::DocumentRef,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
}

docfile::document! {
    /// Titles in the six UN languages, beside the one in --lang.
    #[derive(Args, Clone, Debug, Default)]
    pub struct TitleArgs {
        /// Title in English.
        #[arg(long, value_name = "TEXT")]
        pub title_en: Option<String>,
        /// Title in French.
        #[arg(long, value_name = "TEXT")]
        pub title_fr: Option<String>,
        /// Title in Spanish.
        #[arg(long, value_name = "TEXT")]
        pub title_es: Option<String>,
        /// Title in Arabic.
        #[arg(long, value_name = "TEXT")]
        pub title_ar: Option<String>,
        /// Title in Russian.
        #[arg(long, value_name = "TEXT")]
        pub title_ru: Option<String>,
        /// Title in Chinese.
        #[arg(long, value_name = "TEXT")]
        pub title_zh: Option<String>,
    }
}

impl TitleArgs {
    fn by_lang(&self) -> [(&'static str, Option<String>); 6] {
        [
            ("en", self.title_en.clone()),
            ("fr", self.title_fr.clone()),
            ("es", self.title_es.clone()),
            ("ar", self.title_ar.clone()),
            ("ru", self.title_ru.clone()),
            ("zh", self.title_zh.clone()),
        ]
    }
}

docfile::document! {
    /// Summaries in the six UN languages, beside the one in --lang.
    #[derive(Args, Clone, Debug, Default)]
    pub struct SummaryArgs {
        /// Summary in English.
        #[arg(long, value_name = "TEXT")]
        pub summary_en: Option<String>,
        /// Summary in French.
        #[arg(long, value_name = "TEXT")]
        pub summary_fr: Option<String>,
        /// Summary in Spanish.
        #[arg(long, value_name = "TEXT")]
        pub summary_es: Option<String>,
        /// Summary in Arabic.
        #[arg(long, value_name = "TEXT")]
        pub summary_ar: Option<String>,
        /// Summary in Russian.
        #[arg(long, value_name = "TEXT")]
        pub summary_ru: Option<String>,
        /// Summary in Chinese.
        #[arg(long, value_name = "TEXT")]
        pub summary_zh: Option<String>,
    }
}

impl SummaryArgs {
    fn by_lang(&self) -> [(&'static str, Option<String>); 6] {
        [
            ("en", self.summary_en.clone()),
            ("fr", self.summary_fr.clone()),
            ("es", self.summary_es.clone()),
            ("ar", self.summary_ar.clone()),
            ("ru", self.summary_ru.clone()),
            ("zh", self.summary_zh.clone()),
        ]
    }
}

#[derive(Args, Clone)]
pub struct PublishArgs {
    #[command(flatten)]
    pub doc: ConsultationDoc,
    /// Read the consultation from a TOML file (see examples/consultation.toml);
    /// flags given here replace the file's values, lists included.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

docfile::document! {
    /// A consultation, as `consultation publish` flags or as a TOML file for
    /// `--from-file`: each field is a flag and the file's key of the same
    /// name, except those marked file only (`#[arg(skip)]`) or flags only
    /// (`#[serde(skip)]`). Paths in the file are relative to it.
    ///
    /// ```toml
    /// title = "Developmental Aspects of the Internet"
    /// lang = "en"
    /// closes = "2027-03-31"
    /// [titles]
    /// fr = "Aspects du développement de l'Internet"
    /// ```
    #[derive(Args, Clone, Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct ConsultationDoc {
        /// Title, in --lang.
        #[arg(long, required_unless_present = "from_file")]
        pub title: Option<String>,
        /// A short summary, in --lang.
        #[arg(long)]
        pub summary: Option<String>,
        /// Opening date: YYYY-MM-DD (Anywhere-on-Earth) or RFC 3339; default: on publication.
        #[arg(long, value_name = "DATE")]
        pub opens: Option<String>,
        /// Closing date, same forms.
        #[arg(long, value_name = "DATE", required_unless_present = "from_file")]
        pub closes: Option<String>,
        /// End of a reply period after the comment period, same forms.
        #[arg(long, value_name = "DATE")]
        pub reply_closes: Option<String>,
        /// Language tag of title, summary, body and questions; default "en".
        #[arg(long)]
        pub lang: Option<String>,
        /// Flags only: `--title-fr` …; the file has `[titles]`.
        #[command(flatten)]
        #[serde(skip)]
        pub title_flags: TitleArgs,
        /// Flags only: `--summary-fr` …; the file has `[summaries]`.
        #[command(flatten)]
        #[serde(skip)]
        pub summary_flags: SummaryArgs,
        /// File only: titles in further languages, by any language tag.
        #[arg(skip)]
        pub titles: BTreeMap<String, String>,
        /// File only: summaries in further languages, by any language tag.
        #[arg(skip)]
        pub summaries: BTreeMap<String, String>,
        /// File only: the full text inline; or `body_file`, not both.
        #[arg(skip)]
        pub body: Option<String>,
        /// The full text, from a file, in --lang.
        #[arg(long, value_name = "FILE")]
        pub body_file: Option<PathBuf>,
        /// The consultation's own page, http(s).
        #[arg(long, value_name = "URL")]
        pub link: Option<String>,
        /// A keyword, e.g. internet-governance; repeat for more.
        #[arg(long = "topic", value_name = "TOPIC")]
        pub topics: Vec<String>,
        /// A guiding question; repeat for more, numbered in order.
        #[arg(long = "question", value_name = "QUESTION")]
        pub questions: Vec<String>,
        /// A document under consultation; repeat for more (64 MiB each at most).
        #[arg(long = "attach", value_name = "FILE")]
        pub attachments: Vec<PathBuf>,
        /// File only: whom to ask about the consultation.
        #[arg(skip)]
        pub contact: Option<Contact>,
        /// File only: who may respond; absent: anyone.
        #[arg(skip)]
        pub eligibility: Option<EligibilityFile>,
    }
}

impl ConsultationDoc {
    /// The file's paths, read from the file's folder.
    fn paths_from(mut self, base: &Path) -> Self {
        self.body_file = self.body_file.map(|p| base.join(p));
        self.attachments = self.attachments.iter().map(|p| base.join(p)).collect();
        self
    }
}

/// `[eligibility]` in a consultation file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EligibilityFile {
    pub scope: Scope,
    /// Organisation ids, with scope "listed".
    #[serde(default)]
    pub orgs: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    Anyone,
    MemberStates,
    Listed,
}

impl From<EligibilityFile> for proto::Eligibility {
    fn from(e: EligibilityFile) -> Self {
        use proto::eligibility::Scope as S;
        let scope = match e.scope {
            Scope::Anyone => S::Anyone,
            Scope::MemberStates => S::MemberStates,
            Scope::Listed => S::Listed,
        };
        proto::Eligibility {
            scope: scope as i32,
            orgs: e.orgs,
        }
    }
}

/// The request `consultation publish` sends, and the files to attach to it.
pub fn publish_request(
    args: &PublishArgs,
    file: Option<&Loaded<ConsultationDoc>>,
) -> Result<(proto::PublishConsultationRequest, Vec<PathBuf>), String> {
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
    let request = proto::PublishConsultationRequest {
        title: doc.title.unwrap_or_default(),
        summary: doc.summary.unwrap_or_default(),
        lang: doc.lang.unwrap_or_default(),
        opens: doc.opens.unwrap_or_default(),
        closes: doc.closes.unwrap_or_default(),
        topics: doc.topics,
        titles: docfile::texts(&doc.titles, &doc.title_flags.by_lang()),
        summaries: docfile::texts(&doc.summaries, &doc.summary_flags.by_lang()),
        body,
        link: doc.link.unwrap_or_default(),
        questions: doc.questions,
        reply_closes: doc.reply_closes.unwrap_or_default(),
        attachments: Vec::new(),
        contact: doc.contact.map(Into::into),
        eligibility: doc.eligibility.map(Into::into),
    };
    Ok((request, doc.attachments))
}

/// `consultation publish`, and `publish consultation` before it.
pub async fn publish(args: PublishArgs) -> Result<(), Failure> {
    let file = docfile::load_opt::<ConsultationDoc>(args.from_file.as_deref())?;
    let (mut request, attachments) = publish_request(&args, file.as_ref())?;
    request.attachments = docfile::read_attachments(&attachments)?;
    let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
    let published = api
        .publish_consultation(request)
        .await
        .map_err(status_failure)?
        .into_inner();
    output::published(&published, args.json.json);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    Open,
    Closed,
    Withdrawn,
    ReportPublished,
}

impl From<StatusArg> for proto::ConsultationStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Open => Self::Open,
            StatusArg::Closed => Self::Closed,
            StatusArg::Withdrawn => Self::Withdrawn,
            StatusArg::ReportPublished => Self::ReportPublished,
        }
    }
}

/// Where a consultation stands now, as written on the command line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PhaseArg {
    Draft,
    Upcoming,
    Open,
    ReplyPeriod,
    Closed,
    Withdrawn,
    ReportPublished,
}

impl From<PhaseArg> for proto::ConsultationPhase {
    fn from(phase: PhaseArg) -> Self {
        match phase {
            PhaseArg::Draft => Self::Draft,
            PhaseArg::Upcoming => Self::Upcoming,
            PhaseArg::Open => Self::Open,
            PhaseArg::ReplyPeriod => Self::ReplyPeriod,
            PhaseArg::Closed => Self::Closed,
            PhaseArg::Withdrawn => Self::Withdrawn,
            PhaseArg::ReportPublished => Self::ReportPublished,
        }
    }
}

#[derive(Args, Clone)]
pub struct ReviseArgs {
    /// The consultation: its UUID, or ORIGIN/UUID as `publish` printed it.
    /// Only this node's own consultations can be revised.
    pub consultation: String,
    /// New closing date (an extension or an earlier close).
    #[arg(long, value_name = "DATE")]
    pub closes: Option<String>,
    /// New end of the reply period.
    #[arg(long, value_name = "DATE")]
    pub reply_closes: Option<String>,
    /// New status; --report alone implies report_published.
    #[arg(long)]
    pub status: Option<StatusArg>,
    /// The summary report, from a text file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Language tag of the report; default "en".
    #[arg(long)]
    pub lang: Option<String>,
    /// A file of the report (full report, annexes); repeat for more.
    #[arg(long = "attach", value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    #[command(flatten)]
    pub titles: TitleArgs,
    #[command(flatten)]
    pub summaries: SummaryArgs,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

/// The uuid to revise, and the origin when one was written.
fn revise_target(text: &str) -> Result<(Option<String>, String), String> {
    if text.contains('/') {
        let r = parse_ref(text)?;
        Ok((Some(r.origin), r.uuid))
    } else {
        Ok((None, docfile::parse_uuid(text)?))
    }
}

pub fn revise_request(args: &ReviseArgs) -> Result<proto::ReviseConsultationRequest, String> {
    let (_, uuid) = revise_target(&args.consultation)?;
    let report = args
        .report
        .as_deref()
        .map(docfile::read_text)
        .transpose()?
        .unwrap_or_default();
    let status = match (args.status, args.report.is_some()) {
        (Some(s), _) => s.into(),
        (None, true) => proto::ConsultationStatus::ReportPublished,
        (None, false) => proto::ConsultationStatus::Unspecified,
    };
    Ok(proto::ReviseConsultationRequest {
        uuid,
        closes: args.closes.clone().unwrap_or_default(),
        status: status as i32,
        reply_closes: args.reply_closes.clone().unwrap_or_default(),
        report,
        lang: args.lang.clone().unwrap_or_default(),
        report_attachments: Vec::new(),
        titles: docfile::texts(&BTreeMap::new(), &args.titles.by_lang()),
        summaries: docfile::texts(&BTreeMap::new(), &args.summaries.by_lang()),
    })
}

pub async fn revise(args: ReviseArgs) -> Result<(), Failure> {
    let (origin, _) = revise_target(&args.consultation)?;
    let mut request = revise_request(&args)?;
    request.report_attachments = docfile::read_attachments(&args.attach)?;
    let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
    if let Some(origin) = origin {
        let org = api
            .status(proto::StatusRequest {})
            .await
            .map_err(status_failure)?
            .into_inner()
            .org;
        if origin != org {
            return Err(format!(
                "{}: only {origin} can revise its consultations; this node is {org}",
                args.consultation
            )
            .into());
        }
    }
    let published = api
        .revise_consultation(request)
        .await
        .map_err(status_failure)?
        .into_inner();
    output::published(&published, args.json.json);
    Ok(())
}

#[derive(Args, Clone)]
pub struct ListArgs {
    /// Only those open now.
    #[arg(long)]
    pub open: bool,
    /// Only those of this organisation.
    #[arg(long, value_name = "ORG")]
    pub origin: Option<String>,
    /// Only those with this topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Only those with a title in this language.
    #[arg(long)]
    pub lang: Option<String>,
    /// Only those with this status now.
    #[arg(long)]
    pub status: Option<PhaseArg>,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

pub async fn run(command: ConsultationCommand) -> Result<(), Failure> {
    match command {
        ConsultationCommand::Publish(args) => publish(args).await,
        ConsultationCommand::Revise(args) => revise(args).await,
        ConsultationCommand::List(args) => {
            let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
            let list = api
                .list_consultations(proto::ListConsultationsRequest {
                    open: args.open,
                    origin: args.origin.unwrap_or_default(),
                    topic: args.topic.unwrap_or_default(),
                    lang: args.lang.unwrap_or_default(),
                    phase: args
                        .status
                        .map_or(proto::ConsultationPhase::Unspecified, Into::into)
                        as i32,
                })
                .await
                .map_err(status_failure)?
                .into_inner()
                .consultations;
            print_list(&list, args.json.json);
            Ok(())
        }
        ConsultationCommand::Show {
            consultation,
            data,
            json,
        } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            let view = api
                .show_consultation(consultation)
                .await
                .map_err(status_failure)?
                .into_inner();
            print_view(&view, json.json);
            Ok(())
        }
    }
}

#[derive(Args, Clone)]
pub struct RespondArgs {
    #[command(flatten)]
    pub doc: ResponseDoc,
    /// Read the response from a TOML file (see examples/response.toml); flags
    /// given here replace the file's values, lists included.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub json: JsonArg,
}

docfile::document! {
    /// A response, as `respond` flags or as a TOML file for `--from-file`:
    /// each field is a flag (or the positional argument) and the file's key of
    /// the same name. Paths in the file are relative to it.
    #[derive(Args, Clone, Debug, Default, Deserialize)]
    #[command(group(ArgGroup::new("text_source").args(["text_file", "text"])))]
    #[serde(default, deny_unknown_fields)]
    pub struct ResponseDoc {
        /// The consultation: ORIGIN/UUID.
        #[arg(value_parser = docfile::ref_arg, required_unless_present = "from_file")]
        pub consultation: Option<String>,
        /// The response, from a text file.
        #[arg(long, value_name = "FILE")]
        pub text_file: Option<PathBuf>,
        /// The response, inline.
        #[arg(long)]
        pub text: Option<String>,
        /// Language tag of the text; default "en".
        #[arg(long)]
        pub lang: Option<String>,
        /// A group of this organisation responding, e.g. "iab"; default: the organisation.
        #[arg(long, value_name = "GROUP")]
        pub on_behalf_of: Option<String>,
        /// Another response this one answers, in a reply period: ORIGIN/UUID.
        #[arg(long, value_name = "ORIGIN/UUID", value_parser = docfile::ref_arg)]
        pub reply_to: Option<String>,
        /// A file submitted with the response; repeat for more (64 MiB each at most).
        #[arg(long = "attach", value_name = "FILE")]
        pub attachments: Vec<PathBuf>,
    }
}

impl ResponseDoc {
    /// The file's paths, read from the file's folder.
    fn paths_from(mut self, base: &Path) -> Self {
        self.text_file = self.text_file.map(|p| base.join(p));
        self.attachments = self.attachments.iter().map(|p| base.join(p)).collect();
        self
    }
}

pub fn respond_request(
    args: &RespondArgs,
    file: Option<&Loaded<ResponseDoc>>,
) -> Result<(proto::RespondRequest, Vec<PathBuf>), String> {
    let flags = args.doc.clone();
    let file = file.map_or_else(Default::default, |f| f.doc.clone().paths_from(&f.base));
    // The text is one choice made of two fields: see `publish_request`.
    let text = docfile::body_text(
        flags.text.clone(),
        flags.text_file.as_deref(),
        file.text.as_ref(),
        file.text_file.clone(),
        "text",
    )?;
    let doc = flags.over(file);
    let request = proto::RespondRequest {
        consultation: docfile::written_ref("consultation", doc.consultation.as_ref())?,
        text,
        lang: doc.lang.unwrap_or_default(),
        on_behalf_of: doc.on_behalf_of.unwrap_or_default(),
        reply_to: docfile::written_ref("reply_to", doc.reply_to.as_ref())?,
        attachments: Vec::new(),
    };
    Ok((request, doc.attachments))
}

pub async fn respond(args: RespondArgs) -> Result<(), Failure> {
    let file = docfile::load_opt::<ResponseDoc>(args.from_file.as_deref())?;
    let (mut request, attachments) = respond_request(&args, file.as_ref())?;
    if request.consultation.is_none() {
        return Err(
            "say which consultation to respond to: ORIGIN/UUID, or consultation in the file".into(),
        );
    }
    request.attachments = docfile::read_attachments(&attachments)?;
    let mut api = client::connect(&DataDir::new(&args.data.data)).await?;
    let published = api
        .respond(request)
        .await
        .map_err(status_failure)?
        .into_inner();
    output::published(&published, args.json.json);
    Ok(())
}

/// A consultation as `comity consultation show --json` prints it.
pub fn view_json(v: &proto::ConsultationView) -> Value {
    json::consultation_view_json(v, Dialect::Cli)
}

fn print_list(list: &[proto::ConsultationSummary], json: bool) {
    if json {
        output::print_json(&Value::Array(
            list.iter().map(json::consultation_summary_json).collect(),
        ));
        return;
    }
    if list.is_empty() {
        println!("no consultations");
    }
    for s in list {
        println!(
            "{}/{}  rev {}  {:<16} closes {}  {:>3} responses  {}",
            s.origin,
            s.uuid,
            s.revision,
            words::phase(s.phase()),
            output::day(s.closes_at.as_ref()),
            s.responses,
            comity_core::document::first_text(&s.title)
        );
    }
}

fn print_attachments(attachments: &[proto::AttachmentRef], indent: &str) {
    for a in attachments {
        println!(
            "{indent}{}  {} bytes  {}  {}",
            a.name,
            a.size,
            if a.media_type.is_empty() {
                "-"
            } else {
                &a.media_type
            },
            json::hash_hex(&a.hash)
        );
    }
}

fn print_view(v: &proto::ConsultationView, json: bool) {
    if json {
        output::print_json(&view_json(v));
        return;
    }
    let summary = v.summary.clone().unwrap_or_default();
    let current = v.current.clone().unwrap_or_default();
    println!(
        "{}/{}  revision {}  {}",
        summary.origin,
        summary.uuid,
        summary.revision,
        words::phase(summary.phase())
    );
    for t in &current.title {
        println!("  [{}] {}", t.lang, t.value);
    }
    for t in &current.summary {
        println!("  [{}] {}", t.lang, output::first_line(&t.value, 100));
    }
    let reply = current
        .reply_closes_at
        .as_ref()
        .map(|t| format!("  reply period closes {}", output::day(Some(t))))
        .unwrap_or_default();
    println!(
        "opens {}  closes {}{reply}",
        output::day(current.opens_at.as_ref().or(summary.opens_at.as_ref())),
        output::day(current.closes_at.as_ref().or(summary.closes_at.as_ref())),
    );
    if !current.topics.is_empty() {
        println!("topics: {}", current.topics.join(", "));
    }
    if !current.link.is_empty() {
        println!("link: {}", current.link);
    }
    if !current.questions.is_empty() {
        println!("questions:");
        for q in &current.questions {
            println!(
                "  {}. {}",
                q.number,
                comity_core::document::first_text(&q.text)
            );
        }
    }
    println!("revisions:");
    for r in &v.revisions {
        println!(
            "  {:>3}  seq {:<6} {}  closes {}  {}",
            r.revision,
            r.seq,
            output::time(r.created_at.as_ref()),
            output::day(r.closes_at.as_ref()),
            words::phase(r.phase())
        );
    }
    println!("responses ({}):", v.responses.len());
    for r in &v.responses {
        let mut tags = Vec::new();
        // The node names every responder's group, "unspecified" included.
        tags.push(words::stakeholder_group(r.stakeholder_group()).to_string());
        if !r.region.is_empty() {
            tags.push(r.region.clone());
        }
        if !r.on_behalf_of.is_empty() {
            tags.push(format!("on behalf of {}", r.on_behalf_of));
        }
        if let Some(to) = r.replies_to.as_ref().filter(|t| !t.uuid.is_empty()) {
            tags.push(format!("replying to {}", display_ref(to)));
        }
        println!(
            "  {}/{}  {}{}  ({})",
            r.origin,
            r.uuid,
            output::time(r.created_at.as_ref()),
            if r.late { "  LATE" } else { "" },
            tags.join(", ")
        );
        let text = comity_core::document::first_text(&r.text);
        if !text.is_empty() {
            println!("      {}", output::first_line(&text, 90));
        }
        print_attachments(&r.attachments, "      attachment: ");
    }
    let rows = |rows: &[proto::ParticipationRow]| {
        rows.iter()
            .map(|r| format!("{} {}", r.key, r.responses))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !v.by_stakeholder_group.is_empty() {
        println!("by stakeholder group: {}", rows(&v.by_stakeholder_group));
    }
    if !v.by_region.is_empty() {
        println!("by region: {}", rows(&v.by_region));
    }
    if !current.attachments.is_empty() {
        println!("attachments:");
        print_attachments(&current.attachments, "  ");
    }
    if let Some(report) = &current.report {
        println!(
            "report ({}): {}",
            output::time(report.published_at.as_ref()),
            output::first_line(&comity_core::document::first_text(&report.summary), 90)
        );
        print_attachments(&report.attachments, "  ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name)
    }

    #[derive(Parser)]
    struct Publish {
        #[command(flatten)]
        args: PublishArgs,
    }

    #[derive(Parser)]
    struct Respond {
        #[command(flatten)]
        args: RespondArgs,
    }

    #[derive(Parser)]
    struct Revise {
        #[command(flatten)]
        args: ReviseArgs,
    }

    fn loaded<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Loaded<T> {
        Loaded {
            doc: docfile::parse_toml(text).unwrap(),
            base: example(name).parent().unwrap().to_path_buf(),
        }
    }

    const CONSULTATION: &str = include_str!("../examples/consultation.toml");
    const RESPONSE: &str = include_str!("../examples/response.toml");

    #[test]
    fn consultation_example_maps_into_the_request() {
        let file = loaded::<ConsultationDoc>(CONSULTATION, "consultation.toml");
        let args = Publish::try_parse_from(["t", "--from-file", "consultation.toml"])
            .unwrap()
            .args;
        let (r, attachments) = publish_request(&args, Some(&file)).unwrap();
        assert_eq!(r.title, "Developmental Aspects of the Internet");
        assert_eq!(r.lang, "en");
        assert_eq!(r.opens, "2027-01-10");
        assert_eq!(r.closes, "2027-03-31");
        assert!(r.summary.contains("developing countries"), "{}", r.summary);
        assert_eq!(r.titles.len(), 1);
        assert_eq!(r.titles[0].lang, "fr");
        assert!(r.titles[0].value.contains("Internet"));
        assert_eq!(r.summaries[0].lang, "fr");
        assert!(r.body.contains("Council Working Group"));
        assert!(r.link.starts_with("https://www.itu.int/"));
        assert_eq!(r.topics, ["internet-governance", "development"]);
        assert_eq!(r.questions.len(), 4);
        let contact = r.contact.unwrap();
        assert_eq!(contact.email, "cwginternet@itu.int");
        let eligibility = r.eligibility.unwrap();
        assert_eq!(eligibility.scope, proto::eligibility::Scope::Anyone as i32);
        assert!(attachments.is_empty());
        assert!(r.attachments.is_empty());
    }

    #[test]
    fn flags_replace_the_file() {
        let file = loaded::<ConsultationDoc>(CONSULTATION, "consultation.toml");
        let args = Publish::try_parse_from([
            "t",
            "--from-file",
            "consultation.toml",
            "--closes",
            "2027-04-15",
            "--title-fr",
            "Aspects de développement",
            "--title-es",
            "Aspectos de desarrollo",
            "--topic",
            "digital-divide",
            "--attach",
            "annex.pdf",
        ])
        .unwrap()
        .args;
        let (r, attachments) = publish_request(&args, Some(&file)).unwrap();
        assert_eq!(r.closes, "2027-04-15");
        assert_eq!(r.opens, "2027-01-10");
        assert_eq!(r.topics, ["digital-divide"]);
        let titles: Vec<_> = r
            .titles
            .iter()
            .map(|t| (t.lang.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(
            titles,
            [
                ("fr", "Aspects de développement"),
                ("es", "Aspectos de desarrollo")
            ]
        );
        assert_eq!(attachments, [PathBuf::from("annex.pdf")]);
    }

    #[test]
    fn publish_needs_title_and_closes_without_a_file() {
        assert!(Publish::try_parse_from(["t", "--title", "x"]).is_err());
        assert!(Publish::try_parse_from(["t", "--closes", "2027-03-31"]).is_err());
        let args = Publish::try_parse_from(["t", "--title", "T", "--closes", "2027-03-31"])
            .unwrap()
            .args;
        let (r, _) = publish_request(&args, None).unwrap();
        assert_eq!(
            (r.title.as_str(), r.closes.as_str(), r.lang.as_str()),
            ("T", "2027-03-31", "")
        );
        assert!(r.contact.is_none() && r.eligibility.is_none());
    }

    #[test]
    fn unknown_fields_in_a_file_are_refused() {
        let e =
            docfile::parse_toml::<ConsultationDoc>("title = \"x\"\ncloses_at = \"2027-01-01\"\n")
                .unwrap_err();
        assert!(e.contains("line 2") && e.contains("closes_at"), "{e}");
    }

    #[test]
    fn response_example_maps_into_the_request() {
        let file = loaded::<ResponseDoc>(RESPONSE, "response.toml");
        let args = Respond::try_parse_from(["t", "--from-file", "response.toml"])
            .unwrap()
            .args;
        let (r, attachments) = respond_request(&args, Some(&file)).unwrap();
        let c = r.consultation.unwrap();
        assert_eq!(c.origin, "itu");
        assert_eq!(c.uuid, "0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b");
        assert!(r.text.contains("IETF"), "{}", r.text);
        assert_eq!(r.lang, "en");
        assert_eq!(r.on_behalf_of, "iab");
        assert!(r.reply_to.is_none());
        assert!(attachments.is_empty());
    }

    #[test]
    fn respond_flags_override_the_file() {
        let file = loaded::<ResponseDoc>(RESPONSE, "response.toml");
        let args = Respond::try_parse_from([
            "t",
            "ripe-ncc/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3c",
            "--text",
            "Short answer.",
            "--from-file",
            "response.toml",
            "--reply-to",
            "icann/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3d",
        ])
        .unwrap()
        .args;
        let (r, _) = respond_request(&args, Some(&file)).unwrap();
        assert_eq!(r.consultation.unwrap().origin, "ripe-ncc");
        assert_eq!(r.text, "Short answer.");
        assert_eq!(r.reply_to.unwrap().origin, "icann");
    }

    #[test]
    fn respond_refuses_a_malformed_reference() {
        let e = Respond::try_parse_from(["t", "itu", "--text", "x"])
            .err()
            .unwrap();
        assert!(e.to_string().contains("is not a document reference"), "{e}");
        let e = Respond::try_parse_from(["t", "itu/x", "--text", "y", "--text-file", "z"]);
        assert!(e.is_err());
        let file = loaded::<ResponseDoc>(
            "consultation = \"ITU/0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b\"\ntext = \"x\"\n",
            "response.toml",
        );
        let args = Respond::try_parse_from(["t", "--from-file", "f.toml"])
            .unwrap()
            .args;
        let e = respond_request(&args, Some(&file)).unwrap_err();
        assert!(e.starts_with("consultation in the file:"), "{e}");
    }

    #[test]
    fn view_json_uses_proto_names() {
        let t = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let view = proto::ConsultationView {
            summary: Some(proto::ConsultationSummary {
                origin: "itu".into(),
                uuid: "u".into(),
                revision: 2,
                phase: proto::ConsultationPhase::Open as i32,
                closes_at: t(1_800_000_000),
                ..Default::default()
            }),
            current: Some(proto::Consultation {
                status: proto::ConsultationStatus::Open as i32,
                eligibility: Some(proto::Eligibility {
                    scope: proto::eligibility::Scope::MemberStates as i32,
                    orgs: vec![],
                }),
                ..Default::default()
            }),
            responses: vec![proto::ResponseView {
                origin: "ietf".into(),
                late: true,
                stakeholder_group: proto::StakeholderGroup::TechnicalAcademic as i32,
                attachments: vec![proto::AttachmentRef {
                    hash: vec![1; 32],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            by_region: vec![proto::ParticipationRow {
                key: "global".into(),
                responses: 1,
            }],
            ..Default::default()
        };
        let v = view_json(&view);
        assert_eq!(v["summary"]["closes_at"], "2027-01-15T08:00:00Z");
        assert!(v["summary"]["opens_at"].is_null());
        assert_eq!(v["current"]["status"], "open");
        assert_eq!(v["current"]["eligibility"]["scope"], "member_states");
        assert_eq!(v["responses"][0]["late"], true);
        assert_eq!(v["responses"][0]["stakeholder_group"], "technical-academic");
        assert!(v["responses"][0]["replies_to"].is_null());
        assert_eq!(v["responses"][0]["attachments"][0]["hash"], "01".repeat(32));
        assert_eq!(v["by_region"][0]["key"], "global");
    }

    #[test]
    fn revise_takes_a_uuid_or_a_reference() {
        let args = Revise::try_parse_from([
            "t",
            "itu/0196A3C2-5E1F-7D3A-9B2C-4F6E8A1D2C3B",
            "--closes",
            "2027-04-15",
        ])
        .unwrap()
        .args;
        let r = revise_request(&args).unwrap();
        assert_eq!(r.uuid, "0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b");
        assert_eq!(
            (r.closes.as_str(), r.status()),
            ("2027-04-15", proto::ConsultationStatus::Unspecified)
        );

        let args = Revise::try_parse_from([
            "t",
            "0196a3c2-5e1f-7d3a-9b2c-4f6e8a1d2c3b",
            "--status",
            "report_published",
            "--title-fr",
            "Titre",
        ])
        .unwrap()
        .args;
        let r = revise_request(&args).unwrap();
        assert_eq!(r.status(), proto::ConsultationStatus::ReportPublished);
        assert_eq!(r.titles[0].lang, "fr");

        let args = Revise::try_parse_from(["t", "nope"]).unwrap().args;
        assert!(revise_request(&args).unwrap_err().contains("is not a UUID"));
        assert!(Revise::try_parse_from(["t", "x", "--status", "archived"]).is_err());
    }
}
