//! The dashboard's HTML, written with maud: checked at compile time,
//! escaped by default; the only script (`times.js`) is an optional touch
//! on times. Every string a person reads comes from
//! the Fluent catalogues; documents are shown in the reader's language when
//! they have it, else in their own with a note.
//!
//! ## Stable element ids (for browser tests and anyone scripting the pages)
//!
//! - every page: `#nav`, `#lang-menu` (links `#lang-ar`, `#lang-zh`,
//!   `#lang-en`, `#lang-fr`, `#lang-ru`, `#lang-es`), `#current-user`,
//!   `#logout-form`, `#login-link`, `#main`;
//! - `/login`: `#login-form`, `#username`, `#password`, `#login-submit`,
//!   `#login-error`;
//! - `/federation`: `#federation-table` (rows `tr[data-org]`);
//! - `/consultations`: `#filter-form`, `#filter-org`, `#filter-topic`,
//!   `#filter-language`, `#filter-status`, `#filter-submit`,
//!   `#consultations-table` (rows `tr[data-origin][data-uuid]`),
//!   `#new-consultation-link`;
//! - `/consultations/new`: `#publish-form`, `#consultation-title`,
//!   `#consultation-summary`, `#consultation-lang`, `#consultation-opens`,
//!   `#consultation-closes`, `#consultation-reply-closes`,
//!   `#consultation-topics`, `#consultation-body`, `#consultation-link`,
//!   `#consultation-questions`, `#consultation-contact-name`,
//!   `#consultation-contact-email`, `#publish-submit`;
//! - a consultation: `#consultation`, `#consultation-status`, `.fallback-note`,
//!   `#attachments`, `#revisions-table`, `#responses-table` (rows are
//!   `#response-UUID`; late ones carry `.late`), `#participation-group`,
//!   `#participation-region`, `#respond-form`, `#response-text`, `#response-lang`,
//!   `#response-on-behalf`, `#respond-submit`, `#revise-form`,
//!   `#revise-closes`, `#revise-status`, `#revise-reply-closes`,
//!   `#revise-title`, `#revise-report`, `#revise-submit`;
//! - `/liaisons`: `#liaison-tabs` (`#tab-inbox`, `#tab-outbox`,
//!   `#tab-awaiting`, `#tab-overdue`, `#tab-drafts`), `#liaisons-table`
//!   (rows `tr[data-origin][data-uuid]`), `#drafts-table` (rows
//!   `tr[data-draft]`, forms `#approve-<id>` and `#post-<id>`),
//!   `#new-liaison-link`;
//! - `/liaisons/new`: `#liaison-form`, `#liaison-title`, `#liaison-from`,
//!   `#liaison-to`, `#liaison-cc`, `#liaison-purpose`, `#liaison-deadline`,
//!   `#liaison-body`, `#liaison-lang`, `#liaison-restricted`,
//!   `#liaison-identifiers`, `#liaison-submit`;
//! - a liaison: `#liaison`, `#liaison-state`, `#in-reply-to`, `#replies`,
//!   `#recipients-table` (rows `tr[data-org]`, each with its own
//!   `td.deadline`, receipts `.receipt`, the
//!   reply that took the action `a.receipt-reply[data-uuid]`), `#ack-form`, `#ack-status`,
//!   `#ack-note`, `#ack-submit`, `#reply-form`, `#reply-title`,
//!   `#reply-body`, `#reply-submit`;
//! - every page also: `#search-form`, `#search-q`, `#search-submit`;
//! - `/search`: `#search-count`, `#search-none`, `#search-results` (items
//!   `li.search-hit[data-origin][data-uuid][data-kind]`, each with a
//!   `.snippet` whose words found are in `mark`);
//! - error pages: `#error-message`.

use crate::{
    i18n::{Lang, pick},
    model::{ConsultationFilter, Ctx, DraftRow, FederationRow, Pager, Tab, User},
    times,
};
use axum::http::StatusCode;
use comity_core::{Hash, OrgId, dates, proto};
use comity_node::{accounts::Role, words};
use maud::{DOCTYPE, Markup, html};
use std::collections::HashMap;

pub const STYLESHEET: &str = include_str!("style.css");
/// The one script: exact times in the reader's zone (see `times`).
pub const TIMES_SCRIPT: &str = include_str!("times.js");

/// What the frame of a page needs.
struct Chrome<'a> {
    lang: Lang,
    user: Option<&'a User>,
    path: &'a str,
    query: &'a str,
    org: &'a str,
}

impl<'a> Chrome<'a> {
    fn of(ctx: &'a Ctx) -> Self {
        Chrome {
            lang: ctx.lang,
            user: ctx.user.as_ref(),
            path: &ctx.path,
            query: &ctx.query,
            org: ctx.node.org().as_str(),
        }
    }
}

