//! The order events are written in: time, then (within a millisecond) ids
//! that are counters by number, else the order the server sent them in.

use std::cmp::Ordering;

use crate::aws::logs::LogEvent;

/// Time order. Ties keep the order the server sent them in (the sort is
/// stable), except ids that are counters (moto's "26", "100"), which are
/// ordered by number: the lines of a stack trace stamped in one millisecond
/// stay in the order they were logged.
pub fn sort(events: &mut [LogEvent]) {
    events.sort_by(|left, right| {
        left.timestamp
            .cmp(&right.timestamp)
            .then_with(|| counter_order(&left.id, &right.id))
    });
}

/// Whether a page's timestamps never go back.
pub fn in_time_order(events: &[LogEvent]) -> bool {
    events
        .windows(2)
        .all(|pair| pair[0].timestamp <= pair[1].timestamp)
}

/// An id of digits without its leading zeros: by length, then digit by
/// digit, such ids compare as their numbers do.
fn counter(id: &str) -> Option<&str> {
    (!id.is_empty() && id.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| id.trim_start_matches('0'))
}

/// Counters by number, before ids that are not counters; those are all equal.
fn counter_order(left: &str, right: &str) -> Ordering {
    match (counter(left), counter(right)) {
        (Some(left), Some(right)) => (left.len(), left).cmp(&(right.len(), right)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub fn event(timestamp: i64, id: &str) -> LogEvent {
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
    fn a_page_is_in_time_order_when_no_timestamp_goes_back() {
        assert!(in_time_order(&[]));
        assert!(in_time_order(&[event(5, "a")]));
        assert!(in_time_order(&[
            event(4, "a"),
            event(5, "b"),
            event(5, "c")
        ]));
        assert!(!in_time_order(&[event(5, "a"), event(4, "b")]));
    }
}
