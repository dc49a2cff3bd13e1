//! A seed's view of the other seeds (SPEC §5, PROTOCOL §2, §9): their keys (pinned in the
//! config, learned first hand by a handshake at the configured address, or restored from
//! the store; never stated by another seed), the link of its own it keeps to each, and when
//! it dials a lost one again.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::id::PeerId;
use crate::link::LinkId;
use crate::time::Time;

/// The seeds of the config, by index, as this seed (`me`) sees them.
#[derive(Debug)]
pub(super) struct Seeds {
    me: usize,
    /// Keys known, this seed's own included.
    keys: Vec<Option<PeerId>>,
    /// Which keys the config pins: those win over any other.
    pinned: Vec<bool>,
    /// The links this seed dialled and keeps, by index.
    out: BTreeMap<usize, LinkId>,
    /// When to dial each lost seed again.
    redial: BTreeMap<usize, Time>,
    retry: Duration,
}

impl Seeds {
    /// The config's seeds, seen by seed `me` holding `key`, dialling every other at `now`
    /// and, once lost, `retry` later. `Err`: the config pins another key for `me`.
    pub(super) fn new(
        config: &Config,
        me: usize,
        key: PeerId,
        now: Time,
        retry: Duration,
    ) -> Result<Seeds, PeerId> {
        let mut keys: Vec<Option<PeerId>> = config.seeds.iter().map(|s| s.key).collect();
        match keys[me] {
            Some(pinned) if pinned != key => return Err(pinned),
            _ => keys[me] = Some(key),
        }
        let n = keys.len();
        Ok(Seeds {
            me,
            pinned: config.seeds.iter().map(|s| s.key.is_some()).collect(),
            keys,
            out: BTreeMap::new(),
            redial: (0..n).filter(|&i| i != me).map(|i| (i, now)).collect(),
            retry,
        })
    }

    /// Every key known, this seed's own included.
    pub(super) fn keys(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.keys.iter().flatten().copied()
    }

    /// Seed `i`'s key, if known.
    pub(super) fn key(&self, i: usize) -> Option<PeerId> {
        self.keys[i]
    }

    /// Whether `id` is a known seed key.
    pub(super) fn knows(&self, id: &PeerId) -> bool {
        self.keys.contains(&Some(*id))
    }

    /// The index of the seed whose key is `id`.
    pub(super) fn index_of(&self, id: PeerId) -> Option<usize> {
        self.keys.iter().position(|k| *k == Some(id))
    }

    /// The indices of the other seeds.
    pub(super) fn others(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.keys.len()).filter(move |&i| i != self.me)
    }

    /// Seed `i` proved `id` first hand. `true`: a key this seed did not hold, to persist.
    pub(super) fn learn(&mut self, i: usize, id: PeerId) -> bool {
        let new = self.keys[i] != Some(id);
        self.keys[i] = Some(id);
        new
    }

    /// A key from this seed's store: a key pinned in the config wins over it, and this
    /// seed's own is its own.
    pub(super) fn restore(&mut self, i: usize, id: PeerId) {
        if i != self.me && !self.pinned[i] {
            self.keys[i] = Some(id);
        }
    }

    /// The link of its own this seed keeps to seed `i`.
    pub(super) fn own_link(&self, i: usize) -> Option<LinkId> {
        self.out.get(&i).copied()
    }

    /// Every link of its own to another seed, by index.
    pub(super) fn own_links(&self) -> Vec<LinkId> {
        self.out.values().copied().collect()
    }

    /// This seed's dial of seed `i` came up on `link`.
    pub(super) fn connected(&mut self, i: usize, link: LinkId) {
        self.out.insert(i, link);
    }

    /// `link` went down: if it was this seed's own to a seed, that seed is dialled again
    /// later; returns its index.
    pub(super) fn lost(&mut self, link: LinkId, now: Time) -> Option<usize> {
        let (&i, _) = self.out.iter().find(|(_, l)| **l == link)?;
        self.out.remove(&i);
        self.failed(i, now);
        Some(i)
    }

    /// A dial of seed `i` failed at `now`: dialled again later.
    pub(super) fn failed(&mut self, i: usize, now: Time) {
        self.redial.insert(i, now + self.retry);
    }

    /// Seed `i` linked to this one while this one waits to dial it again: whether to dial it
    /// now rather than later (it is up).
    pub(super) fn dial_sooner(&mut self, i: usize, now: Time) -> bool {
        let waiting = !self.out.contains_key(&i) && self.redial.contains_key(&i);
        if waiting {
            self.redial.insert(i, now);
        }
        waiting
    }

    /// The seeds due to be dialled again at `now`, no longer waiting.
    pub(super) fn due(&mut self, now: Time) -> Vec<usize> {
        let due: Vec<usize> = (self.redial.iter())
            .filter(|(_, t)| **t <= now)
            .map(|(i, _)| *i)
            .collect();
        for i in &due {
            self.redial.remove(i);
        }
        due
    }

    /// When the next seed is due to be dialled again.
    pub(super) fn deadline(&self) -> Option<Time> {
        self.redial.values().min().copied()
    }
}

#[cfg(test)]
mod tests;
