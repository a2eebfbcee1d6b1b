//! "Did you mean ...?" for misspelt keys and names.

/// The candidate nearest to a misspelt name, if it is near enough to be a typo.
///
/// The same name in other capitals wins; then one a single edit away; then a
/// candidate the name begins (`LoadBalancerDns` is `LoadBalancerDnsName` cut
/// short, not `LoadBalancerArn` with three letters changed); then the fewest edits,
/// a swap of two letters counting as one (Damerau-Levenshtein), up to a
/// third of the candidate's length.
pub fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let lower = name.to_lowercase();
    if let Some(same) = candidates
        .iter()
        .find(|candidate| candidate.to_lowercase() == lower)
    {
        return Some(same);
    }
    // One edit (or one swap) away is a typo, whatever else is near.
    if let Some(typo) = candidates
        .iter()
        .find(|candidate| edit_distance(name, candidate) <= 1)
    {
        return Some(typo);
    }
    let cut_short = candidates
        .iter()
        .filter(|candidate| lower.len() >= 4 && candidate.to_lowercase().starts_with(&lower))
        .min_by_key(|candidate| candidate.len());
    if let Some(cut_short) = cut_short {
        return Some(cut_short);
    }
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edits from one name to another, a swap of neighbours counting as one.
fn edit_distance(left: &str, right: &str) -> usize {
    strsim::damerau_levenshtein(left, right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("cidr", "cidr"), 0);
        assert_eq!(edit_distance("cdir", "cidr"), 1);
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
        assert_eq!(
            closest(
                "LoadBalancerDns",
                ["LoadBalancerArn", "LoadBalancerDnsName"]
            ),
            Some("LoadBalancerDnsName")
        );
        assert_eq!(
            closest("relase.id", ["release.id", "region"]),
            Some("release.id")
        );
        assert_eq!(closest("vpcid", ["VpcId", "VpcCidr"]), Some("VpcId"));
    }
}
