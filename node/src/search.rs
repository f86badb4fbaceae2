//! Listing and searching the initiatives a node holds. Search ignores diacritics and case
//! ([`sync_protocol::text::fold_for_search`]: "sang kien" finds "sáng kiến", "phu yen" finds
//! "Phú Yên", "duc" finds "Đức") over the title, the authors, the origin unit (id and name, and
//! the names of the units above it, so "phu yen" finds the province's initiatives) and the
//! effect summary. Every word of the query must be a whole word of one of those fields.
//!
//! [`list_page`] reads a page from the listing index ([`crate::report_index`]); [`find_page`]
//! (search, and the filters by status, sector, phase and unit, alone or together) and
//! [`inbox_page`] read it from the word index ([`crate::search_index`]). Each loads and
//! verifies only the page's records. [`listing`] and [`search`] load every record: the
//! references the tests compare with (and the Mẫu 2 list and `initiative show`).

use sync_protocol::audit::verify_record;
use sync_protocol::date::Date;
use sync_protocol::entry::{DecisionKind, EntryBody, RecordKind, Sector};
use sync_protocol::ids::{EntryHash, RecordId, UnitId};
use sync_protocol::record::{Initiative, RecordContent};
use sync_protocol::store::{EntryLookup, EntryStore};
use sync_protocol::text::fold_for_search;

use sync_protocol::limits::{MAX_PAGE_ITEMS_COUNT, MAX_PAGE_NUMBER};
use sync_protocol::store::StoreError;

use crate::node::{Node, NodeError};
use crate::report_index;
use crate::sled_store::err;

/// Longest search query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 300;

/// One initiative as a listing shows it: its full record where held, otherwise its public
/// projection (a confidential initiative above its direct superior).
#[derive(Debug, Clone)]
pub struct Listed {
    /// The record.
    pub record: RecordId,
    /// The origin (grassroots) unit.
    pub origin: UnitId,
    /// The origin unit's name, as the trust directory knows it.
    pub origin_name: String,
    /// The names of the units above the origin (district, province, ...): searching for a
    /// province finds the initiatives of its subtree.
    pub above_names: Vec<String>,
    /// Title.
    pub title: String,
    /// Authors' names (empty for a projection: authors are private).
    pub authors: Vec<String>,
    /// Summary of effect.
    pub summary: String,
    /// Sector.
    pub sector: Sector,
    /// Benefit value, VND.
    pub benefit_vnd: u64,
    /// Programme and phase.
    pub programme: Option<(RecordId, u32)>,
    /// Mẫu 1 registration date (`None` for a projection).
    pub registered_on: Option<Date>,
    /// Time of the earliest entry of the record held here (Unix ms).
    pub first_entry_ms: u64,
    /// The last decision of an unforked chain: kind, deciding unit, entry.
    pub status: Option<(DecisionKind, UnitId, EntryHash)>,
    /// The decision chain forks.
    pub conflict: bool,
    /// Edited after its last decision.
    pub approved_state_differs: bool,
    /// Confidential.
    pub confidential: bool,
    /// The full record is held here (not only the projection).
    pub full: Option<Box<Initiative>>,
}

