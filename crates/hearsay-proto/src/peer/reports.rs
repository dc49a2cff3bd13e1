//! When a peer reports its neighbour set to the seeds (SPEC §5 Topology, PROTOCOL §8): on
//! every change, but at most once per `report_every` (a change within it is reported once
//! that has passed), each report numbered above the last, and above any number an earlier
//! run of this peer can have used.

use std::time::Duration;

use crate::time::Time;

/// The neighbour reports' schedule and numbering.
#[derive(Debug)]
pub(super) struct Reports {
    every: Duration,
    /// The number below the first report's.
    first: u64,
    seq: u64,
    /// When the last report went out.
    sent_at: Option<Time>,
    /// When the next is due (a change waiting).
    due: Option<Time>,
}

impl Reports {
    /// Numbering starts above `now` in ms times 1,000.
    pub(super) fn new(now: Time, every: Duration) -> Reports {
        let first = now.as_millis().saturating_mul(1000);
        Reports {
            every,
            first,
            seq: first,
            sent_at: None,
            due: None,
        }
    }

    /// The neighbour set changed at `now`: whether to report now. If not, a report is due
    /// once `every` has passed since the last one (or already is).
    pub(super) fn changed(&mut self, now: Time) -> bool {
        if self.due.is_some() {
            return false;
        }
        match self.sent_at.map(|t| t + self.every) {
            Some(next) if next > now => {
                self.due = Some(next);
                false
            }
            _ => true,
        }
    }

    /// A report goes to every seed at `now`: nothing is due any more.
    pub(super) fn sent(&mut self, now: Time) {
        self.sent_at = Some(now);
        self.due = None;
    }

    /// Whether any report was made (so the seeds may hold one).
    pub(super) fn reported(&self) -> bool {
        self.seq > self.first
    }

    /// The number of the next report (one to a single seed too).
    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// When the waiting report is due.
    pub(super) fn deadline(&self) -> Option<Time> {
        self.due
    }
}

#[cfg(test)]
mod tests;
