//! The simulator's agenda: what happens next, in time order, and in the order it was
//! scheduled among things due at the same time (virtual time is in whole milliseconds, so
//! many are).
//!
//! One list per due time, in a map keyed by time: scheduling is one lookup among the
//! distinct times pending (a few thousand), and taking the next is a step through a list.
//! That is the order a heap over (time, sequence number) gives, at a fraction of the cost,
//! and nothing needs to be comparable but the times.

use std::collections::BTreeMap;

use hearsay_proto::Time;

pub(crate) struct Agenda<T> {
    /// Due later than `now`, or at `now` but scheduled while `now`'s list was being taken.
    later: BTreeMap<Time, Vec<T>>,
    /// What is left of the list being taken, due at `now`.
    current: std::vec::IntoIter<T>,
    now: Time,
}

impl<T> Agenda<T> {
    pub fn new(start: Time) -> Agenda<T> {
        Agenda {
            later: BTreeMap::new(),
            current: Vec::new().into_iter(),
            now: start,
        }
    }

    /// Schedules `item` at `at` (never before what was taken last: then, at that time).
    pub fn push(&mut self, at: Time, item: T) {
        self.later.entry(at.max(self.now)).or_default().push(item);
    }

    /// The next item and when it is due.
    pub fn pop(&mut self) -> Option<(Time, T)> {
        loop {
            if let Some(item) = self.current.next() {
                return Some((self.now, item));
            }
            let (at, list) = self.later.pop_first()?;
            self.now = at;
            self.current = list.into_iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_by_time_then_in_the_order_they_were_scheduled() {
        let mut a = Agenda::new(Time(0));
        a.push(Time(5), "c");
        a.push(Time(1), "a");
        a.push(Time(5), "d");
        a.push(Time(1), "b");
        assert_eq!(a.pop(), Some((Time(1), "a")));
        // Scheduled for now while now's list is being taken: after the rest of it.
        a.push(Time(1), "b2");
        // And for the past: now.
        a.push(Time(0), "b3");
        assert_eq!(a.pop(), Some((Time(1), "b")));
        assert_eq!(a.pop(), Some((Time(1), "b2")));
        assert_eq!(a.pop(), Some((Time(1), "b3")));
        assert_eq!(a.pop(), Some((Time(5), "c")));
        a.push(Time(9), "e");
        assert_eq!(a.pop(), Some((Time(5), "d")));
        assert_eq!(a.pop(), Some((Time(9), "e")));
        assert_eq!(a.pop(), None);
    }

    #[test]
    fn it_orders_as_a_heap_over_time_and_sequence_does() {
        use rand::{Rng, SeedableRng};
        use std::cmp::Reverse;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut a = Agenda::new(Time(0));
        let mut heap = std::collections::BinaryHeap::new();
        let (mut seq, mut now) = (0u64, Time(0));
        for _ in 0..20_000 {
            if rng.random_bool(0.55) {
                let at = Time(now.0 + rng.random_range(0..50));
                seq += 1;
                a.push(at, seq);
                heap.push(Reverse((at, seq)));
            } else {
                let want = heap.pop().map(|Reverse(x)| x);
                assert_eq!(a.pop(), want);
                if let Some((at, _)) = want {
                    now = at;
                }
            }
        }
    }
}
