//! "Did you mean": the units and record ids a node holds that are closest to what a person
//! typed — a mistyped or missing letter (edit distance), or a beginning of the name. Used only
//! when a lookup already failed, so walking every unit or record id is acceptable.

use sync_protocol::ids::UnitId;

use crate::node::Node;

/// At most this many suggestions are given.
pub const MAX_SUGGESTIONS: usize = 3;

/// Levenshtein distance over characters, stopping early beyond `cap`.
pub fn edit_distance(a: &str, b: &str, cap: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur.iter().min().copied().unwrap_or(0) > cap {
            return cap + 1;
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidates closest to `given`: those it begins or that begin it, then those within an
/// edit distance of a third of its length (at least 2), nearest first.
pub fn closest(given: &str, candidates: impl IntoIterator<Item = String>) -> Vec<String> {
    let g = given.trim().to_lowercase();
    if g.is_empty() {
        return Vec::new();
    }
    let cap = (g.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .filter_map(|c| {
            let l = c.to_lowercase();
            if l.starts_with(&g) || g.starts_with(&l) {
                return Some((0, c));
            }
            let d = edit_distance(&g, &l, cap);
            (d <= cap).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, c)| c)
        .collect()
}

/// Record ids (hex) closest to a prefix that named none: compared on as many digits as given.
pub fn closest_ids(given: &str, ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let n = given.len();
    let mut scored: Vec<(usize, String)> = ids
        .into_iter()
        .filter_map(|id| {
            let head: String = id.chars().take(n).collect();
            let d = edit_distance(given, &head, 2);
            (d <= 2).then_some((d, id))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, c)| c)
        .collect()
}

/// The units this node knows whose ids or names are closest to `given`.
pub fn closest_units(node: &Node, given: &str) -> Vec<UnitId> {
    let d = node.directory();
    let units = d.units();
    let ids = closest(given, units.iter().map(|u| u.as_str().to_owned()));
    let mut out: Vec<UnitId> = units
        .iter()
        .filter(|u| ids.iter().any(|i| i == u.as_str()))
        .cloned()
        .collect();
    if out.is_empty() {
        let folded = sync_protocol::text::fold_for_search(given);
        let names: Vec<(UnitId, String)> = units
            .iter()
            .filter_map(|u| {
                d.name(u).map(|n| {
                    (
                        u.clone(),
                        sync_protocol::text::fold_for_search(&n.to_string()),
                    )
                })
            })
            .collect();
        out = names
            .into_iter()
            .filter(|(_, n)| folded.len() >= 3 && n.contains(&folded))
            .map(|(u, _)| u)
            .take(MAX_SUGGESTIONS)
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested() {
        assert_eq!(edit_distance("kitten", "sitting", 5), 3);
        let units = ["cdcs-thuy-san", "ldld-tuy-hoa", "ldld-phu-yen", "tld"].map(String::from);
        assert_eq!(closest("cdcs-thuy", units.clone()), vec!["cdcs-thuy-san"]);
        assert_eq!(closest("ldld-tuy-ho", units.clone()), vec!["ldld-tuy-hoa"]);
        assert_eq!(closest("ldld-phu-yne", units.clone()), vec!["ldld-phu-yen"]);
        assert!(closest("zzzzzzzz", units).is_empty());
        let ids = ["0123456789abcdef".to_owned(), "ffff0000ffff0000".to_owned()];
        assert_eq!(
            closest_ids("0123457789", ids.clone()),
            vec!["0123456789abcdef"]
        );
    }
}
