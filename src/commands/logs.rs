//! `logs <STACK>`: the stack's CloudWatch log group, every stream merged in
//! time order; large ranges in parallel time slices; `--follow` until Ctrl-C.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt};

use super::Context;
use crate::aws::logs::{filter_all, filter_page, LogEvent, Query};
use crate::aws::Aws;
use crate::cli::LogsArgs;
use crate::error::{InputError, Problem};
use crate::ui::Printer;
use crate::validation;

/// FilterLogEvents returns at most this many events per page.
const PAGE: usize = 10_000;
/// Slices are sized for about this many events, so most take one page.
const EVENTS_PER_SLICE: f64 = 9_000.0;
/// Slices fetched at once; memory holds at most this many slices of events.
const CONCURRENT_SLICES: usize = 4;
const MAX_SLICES: i64 = 256;
/// `--follow` re-reads this much of the past on every poll: events arrive late.
const FOLLOW_OVERLAP_MS: i64 = 10_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// `15m` (ago) or an RFC 3339 time, in epoch milliseconds.
pub fn parse_time(text: &str, flag: &str, now: i64) -> Result<i64, InputError> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(now - ago.as_millis() as i64);
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_millis() as i64)
            .unwrap_or_default());
    }
    Err(InputError::one(
        Problem::new(format!("{flag} {text} is neither a duration nor a time")).fix(format!(
            "write {flag} 15m, {flag} 2h, or {flag} 2026-11-21T10:00:00Z"
        )),
    ))
}

fn format_line(event: &LogEvent, out: &mut String) {
    let time = UNIX_EPOCH + Duration::from_millis(event.timestamp.max(0) as u64);
    out.push_str(&humantime::format_rfc3339_millis(time).to_string());
    out.push(' ');
    out.push_str(&event.stream);
    out.push(' ');
    out.push_str(&event.message);
    out.push('\n');
}

fn write_events(printer: &Printer, events: &[LogEvent]) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut out = String::with_capacity(events.len() * 96);
    for event in events {
        if printer.is_json() {
            out.push_str(&serde_json::to_string(event)?);
            out.push('\n');
        } else {
            format_line(event, &mut out);
        }
    }
    printer.data(&out)
}

/// What was printed lately: the newest timestamp, and the ids of the events
/// within the follow overlap window of it (so a re-read prints nothing twice).
#[derive(Default)]
struct Printed {
    newest: i64,
    recent: HashMap<u64, i64>,
}

impl Printed {
    fn starting_at(start: i64) -> Self {
        Printed {
            newest: start,
            recent: HashMap::new(),
        }
    }

    /// Keep the events not printed yet, remember them, and write them.
    fn write(&mut self, printer: &Printer, events: Vec<LogEvent>) -> anyhow::Result<bool> {
        let fresh: Vec<LogEvent> = events
            .into_iter()
            .filter(|event| {
                event.timestamp < self.newest - FOLLOW_OVERLAP_MS
                    || self
                        .recent
                        .insert(id_hash(&event.id), event.timestamp)
                        .is_none()
            })
            .collect();
        if let Some(last) = fresh.iter().map(|event| event.timestamp).max() {
            self.newest = self.newest.max(last);
        }
        let floor = self.newest - FOLLOW_OVERLAP_MS;
        self.recent.retain(|_, timestamp| *timestamp >= floor);
        write_events(printer, &fresh)?;
        Ok(!fresh.is_empty())
    }
}

fn sort(events: &mut [LogEvent]) {
    events.sort_by(|left, right| {
        left.timestamp
            .cmp(&right.timestamp)
            .then_with(|| left.id.cmp(&right.id))
    });
}

pub async fn run(context: &Context, args: &LogsArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let now = now_ms();
    let start = parse_time(&args.since, "--since", now)?;
    let end = match &args.until {
        Some(until) => parse_time(until, "--until", now)?,
        None => now,
    };
    if args.until.is_some() && end <= start {
        return Err(InputError::one(
            Problem::new("--until is not after --since").fix("give an end later than the start"),
        )
        .into());
    }
    if args.follow && args.until.is_some() {
        return Err(InputError::one(
            Problem::new("--follow reads until Ctrl-C; it cannot take --until")
                .fix("drop --until, or --follow"),
        )
        .into());
    }
    for service in &args.service {
        if !stack.services.contains_key(service) {
            return Err(InputError::one(
                Problem::new(format!(
                    "--service {service}: the stack has no such service"
                ))
                .in_file(&stack.file)
                .fix(format!(
                    "services: {}",
                    stack
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            )
            .into());
        }
    }
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let platform = crate::aws::cloudformation::CloudFormation::new(aws.cloudformation())
        .describe(&stack.platform_stack_name())
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "stack {} does not exist; run `stackup create-stack {}` first",
                stack.platform_stack_name(),
                stack.name
            )
        })?;
    let group = platform
        .outputs
        .get("LogGroupName")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the platform stack has no LogGroupName output"))?;
    // Streams are <prefix>/<container>/<task id>; the templates use the service name as prefix.
    let queries: Vec<Query> = if args.service.is_empty() {
        vec![Query {
            group: group.clone(),
            stream_prefix: None,
            pattern: args.filter.clone(),
        }]
    } else {
        args.service
            .iter()
            .map(|service| Query {
                group: group.clone(),
                stream_prefix: Some(format!("{service}/")),
                pattern: args.filter.clone(),
            })
            .collect()
    };
    let client = aws.logs();
    let mut printed = Printed::starting_at(start);
    read_range(&mut printed, printer, &client, &queries, start, end).await?;
    if args.follow {
        follow(&mut printed, printer, &client, &queries).await?;
    }
    Ok(())
}

