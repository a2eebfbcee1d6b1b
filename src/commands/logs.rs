//! `logs <STACK>`: the stack's CloudWatch log group, every stream merged in
//! time order; large ranges in parallel time slices; `--follow` until Ctrl-C.

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt};

use super::Context;
use crate::aws::logs::{filter_all, filter_page, LogEvent, Query};
use crate::aws::Aws;
use crate::cli::LogsArgs;
use crate::error::{InputError, Interrupted, Problem};
use crate::ui::push_escaped;
use crate::ui::Printer;
use crate::validation;

/// FilterLogEvents returns at most this many events per page.
const PAGE: usize = 10_000;
/// Slices are sized for about this many events, so most take one page.
const EVENTS_PER_SLICE: f64 = 9_000.0;
/// Slices fetched at once; memory holds at most this many slices of events.
const CONCURRENT_SLICES: usize = 4;
const MAX_SLICES: i64 = 256;
/// A first page out of time order settles nothing: the probe is repeated on a
/// prefix of the range this many times narrower.
const NARROWING: i64 = 16;
/// `--follow` re-reads this much of the past on every poll: events arrive late.
const FOLLOW_OVERLAP_MS: i64 = 10_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

const NANOS_PER_MILLI: i128 = 1_000_000;
/// clap's default for `--since` (src/cli.rs).
const DEFAULT_SINCE: &str = "15m";

/// `15m` (ago) or an RFC 3339 time, as the exact instant it names, in
/// nanoseconds since the epoch (never before 1970: a duration longer than
/// that means from the beginning). `now` is in epoch milliseconds.
pub fn parse_time(text: &str, flag: &str, now: i64) -> Result<i128, InputError> {
    if let Ok(ago) = humantime::parse_duration(text) {
        let ago = i128::try_from(ago.as_nanos()).unwrap_or(i128::MAX);
        return Ok((i128::from(now) * NANOS_PER_MILLI)
            .saturating_sub(ago)
            .max(0));
    }
    if let Some(time) = parse_rfc3339(text) {
        return Ok(time.max(0));
    }
    Err(InputError::one(
        Problem::new(format!("{flag} {text} is neither a duration nor a time")).fix(format!(
            "write {flag} 15m, {flag} 2h, {flag} 2026-11-21T10:00:00Z or {flag} 2026-11-21T12:00:00+02:00"
        )),
    ))
}

/// The first millisecond that starts at or after `instant` (nanoseconds).
/// Events are stamped to the millisecond, so an event at `t` is in
/// `[since, until)` exactly when `first_millisecond(since) <= t <
/// first_millisecond(until)`: both bounds round up, never down.
fn first_millisecond(instant: i128) -> i64 {
    let millis =
        instant.div_euclid(NANOS_PER_MILLI) + i128::from(instant.rem_euclid(NANOS_PER_MILLI) != 0);
    i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
}

/// An RFC 3339 time (`Z` or a `+hh:mm`/`-hh:mm` offset; `T` or a space between
/// date and time; letters in either case) in epoch nanoseconds. Without an
/// offset the time is taken as UTC.
fn parse_rfc3339(text: &str) -> Option<i128> {
    let text = text.trim();
    let (body, offset_seconds) = if let Some(body) = text.strip_suffix(['Z', 'z']) {
        (body, 0)
    } else if text.len() > 16 && text.is_char_boundary(text.len() - 6) {
        let (body, offset) = text.split_at(text.len() - 6);
        match offset.as_bytes() {
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
                if [h1, h2, m1, m2].iter().all(|digit| digit.is_ascii_digit()) =>
            {
                let hours = i128::from((h1 - b'0') * 10 + (h2 - b'0'));
                let minutes = i128::from((m1 - b'0') * 10 + (m2 - b'0'));
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let seconds = hours * 3600 + minutes * 60;
                (body, if *sign == b'+' { seconds } else { -seconds })
            }
            _ => (text, 0),
        }
    } else {
        (text, 0)
    };
    let body = match body.as_bytes().get(10) {
        Some(b't') => format!("{}T{}", &body[..10], &body[11..]),
        _ => body.to_owned(),
    };
    let time = humantime::parse_rfc3339_weak(&body).ok()?;
    let nanos = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i128::try_from(since.as_nanos()).ok()?,
        Err(before) => -i128::try_from(before.duration().as_nanos()).ok()?,
    };
    Some(nanos - offset_seconds * 1_000_000_000)
}

