//! The range `logs` reads, from `--since` and `--until`: each a duration ago
//! or an RFC 3339 time (`rfc3339`), as exact instants; the range holds the
//! milliseconds that start in it (events are stamped to the millisecond).

use crate::error::{InputError, Problem};
use crate::rfc3339;

const NANOS_PER_MILLI: i128 = 1_000_000;
/// clap's default for `--since` (src/cli.rs).
pub const DEFAULT_SINCE: &str = "15m";

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
    if let Some(time) = rfc3339::parse(text) {
        return Ok(time.as_nanosecond().max(0));
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
pub fn first_millisecond(instant: i128) -> i64 {
    let millis =
        instant.div_euclid(NANOS_PER_MILLI) + i128::from(instant.rem_euclid(NANOS_PER_MILLI) != 0);
    i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
}

/// `[start, end)` in epoch milliseconds from `--since` and `--until`
/// (`until` none: now), and whether they go with `--follow`.
pub fn range(
    since_text: &str,
    until_text: Option<&str>,
    follow: bool,
    now: i64,
) -> Result<(i64, i64), InputError> {
    let range = range_of(since_text, until_text, follow, now)?;
    if follow && until_text.is_some() {
        return Err(InputError::one(
            Problem::new("--follow reads until Ctrl-C; it cannot take --until")
                .fix("drop --until, or --follow"),
        ));
    }
    Ok(range)
}

fn range_of(
    since_text: &str,
    until_text: Option<&str>,
    follow: bool,
    now: i64,
) -> Result<(i64, i64), InputError> {
    let since = parse_time(since_text, "--since", now)?;
    let start = first_millisecond(since);
    if start > now && !follow {
        // Nothing can have been logged yet: an empty answer would look like a quiet service.
        return Err(InputError::one(
            Problem::new(format!("--since {since_text} is in the future")).fix(
                "give a start in the past (--since 15m, or a time before now), \
                 or add --follow to wait for the events from then",
            ),
        ));
    }
    let Some(until_text) = until_text else {
        return Ok((start, now));
    };
    let until = parse_time(until_text, "--until", now)?;
    // The instants as given, not their milliseconds: a range shorter than a
    // millisecond is a range (that may hold no event).
    if until <= since {
        let end = first_millisecond(until);
        let problem = if since_text == DEFAULT_SINCE {
            Problem::new(format!(
                "--until {until_text} is not after the start: --since defaults to \
                 {DEFAULT_SINCE} ago ({})",
                rfc3339::millis(start)
            ))
            .fix(format!(
                "give --since too, a start before the end: --since {} --until {until_text}",
                rfc3339::millis(end.saturating_sub(15 * 60 * 1000))
            ))
        } else {
            Problem::new(format!(
                "--until is not after --since (--since {since_text} is {}, --until {until_text} is {})",
                rfc3339::millis(start),
                rfc3339::millis(end)
            ))
            .fix("give an end later than the start")
        };
        return Err(InputError::one(problem));
    }
    Ok((start, first_millisecond(until)))
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

    #[test]
    fn a_range_is_of_instants_and_holds_the_milliseconds_that_start_in_it() {
        let now = 1_800_000_000_000;
        let range = |since: &str, until: &str| range(since, Some(until), false, now);
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
        let error = range(DEFAULT_SINCE, Some("1h"), false, now).expect_err("before");
        assert_eq!(
            error.to_string(),
            "--until 1h is not after the start: --since defaults to 15m ago (2027-01-15T07:45:00.000Z)\n  \
             fix: give --since too, a start before the end: --since 2027-01-15T06:45:00.000Z --until 1h"
        );
    }

    #[test]
    fn a_start_to_come_is_refused_unless_followed_and_follow_takes_no_end() {
        let now = 1_800_000_000_000;
        let error = range("2030-01-01T00:00:00Z", None, false, now).expect_err("future");
        assert!(error.to_string().contains("is in the future"), "{error}");
        assert_eq!(
            range("2030-01-01T00:00:00Z", None, true, now).expect("followed"),
            (1_893_456_000_000, now)
        );
        let error = range("1h", Some("5m"), true, now).expect_err("--follow --until");
        assert!(
            error.to_string().contains("it cannot take --until"),
            "{error}"
        );
        // The range's own problem is said first.
        let error = range("5m", Some("1h"), true, now).expect_err("backwards");
        assert!(
            error.to_string().contains("--until is not after --since"),
            "{error}"
        );
    }
}
