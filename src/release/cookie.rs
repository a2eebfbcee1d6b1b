//! The Erlang distribution cookie: a long random string in an SSM
//! SecureString, referenced from the task definition by ARN only.

/// Cookie length: 64 characters of [A-Za-z0-9] (about 380 bits).
pub const COOKIE_LENGTH: usize = 64;

/// The partition of a region: `aws`, `aws-cn` or `aws-us-gov`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The ARN of an SSM parameter (its name starts with `/`).
pub fn parameter_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{}:ssm:{region}:{account}:parameter{name}",
        partition(region)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_the_partition() {
        assert_eq!(
            parameter_arn("eu-west-1", "123456789012", "/stackup/demo-prod-v1/cookie"),
            "arn:aws:ssm:eu-west-1:123456789012:parameter/stackup/demo-prod-v1/cookie"
        );
        assert!(parameter_arn("cn-north-1", "1", "/x").starts_with("arn:aws-cn:"));
    }
}