/// A millisecond as RFC 3339, as lines show it and `--since` reads it back.
fn time_text(millis: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// `[start, end)` in epoch milliseconds from `--since` and `--until`.
fn range_of(args: &LogsArgs, now: i64) -> Result<(i64, i64), InputError> {
    let since = parse_time(&args.since, "--since", now)?;
    let start = first_millisecond(since);
    if start > now && !args.follow {
        // Nothing can have been logged yet: an empty answer would look like a quiet service.
        return Err(InputError::one(
            Problem::new(format!("--since {} is in the future", args.since)).fix(
                "give a start in the past (--since 15m, or a time before now), \
                 or add --follow to wait for the events from then",
            ),
        ));
    }
    let Some(until_text) = &args.until else {
        return Ok((start, now));
    };
    let until = parse_time(until_text, "--until", now)?;
    // The instants as given, not their milliseconds: a range shorter than a
    // millisecond is a range (that may hold no event).
    if until <= since {
        let end = first_millisecond(until);
        let problem = if args.since == DEFAULT_SINCE {
            Problem::new(format!(
                "--until {until_text} is not after the start: --since defaults to \
                 {DEFAULT_SINCE} ago ({})",
                time_text(start)
            ))
            .fix(format!(
                "give --since too, a start before the end: --since {} --until {until_text}",
                time_text(end.saturating_sub(15 * 60 * 1000))
            ))
        } else {
            Problem::new(format!(
                "--until is not after --since (--since {} is {}, --until {until_text} is {})",
                args.since,
                time_text(start),
                time_text(end)
            ))
            .fix("give an end later than the start")
        };
        return Err(InputError::one(problem));
    }
    Ok((start, first_millisecond(until)))
}

/// One event on one line: time, stream, message.
fn format_line(event: &LogEvent, out: &mut String) {
    out.push_str(&time_text(event.timestamp));
    out.push(' ');
    push_escaped(&event.stream, out);
    out.push(' ');
    // Line breaks at the end of a message are already gone (aws::logs).
    push_escaped(&event.message, out);
    out.push('\n');
}

/// Where events go once merged: stdout through the printer, or a test's list.
type Sink<'a> = dyn FnMut(&[LogEvent]) -> anyhow::Result<()> + 'a;

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

/// The id hashes of the events of one second of timestamps that were printed:
/// those written since the last `seal` in a set, the others in a sorted list
/// (8 bytes an id: at tens of thousands of events a second, the overlap
/// window's ids would take several times more in sets).
#[derive(Default)]
struct Second {
    sealed: Vec<u64>,
    open: HashSet<u64>,
}

/// What was printed: the newest timestamp, and the ids of the events printed
/// since `floor`, by second of their timestamps. Nothing before `floor` is read
/// again, so an event older than it cannot be a double; `forget` moves the floor
/// to the overlap window of the newest, and whole seconds are dropped at once.
struct Printed {
    newest: i64,
    floor: i64,
    recent: VecDeque<(i64, Second)>,
}

impl Printed {
    fn starting_at(start: i64) -> Self {
        Printed {
            newest: start,
            floor: start,
            recent: VecDeque::new(),
        }
    }

    /// Whether an event was not printed yet (it is remembered as printed).
    fn is_new(&mut self, event: &LogEvent) -> bool {
        if event.timestamp < self.floor {
            return true;
        }
        let second = event.timestamp.div_euclid(1000);
        let at = match self
            .recent
            .binary_search_by_key(&second, |(second, _)| *second)
        {
            Ok(at) => at,
            Err(at) => {
                self.recent.insert(at, (second, Second::default()));
                at
            }
        };
        let hash = id_hash(&event.id);
        let ids = &mut self.recent[at].1;
        ids.sealed.binary_search(&hash).is_err() && ids.open.insert(hash)
    }

    /// Write events that passed `is_new`, in time order.
    fn write_new(&mut self, out: &mut Sink, mut events: Vec<LogEvent>) -> anyhow::Result<()> {
        sort(&mut events);
        if let Some(last) = events.last() {
            self.newest = self.newest.max(last.timestamp);
        }
        self.seal();
        out(&events)
    }

    /// Move the ids of the open sets into the sorted lists.
    fn seal(&mut self) {
        for (_, ids) in self
            .recent
            .iter_mut()
            .filter(|(_, ids)| !ids.open.is_empty())
        {
            ids.sealed.extend(std::mem::take(&mut ids.open));
            ids.sealed.sort_unstable();
            ids.sealed.shrink_to_fit();
        }
    }

    /// Nothing before the overlap window of the newest event is read again:
    /// forget the ids of older seconds.
    fn forget(&mut self) {
        self.floor = self.floor.max(self.newest - FOLLOW_OVERLAP_MS);
        let second = self.floor.div_euclid(1000);
        while self
            .recent
            .front()
            .is_some_and(|(oldest, _)| *oldest < second)
        {
            self.recent.pop_front();
        }
    }

    /// Write the events of a slice read in time order (after every earlier
    /// slice) that were not printed yet.
    fn write_slice(&mut self, out: &mut Sink, events: Vec<LogEvent>) -> anyhow::Result<()> {
        let fresh: Vec<LogEvent> = events
            .into_iter()
            .filter(|event| self.is_new(event))
            .collect();
        self.write_new(out, fresh)?;
        self.forget();
        Ok(())
    }
}

/// Time order. Ties keep the order the server sent them in (the sort is
/// stable), except ids that are counters (moto's "26", "100"), which are
/// ordered by number: the lines of a stack trace stamped in one millisecond
/// stay in the order they were logged.
fn sort(events: &mut [LogEvent]) {
    events.sort_by(|left, right| {
        left.timestamp
            .cmp(&right.timestamp)
            .then_with(|| counter_order(&left.id, &right.id))
    });
}

/// An id of digits without its leading zeros: by length, then digit by
/// digit, such ids compare as their numbers do.
fn counter(id: &str) -> Option<&str> {
    (!id.is_empty() && id.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| id.trim_start_matches('0'))
}

/// Counters by number, before ids that are not counters; those are all equal.
fn counter_order(left: &str, right: &str) -> std::cmp::Ordering {
    match (counter(left), counter(right)) {
        (Some(left), Some(right)) => (left.len(), left).cmp(&(right.len(), right)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// What has been written to stdout so far.
#[derive(Clone, Copy, Default)]
struct Written {
    events: u64,
    /// The newest timestamp written.
    newest: Option<i64>,
}

pub async fn run(context: &Context, args: &LogsArgs) -> anyhow::Result<()> {
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let (start, end) = range_of(args, now_ms())?;
    if args.follow && args.until.is_some() {
        return Err(InputError::one(
            Problem::new("--follow reads until Ctrl-C; it cannot take --until")
                .fix("drop --until, or --follow"),
        )
        .into());
    }
    for service in &args.service {
        stack.service_named(service).map_err(InputError::one)?;
    }
    // Ctrl-C from here on, at any await: the normal end of --follow (exit
    // 0), an interruption of a read (130). Either way what was printed is
    // whole lines: each write of lines happens between two awaits.
    let mut interrupt = crate::interrupt::listen()?;
    let written = Cell::new(Written::default());
    let reading = read(context, &stack, args, start, end, &written);
    let group = tokio::select! {
        group = reading => group?,
        _ = interrupt.recv() => {
            if args.follow {
                return Ok(());
            }
            return Err(Interrupted(interrupted_read(args, start, end, written.get())).into());
        }
    };
    if written.get().events == 0 {
        context.printer.info(no_events(&group, args, start, end));
    }
    Ok(())
}

/// Read the range and, with --follow, keep following it (until an error:
/// Ctrl-C is the caller's). The log group read, once done.
async fn read(
    context: &Context,
    stack: &crate::config::StackConfig,
    args: &LogsArgs,
    start: i64,
    end: i64,
    written: &Cell<Written>,
) -> anyhow::Result<String> {
    let aws = Aws::load(&context.aws, Some(stack)).await?;
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
    let mut out = |events: &[LogEvent]| {
        write_events(&context.printer, events)?;
        let so_far = written.get();
        written.set(Written {
            events: so_far.events + events.len() as u64,
            newest: events
                .iter()
                .map(|event| event.timestamp)
                .chain(so_far.newest)
                .max(),
        });
        Ok(())
    };
    read_range(&mut printed, &mut out, &client, &queries, start, end).await?;
    if args.follow {
        follow(&mut printed, &mut out, &client, &queries).await?;
    }
    Ok(group)
}

/// `logs` of the same stack, services and filter over `[start, end)`, as a command to run.
fn logs_command(args: &LogsArgs, start: i64, end: i64) -> String {
    let mut command = format!("stackup logs {}", shell_word(&args.stack));
    for service in &args.service {
        command.push_str(&format!(" --service {}", shell_word(service)));
    }
    if let Some(filter) = &args.filter {
        command.push_str(&format!(" --filter {}", shell_word(filter)));
    }
    command.push_str(&format!(
        " --since {} --until {}",
        time_text(start),
        time_text(end)
    ));
    command
}

/// `word` as the shell reads it back: as it is when it holds nothing special.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_./:=+,@%".contains(&byte));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What an interrupted read printed and the command that prints the rest.
/// The range is written in time order, each millisecond whole, so every event
/// up to the newest written was printed.
fn interrupted_read(args: &LogsArgs, start: i64, end: i64, written: Written) -> String {
    match written.newest {
        None => format!(
            "no event was printed; run `{}` to read the range",
            logs_command(args, start, end)
        ),
        Some(newest) if newest + 1 >= end => {
            format!("all {} events of the range were printed", written.events)
        }
        Some(newest) => format!(
            "{} events were printed, the last at {}; run `{}` for the rest",
            written.events,
            time_text(newest),
            logs_command(args, newest + 1, end)
        ),
    }
}

/// On stderr when a range holds no event, so that an empty stdout is known
/// to be an answer.
fn no_events(group: &str, args: &LogsArgs, start: i64, end: i64) -> String {
    let mut narrowed: Vec<String> = args
        .service
        .iter()
        .map(|service| format!("--service {service}"))
        .collect();
    if let Some(filter) = &args.filter {
        narrowed.push(format!("--filter {filter}"));
    }
    let narrowed = if narrowed.is_empty() {
        String::new()
    } else {
        format!(" ({})", narrowed.join(", "))
    };
    format!(
        "no events in {group}{narrowed} between {} and {}",
        time_text(start),
        time_text(end)
    )
}

fn in_time_order(events: &[LogEvent]) -> bool {
    events
        .windows(2)
        .all(|pair| pair[0].timestamp <= pair[1].timestamp)
}

/// Write every event of `[start, end)` in time order.
async fn read_range(
    printed: &mut Printed,
    out: &mut Sink<'_>,
    client: &aws_sdk_cloudwatchlogs::Client,
    queries: &[Query],
    start: i64,
    end: i64,
) -> anyhow::Result<()> {
    if end <= start {
        return Ok(());
    }
    // A first page of the range settles a prefix of it: all of it when there is
    // no next page; when the page is in time order (the service interleaves the
    // streams), every event before its last timestamp. A page out of time order
    // settles nothing: probe a narrower prefix. The settled prefix also tells how
    // dense the range is, which sizes the slices of the rest. More than a page in
    // one millisecond is read whole, and the rest probed afresh.
    let mut from = start;
    let mut width = end - from;
    let (kept, resume_at) = loop {
        let probe_end = from + width;
        let mut pages = Vec::with_capacity(queries.len());
        let mut settled = Some(probe_end);
        for query in queries {
            let (page, next) = filter_page(client, query, from, probe_end, None).await?;
            if next.is_some() {
                settled = match (settled, in_time_order(&page)) {
                    (Some(at), true) => Some(at.min(page.last().map_or(from, |e| e.timestamp))),
                    _ => None,
                };
            }
            pages.push(page);
        }
        match settled {
            Some(at) if at > from => {
                let kept: Vec<LogEvent> = pages
                    .into_iter()
                    .flatten()
                    .filter(|event| event.timestamp < at)
                    .collect();
                break (kept, at);
            }
            None if width > 1 => {
                tracing::debug!(
                    width,
                    "a first page out of time order: probing a narrower prefix"
                );
                width = (width / NARROWING).max(1);
            }
            // More than a page in millisecond `from`.
            _ => {
                printed.write_slice(out, read_whole(client, queries, from, from + 1).await?)?;
                from += 1;
                if from >= end {
                    return Ok(());
                }
                width = end - from;
            }
        }
    };
    if resume_at >= end {
        printed.write_slice(out, kept)?;
        return Ok(());
    }
    // The range holds more than a page: at least a page more than the prefix.
    let span = end - resume_at;
    let density =
        (kept.len() as f64 / (resume_at - from) as f64).max(PAGE as f64 / (end - from) as f64);
    let slices = ((density * span as f64 / EVENTS_PER_SLICE).ceil() as i64).clamp(1, MAX_SLICES);
    printed.write_slice(out, kept)?;

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
    let mut ordered = stream::iter(
        bounds
            .into_iter()
            .map(|(from, to)| read_whole(client, queries, from, to)),
    )
    .buffered(CONCURRENT_SLICES);
    while let Some(events) = ordered.next().await {
        printed.write_slice(out, events?)?;
    }
    Ok(())
}

/// Every event of `[from, to)`, all pages of every query, in time order.
async fn read_whole(
    client: &aws_sdk_cloudwatchlogs::Client,
    queries: &[Query],
    from: i64,
    to: i64,
) -> anyhow::Result<Vec<LogEvent>> {
    let mut events = Vec::new();
    for query in queries {
        events.extend(filter_all(client, query, from, to).await?);
    }
    sort(&mut events);
    Ok(events)
}

fn id_hash(id: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Poll for new events until an error (Ctrl-C ends it in `run`): each poll
/// re-reads the overlap window before the newest event printed and drops
/// events already printed (by event id), so nothing up to the window's width
/// late is lost or doubled. Memory holds the ids of the overlap
/// window and at most about a page of new events: a poll's new events are
/// written in time order, a page at a time when there are more (pages come in
/// time order, so one query's output stays in order; with several `--service`
/// a poll of more than a page writes one service's pages before the next's).
/// Events that arrive late, inside the overlap window, are printed when they
/// are seen, after newer ones. The ids older than the window are forgotten
/// between polls, and within a poll while its pages come in time order (one
/// query), so a poll never prints twice what it reads twice.
async fn follow(
    printed: &mut Printed,
    out: &mut Sink<'_>,
    client: &aws_sdk_cloudwatchlogs::Client,
    queries: &[Query],
) -> anyhow::Result<()> {
    let mut idle = Duration::from_millis(500);
    loop {
        let got_events = poll(printed, out, client, queries).await?;
        idle = if got_events {
            Duration::from_millis(500)
        } else {
            (idle * 2).min(Duration::from_secs(5))
        };
        tokio::time::sleep(idle).await;
    }
}

/// One poll of `follow`: the overlap window up to now, new events written.
/// Whether there were any.
async fn poll(
    printed: &mut Printed,
    out: &mut Sink<'_>,
    client: &aws_sdk_cloudwatchlogs::Client,
    queries: &[Query],
) -> anyhow::Result<bool> {
    // the overlap window of the newest event, never before --since
    let window_start = printed.floor;
    let now = now_ms() + 1;
    if now <= window_start {
        // --follow --since <a time to come>: nothing to ask AWS for yet.
        return Ok(false);
    }
    let mut got_events = false;
    let mut fresh = Vec::new();
    for query in queries {
        let mut token = None;
        // the newest timestamp of this query's pages so far, while they come
        // in time order
        let mut in_order = Some(i64::MIN);
        loop {
            let (page, next) = filter_page(client, query, window_start, now, token).await?;
            in_order = in_order.filter(|&last| {
                page.first().is_none_or(|first| first.timestamp >= last) && in_time_order(&page)
            });
            if let (Some(last), Some(event)) = (&mut in_order, page.last()) {
                *last = event.timestamp;
            }
            fresh.extend(page.into_iter().filter(|event| printed.is_new(event)));
            if fresh.len() >= PAGE {
                got_events = true;
                printed.write_new(out, std::mem::take(&mut fresh))?;
                // One query read in time order so far: the rest of this poll
                // comes after everything printed, never before its overlap
                // window, so the older ids can go now. A poll that reads a
                // burst then holds the ids of one window, not of the burst.
                if queries.len() == 1 && in_order.is_some() {
                    printed.forget();
                }
            }
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    got_events |= !fresh.is_empty();
    printed.write_new(out, fresh)?;
    printed.forget();
    Ok(got_events)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first millisecond at or after a time given as text.
    fn millis(text: &str, now: i64) -> i64 {
        first_millisecond(parse_time(text, "--since", now).expect(text))
    }

    #[test]
    fn times_are_durations_ago_or_rfc3339() {
        let now = 1_800_000_000_000;
        assert_eq!(millis("15m", now), now - 900_000);
        assert_eq!(millis("2026-01-01T00:00:00Z", now), 1_767_225_600_000);
        assert!(parse_time("yesterday", "--since", now).is_err());
        // Offsets, lower-case letters and a space separator are RFC 3339 too.
        for text in [
            "2026-01-01T02:00:00+02:00",
            "2025-12-31T19:30:00-04:30",
            "2026-01-01t00:00:00z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00.000+00:00",
        ] {
            assert_eq!(millis(text, now), 1_767_225_600_000, "{text}");
        }
        assert!(parse_time("2026-01-01T00:00:00+24:00", "--since", now).is_err());
        // A duration longer than since 1970 is from the beginning, not a wrap.
        assert_eq!(millis("300000000y", now), 0);
        assert_eq!(millis("1000y", now), 0);
    }

    #[test]
    fn a_time_finer_than_a_millisecond_rounds_up_to_the_next_one() {
        let now = 1_800_000_000_000;
        let second = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        assert_eq!(millis("2026-01-01T00:00:00.0001Z", now), second + 1);
        assert_eq!(millis("2026-01-01T00:00:00.9991Z", now), second + 1_000);
        assert_eq!(millis("2025-12-31T23:59:59.9995Z", now), second);
        assert_eq!(millis("2026-01-01T00:00:00.001000001Z", now), second + 2);
        assert_eq!(millis("2026-01-01T00:00:00.001Z", now), second + 1, "exact");
        assert_eq!(
            millis("2026-01-01T02:00:00.0005+02:00", now),
            second + 1,
            "with an offset"
        );
        // a duration of a fraction of a millisecond ago: the instant is inside
        // millisecond now - 2, whose events are before it
        assert_eq!(millis("1500us", now), now - 1);
        assert_eq!(millis("1ms", now), now - 1);
        // before 1970 is 1970
        assert_eq!(first_millisecond(-1), 0);
        assert_eq!(first_millisecond(-1_000_001), -1);
    }

    fn logs_args(since: &str, until: Option<&str>) -> LogsArgs {
        LogsArgs {
            stack: "local".into(),
            service: Vec::new(),
            since: since.into(),
            until: until.map(str::to_owned),
            filter: None,
            follow: false,
        }
    }

    #[test]
    fn a_range_is_of_instants_and_holds_the_milliseconds_that_start_in_it() {
        let now = 1_800_000_000_000;
        let range = |since: &str, until: &str| range_of(&logs_args(since, Some(until)), now);
        // [08.9995, 09.0001) holds millisecond 09.000 and not 08.999
        assert_eq!(
            range("2026-01-01T00:00:08.9995Z", "2026-01-01T00:00:09.0001Z").expect("a range"),
            (1_767_225_609_000, 1_767_225_609_001)
        );
        // [13.9991, 13.9995) is a range that no millisecond starts in
        let (start, end) =
            range("2026-01-01T00:00:13.9991Z", "2026-01-01T00:00:13.9995Z").expect("a range");
        assert_eq!(start, end);
        let error =
            range("2026-01-01T00:00:13.9995Z", "2026-01-01T00:00:13.9991Z").expect_err("backwards");
        assert!(
            error.to_string().contains("--until is not after --since"),
            "{error}"
        );
        assert!(range("2026-01-01T00:00:13Z", "2026-01-01T00:00:13Z").is_err());
    }

    #[test]
    fn until_before_the_default_start_says_so_and_how_to_move_the_start() {
        let now = 1_800_000_000_000; // 2027-01-15T08:00:00Z
        let error = range_of(&logs_args(DEFAULT_SINCE, Some("1h")), now).expect_err("before");
        assert_eq!(
            error.to_string(),
            "--until 1h is not after the start: --since defaults to 15m ago (2027-01-15T07:45:00.000Z)\n  \
             fix: give --since too, a start before the end: --since 2027-01-15T06:45:00.000Z --until 1h"
        );
    }

    #[test]
    fn the_default_since_is_clap_s() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["stackup", "logs", "local"]).expect("parses");
        match cli.command {
            crate::cli::Command::Logs(args) => assert_eq!(args.since, DEFAULT_SINCE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_interrupted_read_names_the_command_for_the_rest() {
        let mut args = logs_args("1h", None);
        args.service = vec!["web".into()];
        args.filter = Some("\"timed out\" isn't".into());
        let (start, end) = (1_767_225_600_000, 1_767_225_660_000);
        assert_eq!(
            interrupted_read(
                &args,
                start,
                end,
                Written {
                    events: 3,
                    newest: Some(start + 499)
                }
            ),
            "3 events were printed, the last at 2026-01-01T00:00:00.499Z; run \
             `stackup logs local --service web --filter '\"timed out\" isn'\\''t' \
             --since 2026-01-01T00:00:00.500Z --until 2026-01-01T00:01:00.000Z` for the rest"
        );
        assert!(interrupted_read(&args, start, end, Written::default())
            .starts_with("no event was printed; run `stackup logs local --service web"));
    }

    fn event(timestamp: i64, id: &str) -> LogEvent {
        LogEvent {
            timestamp,
            stream: "web/web/1".into(),
            message: "m".into(),
            id: id.into(),
        }
    }

    #[test]
    fn ties_in_time_order_counter_ids_by_number_other_ids_as_the_server_sent_them() {
        let ids = |events: &[LogEvent]| events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        // moto's ids are counters: "100" comes after "26"
        let mut events = vec![
            event(5, "100"),
            event(5, "26"),
            event(4, "900"),
            event(5, "027"),
            event(5, "25"),
        ];
        sort(&mut events);
        assert_eq!(ids(&events), ["900", "25", "26", "027", "100"]);
        // other ids say nothing about order: the server's order stays
        let mut events = vec![event(5, "b"), event(5, "a"), event(4, "z"), event(5, "c")];
        sort(&mut events);
        assert_eq!(ids(&events), ["z", "b", "a", "c"]);
        let mut events = vec![event(5, "x"), event(5, "10"), event(5, "9"), event(5, "")];
        sort(&mut events);
        assert_eq!(ids(&events), ["9", "10", "x", ""]);
    }

    #[test]
    fn a_text_line_is_one_line_per_event_without_terminal_escapes() {
        let line = |message: &str| {
            let mut out = String::new();
            format_line(
                &LogEvent {
                    timestamp: 0,
                    stream: "web/web/1".into(),
                    message: message.into(),
                    id: "a".into(),
                },
                &mut out,
            );
            out
        };
        let prefix = "1970-01-01T00:00:00.000Z web/web/1 ";
        assert_eq!(line("plain"), format!("{prefix}plain\n"));
        assert_eq!(
            line("first\nsecond\r\nthird"),
            format!("{prefix}first\\nsecond\\r\\nthird\n")
        );
        assert_eq!(
            line("\u{1b}[31mred\u{1b}[0m\tdone"),
            format!("{prefix}\\u{{1b}}[31mred\\u{{1b}}[0m\tdone\n")
        );
        assert_eq!(
            line("c1 \u{9b}2J, bell \u{7}, del \u{7f}, caf\u{e9}"),
            format!("{prefix}c1 \\u{{9b}}2J, bell \\u{{7}}, del \\u{{7f}}, caf\u{e9}\n")
        );
        assert_eq!(line("ünïcödé ✓").lines().count(), 1);
    }

    #[test]
    fn a_reread_event_is_not_new_until_its_second_is_forgotten() {
        let mut printed = Printed::starting_at(1_000);
        assert!(printed.is_new(&event(1_500, "a")));
        assert!(!printed.is_new(&event(1_500, "a")), "read again");
        assert!(printed.is_new(&event(1_500, "b")));
        assert!(printed.is_new(&event(12_999, "c")));
        let mut written = Vec::new();
        let mut out = |events: &[LogEvent]| {
            written.extend(events.iter().map(|e| e.id.clone()));
            Ok(())
        };
        printed
            .write_new(&mut out, vec![event(12_999, "c"), event(1_500, "b")])
            .expect("writes");
        assert_eq!(written, ["b", "c"], "in time order");
        assert_eq!(printed.newest, 12_999);
        // not forgotten before `forget`: a poll may read an event twice
        assert!(!printed.is_new(&event(1_500, "a")));
        printed.forget();
        assert_eq!(printed.floor, 2_999, "the overlap window of the newest");
        assert!(!printed.is_new(&event(12_999, "c")), "within the window");
        assert!(
            printed.is_new(&event(1_500, "a")),
            "before the floor nothing is read again"
        );
        assert_eq!(printed.recent.len(), 1, "only seconds from the floor's on");
    }

    /// A log group answered by FilterLogEvents shaped like AWS's (API reference:
    /// `[startTime, endTime)`, at most `limit` events a page, `nextToken` while more):
    /// interleaved in time order as AWS does, or stream after stream as a server
    /// that ignores `interleaved` would.
    mod read_range_over_aws_shaped_pages {
        use std::sync::{Arc, Mutex};

        use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
        use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput;
        use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
        use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule};

        use super::*;

        /// (timestamp, stream, id) of every event in the group.
        type Group = Vec<(i64, String, String)>;
        /// The requests seen: (startTime, endTime, had a token).
        type Calls = Arc<Mutex<Vec<(i64, i64, bool)>>>;

        fn group_of(streams: usize, per_stream: i64, start: i64, step: i64) -> Group {
            let mut group = Vec::new();
            for stream in 0..streams {
                for index in 0..per_stream {
                    let number = index * streams as i64 + stream as i64;
                    group.push((
                        start + number * step,
                        format!("web/web/task{stream:02}"),
                        format!("{number:08}"),
                    ));
                }
            }
            group
        }

        /// The rule answering every FilterLogEvents from `group`, and the requests
        /// seen, as (startTime, endTime, had a token).
        fn serve(group: Group, interleaved: bool) -> (Rule, Calls) {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            let rule = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
                .then_compute_output(move |request| {
                    let (start, end) = (
                        request.start_time().unwrap_or(0),
                        request.end_time().unwrap_or(i64::MAX),
                    );
                    let token = request
                        .next_token()
                        .map(|t| t.parse::<usize>().expect("our token"));
                    log.lock().expect("log").push((start, end, token.is_some()));
                    let mut matching: Vec<&(i64, String, String)> = group
                        .iter()
                        .filter(|(t, _, _)| (start..end).contains(t))
                        .collect();
                    if interleaved {
                        matching.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
                    } else {
                        matching.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
                    }
                    let from = token.unwrap_or(0);
                    let limit = request.limit().unwrap_or(10_000) as usize;
                    let page =
                        &matching[from.min(matching.len())..(from + limit).min(matching.len())];
                    let mut output = FilterLogEventsOutput::builder().set_events(Some(
                        page.iter()
                            .map(|(t, stream, id)| {
                                FilteredLogEvent::builder()
                                    .timestamp(*t)
                                    .log_stream_name(stream)
                                    .event_id(id)
                                    .message(format!("event {id}"))
                                    .build()
                            })
                            .collect(),
                    ));
                    if from + limit < matching.len() {
                        output = output.next_token((from + limit).to_string());
                    }
                    output.build()
                });
            (rule, seen)
        }

        fn client(rule: &Rule) -> aws_sdk_cloudwatchlogs::Client {
            aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new("eu-west-1"))
                    .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                    .http_client(create_mock_http_client())
                    .interceptor(MockResponseInterceptor::new().with_rule(rule))
                    .build(),
            )
        }

        /// Every event `read_range` writes for `[start, end)`, in the order written.
        fn read(
            group: Group,
            interleaved: bool,
            start: i64,
            end: i64,
        ) -> (Vec<LogEvent>, Vec<(i64, i64, bool)>) {
            let (rule, seen) = serve(group, interleaved);
            let client = client(&rule);
            let query = Query {
                group: "/stackup/demo-local-v1".into(),
                stream_prefix: None,
                pattern: None,
            };
            let mut written = Vec::new();
            let mut out = |events: &[LogEvent]| {
                written.extend_from_slice(events);
                Ok(())
            };
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(read_range(
                    &mut Printed::starting_at(start),
                    &mut out,
                    &client,
                    &[query],
                    start,
                    end,
                ))
                .expect("reads");
            let calls = seen.lock().expect("log").clone();
            (written, calls)
        }

        fn assert_each_once_in_order(written: &[LogEvent], want: &Group, start: i64, end: i64) {
            let mut expected: Vec<(i64, &str)> = want
                .iter()
                .filter(|(t, _, _)| (start..end).contains(t))
                .map(|(t, _, id)| (*t, id.as_str()))
                .collect();
            expected.sort();
            let got: Vec<(i64, &str)> = written
                .iter()
                .map(|e| (e.timestamp, e.id.as_str()))
                .collect();
            assert_eq!(got.len(), expected.len(), "every event of the range, once");
            assert_eq!(got, expected, "in time order");
        }

        #[test]
        fn interleaved_pages_a_first_page_then_slices_of_about_one_page() {
            let start = 1_800_000_000_000;
            let group = group_of(20, 2_500, start, 5); // 50,000 events over 250 s
            let end = start + 250_000;
            let (written, calls) = read(group.clone(), true, start, end);
            assert_each_once_in_order(&written, &group, start, end);
            assert_eq!(
                calls[0],
                (start, end, false),
                "the first page is of the whole range"
            );
            // 40,000 events after the first page, about 9,000 a slice: 5 slices of one page each
            assert_eq!(calls.len(), 1 + 5, "{calls:?}");
            assert!(
                calls.iter().all(|(_, _, token)| !token),
                "no slice needs a second page: {calls:?}"
            );
        }

        #[test]
        fn pages_not_in_time_order_are_probed_on_a_narrower_prefix() {
            let start = 1_800_000_000_000;
            let group = group_of(20, 2_500, start, 5);
            let end = start + 250_000;
            let (written, calls) = read(group.clone(), false, start, end);
            assert_each_once_in_order(&written, &group, start, end);
            // the whole range (out of order), then a sixteenth of it (complete: 3,125 events)
            assert_eq!(calls[0], (start, end, false));
            assert_eq!(calls[1], (start, start + 250_000 / 16, false));
            assert!(calls.len() <= 2 + 6, "slices of about a page: {calls:?}");
        }

        #[test]
        fn more_than_a_page_in_the_first_millisecond() {
            let start = 1_800_000_000_000;
            let mut group = group_of(2, 6_000, start, 0); // 12,000 events at `start`
            group.extend(
                group_of(2, 1_000, start + 1, 1)
                    .into_iter()
                    .map(|(t, stream, id)| (t, stream, format!("later{id}"))),
            );
            let end = start + 10_000;
            for interleaved in [true, false] {
                let (written, calls) = read(group.clone(), interleaved, start, end);
                assert_each_once_in_order(&written, &group, start, end);
                // the burst's pages, then the rest probed afresh (not sized by the burst)
                assert!(calls.len() <= 12, "interleaved {interleaved}: {calls:?}");
            }
        }

        #[test]
        fn a_range_of_one_page_is_one_call() {
            let start = 1_800_000_000_000;
            let group = group_of(3, 100, start - 50, 1);
            let end = start + 200;
            let (written, calls) = read(group.clone(), false, start, end);
            assert_each_once_in_order(&written, &group, start, end);
            assert_eq!(calls.len(), 1);
        }
    }
}
