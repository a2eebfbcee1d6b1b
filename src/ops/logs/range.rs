//! Reading a range `[start, end)` of the log group: a first page settles a
//! prefix and tells how dense the range is; the rest is read in time slices
//! of about a page each, several at once, written in time order.

use futures_util::stream::{self, StreamExt};

use super::order::{in_time_order, sort};
use super::printed::Printed;
use super::Sink;
use crate::aws::logs::{filter_all, filter_page, LogEvent, Query};

/// FilterLogEvents returns at most this many events per page.
pub const PAGE: usize = 10_000;
/// Slices are sized for about this many events, so most take one page.
const EVENTS_PER_SLICE: f64 = 9_000.0;
/// Slices fetched at once; memory holds at most this many slices of events.
const CONCURRENT_SLICES: usize = 4;
const MAX_SLICES: i64 = 256;
/// A first page out of time order settles nothing: the probe is repeated on a
/// prefix of the range this many times narrower.
const NARROWING: i64 = 16;

/// Write every event of `[start, end)` in time order.
pub async fn read_range(
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
    let bounds = slices(kept.len(), from, resume_at, end);
    printed.write_slice(out, kept)?;
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

/// The slices of the rest `[resume_at, end)` of a range whose prefix
/// `[from, resume_at)` held `kept` events and came with a next page: sized
/// for about `EVENTS_PER_SLICE` events each at the prefix's density (the
/// range holds at least a page more than the prefix, so never sparser than a
/// page over the range), at most `MAX_SLICES`, in time order, meeting end to
/// start.
fn slices(kept: usize, from: i64, resume_at: i64, end: i64) -> Vec<(i64, i64)> {
    let span = end - resume_at;
    let density = (kept as f64 / (resume_at - from) as f64).max(PAGE as f64 / (end - from) as f64);
    let slices = ((density * span as f64 / EVENTS_PER_SLICE).ceil() as i64).clamp(1, MAX_SLICES);
    let width = (span + slices - 1) / slices;
    (0..slices)
        .map(|index| {
            (
                resume_at + index * width,
                (resume_at + (index + 1) * width).min(end),
            )
        })
        .filter(|(from, to)| from < to)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The slices cover `[resume_at, end)` exactly: in order, each meeting the next.
    fn assert_cover(bounds: &[(i64, i64)], resume_at: i64, end: i64) {
        assert_eq!(bounds.first().map(|b| b.0), Some(resume_at), "{bounds:?}");
        assert_eq!(bounds.last().map(|b| b.1), Some(end), "{bounds:?}");
        assert!(bounds.iter().all(|(from, to)| from < to), "{bounds:?}");
        assert!(
            bounds.windows(2).all(|pair| pair[0].1 == pair[1].0),
            "{bounds:?}"
        );
    }

    #[test]
    fn the_rest_is_sliced_for_about_nine_thousand_events_each_at_the_prefix_s_density() {
        // 10,000 events in the first 50 s: 200 a second; 200 s left hold about
        // 40,000, five slices of 8,000.
        let bounds = slices(10_000, 0, 50_000, 250_000);
        assert_eq!(bounds.len(), 5, "{bounds:?}");
        assert_cover(&bounds, 50_000, 250_000);
        assert!(bounds.iter().all(|(from, to)| to - from == 40_000));
    }

    #[test]
    fn a_sparse_prefix_still_counts_a_page_over_the_range() {
        // One event kept in the prefix, but the range had a next page: at
        // least 10,000 events over its 200 s, 9,500 in the 190 s left, so
        // two slices for the rest.
        let bounds = slices(1, 0, 10_000, 200_000);
        assert_eq!(bounds.len(), 2, "{bounds:?}");
        assert_cover(&bounds, 10_000, 200_000);
    }

    #[test]
    fn slices_are_at_most_max_slices_and_at_least_a_millisecond() {
        // A million events a millisecond: capped.
        let bounds = slices(1_000_000, 0, 1, 1_000_000);
        assert_eq!(bounds.len(), MAX_SLICES as usize);
        assert_cover(&bounds, 1, 1_000_000);
        // Dense over three milliseconds: one a millisecond, none empty.
        let bounds = slices(1_000_000, 0, 1, 4);
        assert_eq!(bounds, [(1, 2), (2, 3), (3, 4)]);
        // A width that does not divide the rest: the last slice is shorter.
        let bounds = slices(18_000, 0, 1_000, 3_500);
        assert_cover(&bounds, 1_000, 3_500);
        assert!(bounds.len() <= 6, "{bounds:?}");
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
