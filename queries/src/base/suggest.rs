//! "Did you mean …?": the name closest to a misspelled one, among the names that would
//! have been right in its place. Used by the parser (keywords) and the checker (names
//! in scope).

/// The candidate closest to `typo` by edit distance, if one is close enough to be a
/// likely misspelling: at most a third of the longer name's length, at least one edit
/// (as rustc does), and fewer edits than `typo` has characters — replacing every
/// letter of `y` to get `x` is not correcting a typo. A candidate that differs only in
/// case wins outright. Ties go to the candidate that sorts first, so the answer does
/// not depend on the order the candidates come in.
pub fn closest<'a>(typo: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == typo || candidate.is_empty() {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(typo) {
            0
        } else {
            let limit = (typo.len().max(candidate.len()).max(3)) / 3;
            match edit_distance(typo, candidate, limit) {
                Some(d) if d < typo.chars().count() => d,
                _ => continue,
            }
        };
        let better = match best {
            None => true,
            Some((d, name)) => distance < d || (distance == d && candidate < name),
        };
        if better {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// The optimal-string-alignment distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of two neighbours each cost one), or `None` if it is more
/// than `limit`.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    // Three rows of the classic table: two back (for swaps), one back, and this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= limit).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_edits_and_swaps() {
        assert_eq!(edit_distance("retrun", "return", 5), Some(1));
        assert_eq!(edit_distance("withdrew", "withdraw", 5), Some(1));
        assert_eq!(edit_distance("ab", "abc", 5), Some(1));
        assert_eq!(edit_distance("kitten", "sitting", 5), Some(3));
        assert_eq!(edit_distance("kitten", "sitting", 2), None);
        assert_eq!(edit_distance("", "abc", 5), Some(3));
    }

    #[test]
    fn the_closest_name_is_suggested_only_when_close() {
        let names = ["withdraw", "deposit", "balance"];
        assert_eq!(closest("withdrew", names), Some("withdraw"));
        assert_eq!(closest("Balance", names), Some("balance"));
        assert_eq!(closest("total", names), None);
        assert_eq!(closest("withdraw", names), None, "the name itself is no suggestion");
        assert_eq!(closest("y", ["x"]), None, "a one-letter name has no typo");
        assert_eq!(closest("xs", ["x"]), Some("x"));
        // Ties go to the name that sorts first, whatever the order of the candidates.
        assert_eq!(closest("ab", ["ac", "aa"]), Some("aa"));
        assert_eq!(closest("ab", ["aa", "ac"]), Some("aa"));
    }
}
