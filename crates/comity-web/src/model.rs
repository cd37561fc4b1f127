//! The dashboard's view model: who reads a page ([`Ctx`], [`User`]) and the
//! rows and filters the pages hand to the templates. It imports neither the
//! pages nor the templates, so that both can import it: pages fill these in,
//! templates render them, and `ctx` extracts a [`Ctx`] from a request.

use crate::i18n::Lang;
use comity_core::proto;
use comity_node::{Node, accounts::Role, views::Reader};
use serde::Deserialize;
use std::sync::Arc;

/// A logged-in account.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// A liaison manager's groups.
    pub groups: Vec<String>,
    pub csrf: String,
    pub session: String,
}

/// The reader of a page.
#[derive(Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub user: Option<User>,
    /// The request's path, for the language menu and redirects.
    pub path: String,
    /// The query without `lang`, so the language menu keeps filters and tabs.
    pub query: String,
    pub node: Arc<Node>,
}

impl Ctx {
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }
    pub fn ta(&self, key: &str, args: &[(&'static str, String)]) -> String {
        self.lang.ta(key, args)
    }
    /// Whether the reader may do what `role` may.
    pub fn can(&self, role: Role) -> bool {
        self.user.as_ref().is_some_and(|u| u.role.allows(role))
    }
    /// Whether the reader may approve and post a statement sent by
    /// `from_groups` (an approver, or a liaison manager of every group).
    pub fn may_send(&self, from_groups: &[String]) -> bool {
        self.user.as_ref().is_some_and(|u| {
            comity_node::accounts::may_send(
                &u.name,
                u.role,
                &u.groups,
                self.node.org().as_str(),
                from_groups,
            )
            .is_ok()
        })
    }
    /// What the reader may see: everything this node holds when logged in,
    /// public entries only otherwise (`public_pages`).
    pub fn reader(&self) -> Reader {
        if self.user.is_some() {
            Reader::Node
        } else {
            Reader::Public
        }
    }
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.csrf.as_str())
    }
}

/// One row of the federation table.
pub struct FederationRow {
    pub org: String,
    pub profile: Option<proto::OrgProfile>,
    pub own: bool,
    pub reciprocal: bool,
    pub connected: bool,
    /// Who dialled (see `PeerView::dialled`); for this node's own row,
    /// "reachable" (a partner has a live link into it), "unconfirmed"
    /// (listening, but no partner has dialled in) or "dial-out-only".
    pub dialled: &'static str,
    /// Per origin the peer holds ahead of us: (origin, ours, theirs).
    pub behind: Vec<(String, u64, u64)>,
    pub last_error: Option<String>,
    pub last_contact: Option<time::OffsetDateTime>,
    /// The latest checkpoint of this organisation's log kept here (its
    /// size), and per cosigner the size and time of the latest it cosigned.
    pub checkpoint: Option<u64>,
    pub cosigners: Vec<Cosigned>,
}

/// A cosigner, the size of the latest checkpoint it cosigned, and when.
pub type Cosigned = (String, u64, time::OffsetDateTime);

/// The filters of the consultations page, as the GET form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct ConsultationFilter {
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub topic: String,
    /// The language of the documents (`lang` is the interface's).
    #[serde(default)]
    pub language: String,
    /// Empty: open now (including a reply period); "all": any.
    #[serde(default)]
    pub status: String,
}

/// A tab of the liaisons page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Inbox,
    Outbox,
    Awaiting,
    Overdue,
    Drafts,
}

impl Tab {}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Inbox,
        Tab::Outbox,
        Tab::Awaiting,
        Tab::Overdue,
        Tab::Drafts,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Tab::Inbox => "inbox",
            Tab::Outbox => "outbox",
            Tab::Awaiting => "awaiting",
            Tab::Overdue => "overdue",
            Tab::Drafts => "drafts",
        }
    }
    pub fn parse(text: &str) -> Tab {
        Tab::ALL
            .into_iter()
            .find(|t| t.name() == text)
            .unwrap_or(Tab::Inbox)
    }
}

/// A local draft, decoded for the drafts tab.
pub struct DraftRow {
    pub id: String,
    pub statement: proto::LiaisonStatement,
    pub restricted: bool,
    pub approved_by: Option<String>,
    pub posted_seq: Option<u64>,
}

/// `?page=` and `?per=` of a list page, read leniently: anything that is not
/// a number is the default (page 1, [`Pager::PER_PAGE`] rows).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub per: String,
}

/// One page of a list: which rows it shows, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pager {
    /// 1-based, at most [`Pager::pages`].
    pub page: usize,
    pub per: usize,
    pub total: usize,
}

impl Pager {
    /// Rows on a page unless `?per=` says otherwise.
    pub const PER_PAGE: usize = 50;
    /// The most `?per=` may ask for.
    pub const MAX_PER_PAGE: usize = 500;

    /// The page asked for, within the list's pages.
    pub fn new(q: &PageQuery, total: usize) -> Self {
        let per = q
            .per
            .trim()
            .parse::<usize>()
            .unwrap_or(Self::PER_PAGE)
            .clamp(1, Self::MAX_PER_PAGE);
        let pages = total.div_ceil(per).max(1);
        let page = q.page.trim().parse::<usize>().unwrap_or(1).clamp(1, pages);
        Self { page, per, total }
    }

    pub fn pages(&self) -> usize {
        self.total.div_ceil(self.per).max(1)
    }

    /// This page's rows of `rows` (the whole list).
    pub fn slice<'a, T>(&self, rows: &'a [T]) -> &'a [T] {
        let start = (self.page - 1).saturating_mul(self.per).min(rows.len());
        let end = start.saturating_add(self.per).min(rows.len());
        &rows[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: &str, per: &str) -> PageQuery {
        PageQuery {
            page: page.into(),
            per: per.into(),
        }
    }

    #[test]
    fn pages_cut_the_list_and_stay_within_it() {
        let rows: Vec<u32> = (0..7).collect();
        let p = Pager::new(&q("2", "3"), rows.len());
        assert_eq!((p.page, p.pages()), (2, 3));
        assert_eq!(p.slice(&rows), &[3, 4, 5]);
        assert_eq!(Pager::new(&q("3", "3"), 7).slice(&rows), &[6]);
        // Past the end: the last page; nonsense: the first.
        assert_eq!(Pager::new(&q("99", "3"), 7).page, 3);
        assert_eq!(Pager::new(&q("abc", "x"), 7).per, Pager::PER_PAGE);
        assert_eq!(
            Pager::new(&q("0", "0"), 7),
            Pager {
                page: 1,
                per: 1,
                total: 7
            }
        );
        // An empty list has one, empty, page.
        let none: [u32; 0] = [];
        assert_eq!(Pager::new(&q("", ""), 0).slice(&none), &none);
    }
}
