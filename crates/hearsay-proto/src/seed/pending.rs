//! The decisions in flight at one seed (PROTOCOL §5–§6, §12.3): proposals it coordinates and
//! proposals it validates, each with its deadline, and the two counts kept in step with them
//! (registering peers' links waiting for a decision, and registrations under validation per
//! source network). Nothing here decides: `decide` does, and asks this part what is pending.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::cert::{Change, Digest, Vote};
use crate::id::PeerId;
use crate::link::LinkId;
use crate::quorum::Tally;
use crate::time::Time;

/// Registering peers' links waiting for one decision.
const MAX_WAITERS: usize = 16;

/// Where a vote goes back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// This seed coordinates the proposal itself.
    Local,
    /// A remote coordinator, over this link.
    Link(LinkId),
}

/// A proposal this seed coordinates: the votes so far, and who waits for the outcome.
#[derive(Debug)]
pub(super) struct Coordination {
    pub(super) change: Change,
    pub(super) waiters: Vec<LinkId>,
    pub(super) tally: Tally<PeerId>,
    pub(super) yes: Vec<Vote>,
    pub(super) no: Vec<String>,
    pub(super) deadline: Time,
}

/// A proposal this seed validates: who to send its vote to once its probe answers.
#[derive(Debug)]
pub(super) struct Validation {
    pub(super) change: Change,
    pub(super) replies: Vec<Reply>,
    pub(super) deadline: Time,
    /// For an add: the network the registration came from.
    pub(super) network: Option<IpAddr>,
    /// For a removal: who reported it, and what is wrong with the evidence, if anything.
    pub(super) reporter: Option<PeerId>,
    pub(super) evidence_error: Option<String>,
}

/// The proposals coordinated and validated here, by digest.
#[derive(Debug, Default)]
pub(super) struct Pending {
    coordinating: BTreeMap<Digest, Coordination>,
    /// The links waiting for a decision coordinated here, with how many they wait for: what
    /// [`crate::node::Machine::link_use`] asks, at each of up to a thousand links.
    registering: BTreeMap<LinkId, usize>,
    validating: BTreeMap<Digest, Validation>,
    /// Registrations under validation, by source network (PROTOCOL §6.3).
    from_network: BTreeMap<IpAddr, usize>,
    /// Every deadline, (deadline, digest, coordinating), so the next is found without a
    /// scan of hundreds of proposals after every input.
    deadlines: BTreeSet<(Time, Digest, bool)>,
}

impl Pending {
    /// How many proposals this seed coordinates.
    pub(super) fn coordinating(&self) -> usize {
        self.coordinating.len()
    }

    /// How many proposals this seed validates.
    pub(super) fn validating(&self) -> usize {
        self.validating.len()
    }

    /// Starts coordinating `c`; its waiters (at most one) now wait.
    pub(super) fn coordinate(&mut self, digest: Digest, c: Coordination) {
        for l in &c.waiters {
            *self.registering.entry(*l).or_insert(0) += 1;
        }
        self.deadlines.insert((c.deadline, digest, true));
        self.coordinating.insert(digest, c);
    }

    /// Whether `digest` is coordinated here; if so, `waiter` waits for it too (unless it
    /// already does, or [`MAX_WAITERS`] do).
    pub(super) fn join(&mut self, digest: Digest, waiter: Option<LinkId>) -> bool {
        let Some(c) = self.coordinating.get_mut(&digest) else {
            return false;
        };
        let room = c.waiters.len() < MAX_WAITERS;
        if let Some(l) = waiter.filter(|l| room && !c.waiters.contains(l)) {
            c.waiters.push(l);
            *self.registering.entry(l).or_insert(0) += 1;
        }
        true
    }

    /// The coordination of `digest`, to count a vote in.
    pub(super) fn coordination(&mut self, digest: &Digest) -> Option<&mut Coordination> {
        self.coordinating.get_mut(digest)
    }

    /// Ends the coordination of `digest`: its waiters wait no more.
    pub(super) fn end_coordination(&mut self, digest: &Digest) -> Option<Coordination> {
        let c = self.coordinating.remove(digest)?;
        self.deadlines.remove(&(c.deadline, *digest, true));
        for l in &c.waiters {
            count_down(&mut self.registering, l);
        }
        Some(c)
    }

    /// Whether the peer on `link` waits for a decision coordinated here.
    pub(super) fn registering(&self, link: LinkId) -> bool {
        self.registering.contains_key(&link)
    }

    /// Registrations from `network` under validation here.
    pub(super) fn registrations_from(&self, network: IpAddr) -> usize {
        self.from_network.get(&network).copied().unwrap_or(0)
    }

    /// Starts validating `v`.
    pub(super) fn validate(&mut self, digest: Digest, v: Validation) {
        if let Some(n) = v.network {
            *self.from_network.entry(n).or_insert(0) += 1;
        }
        self.deadlines.insert((v.deadline, digest, false));
        self.validating.insert(digest, v);
    }

    /// Whether `digest` is validated here; if so, its vote goes to `reply` too, one reply
    /// per coordinator and at most `most`.
    pub(super) fn reply_too(&mut self, digest: &Digest, reply: Reply, most: usize) -> bool {
        let Some(v) = self.validating.get_mut(digest) else {
            return false;
        };
        if !v.replies.contains(&reply) && v.replies.len() < most {
            v.replies.push(reply);
        }
        true
    }

    /// Ends the validation of `digest`.
    pub(super) fn end_validation(&mut self, digest: &Digest) -> Option<Validation> {
        let v = self.validating.remove(digest)?;
        self.deadlines.remove(&(v.deadline, *digest, false));
        if let Some(n) = v.network {
            count_down(&mut self.from_network, &n);
        }
        Some(v)
    }

    /// The next deadline of any proposal pending here.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        self.deadlines.first().map(|d| d.0)
    }

    /// The proposals coordinated (or validated) whose deadline is `now` or earlier, in
    /// digest order.
    pub(super) fn late(&self, now: Time, coordinating: bool) -> Vec<Digest> {
        let mut late: Vec<Digest> = (self.deadlines.iter())
            .take_while(|(at, _, _)| *at <= now)
            .filter(|(_, _, c)| *c == coordinating)
            .map(|(_, d, _)| *d)
            .collect();
        late.sort_unstable();
        late
    }
}

/// One fewer of `key` in `counts`; a count that reaches 0 is removed.
fn count_down<K: Ord>(counts: &mut BTreeMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