/// Why a search was refused.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query has no word in it.
    #[error("the search query is empty: give one or more words")]
    Empty,
    /// The query is too long.
    #[error("the search query is {actual} characters long, over its limit of {limit}")]
    TooLong {
        /// its length
        actual: usize,
        /// the limit
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Every valid initiative the node holds, in record-id order (O(records): every record is
/// loaded and verified; for a page, see [`list_page`]).
pub fn listing(node: &Node, now_ms: u64) -> Result<Vec<Listed>, NodeError> {
    let mut out = Vec::new();
    for r in node.store().records()? {
        if let Some(l) = listed_of(node, r, now_ms)? {
            out.push(l);
        }
    }
    Ok(out)
}

/// One initiative as a listing shows it, verified now (`None`: not a valid initiative here).
pub fn listed_of(node: &Node, r: RecordId, now_ms: u64) -> Result<Option<Listed>, NodeError> {
    let store = node.store();
    let d = node.directory();
    {
        let rep = verify_record(store, d, r, Some(node.unit()), now_ms)?;
        let Some(h) = &rep.header else {
            return Ok(None);
        };
        if h.kind != RecordKind::Initiative || !rep.is_valid() {
            return Ok(None);
        }
        let first_entry_ms = store
            .record_entries(&r)?
            .iter()
            .map(|e| e.time_ms())
            .min()
            .unwrap_or(0);
        let conflict = !rep.conflicts.is_empty();
        let status = rep.status.clone();
        let name = |u: &UnitId| {
            d.name(u)
                .map(|n| n.to_string())
                .unwrap_or_else(|| u.to_string())
        };
        let above = |u: &UnitId| -> Vec<String> {
            d.ancestors_at(u, now_ms)
                .iter()
                .filter(|a| *a != u)
                .map(&name)
                .collect()
        };
        let listed = match (&rep.content, rep.latest_projection) {
            (Some(RecordContent::Initiative(i)), _) => Listed {
                record: r,
                origin: i.origin.clone(),
                origin_name: name(&i.origin),
                above_names: above(&i.origin),
                title: i.title.to_string(),
                authors: i.authors.iter().map(|a| a.name.to_string()).collect(),
                summary: i.summary.to_string(),
                sector: i.sector,
                benefit_vnd: i.benefit_vnd,
                programme: i.programme.map(|p| (p, i.phase)),
                registered_on: Some(i.registered_on),
                first_entry_ms,
                status,
                conflict,
                approved_state_differs: rep.approved_state_differs,
                confidential: i.confidential,
                full: Some(i.clone()),
            },
            (_, Some(p)) => {
                let Some(e) = store.entry(&p)? else {
                    return Ok(None);
                };
                let EntryBody::Projection(p) = e.body() else {
                    return Ok(None);
                };
                Listed {
                    record: r,
                    origin: h.owner.clone(),
                    origin_name: name(&h.owner),
                    above_names: above(&h.owner),
                    title: p.title.to_string(),
                    authors: Vec::new(),
                    summary: p.summary.to_string(),
                    sector: p.sector,
                    benefit_vnd: p.benefit_vnd,
                    programme: p.programme.map(|x| (x, p.phase)),
                    registered_on: None,
                    first_entry_ms,
                    status,
                    conflict,
                    approved_state_differs: rep.approved_state_differs,
                    confidential: true,
                    full: None,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(listed))
    }
}

/// One page of a listing or a search.
#[derive(Debug, Clone)]
pub struct Page {
    /// The initiatives of the page.
    pub items: Vec<Listed>,
    /// How many initiatives the whole listing or search holds.
    pub total: u64,
    /// This page's number, 1-based.
    pub page: u64,
    /// Initiatives per page.
    pub limit: usize,
    /// Whether `total` is exact; when not, at least `total` match (a search or a filter that
    /// matches many counts only [`crate::search_index::MAX_COUNTED_MATCHES`] past its page).
    pub exact: bool,
}

impl Page {
    /// The number of the next page, if there is one.
    pub fn next(&self) -> Option<u64> {
        (self.page.saturating_mul(self.limit as u64) < self.total).then_some(self.page + 1)
    }
    /// How many pages in all.
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.limit.max(1) as u64).max(1)
    }
}

/// Why a page was refused.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// `--limit` outside 1..=MAX_PAGE_ITEMS_COUNT.
    #[error("a page holds 1 to {limit} initiatives, not {actual}")]
    Limit {
        /// asked
        actual: usize,
        /// the bound
        limit: usize,
    },
    /// `--page` outside 1..=MAX_PAGE_NUMBER.
    #[error("pages are numbered from 1 to {limit}, not {actual}")]
    Number {
        /// asked
        actual: u64,
        /// the bound
        limit: u64,
    },
    /// An unknown status code.
    #[error("unknown status {0:?}")]
    Status(String),
    /// The search was refused.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The store failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Node(e.into())
    }
}

fn check_page(page: u64, limit: usize) -> Result<(), PageError> {
    if !(1..=MAX_PAGE_ITEMS_COUNT).contains(&limit) {
        return Err(PageError::Limit {
            actual: limit,
            limit: MAX_PAGE_ITEMS_COUNT,
        });
    }
    if !(1..=MAX_PAGE_NUMBER).contains(&page) {
        return Err(PageError::Number {
            actual: page,
            limit: MAX_PAGE_NUMBER,
        });
    }
    Ok(())
}