fn layout(c: &Chrome<'_>, title: &str, body: Markup) -> Markup {
    let l = c.lang;
    html! {
        (DOCTYPE)
        html lang=(l.code()) dir=(l.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (c.org) " · Comity" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/times.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "Comity · " (c.org) }
                    nav #nav aria-label=(l.t("nav-label")) {
                        a href="/consultations" { (l.t("nav-consultations")) }
                        a href="/liaisons" { (l.t("nav-liaisons")) }
                        a href="/federation" { (l.t("nav-federation")) }
                    }
                    form #search-form role="search" method="get" action="/search" {
                        input #search-q type="search" name="q" value=(search_text(c))
                            placeholder=(l.t("search-placeholder"))
                            aria-label=(l.t("search-label")) dir="auto";
                        button #search-submit type="submit" { (l.t("search-submit")) }
                    }
                    div.account {
                        @if let Some(user) = c.user {
                            span #current-user { (user.name) " (" (l.t(&format!("role-{}", user.role))) ")" }
                            form #logout-form .inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(user.csrf);
                                button.link type="submit" { (l.t("logout")) }
                            }
                        } @else {
                            a #login-link href="/login" { (l.t("login")) }
                        }
                    }
                    nav #lang-menu aria-label=(l.t("language-menu")) {
                        @for other in Lang::ALL {
                            a id=(format!("lang-{}", other.code()))
                                href=(lang_link(c, other))
                                hreflang=(other.code()) lang=(other.code())
                                aria-current=[(other == l).then_some("true")] {
                                (other.endonym())
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
                footer { (l.ta("footer", &[("org", c.org.to_string()), ("version", env!("CARGO_PKG_VERSION").to_string())])) }
            }
        }
    }
}

/// The words searched for, on the search page, to show them in its box again.
fn search_text(c: &Chrome<'_>) -> String {
    if c.path != "/search" {
        return String::new();
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(c.query)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// The current page in another language, with its filters or tab kept.
fn lang_link(c: &Chrome<'_>, lang: Lang) -> String {
    if c.query.is_empty() {
        format!("{}?lang={}", c.path, lang.code())
    } else {
        format!("{}?{}&lang={}", c.path, c.query, lang.code())
    }
}

fn page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    layout(&Chrome::of(ctx), title, body)
}

pub fn error_page(
    lang: Lang,
    user: Option<&User>,
    path: &str,
    org: &str,
    status: StatusCode,
    message: &str,
) -> Markup {
    let title = match status {
        StatusCode::NOT_FOUND => lang.t("error-title-not-found"),
        StatusCode::FORBIDDEN => lang.t("error-title-forbidden"),
        StatusCode::BAD_REQUEST => lang.t("error-title-bad-request"),
        StatusCode::CONFLICT => lang.t("error-title-conflict"),
        _ => lang.t("error-title"),
    };
    let chrome = Chrome {
        lang,
        user,
        path,
        query: "",
        org,
    };
    layout(
        &chrome,
        &title,
        html! {
            p #error-message .message { (message) }
            p { a href="/consultations" { (lang.t("back-home")) } }
        },
    )
}

fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf()); }
}

/// When something happened: "3 minutes ago", the exact instant on hover.
fn time_el(ctx: &Ctx, t: Option<&prost_types::Timestamp>) -> Markup {
    match t.and_then(dates::from_timestamp) {
        Some(t) => ago(ctx, t),
        None => html! { "—" },
    }
}

fn ago(ctx: &Ctx, t: time::OffsetDateTime) -> Markup {
    html! {
        time datetime=(times::machine(t)) title=(times::exact(ctx.lang, t)) {
            (times::relative(ctx.lang, ctx.node.now(), t))
        }
    }
}

/// When something opens or closes: the day as it was written ("30 June
/// 2099 (AoE)", or the exact instant), and how far off it is.
fn date_el(ctx: &Ctx, t: Option<&prost_types::Timestamp>) -> Markup {
    match t.and_then(dates::from_timestamp) {
        Some(t) => html! {
            time datetime=(times::machine(t)) title=(times::exact(ctx.lang, t)) {
                (times::day_or_exact(ctx.lang, t))
            }
            " " span.note.relative { "(" (times::relative(ctx.lang, ctx.node.now(), t)) ")" }
        },
        None => html! { "—" },
    }
}

/// A statement's deadline as [`comity_core::dates::Deadline`] writes it
/// ("2027-03-31 (AoE)"), in the reader's words, with the time left until
/// it ends. Anything else is shown as written.
fn deadline_el(ctx: &Ctx, written: &str) -> Markup {
    if written.is_empty() {
        return html! { "—" };
    }
    let parsed = written.split_once(" (").and_then(|(date, zone)| {
        let zone = zone.strip_suffix(')')?;
        let zone = if zone == "AoE" { "" } else { zone };
        dates::Deadline::parse(date, zone).ok()
    });
    match parsed {
        Some(d) => {
            let ends = d.ends_at();
            html! {
                time datetime=(times::machine(ends)) title=(times::exact(ctx.lang, ends)) {
                    (times::day_in_zone(ctx.lang, d.date, d.zone))
                }
                " " span.note.relative { "(" (times::relative(ctx.lang, ctx.node.now(), ends)) ")" }
            }
        }
        None => html! { (written) },
    }
}

/// The links between the pages of a list (`#pager`: `#page-prev`,
/// `#page-info`, `#page-next`), keeping the page's other parameters; nothing
/// when the list fits on one page.
fn pager(ctx: &Ctx, pager: &Pager) -> Markup {
    if pager.pages() <= 1 {
        return html! {};
    }
    let kept: Vec<&str> = ctx
        .query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("page="))
        .collect();
    let link = |page: usize| {
        let mut query = kept.clone();
        let page = format!("page={page}");
        query.push(&page);
        format!("{}?{}", ctx.path, query.join("&"))
    };
    html! {
        nav #pager .pager {
            @if pager.page > 1 { a #page-prev rel="prev" href=(link(pager.page - 1)) { (ctx.t("page-prev")) } " " }
            span #page-info { (ctx.ta("page-info", &[
                ("page", pager.page.to_string()),
                ("pages", pager.pages().to_string()),
                ("total", pager.total.to_string()),
            ])) }
            @if pager.page < pager.pages() { " " a #page-next rel="next" href=(link(pager.page + 1)) { (ctx.t("page-next")) } }
        }
    }
}

