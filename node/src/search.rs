//! Listing and searching the initiatives a node holds. Search ignores diacritics and case
//! ([`sync_protocol::text::fold_for_search`]: "sang kien" finds "sáng kiến", "phu yen" finds
//! "Phú Yên", "d" finds "đ") over the title, the authors, the origin unit (id and name, and the
//! names of the units above it, so "phu yen" finds the province's initiatives) and the effect
//! summary. Every word of the query must occur; results where the whole query occurs
//! as one phrase come first.
//!
//! First form: a scan of the verified records, O(records). An index of folded words is the
//! storage work's to add behind the same functions.

use sync_protocol::audit::verify_record;
use sync_protocol::date::Date;
use sync_protocol::entry::{DecisionKind, EntryBody, RecordKind, Sector};
use sync_protocol::ids::{EntryHash, RecordId, UnitId};
use sync_protocol::record::{Initiative, RecordContent};
use sync_protocol::store::{EntryLookup, EntryStore};
use sync_protocol::text::fold_for_search;

use crate::node::{Node, NodeError};

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

/// Every valid initiative the node holds, in record-id order.
pub fn listing(node: &Node, now_ms: u64) -> Result<Vec<Listed>, NodeError> {
    let store = node.store();
    let d = node.directory();
    let mut out = Vec::new();
    for r in store.records()? {
        let rep = verify_record(store, d, r, Some(node.unit()), now_ms)?;
        let Some(h) = &rep.header else { continue };
        if h.kind != RecordKind::Initiative || !rep.is_valid() {
            continue;
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
                let Some(e) = store.entry(&p)? else { continue };
                let EntryBody::Projection(p) = e.body() else {
                    continue;
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
            _ => continue,
        };
        out.push(listed);
    }
    Ok(out)
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
        let words: Vec<String> = folded.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            return Err(SearchError::Empty);
        }
        Ok(Self {
            phrase: words.join(" "),
            words,
        })
    }

    /// How well `fields` match: `None` when some word is missing, `Some(true)` when the whole
    /// query occurs as one phrase in one field.
    pub fn score<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> Option<bool> {
        let folded: Vec<String> = fields
            .into_iter()
            .map(|f| {
                fold_for_search(f)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let all = self
            .words
            .iter()
            .all(|w| folded.iter().any(|f| f.contains(w.as_str())));
        all.then(|| folded.iter().any(|f| f.contains(&self.phrase)))
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
        assert!(Query::new("   ").is_err());
        assert!(Query::new(&"a".repeat(super::MAX_QUERY_CHARS + 1)).is_err());
        assert!(Query::new(&"a".repeat(super::MAX_QUERY_CHARS)).is_ok());
    }
}