/// A page of the initiatives the node holds, optionally only those of one list status
/// ([`report_index::STATUS_CODES`]) and of one unit's subtree (the tree the counters follow),
/// in the tree's depth-first order: a unit's own initiatives (by record id), then each child's
/// subtree (children by id). Read from the listing index and the subtree counts: the page's
/// start is found by descending the tree, skipping whole subtrees by their counts
/// (O(depth × children + one unit's own initiatives)), then the page's keys are read and its
/// records loaded and verified; the total comes from the counts. A deep page costs what the
/// first does, never a walk of the skipped keys or a load of every record.
pub fn list_page(
    node: &Node,
    status: Option<&str>,
    unit: Option<&UnitId>,
    page: u64,
    limit: usize,
    now_ms: u64,
) -> Result<Page, PageError> {
    check_page(page, limit)?;
    let status = match status {
        Some(s) => {
            Some(report_index::status_index(s).ok_or_else(|| PageError::Status(s.to_string()))?)
        }
        None => None,
    };
    let store = node.store();
    let root = node.directory().root().clone();
    let start = unit.cloned().unwrap_or(root);
    let count = |u: &UnitId| report_index::subtree_count(store, u, status);
    let total = count(&start)?;
    let skip = (page - 1).saturating_mul(limit as u64);
    let tag = status.unwrap_or(report_index::ALL);
    let list = store.tree(report_index::t::LIST);
    // The walk's stack: each unit on the path with the index of its next child to visit.
    let mut stack: Vec<(UnitId, usize)> = Vec::new();
    // Where the page starts: a unit and how many of its own initiatives come before.
    let mut at = Some((start.clone(), 0u64));
    let mut left = skip;
    if left >= total {
        at = None;
    } else if left > 0 {
        // Each unit's subtree count, read once: the start's is the total, a child's was read
        // with its siblings.
        let (mut u, mut here) = (start.clone(), total);
        loop {
            let children = node.tree_children(&u);
            let mut counts = Vec::with_capacity(children.len());
            for c in children {
                counts.push(count(c)?);
            }
            let own = here.saturating_sub(counts.iter().sum());
            if left < own {
                at = Some((u, left));
                break;
            }
            left -= own;
            let Some(i) = counts.iter().position(|n| {
                if left < *n {
                    true
                } else {
                    left -= n;
                    false
                }
            }) else {
                // The counts and the keys disagree (an index being rebuilt): no page.
                at = None;
                break;
            };
            stack.push((u, i + 1));
            (u, here) = (children[i].clone(), counts[i]);
        }
    }
    let mut keys: Vec<RecordId> = Vec::with_capacity(limit);
    if let Some((u, skip_own)) = at {
        // Visit `u`'s own keys (skipping `skip_own`), then its children, depth first.
        let mut next = Some((u, skip_own));
        'walk: while let Some((u, skip_own)) = next.take() {
            for k in list
                .scan_prefix(report_index::list_prefix(tag, &u))
                .keys()
                .skip(skip_own as usize)
            {
                let k = k.map_err(|e| err("rx_list", e))?;
                if let Ok(r) = <[u8; 16]>::try_from(&k[k.len() - 16..]) {
                    keys.push(RecordId(r));
                }
                if keys.len() == limit {
                    break 'walk;
                }
            }
            stack.push((u, 0));
            // The next unit in depth-first order whose subtree holds any.
            while let Some((p, i)) = stack.pop() {
                let children = node.tree_children(&p);
                let Some(c) = children.get(i) else { continue };
                stack.push((p, i + 1));
                if count(c)? > 0 {
                    next = Some((c.clone(), 0));
                    break;
                }
            }
        }
    }
    let items = listed_all(node, &keys, now_ms)?;
    Ok(Page {
        items,
        total,
        page,
        limit,
        exact: true,
    })
}

/// The listed form of a page's records, in their order, loaded and verified on every core.
fn listed_all(node: &Node, records: &[RecordId], now_ms: u64) -> Result<Vec<Listed>, NodeError> {
    use rayon::prelude::*;
    let out = records
        .par_iter()
        .map(|r| listed_of(node, *r, now_ms))
        .collect::<Result<Vec<_>, NodeError>>()?;
    Ok(out.into_iter().flatten().collect())
}

/// What [`find_page`] filters by; every part is optional and all must hold.
#[derive(Debug, Clone, Default)]
pub struct Find<'a> {
    /// Search words (see the module doc).
    pub query: Option<&'a str>,
    /// List statuses ([`report_index::STATUS_CODES`]); any of them.
    pub statuses: Vec<&'a str>,
    /// Sector.
    pub sector: Option<Sector>,
    /// Programme and phase.
    pub phase: Option<(RecordId, u32)>,
    /// Only the subtree of this unit (the tree the counters follow).
    pub unit: Option<&'a UnitId>,
}

