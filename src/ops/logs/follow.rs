//! `logs --follow`: after the range, poll for new events until Ctrl-C.

use std::time::Duration;

use super::order::in_time_order;
use super::printed::Printed;
use super::range::PAGE;
use super::{now_ms, Sink};
use crate::aws::logs::{filter_page, Query};

/// Poll for new events until an error (Ctrl-C ends it in the command): each
/// poll re-reads the overlap window before the newest event printed and drops
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
pub async fn follow(
    printed: &mut Printed,
    out: &mut Sink<'_>,
    client: &aws_sdk_cloudwatchlogs::Client,
    queries: &[Query],
) -> anyhow::Result<()> {
    let mut idle = Duration::from_millis(500);
    loop {
        let got_events = poll(printed, out, client, queries).await?;
        idle = next_idle(idle, got_events);
        tokio::time::sleep(idle).await;
    }
}

/// The wait before the next poll: half a second after events, doubling
/// while there are none, up to five seconds.
fn next_idle(idle: Duration, got_events: bool) -> Duration {
    if got_events {
        Duration::from_millis(500)
    } else {
        (idle * 2).min(Duration::from_secs(5))
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
    let window_start = printed.floor();
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

    #[test]
    fn polls_back_off_while_quiet_up_to_five_seconds_and_speed_up_on_events() {
        let mut idle = Duration::from_millis(500);
        let mut waits = Vec::new();
        for _ in 0..5 {
            idle = next_idle(idle, false);
            waits.push(idle.as_millis());
        }
        assert_eq!(waits, [1_000, 2_000, 4_000, 5_000, 5_000]);
        assert_eq!(next_idle(idle, true), Duration::from_millis(500));
    }
}
