//! "Did you mean ...?" for misspelt keys and names.

/// The candidate nearest to a misspelt name, if it is near enough to be a typo.
pub fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, by characters.
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (row, left_char) in left.chars().enumerate() {
        let mut current = vec![row + 1];
        for (column, right_char) in right.iter().enumerate() {
            let substitution = previous[column] + usize::from(left_char != *right_char);
            current.push(
                substitution
                    .min(previous[column + 1] + 1)
                    .min(current[column] + 1),
            );
        }
        previous = current;
    }
    previous[right.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("cidr", "cidr"), 0);
        assert_eq!(edit_distance("cdir", "cidr"), 2);
        assert_eq!(edit_distance("desired_cont", "desired_count"), 1);
    }

    #[test]
    fn closest_only_suggests_near_names() {
        assert_eq!(
            closest("desired_cont", ["desired_count", "cookie"]),
            Some("desired_count")
        );
        assert_eq!(
            closest("LogGroupNmae", ["LogGroupName", "VpcId"]),
            Some("LogGroupName")
        );
        assert_eq!(closest("zzz", ["desired_count", "cookie"]), None);
    }
}
