//! A peer's seeds (SPEC §6 Joining, PROTOCOL §2, §6): the keys it learned first hand, the
//! links it keeps to a quorum of them, the order it tries them in, their backoff, and which of
//! them have its registration.
//!
//! [`Seeds`] decides; its peer dials, sends and logs what it decides.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use crate::cert::SeedSet;
use crate::config::Config;
use crate::id::PeerId;
use crate::link::{LinkId, Remote, Role};
use crate::time::Time;

/// The wait after the `failures`-th failure in a row: `retry`, doubling, at most 32 times it.
pub(super) fn backoff(retry: Duration, failures: u32) -> Duration {
    retry * 2u32.pow(failures.min(5))
}

/// A peer's view of its seeds, by config index.
#[derive(Debug)]
pub(super) struct Seeds {
    addrs: Vec<SocketAddr>,
    pinned: Vec<Option<PeerId>>,
    /// Keys learned first hand (pinned, or proved in a handshake at the configured address).
    keys: Vec<Option<PeerId>>,
    /// The order seeds are tried in (random per peer, so peers spread over the seeds).
    order: Vec<usize>,
    links: BTreeMap<usize, LinkId>,
    fails: BTreeMap<usize, u32>,
    next_try: BTreeMap<usize, Time>,
    registered_with: BTreeSet<usize>,
    quorum: usize,
    retry: Duration,
}

impl Seeds {
    /// The config's seeds, tried in `order`; `retry` is the first backoff.
    pub(super) fn new(config: &Config, order: Vec<usize>, retry: Duration) -> Seeds {
        Seeds {
            addrs: config.seeds.iter().map(|s| s.addr).collect(),
            pinned: config.seeds.iter().map(|s| s.key).collect(),
            keys: config.seeds.iter().map(|s| s.key).collect(),
            order,
            links: BTreeMap::new(),
            fails: BTreeMap::new(),
            next_try: BTreeMap::new(),
            registered_with: BTreeSet::new(),
            quorum: config.quorum(),
            retry,
        }
    }

    /// The seeds whose signatures count: every configured one, with the keys known so far.
    pub(super) fn set(&self) -> SeedSet {
        SeedSet {
            n: self.addrs.len(),
            keys: self.keys.iter().flatten().copied().collect(),
        }
    }

    /// Seed `i`'s configured address.
    pub(super) fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i]
    }

    /// The links to seeds, by config index.
    pub(super) fn links(&self) -> Vec<LinkId> {
        self.links.values().copied().collect()
    }

    /// How many seeds are linked.
    pub(super) fn linked(&self) -> usize {
        self.links.len()
    }

    /// Whether fewer than a quorum are linked.
    pub(super) fn short(&self) -> bool {
        self.links.len() < self.quorum
    }

    /// Whether `id` is the key of a configured seed, pinned or learned first hand.
    pub(super) fn knows(&self, id: &PeerId) -> bool {
        self.keys.contains(&Some(*id))
    }

    /// The seed at the other end of `link`, if it is a seed link.
    pub(super) fn index_of(&self, link: LinkId) -> Option<usize> {
        (self.links.iter())
            .find(|(_, l)| **l == link)
            .map(|(i, _)| *i)
    }

    /// Seeds whose key is unknown and that are not linked (to dial only to learn the key).
    pub(super) fn keys_unknown(&self) -> Vec<usize> {
        (0..self.addrs.len())
            .filter(|&i| self.keys[i].is_none() && !self.links.contains_key(&i))
            .collect()
    }

    /// A dial made only to learn seed `i`'s key answered: kept if the other end is a seed
    /// whose key is the pinned one (if any). Returns whether it was kept.
    pub(super) fn key_learned(&mut self, i: usize, remote: &Remote) -> bool {
        let fits = remote.role == Role::Seed && self.pinned[i].is_none_or(|k| k == remote.id);
        if fits {
            self.keys[i] = Some(remote.id);
        }
        fits
    }

    /// The seeds to dial now, in this peer's order, so that with the `in_flight` seed dials
    /// a quorum is linked or on its way: neither linked nor being dialled (`dialling`), nor
    /// backing off.
    pub(super) fn to_dial(
        &self,
        now: Time,
        in_flight: usize,
        dialling: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let want = self.quorum.saturating_sub(self.links.len() + in_flight);
        let ready = |i: &usize| {
            let busy = self.links.contains_key(i) || dialling(*i);
            !busy && self.next_try.get(i).is_none_or(|t| *t <= now)
        };
        self.order
            .iter()
            .copied()
            .filter(ready)
            .take(want)
            .collect()
    }

    /// A dial to seed `i` failed: it waits its backoff, which doubles per failure in a row.
    pub(super) fn failed(&mut self, now: Time, i: usize) {
        let fails = self.fails.entry(i).and_modify(|f| *f += 1).or_insert(1);
        let at = now + backoff(self.retry, *fails - 1);
        self.next_try.insert(i, at);
    }

    /// A dial to seed `i` answered on `link`. Err: the node there is not that seed (another
    /// role, or another key than the one known); the caller closes the link and calls
    /// [`Seeds::failed`].
    pub(super) fn connected(
        &mut self,
        i: usize,
        link: LinkId,
        remote: &Remote,
    ) -> Result<(), String> {
        if remote.role != Role::Seed || self.keys[i].is_some_and(|k| k != remote.id) {
            let addr = self.addrs[i];
            return Err(format!(
                "{addr} is not the seed of the config (its key differs)"
            ));
        }
        self.keys[i] = Some(remote.id);
        self.fails.remove(&i);
        self.links.insert(i, link);
        Ok(())
    }

    /// The seed links the registration has not gone to, once a quorum is linked: they are
    /// marked as having it.
    pub(super) fn registrations_due(&mut self) -> Vec<LinkId> {
        if self.short() {
            return Vec::new();
        }
        let todo: Vec<(usize, LinkId)> = (self.links.iter())
            .filter(|(i, _)| !self.registered_with.contains(i))
            .map(|(i, l)| (*i, *l))
            .collect();
        self.registered_with.extend(todo.iter().map(|(i, _)| *i));
        todo.into_iter().map(|(_, l)| l).collect()
    }

    /// The seed on `link` refused the registration: it gets it again later. Returns the
    /// seed's index.
    pub(super) fn refused(&mut self, link: LinkId) -> Option<usize> {
        let i = self.index_of(link)?;
        self.registered_with.remove(&i);
        Some(i)
    }

    /// A new incarnation registers with every seed again.
    pub(super) fn forget_registrations(&mut self) {
        self.registered_with.clear();
    }

    /// `link` went away: if it was a seed's, that seed is dialled again after `retry`.
    /// Returns the seed's index.
    pub(super) fn dropped(&mut self, now: Time, link: LinkId) -> Option<usize> {
        let i = self.index_of(link)?;
        self.links.remove(&i);
        self.registered_with.remove(&i);
        self.next_try.insert(i, now + self.retry);
        Some(i)
    }

    /// When a seed that waits its backoff may be dialled, while fewer than a quorum are
    /// linked.
    pub(super) fn deadline(&self) -> Option<Time> {
        self.short()
            .then(|| self.next_try.values().min().copied())
            .flatten()
    }

    /// Forgets the backoffs that are over.
    pub(super) fn expire(&mut self, now: Time) {
        self.next_try.retain(|_, t| *t > now);
    }
}

#[cfg(test)]
mod tests;
