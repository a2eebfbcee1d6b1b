//! Reading a stack's application logs: every stream of its CloudWatch log
//! group merged in time order, a large range in parallel time slices
//! (`range`), then with `--follow` new events until Ctrl-C (`follow`), each
//! event written once (`printed`). The command gives the bounds (`bounds`)
//! and a sink for the events; how they are shown is the command's.

pub mod bounds;
mod follow;
mod order;
mod printed;
mod range;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::aws::cloudformation::CloudFormation;
use crate::aws::logs::{LogEvent, Query};
use crate::aws::Aws;
use crate::config::StackConfig;
use crate::error::Failure;

/// `--follow` re-reads this much of the past on every poll: events arrive late.
pub const FOLLOW_OVERLAP_MS: i64 = 10_000;

/// Where events go once merged, in time order: stdout through the printer,
/// or a test's list.
pub type Sink<'a> = dyn FnMut(&[LogEvent]) -> anyhow::Result<()> + 'a;

/// The time now in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// What to read.
pub struct Request<'a> {
    pub stack: &'a StackConfig,
    /// Only these services' streams; every stream of the stack when empty.
    pub services: &'a [String],
    /// A CloudWatch Logs filter pattern.
    pub filter: Option<&'a str>,
    /// `[start, end)` in epoch milliseconds (`bounds::range`).
    pub start: i64,
    pub end: i64,
    /// After the range, keep reading new events.
    pub follow: bool,
}

/// Write every event of the range to `out` in time order and, with
/// `follow`, keep following (until an error: Ctrl-C is the caller's). The
/// log group read, once done.
pub async fn read(aws: &Aws, request: &Request<'_>, out: &mut Sink<'_>) -> anyhow::Result<String> {
    let group = log_group(aws, request.stack).await?;
    let queries = queries(&group, request.services, request.filter);
    let client = aws.logs();
    let mut printed = printed::Printed::starting_at(request.start);
    range::read_range(
        &mut printed,
        out,
        &client,
        &queries,
        request.start,
        request.end,
    )
    .await?;
    if request.follow {
        follow::follow(&mut printed, out, &client, &queries).await?;
    }
    Ok(group)
}

/// The stack's log group: the platform stack's `LogGroupName` output.
async fn log_group(aws: &Aws, stack: &StackConfig) -> anyhow::Result<String> {
    let platform = CloudFormation::new(aws.cloudformation())
        .describe(&stack.platform_stack_name())
        .await?
        .ok_or_else(|| {
            Failure::new(format!(
                "stack {} does not exist",
                stack.platform_stack_name()
            ))
            .hint(format!("run `stackup create-stack {}` first", stack.name))
        })?;
    platform
        .outputs
        .get("LogGroupName")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the platform stack has no LogGroupName output"))
}

/// One query of the group, or one per service: streams are
/// `<prefix>/<container>/<task id>`, and the templates use the service name
/// as prefix.
fn queries(group: &str, services: &[String], filter: Option<&str>) -> Vec<Query> {
    let pattern = filter.map(str::to_owned);
    if services.is_empty() {
        return vec![Query {
            group: group.to_owned(),
            stream_prefix: None,
            pattern,
        }];
    }
    services
        .iter()
        .map(|service| Query {
            group: group.to_owned(),
            stream_prefix: Some(format!("{service}/")),
            pattern: pattern.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_query_for_the_group_or_one_per_service_by_stream_prefix() {
        let all = queries("/stackup/demo", &[], Some("ERROR"));
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].stream_prefix, None);
        assert_eq!(all[0].pattern.as_deref(), Some("ERROR"));
        let some = queries("/stackup/demo", &["web".into(), "worker".into()], None);
        let prefixes: Vec<_> = some
            .iter()
            .map(|query| query.stream_prefix.as_deref())
            .collect();
        assert_eq!(prefixes, [Some("web/"), Some("worker/")]);
        assert!(some
            .iter()
            .all(|query| query.group == "/stackup/demo" && query.pattern.is_none()));
    }
}