/// A page of the initiatives that match a search and filters, in the word index's order (origin
/// unit id, then record id; [`list_page`] follows the tree instead), read from the word index: a result (or a skipped one) costs a seek per
/// word and filter, O(log n) each; a seek passes over the keys of a stream between two
/// matches, and, for a word found in unit names or a unit filter, over units with no record.
/// The total is exact up to [`crate::search_index::MAX_COUNTED_MATCHES`] past the page.
/// Without a query, sector or phase it is [`list_page`] (exact totals from counts).
pub fn find_page(
    node: &Node,
    find: &Find<'_>,
    page: u64,
    limit: usize,
    now_ms: u64,
) -> Result<Page, PageError> {
    check_page(page, limit)?;
    let words = match find.query {
        Some(q) => Query::new(q)?.words,
        None => Vec::new(),
    };
    let mut statuses = Vec::new();
    for s in &find.statuses {
        statuses
            .push(report_index::status_index(s).ok_or_else(|| PageError::Status(s.to_string()))?);
    }
    statuses.sort_unstable();
    statuses.dedup();
    if words.is_empty() && find.sector.is_none() && find.phase.is_none() && statuses.len() <= 1 {
        let status = find.statuses.first().copied();
        return list_page(node, status, find.unit, page, limit, now_ms);
    }
    let filter = crate::search_index::Filter {
        words,
        statuses,
        sector: find.sector,
        phase: find.phase,
        unit: find.unit.cloned(),
    };
    let skip = (page - 1).saturating_mul(limit as u64);
    let (records, total, exact) =
        crate::search_index::filtered(node, &filter, skip, limit, now_ms)?;
    let items = listed_all(node, &records, now_ms)?;
    Ok(Page {
        items,
        total,
        page,
        limit,
        exact,
    })
}

/// A page of the initiatives that match `query` ([`find_page`] with a query alone).
pub fn search_page(
    node: &Node,
    query: &str,
    page: u64,
    limit: usize,
    now_ms: u64,
) -> Result<Page, PageError> {
    find_page(
        node,
        &Find {
            query: Some(query),
            ..Find::default()
        },
        page,
        limit,
        now_ms,
    )
}

/// A page of what waits for this node's unit's decision: its own initiatives not yet
/// submitted (or returned for revision), then what each of its children (by id) submitted or
/// approved and forwarded; a conflict, a rejection, a recognition or an award waits for
/// nobody. O(children + page), from the word index's inbox keys and counts.
pub fn inbox_page(node: &Node, page: u64, limit: usize, now_ms: u64) -> Result<Page, PageError> {
    check_page(page, limit)?;
    let skip = (page - 1).saturating_mul(limit as u64);
    let (records, total) = crate::search_index::inbox(node, skip, limit)?;
    let items = listed_all(node, &records, now_ms)?;
    Ok(Page {
        items,
        total,
        page,
        limit,
        exact: true,
    })
}

/// How many initiatives wait for this node's unit's decision (O(children)).
pub fn inbox_count(node: &Node) -> Result<u64, NodeError> {
    Ok(crate::search_index::inbox_count(node)?)
}

/// What waits for this node's unit's decision, by walking every record (the reference
/// [`inbox_page`] is compared with): no conflict, and some decision's expected decider
/// ([`sync_protocol::verify::expected_decider`]) is this unit.
pub fn inbox_walk(node: &Node, now_ms: u64) -> Result<Vec<Listed>, NodeError> {
    use sync_protocol::entry::AwardGrade;
    use sync_protocol::verify::expected_decider;
    let kinds = [
        DecisionKind::Submit,
        DecisionKind::ReturnForRevision,
        DecisionKind::Reject,
        DecisionKind::Approve,
        DecisionKind::Recognise,
        DecisionKind::Award(AwardGrade::Typical),
        DecisionKind::Award(AwardGrade::Excellent),
    ];
    Ok(listing(node, now_ms)?
        .into_iter()
        .filter(|l| !l.conflict)
        .filter(|l| {
            let prev = l.status.as_ref().map(|(k, u, _)| (u.clone(), *k));
            if matches!(
                prev.as_ref().map(|p| p.1),
                Some(DecisionKind::Recognise | DecisionKind::Award(_))
            ) {
                return false;
            }
            kinds.iter().any(|k| {
                expected_decider(node.directory(), &l.origin, *k, prev.as_ref(), now_ms)
                    .is_ok_and(|u| &u == node.unit())
            })
        })
        .collect())
}

