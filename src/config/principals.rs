//! `[deploy] trusted_principals`: who may assume the platform's deploy role.
//!
//! A role's trust policy names principals by ARN (IAM User Guide, "AWS JSON
//! policy elements: Principal"): an account (`arn:aws:iam::123456789012:root`),
//! a role or a user. Wildcards are not allowed there, and IAM refuses a trust
//! policy naming a role or user that does not exist ("Invalid principal in
//! policy"), so only the shape is checked offline.

use super::reader::TableReader;

/// At most this many principals: each is one entry of the trust policy,
/// whose size IAM limits (2,048 characters by default).
pub const MAX_TRUSTED_PRINCIPALS: usize = 10;

const EXAMPLE: &str = "[\"arn:aws:iam::123456789012:role/ci\"]";

/// What is wrong with a principal ARN for a trust policy, if anything.
pub fn principal_arn_problem(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let resource_ok = |resource: &str| {
        resource == "root"
            || ["role/", "user/"].iter().any(|kind| {
                resource.strip_prefix(kind).is_some_and(|name| {
                    !name.is_empty()
                        && !name.ends_with('/')
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
                })
            })
    };
    let shaped = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && resource_ok(parts[5]);
    if arn.contains('*') {
        return Some(format!(
            "\"{arn}\" has a wildcard: a trust policy names each principal exactly"
        ));
    }
    (!shaped).then(|| {
        format!(
            "\"{arn}\" is not the ARN of an IAM role, user or account (arn:aws:iam::ACCOUNT:role/NAME, :user/NAME or :root)"
        )
    })
}

/// The principals `[deploy] trusted_principals` names (none when absent);
/// `None` after reporting a problem.
pub fn read_trusted_principals(table: &TableReader) -> Option<Vec<String>> {
    const KEY: &str = "trusted_principals";
    let Some(found) = table.string_array(KEY, EXAMPLE) else {
        return (!table.has(KEY)).then(Vec::new);
    };
    let key_path = table.key_path(KEY);
    let mut ok = true;
    let mut principals: Vec<String> = Vec::new();
    for item in &found.value {
        if let Some(problem) = principal_arn_problem(&item.value) {
            table.diagnostics().report(
                Some(&item.span),
                &key_path,
                problem,
                Some(format!(
                    "name the roles or users that deploy, like {KEY} = {EXAMPLE}"
                )),
            );
            ok = false;
        } else if principals.contains(&item.value) {
            table.diagnostics().report(
                Some(&item.span),
                &key_path,
                format!("\"{}\" is named twice", item.value),
                Some("name each principal once".to_string()),
            );
            ok = false;
        } else {
            principals.push(item.value.clone());
        }
    }
    if found.value.len() > MAX_TRUSTED_PRINCIPALS {
        table.diagnostics().report(
            Some(&found.span),
            &key_path,
            format!(
                "{} principals; the deploy role trusts at most {MAX_TRUSTED_PRINCIPALS}",
                found.value.len()
            ),
            Some("trust one role that your people and CI jobs assume instead".to_string()),
        );
        ok = false;
    }
    // An array with a wrong element reported it already; what is left is
    // only partly read.
    (ok && found.value.len() == count_items(table, KEY)).then_some(principals)
}

/// How many elements the array under `key` has, strings or not.
fn count_items(table: &TableReader, key: &'static str) -> usize {
    match table.value(key).map(|value| value.get_ref()) {
        Some(toml::de::DeValue::Array(items)) => items.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::principal_arn_problem;

    #[test]
    fn principals_are_roles_users_or_accounts() {
        for good in [
            "arn:aws:iam::123456789012:role/ci",
            "arn:aws:iam::123456789012:role/teams/deploy-bot",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::123456789012:root",
            "arn:aws-us-gov:iam::123456789012:role/ci",
        ] {
            assert_eq!(principal_arn_problem(good), None, "{good}");
        }
        for bad in [
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::12345678901:role/ci",
            "arn:aws:iam:us-east-1:123456789012:role/ci",
            "arn:aws:sts::123456789012:assumed-role/ci/session",
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:iam::123456789012:role/",
            "123456789012",
            "ci",
            "*",
        ] {
            assert!(principal_arn_problem(bad).is_some(), "{bad}");
        }
    }
}
