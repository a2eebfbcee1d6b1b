//! The floor of the `logs` benchmark (scripts/bench.d/logs.sh): a minimal client
//! that makes the same AWS calls as `stackup logs` over a range and only counts the
//! events. Same SDK, same HTTP stack, same plan of calls (the platform stack's
//! outputs for the log group; a first page of the range, narrowed while out of time
//! order; then time slices sized from it, four at a time, each read to its last
//! page); no merging, formatting or writing. What `stackup logs` takes beyond this
//! is the cost of its own work on the events.
//!
//! usage: logs_floor ENDPOINT_URL PLATFORM_STACK START_MS END_MS
//! Prints the number of events in [START_MS, END_MS). Credentials and region from
//! the environment.

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs::Client;
use futures_util::stream::{self, StreamExt};

// As in src/commands/logs.rs.
const PAGE: usize = 10_000;
const EVENTS_PER_SLICE: f64 = 9_000.0;
const CONCURRENT_SLICES: usize = 4;
const MAX_SLICES: i64 = 256;
const NARROWING: i64 = 16;

/// One page: the timestamps of its events in [from, to), and the next token.
#[allow(deprecated)]
async fn page(
    client: &Client,
    group: &str,
    from: i64,
    to: i64,
    token: Option<String>,
) -> anyhow::Result<(Vec<i64>, Option<String>)> {
    let output = client
        .filter_log_events()
        .interleaved(true)
        .log_group_name(group)
        .start_time(from)
        .end_time(to)
        .limit(PAGE as i32)
        .set_next_token(token)
        .send()
        .await?;
    let times = output
        .events()
        .iter()
        .filter_map(|event| event.timestamp())
        .filter(|time| (from..to).contains(time))
        .collect();
    Ok((times, output.next_token().map(str::to_string)))
}

/// The number of events in [from, to), every page.
async fn count(client: &Client, group: &str, from: i64, to: i64) -> anyhow::Result<usize> {
    let (mut total, mut token) = (0, None);
    loop {
        let (times, next) = page(client, group, from, to, token).await?;
        total += times.len();
        match next {
            Some(next) => token = Some(next),
            None => return Ok(total),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, stack, start, end] = args.as_slice() else {
        anyhow::bail!("usage: logs_floor ENDPOINT_URL PLATFORM_STACK START_MS END_MS");
    };
    let (start, end): (i64, i64) = (start.parse()?, end.parse()?);
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    let stacks = aws_sdk_cloudformation::Client::new(&config)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await?;
    let group = stacks
        .stacks()
        .first()
        .and_then(|stack| {
            stack
                .outputs()
                .iter()
                .find(|output| output.output_key() == Some("LogGroupName"))
        })
        .and_then(|output| output.output_value())
        .ok_or_else(|| anyhow::anyhow!("no LogGroupName output"))?
        .to_string();
    let client = Client::new(&config);

    let (mut from, mut total) = (start, 0);
    let mut width = end - from;
    let (kept, resume_at) = loop {
        let (times, next) = page(&client, &group, from, from + width, None).await?;
        let ordered = times.windows(2).all(|pair| pair[0] <= pair[1]);
        let settled = match next {
            None => Some(from + width),
            Some(_) if ordered => Some(times.last().copied().unwrap_or(from)),
            Some(_) => None,
        };
        match settled {
            Some(at) if at > from => break (times.iter().filter(|t| **t < at).count(), at),
            None if width > 1 => width = (width / NARROWING).max(1),
            _ => {
                total += count(&client, &group, from, from + 1).await?;
                from += 1;
                if from >= end {
                    break (0, end);
                }
                width = end - from;
            }
        }
    };
    total += kept;
    if resume_at < end {
        let span = end - resume_at;
        let density =
            (kept as f64 / (resume_at - from) as f64).max(PAGE as f64 / (end - from) as f64);
        let slices =
            ((density * span as f64 / EVENTS_PER_SLICE).ceil() as i64).clamp(1, MAX_SLICES);
        let width = (span + slices - 1) / slices;
        let bounds = (0..slices)
            .map(|index| {
                (
                    resume_at + index * width,
                    (resume_at + (index + 1) * width).min(end),
                )
            })
            .filter(|(from, to)| from < to);
        let client = &client;
        let group = group.as_str();
        let mut counts = stream::iter(bounds.map(|(from, to)| count(client, group, from, to)))
            .buffered(CONCURRENT_SLICES);
        while let Some(slice) = counts.next().await {
            total += slice?;
        }
    }
    println!("{total}");
    Ok(())
}
