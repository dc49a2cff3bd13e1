//! Where a seed stands with the other seeds' ledgers (PROTOCOL §13): when its root next goes
//! out, the anti-entropy exchanges under way per link, when it last found itself in
//! agreement with each seed, and whether it is rebuilding from nothing (§13.1). A seed
//! answers only what it was asked: bucket hashes only to a root that differs, and at most
//! once per link and sync interval; buckets only after its own hashes. So another seed
//! cannot make it send its whole store unasked, over and over.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::link::LinkId;
use crate::time::Time;

/// Where an exchange this seed took part in stands, on one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Exchange {
    /// This seed sent its root and waits for bucket hashes (or an agreeing reply).
    RootSent,
    /// This seed sent its bucket hashes and may be asked for buckets.
    BucketsSent,
}

/// The anti-entropy schedule and the exchanges under way.
#[derive(Debug)]
pub(super) struct Agreement {
    every: Duration,
    /// When the ledger's root next goes to the other seeds.
    next: Time,
    exchanges: BTreeMap<LinkId, (Exchange, Time)>,
    /// When this seed last found it held the same certificates as seed `i`.
    agreed: BTreeMap<usize, Time>,
    /// Started from nothing in place of a lost store: no votes and no coordinating until
    /// this seed has agreed with another one.
    rebuilding: bool,
}

impl Agreement {
    /// The first round is due `every` after `now`.
    pub(super) fn new(now: Time, every: Duration) -> Agreement {
        Agreement {
            every,
            next: now + every,
            exchanges: BTreeMap::new(),
            agreed: BTreeMap::new(),
            rebuilding: false,
        }
    }

    /// When the next round is due.
    pub(super) fn deadline(&self) -> Time {
        self.next
    }

    /// A round begins at `now`: the next is due `every` later.
    pub(super) fn round(&mut self, now: Time) {
        self.next = now + self.every;
    }

    /// This seed sent its root on `link` at `now`.
    pub(super) fn root_sent(&mut self, link: LinkId, now: Time) {
        self.exchanges.insert(link, (Exchange::RootSent, now));
    }

    /// Whether an answer on `link` is one this seed asked for, having sent `asked`; the
    /// exchange is then over.
    pub(super) fn answered(&mut self, link: LinkId, asked: Exchange) -> bool {
        let asked_for = self.exchanges.get(&link).map(|e| e.0) == Some(asked);
        if asked_for {
            self.exchanges.remove(&link);
        }
        asked_for
    }

    /// Whether this seed may answer a differing root on `link` with its bucket hashes at
    /// `now` (at most once per link and interval); if so, it has.
    pub(super) fn send_buckets(&mut self, link: LinkId, now: Time) -> bool {
        let recent = (self.exchanges.get(&link))
            .is_some_and(|(e, at)| *e == Exchange::BucketsSent && *at + self.every > now);
        if !recent {
            self.exchanges.insert(link, (Exchange::BucketsSent, now));
        }
        !recent
    }

    /// `link` went down.
    pub(super) fn forget(&mut self, link: LinkId) {
        self.exchanges.remove(&link);
    }

    /// This seed holds what seed `i` (if configured) holds, at `now`. `true`: that ended
    /// its rebuilding.
    pub(super) fn agreed(&mut self, i: Option<usize>, now: Time) -> bool {
        if let Some(i) = i {
            self.agreed.insert(i, now);
        }
        std::mem::take(&mut self.rebuilding)
    }

    /// When this seed last agreed with seed `i`.
    pub(super) fn agreed_at(&self, i: usize) -> Option<Time> {
        self.agreed.get(&i).copied()
    }

    /// This seed starts from nothing in place of a lost store.
    pub(super) fn rebuild(&mut self) {
        self.rebuilding = true;
    }

    /// Whether it is still rebuilding.
    pub(super) fn rebuilding(&self) -> bool {
        self.rebuilding
    }
}

#[cfg(test)]
mod tests;