/// Whether `phrase` occurs in `field` as whole words (both folded, words joined by a space).
fn has_phrase(field: &str, phrase: &str) -> bool {
    field.match_indices(phrase).any(|(i, _)| {
        let end = i + phrase.len();
        (i == 0 || field.as_bytes()[i - 1] == b' ')
            && (end == field.len() || field.as_bytes()[end] == b' ')
    })
}

/// The search words of a text already folded ([`fold_for_search`]): its runs of letters and
/// digits ("ldld-phu-yen" is three words, "kiến," is "kien").
pub fn words_of(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// A query, folded and split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    phrase: String,
    words: Vec<String>,
}

impl Query {
    /// Folds and checks a query.
    pub fn new(q: &str) -> Result<Self, SearchError> {
        let actual = q.chars().count();
        if actual > MAX_QUERY_CHARS {
            return Err(SearchError::TooLong {
                actual,
                limit: MAX_QUERY_CHARS,
            });
        }
        let folded = fold_for_search(q);
        let words: Vec<String> = words_of(&folded).map(str::to_string).collect();
        if words.is_empty() {
            return Err(SearchError::Empty);
        }
        Ok(Self {
            phrase: words.join(" "),
            words,
        })
    }

    /// The query's words, folded.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// How well `fields` match: `None` when some word of the query is not a word of any
    /// field, `Some(true)` when the whole query occurs as one phrase in one field.
    pub fn score<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> Option<bool> {
        let folded: Vec<String> = fields
            .into_iter()
            .map(|f| words_of(&fold_for_search(f)).collect::<Vec<_>>().join(" "))
            .collect();
        let all = self
            .words
            .iter()
            .all(|w| folded.iter().any(|f| f.split(' ').any(|x| x == w)));
        all.then(|| folded.iter().any(|f| has_phrase(f, &self.phrase)))
    }

    /// Whether an initiative matches.
    pub fn matches(&self, l: &Listed) -> Option<bool> {
        let fields = [
            l.title.as_str(),
            l.summary.as_str(),
            l.origin.as_str(),
            l.origin_name.as_str(),
        ]
        .into_iter()
        .chain(l.authors.iter().map(String::as_str))
        .chain(l.above_names.iter().map(String::as_str));
        self.score(fields)
    }
}

/// The initiatives that match `query`: phrase matches first, then by title.
pub fn search(node: &Node, query: &str, now_ms: u64) -> Result<Vec<Listed>, SearchError> {
    let q = Query::new(query)?;
    let mut hits: Vec<(bool, Listed)> = listing(node, now_ms)?
        .into_iter()
        .filter_map(|l| q.matches(&l).map(|phrase| (phrase, l)))
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.title.cmp(&b.1.title)));
    Ok(hits.into_iter().map(|(_, l)| l).collect())
}

#[cfg(test)]
mod tests {
    use super::Query;

    fn check(query: &str, fields: &[&str], expected: Option<bool>) {
        let q = Query::new(query).expect("query");
        assert_eq!(
            q.score(fields.iter().copied()),
            expected,
            "{query:?} in {fields:?}"
        );
    }

    #[test]
    fn search_ignores_diacritics_and_case() {
        check("sang kien", &["Sáng kiến cải tiến băng tải"], Some(true));
        check("SÁNG KIẾN", &["sáng kiến"], Some(true));
        check("phu yen", &["Liên đoàn Lao động tỉnh Phú Yên"], Some(true));
        check("đông hòa", &["Thị xã Dong Hoa"], Some(true));
        check("dong hoa", &["Thị xã Đông Hòa"], Some(true));
        // Words may be in different fields and any order.
        check(
            "mai ca ngu",
            &["Cấp đông nhanh cá ngừ", "Lê Thị Mai"],
            Some(false),
        );
        check("phu yen", &["Phú Thọ"], None);
        // Decomposed input (NFD) folds like composed input.
        check("sa\u{301}ng kie\u{302}\u{301}n", &["SÁNG KIẾN"], Some(true));
        // Whole words, punctuation apart: "kien" is a word of "kiến,", "kie" is none.
        check("kien", &["Sáng kiến, cải tiến"], Some(true));
        check("kie", &["Sáng kiến"], None);
        check("phu yen", &["ldld-phu-yen"], Some(true));
        assert!(Query::new("   ").is_err());
        assert!(Query::new(&"a".repeat(super::MAX_QUERY_CHARS + 1)).is_err());
        assert!(Query::new(&"a".repeat(super::MAX_QUERY_CHARS)).is_ok());
    }
}
