//! What was printed, so that an event read twice (the slices of a range meet,
//! `--follow` re-reads its overlap window) is written once: the ids of the
//! recent events, by second of their timestamps.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use super::order::sort;
use super::{Sink, FOLLOW_OVERLAP_MS};
use crate::aws::logs::LogEvent;

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
pub struct Printed {
    newest: i64,
    floor: i64,
    recent: VecDeque<(i64, Second)>,
}

impl Printed {
    pub fn starting_at(start: i64) -> Self {
        Printed {
            newest: start,
            floor: start,
            recent: VecDeque::new(),
        }
    }

    /// Where `--follow`'s next poll starts: the overlap window of the newest
    /// event, never before `--since`.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Whether an event was not printed yet (it is remembered as printed).
    pub fn is_new(&mut self, event: &LogEvent) -> bool {
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
    pub fn write_new(&mut self, out: &mut Sink, mut events: Vec<LogEvent>) -> anyhow::Result<()> {
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
    pub fn forget(&mut self) {
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
    pub fn write_slice(&mut self, out: &mut Sink, events: Vec<LogEvent>) -> anyhow::Result<()> {
        let fresh: Vec<LogEvent> = events
            .into_iter()
            .filter(|event| self.is_new(event))
            .collect();
        self.write_new(out, fresh)?;
        self.forget();
        Ok(())
    }
}

fn id_hash(id: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::super::order::tests::event;
    use super::*;

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

    #[test]
    fn slices_that_meet_write_each_event_once_sealed_or_open() {
        let mut printed = Printed::starting_at(0);
        let mut written = Vec::new();
        let mut out = |events: &[LogEvent]| {
            written.extend(events.iter().map(|e| (e.timestamp, e.id.clone())));
            Ok(())
        };
        printed
            .write_slice(&mut out, vec![event(100, "a"), event(100, "b")])
            .expect("writes");
        // The next slice holds "b" again (sealed now) and "c" twice (open).
        printed
            .write_slice(
                &mut out,
                vec![
                    event(100, "b"),
                    event(200, "c"),
                    event(200, "c"),
                    event(150, "d"),
                ],
            )
            .expect("writes");
        assert_eq!(
            written,
            [
                (100, "a".into()),
                (100, "b".into()),
                (150, "d".into()),
                (200, "c".into())
            ]
        );
        assert_eq!(printed.floor(), 0, "the window reaches back past the start");
    }

    #[test]
    fn forgetting_never_moves_the_floor_back() {
        let mut printed = Printed::starting_at(50_000);
        printed.forget();
        assert_eq!(printed.floor(), 50_000, "never before --since");
        printed.newest = 70_000;
        printed.forget();
        assert_eq!(printed.floor(), 60_000);
        printed.newest = 65_000;
        printed.forget();
        assert_eq!(printed.floor(), 60_000);
    }
}