fn yes_no(ctx: &Ctx, value: bool) -> Markup {
    if value {
        html! { span.yes { (ctx.t("yes")) } }
    } else {
        html! { span.no { (ctx.t("no")) } }
    }
}

/// A document's text in the reader's language, or in its own with a note.
fn doc_text(ctx: &Ctx, texts: &[proto::Text], class: &str) -> Markup {
    match pick(texts, ctx.lang) {
        Some(p) => html! {
            @if p.fallback {
                p.fallback-note.note { (ctx.ta("doc-fallback", &[("language", ctx.lang.language_name(p.lang))])) }
            }
            div class=(class) lang=(p.lang) { (p.value) }
        },
        None => html! {},
    }
}

/// A title in the reader's language, without a note (for lists).
fn title_of(ctx: &Ctx, texts: &[proto::Text]) -> Markup {
    match pick(texts, ctx.lang) {
        Some(p) => html! { span lang=(p.lang) { (p.value) } },
        None => html! { (ctx.t("untitled")) },
    }
}

fn attachment_link(a: &proto::AttachmentRef) -> Markup {
    let Some(hash) = Hash::from_slice(&a.hash) else {
        return html! {};
    };
    let hex = hash.to_hex();
    let q = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let href = format!(
        "/attachments/{hex}?name={}&type={}",
        q(&a.name),
        q(&a.media_type)
    );
    let name = if a.name.is_empty() {
        &hex[..16]
    } else {
        a.name.as_str()
    };
    html! {
        a href=(href) download=(name) data-hash=(hex) { (name) }
        " " span.note { "(" (human_size(a.size)) ")" }
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}

fn status_label(ctx: &Ctx, status: &str) -> String {
    ctx.t(&format!("status-{status}"))
}

fn state_label(ctx: &Ctx, state: &str) -> String {
    ctx.t(&format!("state-{state}"))
}

fn purpose_label(ctx: &Ctx, purpose: &str) -> String {
    if purpose.is_empty() {
        return String::new();
    }
    ctx.t(&format!("purpose-{purpose}"))
}

fn group_label(ctx: &Ctx, group: &str) -> String {
    ctx.t(&format!("sg-{group}"))
}

fn language_options(ctx: &Ctx, selected: &str) -> Markup {
    html! {
        @for l in Lang::ALL {
            option value=(l.code()) selected[l.code() == selected] { (ctx.lang.language_name(l.code())) }
        }
    }
}

pub fn login(ctx: &Ctx, token: &str, next: &str, error: Option<&str>) -> Markup {
    page(
        ctx,
        &ctx.t("login-title"),
        html! {
            @if let Some(error) = error {
                p #login-error .message role="alert" { (error) }
            }
            form #login-form .stack method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                label { (ctx.t("login-username"))
                    input #username name="username" autocomplete="username" required autofocus; }
                label { (ctx.t("login-password"))
                    input #password type="password" name="password" autocomplete="current-password" required; }
                button #login-submit type="submit" { (ctx.t("login")) }
            }
        },
    )
}

pub fn federation(ctx: &Ctx, rows: &[FederationRow], paging: &Pager) -> Markup {
    page(
        ctx,
        &ctx.t("federation-title"),
        html! {
            p.note { (ctx.t("federation-intro")) }
            div.scroll { table #federation-table {
                thead { tr {
                    th { (ctx.t("col-organisation")) }
                    th { (ctx.t("col-stakeholder-group")) }
                    th { (ctx.t("col-region")) }
                    th { (ctx.t("col-reciprocal")) }
                    th { (ctx.t("col-connected")) }
                    th { (ctx.t("col-dialled")) }
                    th { (ctx.t("col-lag")) }
                    th { (ctx.t("col-last-error")) }
                    th { (ctx.t("col-checkpoint")) }
                } }
                tbody {
                    @for row in rows {
                        @let profile = row.profile.clone().unwrap_or_default();
                        tr data-org=(row.org) {
                            td {
                                strong { (row.org) }
                                @if let Some(name) = pick(&profile.names, ctx.lang) {
                                    br; span lang=(name.lang) { (name.value) }
                                }
                                @if row.own { " " span.badge { (ctx.t("this-node")) } }
                            }
                            td { (group_label(ctx, words::stakeholder_group(profile.stakeholder_group()))) }
                            td {
                                (profile.region)
                                @if !profile.country.is_empty() { " (" (profile.country) ")" }
                            }
                            td { @if row.own { "—" } @else { (yes_no(ctx, row.reciprocal)) } }
                            td { @if row.own { "—" } @else { (yes_no(ctx, row.connected)) } }
                            td.dialled data-dialled=(row.dialled) {
                                @if row.own { (ctx.t(&format!("reach-{}", row.dialled))) }
                                @else { (ctx.t(&format!("dialled-{}", row.dialled))) }
                            }
                            td {
                                @if row.own { "—" }
                                @else if row.behind.is_empty() { (ctx.t("lag-none")) }
                                @else {
                                    @for (origin, ours, theirs) in &row.behind {
                                        div { (ctx.ta("lag-entries", &[("origin", origin.clone()), ("count", (theirs - ours).to_string())])) }
                                    }
                                }
                            }
                            td {
                                @if let Some(e) = &row.last_error { span.error { (e) } }
                                @if let Some(t) = row.last_contact {
                                    div.note.last-contact { (ctx.t("last-contact")) " " (ago(ctx, t)) }
                                }
                            }
                            td.checkpoint {
                                @match row.checkpoint {
                                    Some(size) => { (ctx.ta("checkpoint-size", &[("size", size.to_string())])) }
                                    None => { (ctx.t("checkpoint-none")) }
                                }
                                @for (cosigner, size, at) in &row.cosigners {
                                    div.note data-cosigner=(cosigner) {
                                        (ctx.ta("checkpoint-cosigned", &[("org", cosigner.clone())])) " " (ago(ctx, *at))
                                        " (" (ctx.ta("checkpoint-size", &[("size", size.to_string())])) ")"
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            (pager(ctx, paging))
        },
    )
}

const STATUSES: &[&str] = &[
    "upcoming",
    "reply_period",
    "closed",
    "withdrawn",
    "report_published",
    "draft",
];

pub fn consultations(
    ctx: &Ctx,
    filter: &ConsultationFilter,
    list: &[proto::ConsultationSummary],
    paging: &Pager,
    orgs: &[String],
    topics: &[String],
) -> Markup {
    page(
        ctx,
        &ctx.t("consultations-title"),
        html! {
            @if ctx.can(Role::Editor) {
                p { a #new-consultation-link href="/consultations/new" { (ctx.t("consultation-new")) } }
            }
            form #filter-form .filters method="get" action="/consultations" {
                label { (ctx.t("filter-org"))
                    select #filter-org name="org" {
                        option value="" { (ctx.t("filter-any")) }
                        @for o in orgs { option value=(o) selected[*o == filter.org] { (o) } }
                    }
                }
                label { (ctx.t("filter-topic"))
                    input #filter-topic name="topic" value=(filter.topic) list="topics";
                    datalist #topics { @for t in topics { option value=(t); } }
                }
                label { (ctx.t("filter-language"))
                    select #filter-language name="language" {
                        option value="" { (ctx.t("filter-any")) }
                        (language_options(ctx, &filter.language))
                    }
                }
                label { (ctx.t("filter-status"))
                    select #filter-status name="status" {
                        option value="open" selected[filter.status.is_empty() || filter.status == "open"] { (status_label(ctx, "open")) }
                        @for s in STATUSES { option value=(s) selected[filter.status == *s] { (status_label(ctx, s)) } }
                        option value="all" selected[filter.status == "all"] { (ctx.t("filter-all")) }
                    }
                }
                button #filter-submit type="submit" { (ctx.t("filter-apply")) }
            }
            @if list.is_empty() {
                p #no-consultations .note { (ctx.t("consultations-none")) }
            }
            div.scroll { table #consultations-table {
                thead { tr {
                    th { (ctx.t("col-title")) }
                    th { (ctx.t("col-organisation")) }
                    th { (ctx.t("col-topics")) }
                    th { (ctx.t("col-closes")) }
                    th { (ctx.t("col-status")) }
                    th { (ctx.t("col-responses")) }
                } }
                tbody {
                    @for c in list {
                        tr data-origin=(c.origin) data-uuid=(c.uuid) {
                            td { a href=(format!("/consultations/{}/{}", c.origin, c.uuid)) { (title_of(ctx, &c.title)) } }
                            td { (c.origin) }
                            td { (c.topics.join(", ")) }
                            td { (date_el(ctx, c.closes_at.as_ref())) }
                            td { (status_label(ctx, words::phase(c.phase()))) }
                            td { (c.responses) }
                        }
                    }
                }
            } }
            (pager(ctx, paging))
        },
    )
}

pub fn new_consultation(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &ctx.t("consultation-new"),
        html! {
            form #publish-form .stack method="post" action="/consultations" {
                (csrf(ctx))
                label { (ctx.t("field-title"))
                    input #consultation-title name="title" required; }
                label { (ctx.t("field-language"))
                    select #consultation-lang name="lang" { (language_options(ctx, ctx.lang.code())) } }
                label { (ctx.t("field-summary"))
                    textarea #consultation-summary name="summary" {} }
                label { (ctx.t("field-opens"))
                    input #consultation-opens type="date" name="opens"; }
                label { (ctx.t("field-closes"))
                    input #consultation-closes type="date" name="closes" required; }
                label { (ctx.t("field-reply-closes"))
                    input #consultation-reply-closes type="date" name="reply_closes"; }
                label { (ctx.t("field-topics"))
                    input #consultation-topics name="topics" placeholder="internet-governance, ipv6"; }
                label { (ctx.t("field-body"))
                    textarea #consultation-body name="body" {} }
                label { (ctx.t("field-link"))
                    input #consultation-link type="url" name="link" placeholder="https://"; }
                label { (ctx.t("field-questions"))
                    textarea #consultation-questions name="questions" {} }
                label { (ctx.t("field-contact-name"))
                    input #consultation-contact-name name="contact_name"; }
                label { (ctx.t("field-contact-email"))
                    input #consultation-contact-email type="email" name="contact_email"; }
                p.note { (ctx.t("dates-note")) }
                button #publish-submit type="submit" { (ctx.t("publish")) }
            }
        },
    )
}

fn participation(
    ctx: &Ctx,
    id: &str,
    heading: &str,
    rows: &[proto::ParticipationRow],
    groups: bool,
) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { (heading) } th { (ctx.t("col-responses")) } } }
            tbody {
                @for r in rows {
                    tr {
                        td { @if groups { (group_label(ctx, &r.key)) } @else if r.key == "unspecified" { (ctx.t("sg-unspecified")) } @else { (r.key) } }
                        td { (r.responses) }
                    }
                }
            }
        }
    }
}

pub fn consultation(ctx: &Ctx, origin: &OrgId, view: &proto::ConsultationView) -> Markup {
    let c = view.current.clone().unwrap_or_default();
    let summary = view.summary.clone().unwrap_or_default();
    let title = pick(&c.title, ctx.lang)
        .map(|p| p.value.to_string())
        .unwrap_or_else(|| ctx.t("untitled"));
    let base = format!("/consultations/{origin}/{}", c.uuid);
    let own = origin == ctx.node.org();
    let groups = &ctx.node.config().profile.groups;
    page(
        ctx,
        &title,
        html! {
            article #consultation data-origin=(origin) data-uuid=(c.uuid) {
                @if let Some(p) = pick(&c.title, ctx.lang) && p.fallback {
                    p.fallback-note.note { (ctx.ta("doc-fallback", &[("language", ctx.lang.language_name(p.lang))])) }
                }
                dl {
                    dt { (ctx.t("col-organisation")) } dd { (origin) }
                    dt { (ctx.t("col-status")) } dd #consultation-status { (status_label(ctx, words::phase(summary.phase()))) }
                    dt { (ctx.t("field-opens")) } dd { (date_el(ctx, c.opens_at.as_ref())) }
                    dt { (ctx.t("field-closes")) } dd { (date_el(ctx, c.closes_at.as_ref())) }
                    @if c.reply_closes_at.is_some() {
                        dt { (ctx.t("field-reply-closes")) } dd { (date_el(ctx, c.reply_closes_at.as_ref())) }
                    }
                    dt { (ctx.t("col-topics")) } dd { (c.topics.join(", ")) }
                    dt { (ctx.t("col-revision")) } dd { (c.revision) }
                    @if !c.link.is_empty() {
                        dt { (ctx.t("field-link")) } dd { a href=(c.link) rel="noopener noreferrer" { (c.link) } }
                    }
                    @if let Some(contact) = &c.contact {
                        dt { (ctx.t("field-contact")) } dd { (contact.name) " " @if !contact.email.is_empty() { a href=(format!("mailto:{}", contact.email)) { (contact.email) } } }
                    }
                }
                @if !c.summary.is_empty() {
                    h2 { (ctx.t("field-summary")) }
                    (doc_text(ctx, &c.summary, "text"))
                }
                @if !c.body.is_empty() {
                    h2 { (ctx.t("field-body")) }
                    (doc_text(ctx, &c.body, "text"))
                }
                @if !c.questions.is_empty() {
                    h2 { (ctx.t("field-questions")) }
                    ol { @for q in &c.questions { li value=(q.number) { (doc_text(ctx, &q.text, "")) } } }
                }
                h2 { (ctx.t("attachments")) }
                @if c.attachments.is_empty() { p.note { (ctx.t("none")) } }
                ul #attachments { @for a in &c.attachments { li { (attachment_link(a)) } } }
                @if let Some(report) = &c.report {
                    h2 { (ctx.t("report")) }
                    (doc_text(ctx, &report.summary, "text"))
                    ul { @for a in &report.attachments { li { (attachment_link(a)) } } }
                }
                h2 { (ctx.t("revisions")) }
                div.scroll { table #revisions-table {
                    thead { tr { th { (ctx.t("col-revision")) } th { (ctx.t("col-published")) } th { (ctx.t("col-closes")) } th { (ctx.t("col-status")) } th { (ctx.t("col-entry")) } } }
                    tbody { @for r in &view.revisions {
                        tr { td { (r.revision) } td { (time_el(ctx, r.created_at.as_ref())) } td { (date_el(ctx, r.closes_at.as_ref())) } td { (status_label(ctx, words::phase(r.phase()))) } td { code { (r.seq) } } }
                    } }
                } }
                h2 #responses { (ctx.t("responses")) " (" (view.responses.len()) ")" }
                @if view.responses.is_empty() { p.note { (ctx.t("none")) } }
                @else {
                    div.scroll { table #responses-table {
                        thead { tr { th { (ctx.t("col-organisation")) } th { (ctx.t("col-stakeholder-group")) } th { (ctx.t("col-region")) } th { (ctx.t("col-published")) } th { (ctx.t("col-response")) } } }
                        tbody { @for r in &view.responses {
                            tr.late[r.late] id=(format!("response-{}", r.uuid)) data-origin=(r.origin) data-uuid=(r.uuid) {
                                td { (r.origin) @if !r.on_behalf_of.is_empty() { br; span.note { (r.on_behalf_of) } } }
                                td { (group_label(ctx, words::stakeholder_group(r.stakeholder_group()))) }
                                td { @if r.region == "unspecified" { (ctx.t("sg-unspecified")) } @else { (r.region) } }
                                td { (time_el(ctx, r.created_at.as_ref())) @if r.late { " " span.badge.late { (ctx.t("late")) } } }
                                td {
                                    (doc_text(ctx, &r.text, "text"))
                                    @for a in &r.attachments { div { (attachment_link(a)) } }
                                }
                            }
                        } }
                    } }
                }
                h2 { (ctx.t("participation")) }
                div.scroll {
                    (participation(ctx, "participation-group", &ctx.t("col-stakeholder-group"), &view.by_stakeholder_group, true))
                    (participation(ctx, "participation-region", &ctx.t("col-region"), &view.by_region, false))
                }
                @if ctx.can(Role::Editor) {
                    h2 { (ctx.t("respond")) }
                    form #respond-form .stack method="post" action=(format!("{base}/respond")) {
                        (csrf(ctx))
                        label { (ctx.t("col-response")) textarea #response-text name="text" required {} }
                        label { (ctx.t("field-language")) select #response-lang name="lang" { (language_options(ctx, ctx.lang.code())) } }
                        label { (ctx.t("field-on-behalf-of"))
                            select #response-on-behalf name="on_behalf_of" {
                                option value="" { (ctx.node.org()) }
                                @for g in groups { option value=(g) { (g) } }
                            }
                        }
                        button #respond-submit type="submit" { (ctx.t("respond")) }
                    }
                    @if own {
                        h2 { (ctx.t("revise")) }
                        form #revise-form .stack method="post" action=(format!("{base}/revise")) {
                            (csrf(ctx))
                            label { (ctx.t("field-closes")) input #revise-closes type="date" name="closes"; }
                            label { (ctx.t("field-reply-closes")) input #revise-reply-closes type="date" name="reply_closes"; }
                            label { (ctx.t("col-status"))
                                select #revise-status name="status" {
                                    option value="" { (ctx.t("unchanged")) }
                                    @for s in ["open", "closed", "withdrawn", "report_published"] { option value=(s) { (status_label(ctx, s)) } }
                                }
                            }
                            label { (ctx.t("field-title")) input #revise-title name="title"; }
                            label { (ctx.t("field-language")) select name="lang" { (language_options(ctx, ctx.lang.code())) } }
                            label { (ctx.t("report")) textarea #revise-report name="report" {} }
                            p.note { (ctx.t("revise-note")) }
                            button #revise-submit type="submit" { (ctx.t("revise")) }
                        }
                    }
                }
            }
        },
    )
}

fn liaison_row(ctx: &Ctx, l: &proto::LiaisonSummary) -> Markup {
    html! {
        tr.overdue[l.overdue] data-origin=(l.origin) data-uuid=(l.uuid) {
            td {
                @if l.redacted { (ctx.t("restricted")) }
                @else { a href=(format!("/liaisons/{}/{}", l.origin, l.uuid)) { (l.title) } }
                @if l.restricted && !l.redacted { " " span.badge { (ctx.t("restricted")) } }
            }
            td { (l.origin) @if !l.from.is_empty() { br; span.note { (l.from.join(", ")) } } }
            td { (l.to.join(", ")) @if !l.cc.is_empty() { br; span.note { (ctx.t("cc")) ": " (l.cc.join(", ")) } } }
            td { (purpose_label(ctx, words::purpose(l.purpose()))) }
            td { (deadline_el(ctx, &l.deadline)) @if l.overdue { " " span.badge.overdue { (ctx.t("overdue")) } } }
            td { (state_label(ctx, words::action_state(l.action_state()))) }
            td { (time_el(ctx, l.created_at.as_ref())) }
        }
    }
}

pub fn liaisons(
    ctx: &Ctx,
    tab: Tab,
    list: &[proto::LiaisonSummary],
    paging: &Pager,
    drafts: &[DraftRow],
) -> Markup {
    page(
        ctx,
        &ctx.t("liaisons-title"),
        html! {
            @if ctx.can(Role::Editor) {
                p { a #new-liaison-link href="/liaisons/new" { (ctx.t("liaison-new")) } }
            }
            nav #liaison-tabs .tabs {
                @for t in Tab::ALL {
                    @if t != Tab::Drafts || ctx.user.is_some() {
                        a id=(format!("tab-{}", t.name())) href=(format!("/liaisons?box={}", t.name()))
                            aria-current=[(t == tab).then_some("page")] { (ctx.t(&format!("tab-{}", t.name()))) }
                    }
                }
            }
            @if tab == Tab::Drafts {
                @if drafts.is_empty() { p.note { (ctx.t("none")) } }
                div.scroll { table #drafts-table {
                    thead { tr { th { (ctx.t("col-title")) } th { (ctx.t("col-to")) } th { (ctx.t("col-purpose")) } th { (ctx.t("col-deadline")) } th { (ctx.t("col-state")) } th {} } }
                    tbody { @for d in drafts {
                        @let s = &d.statement;
                        tr data-draft=(d.id) {
                            td { (s.title) @if d.restricted { " " span.badge { (ctx.t("restricted")) } } }
                            td { (s.to.iter().map(comity_core::liaison::display_addressee).collect::<Vec<_>>().join(", ")) }
                            td { (purpose_label(ctx, &comity_core::liaison::purpose_name(comity_core::liaison::purpose(s)).replace(' ', "_"))) }
                            td { (s.deadline.as_ref().map(|d| d.date.clone()).unwrap_or_default()) }
                            td {
                                @if let Some(seq) = d.posted_seq { (ctx.ta("draft-posted", &[("seq", seq.to_string())])) }
                                @else if let Some(by) = &d.approved_by { (ctx.ta("draft-approved", &[("by", by.clone())])) }
                                @else { (ctx.t("draft-draft")) }
                            }
                            td { @if d.posted_seq.is_none() && ctx.may_send(&s.from_groups) {
                                div.actions {
                                    @if d.approved_by.is_none() {
                                        form.inline id=(format!("approve-{}", d.id)) method="post" action=(format!("/liaisons/drafts/{}/approve", d.id)) {
                                            (csrf(ctx)) button type="submit" { (ctx.t("approve")) }
                                        }
                                    }
                                    form.inline id=(format!("post-{}", d.id)) method="post" action=(format!("/liaisons/drafts/{}/post", d.id)) {
                                        (csrf(ctx)) button type="submit" { (ctx.t("post")) }
                                    }
                                }
                            } }
                        }
                    } }
                } }
            } @else {
                @if list.is_empty() { p #no-liaisons .note { (ctx.t("none")) } }
                div.scroll { table #liaisons-table {
                    thead { tr { th { (ctx.t("col-title")) } th { (ctx.t("col-from")) } th { (ctx.t("col-to")) } th { (ctx.t("col-purpose")) } th { (ctx.t("col-deadline")) } th { (ctx.t("col-state")) } th { (ctx.t("col-published")) } } }
                    tbody { @for l in list { (liaison_row(ctx, l)) } }
                } }
                (pager(ctx, paging))
            }
        },
    )
}

pub fn new_liaison(ctx: &Ctx) -> Markup {
    let groups = &ctx.node.config().profile.groups;
    page(
        ctx,
        &ctx.t("liaison-new"),
        html! {
            form #liaison-form .stack method="post" action="/liaisons/drafts" {
                (csrf(ctx))
                label { (ctx.t("field-title")) input #liaison-title name="title" required; }
                label { (ctx.t("col-from"))
                    select #liaison-from name="from" {
                        option value="" { (ctx.node.org()) }
                        @for g in groups { option value=(g) { (g) } }
                    }
                }
                label { (ctx.t("col-to")) input #liaison-to name="to" required placeholder="itu/itu-t/sg17, icann"; }
                label { (ctx.t("cc")) input #liaison-cc name="cc"; }
                p.note { (ctx.t("recipients-note")) " " (ctx.t("recipients-own-note")) }
                label { (ctx.t("col-purpose"))
                    select #liaison-purpose name="purpose" {
                        @for p in ["action", "comment", "information"] { option value=(p) { (purpose_label(ctx, p)) } }
                    }
                }
                label { (ctx.t("col-deadline")) input #liaison-deadline type="date" name="deadline"; }
                label { (ctx.t("field-language")) select #liaison-lang name="lang" { (language_options(ctx, ctx.lang.code())) } }
                label { (ctx.t("field-body")) textarea #liaison-body name="body" required {} }
                label { (ctx.t("field-identifiers")) input #liaison-identifiers name="identifiers"; }
                label.check { input #liaison-restricted type="checkbox" name="restricted" value="on"; (ctx.t("field-restricted")) }
                button #liaison-submit type="submit" { (ctx.t("draft-save")) }
            }
        },
    )
}

pub fn liaison(ctx: &Ctx, origin: &OrgId, uuid: &str, view: &proto::LiaisonView) -> Markup {
    let summary = view.summary.clone().unwrap_or_default();
    let Some(s) = &view.statement else {
        return page(
            ctx,
            &ctx.t("restricted"),
            html! { p #liaison .note { (ctx.t("restricted-note")) } },
        );
    };
    let addressed = comity_core::liaison::is_addressed_to(s, ctx.node.org());
    let base = format!("/liaisons/{origin}/{uuid}");
    page(
        ctx,
        &s.title,
        html! {
            article #liaison data-origin=(origin) data-uuid=(uuid) {
                dl {
                    dt { (ctx.t("col-from")) } dd { (origin) @if !s.from_groups.is_empty() { " (" (s.from_groups.join(", ")) ")" } }
                    dt { (ctx.t("col-to")) } dd { (summary.to.join(", ")) }
                    @if !summary.cc.is_empty() { dt { (ctx.t("cc")) } dd { (summary.cc.join(", ")) } }
                    dt { (ctx.t("col-purpose")) } dd { (purpose_label(ctx, words::purpose(summary.purpose()))) }
                    dt { (ctx.t("col-deadline")) } dd #liaison-deadline-shown { (deadline_el(ctx, &summary.deadline)) @if summary.overdue { " " span.badge.overdue { (ctx.t("overdue")) } } }
                    dt { (ctx.t("col-state")) } dd #liaison-state { (state_label(ctx, words::action_state(summary.action_state()))) }
                    dt { (ctx.t("col-published")) } dd { (time_el(ctx, summary.created_at.as_ref())) }
                    @if !s.other_identifiers.is_empty() { dt { (ctx.t("field-identifiers")) } dd { (s.other_identifiers.join(", ")) } }
                    @for c in &s.contacts {
                        dt { (ctx.t("field-contact")) " (" (c.role) ")" } dd { (c.name) " " (c.email) }
                    }
                    @if summary.restricted { dt { (ctx.t("restricted")) } dd { (ctx.t("yes")) } }
                }
                @if let Some(parent) = &view.in_reply_to {
                    p #in-reply-to { (ctx.t("in-reply-to")) ": "
                        a href=(format!("/liaisons/{}/{}", parent.origin, parent.uuid)) { (parent.title) } }
                } @else if let Some(parent) = &s.in_reply_to {
                    p #in-reply-to { (ctx.t("in-reply-to")) ": " (parent.origin) "/" (parent.uuid) }
                }
                @if let Some(body) = &s.body {
                    h2 { (ctx.t("field-body")) }
                    (doc_text(ctx, std::slice::from_ref(body), "text"))
                }
                @if !s.attachments.is_empty() {
                    h2 { (ctx.t("attachments")) }
                    ul #attachments { @for a in &s.attachments { li { (attachment_link(a)) } } }
                }
                h2 #recipients { (ctx.t("recipients")) }
                div.scroll { table #recipients-table {
                    thead { tr { th { (ctx.t("col-organisation")) } th { (ctx.t("col-purpose")) } th { (ctx.t("col-deadline")) } th { (ctx.t("col-state")) } th { (ctx.t("receipts")) } } }
                    tbody { @for r in &view.recipients {
                        tr.overdue[r.overdue] data-org=(r.org) {
                            td { (r.org) @if !r.group.is_empty() { "/" (r.group) } @if r.cc { " " span.badge { (ctx.t("cc")) } } }
                            td { (purpose_label(ctx, words::purpose(r.purpose()))) }
                            td.deadline { (deadline_el(ctx, &r.deadline)) }
                            td.action-state { (state_label(ctx, words::action_state(r.action_state()))) @if r.overdue { " " span.badge.overdue { (ctx.t("overdue")) } } }
                            td { @for rc in &r.receipts {
                                div.receipt data-seq=(rc.seq) { (state_label(ctx, words::receipt(rc.status()))) " · " (time_el(ctx, rc.created_at.as_ref()))
                                    @if let Some(reply) = &rc.reply {
                                        " · " (ctx.t("receipt-by-reply")) " "
                                        a.receipt-reply href=(format!("/liaisons/{}/{}", reply.origin, reply.uuid)) data-uuid=(reply.uuid) {
                                            (view.replies.iter().find(|r| r.uuid == reply.uuid).map_or(reply.uuid.as_str(), |r| r.title.as_str()))
                                        }
                                    }
                                    @if !rc.note.is_empty() { br; span.note { (rc.note) } } }
                            } }
                        }
                    } }
                } }
                h2 { (ctx.t("replies")) }
                @if view.replies.is_empty() { p.note { (ctx.t("none")) } }
                ul #replies { @for r in &view.replies {
                    li { a href=(format!("/liaisons/{}/{}", r.origin, r.uuid)) { (r.title) } " — " (r.origin) " · " (time_el(ctx, r.created_at.as_ref())) }
                } }
                @if addressed && ctx.can(Role::Editor) {
                    h2 { (ctx.t("acknowledge")) }
                    form #ack-form .stack method="post" action=(format!("{base}/ack")) {
                        (csrf(ctx))
                        label { (ctx.t("col-state"))
                            select #ack-status name="status" {
                                @for st in ["received", "accepted_for_action", "reply_coming", "action_taken"] { option value=(st) { (state_label(ctx, st)) } }
                            }
                        }
                        label { (ctx.t("field-note")) textarea #ack-note name="note" {} }
                        button #ack-submit type="submit" { (ctx.t("acknowledge")) }
                    }
                    h2 { (ctx.t("reply")) }
                    form #reply-form .stack method="post" action=(format!("{base}/reply")) {
                        (csrf(ctx))
                        label { (ctx.t("field-title")) input #reply-title name="title" placeholder=(format!("Re: {}", s.title)); }
                        label { (ctx.t("field-language")) select name="lang" { (language_options(ctx, ctx.lang.code())) } }
                        label { (ctx.t("field-body")) textarea #reply-body name="body" required {} }
                        p.note { (ctx.t("reply-note")) " " (ctx.ta("reply-action-note", &[("org", ctx.node.org().to_string())])) }
                        button #reply-submit type="submit" { (ctx.t("draft-save")) }
                    }
                }
            }
        },
    )
}

/// Where a search hit is shown: its consultation's or statement's page; a
/// response has no page of its own, so its row on the page of the
/// consultation it answers (`answered`, by entry id), when that is known.
fn hit_link(
    hit: &comity_node::search::Hit,
    answered: &HashMap<String, proto::DocumentRef>,
) -> Option<String> {
    let path = match hit.kind {
        comity_node::search::DocKind::Consultation => "consultations",
        comity_node::search::DocKind::Liaison => "liaisons",
        comity_node::search::DocKind::Response => {
            let c = answered.get(&hit.entry_id)?;
            return Some(format!(
                "/consultations/{}/{}#response-{}",
                c.origin, c.uuid, hit.uuid
            ));
        }
    };
    Some(format!("/{path}/{}/{}", hit.origin, hit.uuid))
}

/// `/search`: the hits the reader may read, best first, each with a
/// snippet whose words found are marked. The snippet's HTML comes escaped
/// from the index (`comity_search`), with only `<mark>` added.
pub fn search(
    ctx: &Ctx,
    q: &str,
    results: Option<&comity_node::search::SearchResults>,
    answered: &HashMap<String, proto::DocumentRef>,
) -> Markup {
    let l = ctx.lang;
    page(
        ctx,
        &l.t("search-title"),
        html! {
            @if let Some(r) = results {
                p #search-count { (l.ta("search-count", &[("count", r.total.to_string()), ("query", q.to_string())])) }
                @if r.hits.is_empty() {
                    p #search-none { (l.t("search-none")) }
                } @else {
                    ol #search-results {
                        @for hit in &r.hits {
                            li.search-hit data-origin=(hit.origin) data-uuid=(hit.uuid) data-kind=(hit.kind.as_str()) {
                                div.hit-head {
                                    span.kind { (l.t(&format!("search-kind-{}", hit.kind.as_str()))) }
                                    " "
                                    @let title = hit.title.as_ref().map_or(hit.uuid.as_str(), |t| t.text.as_str());
                                    @let title_lang = hit.title.as_ref().map_or("", |t| t.lang.as_str());
                                    @match hit_link(hit, answered) {
                                        Some(href) => {
                                            a.hit-title href=(href) lang=[(!title_lang.is_empty()).then_some(title_lang)] dir="auto" { (title) }
                                        }
                                        None => {
                                            span.hit-title lang=[(!title_lang.is_empty()).then_some(title_lang)] dir="auto" { (title) }
                                        }
                                    }
                                    " · " span.origin { (hit.origin) }
                                }
                                p.snippet lang=(hit.snippet.lang) dir="auto" { (maud::PreEscaped(&hit.snippet.html)) }
                            }
                        }
                    }
                }
            } @else {
                p #search-none { (l.t("search-empty")) }
            }
        },
    )
}