/// Write every event of `[start, end)` in time order.
async fn read_range(
    printed: &mut Printed,
    printer: &Printer,
    client: &aws_sdk_cloudwatchlogs::Client,
    queries: &[Query],
    start: i64,
    end: i64,
) -> anyhow::Result<()> {
    // A first page tells how dense the range is.
    let mut probe = Vec::new();
    let mut more = Vec::new();
    for query in queries {
        let (page, next) = filter_page(client, query, start, end, None).await?;
        probe.push(page);
        more.push(next);
    }
    if more.iter().all(Option::is_none) {
        let mut events: Vec<LogEvent> = probe.into_iter().flatten().collect();
        sort(&mut events);
        printed.write(printer, events)?;
        return Ok(());
    }
    // The probe holds the earliest events when the service returns them in
    // time order (it does); keep those before its last timestamp, and cut the
    // rest into slices of about one page each.
    let time_ordered = probe.iter().all(|page| {
        page.windows(2)
            .all(|pair| pair[0].timestamp <= pair[1].timestamp)
    });
    let (kept, resume_at) = if time_ordered && queries.len() == 1 {
        let page = probe.remove(0);
        let last = page.last().map_or(start, |event| event.timestamp);
        let kept: Vec<LogEvent> = page
            .into_iter()
            .filter(|event| event.timestamp < last)
            .collect();
        (kept, last)
    } else {
        (Vec::new(), start)
    };
    let span = (end - resume_at).max(1);
    let density = if resume_at > start && !kept.is_empty() {
        kept.len() as f64 / (resume_at - start) as f64
    } else {
        PAGE as f64 / span as f64
    };
    let slices = ((density * span as f64 / EVENTS_PER_SLICE).ceil() as i64).clamp(1, MAX_SLICES);
    printed.write(printer, kept)?;

    let width = (span + slices - 1) / slices;
    let bounds: Vec<(i64, i64)> = (0..slices)
        .map(|index| {
            (
                resume_at + index * width,
                (resume_at + (index + 1) * width).min(end),
            )
        })
        .filter(|(from, to)| from < to)
        .collect();
    tracing::debug!(
        slices = bounds.len(),
        "reading the rest of the range in time slices"
    );
    let mut ordered = stream::iter(bounds.into_iter().map(|(from, to)| async move {
        let mut events = Vec::new();
        for query in queries {
            events.extend(filter_all(client, query, from, to).await?);
        }
        sort(&mut events);
        anyhow::Ok(events)
    }))
    .buffered(CONCURRENT_SLICES);
    while let Some(events) = ordered.next().await {
        printed.write(printer, events?)?;
    }
    Ok(())
}

fn id_hash(id: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Poll for new events until Ctrl-C: each poll re-reads the overlap window and
/// drops events already printed (by event id), so nothing is lost or doubled;
/// memory holds only the ids of the overlap window.
async fn follow(
    printed: &mut Printed,
    printer: &Printer,
    client: &aws_sdk_cloudwatchlogs::Client,
    queries: &[Query],
) -> anyhow::Result<()> {
    let mut idle = Duration::from_millis(500);
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let window_start = printed.newest - FOLLOW_OVERLAP_MS;
        let now = now_ms() + 1;
        let mut events = Vec::new();
        for query in queries {
            events.extend(filter_all(client, query, window_start, now).await?);
        }
        sort(&mut events);
        let got_events = printed.write(printer, events)?;
        idle = if got_events {
            Duration::from_millis(500)
        } else {
            (idle * 2).min(Duration::from_secs(5))
        };
        tokio::select! {
            _ = tokio::time::sleep(idle) => {}
            _ = &mut interrupt => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_durations_ago_or_rfc3339() {
        let now = 1_800_000_000_000;
        assert_eq!(
            parse_time("15m", "--since", now).expect("duration"),
            now - 900_000
        );
        assert_eq!(
            parse_time("2026-01-01T00:00:00Z", "--since", now).expect("time"),
            1_767_225_600_000
        );
        assert!(parse_time("yesterday", "--since", now).is_err());
    }
}
