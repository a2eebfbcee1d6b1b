//! Times as text: RFC 3339 (https://www.rfc-editor.org/rfc/rfc3339), read
//! and written in one place through jiff. Written always in UTC with a `Z`,
//! to the second (release records, status) or to the millisecond (log lines,
//! which `logs --since` reads back).

use std::borrow::Cow;
use std::time::SystemTime;

use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::Timestamp;

/// The most an offset can be (RFC 3339 section 5.6, `time-hour` in
/// `time-numoffset`, 00-23); jiff reads offsets up to 25:59:59.
const MAX_OFFSET_SECONDS: i32 = 23 * 3600 + 59 * 60;

/// An RFC 3339 time: `Z` or a `+hh:mm`/`-hh:mm` offset, `T` or a space
/// between date and time, letters in either case. Without an offset the time
/// is taken as UTC. A date without a time, an offset past 23:59 and a time
/// zone name are refused: none says one instant as RFC 3339 does. Digits of
/// a second's fraction past the ninth (finer than jiff's nanoseconds, which
/// refuses them) are dropped.
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = to_nanoseconds(text.trim());
    let pieces = Pieces::parse(text.as_ref()).ok()?;
    if pieces.time_zone_annotation().is_some() {
        return None;
    }
    let time = pieces.time()?;
    let offset = pieces
        .offset()
        .map_or(jiff::tz::Offset::UTC, |offset| offset.to_numeric_offset());
    if let Some(PiecesOffset::Numeric(_)) = pieces.offset() {
        if offset.seconds().abs() > MAX_OFFSET_SECONDS {
            return None;
        }
    }
    offset.to_timestamp(pieces.date().to_datetime(time)).ok()
}

/// `text` with its fraction of a second cut to nine digits.
fn to_nanoseconds(text: &str) -> Cow<'_, str> {
    let Some(point) = text.find('.') else {
        return Cow::Borrowed(text);
    };
    let digits = text[point + 1..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits <= 9 {
        return Cow::Borrowed(text);
    }
    let cut = point + 1 + 9;
    Cow::Owned(format!("{}{}", &text[..cut], &text[point + 1 + digits..]))
}

/// A time to the second, as release records and `status` write it:
/// `2026-12-07T10:00:00Z` (a fraction of a second is dropped, not rounded).
pub fn seconds(time: SystemTime) -> String {
    format!("{:.0}", timestamp_of(time))
}

/// A millisecond since the epoch, as `logs` lines show it and `--since` reads
/// it back: `2026-12-07T10:00:00.000Z` (before 1970 is 1970).
pub fn millis(epoch_millis: i64) -> String {
    let time = Timestamp::from_millisecond(epoch_millis.max(0)).unwrap_or(Timestamp::MAX);
    format!("{time:.3}")
}

/// A system time as jiff's timestamp, held to jiff's range (years -9999 to 9999).
fn timestamp_of(time: SystemTime) -> Timestamp {
    Timestamp::try_from(time).unwrap_or_else(|_| {
        if time > SystemTime::UNIX_EPOCH {
            Timestamp::MAX
        } else {
            Timestamp::MIN
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// 2026-01-01T00:00:00Z in epoch nanoseconds.
    const NEW_YEAR: i128 = 1_767_225_600_000_000_000;

    fn nanos(text: &str) -> Option<i128> {
        parse(text).map(Timestamp::as_nanosecond)
    }

    #[test]
    fn offsets_letters_in_either_case_and_a_space_are_rfc3339() {
        for text in [
            "2026-01-01T00:00:00Z",
            "2026-01-01T02:00:00+02:00",
            "2025-12-31T19:30:00-04:30",
            "2026-01-01t00:00:00z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00.000+00:00",
            "2026-01-01T00:00:00-00:00",
            " 2026-01-01T00:00:00Z ",
            // no offset: UTC
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(nanos(text), Some(NEW_YEAR), "{text}");
        }
        assert_eq!(
            nanos("2026-01-01T00:00:00.001000001Z"),
            Some(NEW_YEAR + 1_000_001),
            "nanoseconds kept"
        );
        assert_eq!(
            nanos("2026-01-01T00:00:00.0010000019+00:00"),
            Some(NEW_YEAR + 1_000_001),
            "finer than a nanosecond: dropped"
        );
        assert_eq!(
            nanos("1969-12-31T23:59:59Z"),
            Some(-1_000_000_000),
            "before 1970 is said as it is: the caller decides"
        );
    }

    #[test]
    fn what_says_no_single_instant_is_refused() {
        for text in [
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00-25:00",
            "2026-01-01",
            "2026-01-01T00:00:00Z[Europe/Paris]",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(nanos(text), None, "{text}");
        }
        assert_eq!(
            nanos("2026-01-01T00:00:00+23:59"),
            Some(NEW_YEAR - (23 * 3600 + 59 * 60) * 1_000_000_000),
            "the largest offset RFC 3339 allows"
        );
    }

    #[test]
    fn written_to_the_second_or_the_millisecond_in_utc() {
        let time = UNIX_EPOCH + Duration::from_millis(1_767_225_600_999);
        assert_eq!(
            seconds(time),
            "2026-01-01T00:00:00Z",
            "dropped, not rounded"
        );
        assert_eq!(seconds(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(millis(1_767_225_600_999), "2026-01-01T00:00:00.999Z");
        assert_eq!(millis(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            millis(-5),
            "1970-01-01T00:00:00.000Z",
            "before 1970 is 1970"
        );
    }

    #[test]
    fn a_written_millisecond_reads_back_as_itself() {
        for millisecond in [0, 1, 999, 1_767_225_609_001, 4_102_444_799_999] {
            let text = millis(millisecond);
            assert_eq!(
                nanos(&text),
                Some(i128::from(millisecond) * 1_000_000),
                "{text}"
            );
        }
    }

    /// What humantime wrote before (`format_rfc3339_seconds`,
    /// `format_rfc3339_millis`) is what is written now.
    #[test]
    fn the_same_text_as_humantime_wrote() {
        for millisecond in [
            0_u64,
            999,
            1_767_225_600_123,
            1_800_000_000_000,
            4_102_444_799_999,
        ] {
            let time = UNIX_EPOCH + Duration::from_millis(millisecond);
            assert_eq!(
                seconds(time),
                humantime::format_rfc3339_seconds(time).to_string()
            );
            assert_eq!(
                millis(millisecond as i64),
                humantime::format_rfc3339_millis(time).to_string()
            );
        }
    }
}
