//! The overlay rule of a peer (SPEC §6 Neighbours, PROTOCOL §7): the peer lists its seeds
//! sent, merged into candidates, the neighbours drawn from them by preferential attachment,
//! and when to ask for fresh lists while short of links.
//!
//! [`Candidates`] decides whom to dial; its peer asks the seeds, dials, and tells it what
//! came.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;

use crate::attach;
use crate::id::PeerId;
use crate::sig::{HashKeys, Recent};
use crate::time::Time;
use crate::wire::PeerInfo;
#[cfg(doc)]
use crate::wire::MAX_LIST;

/// Peer lists, candidates and the refill schedule.
#[derive(Debug)]
pub(super) struct Candidates {
    peer_list_wait: Duration,
    refill: Duration,
    /// The lists of this round, by the seed's config index.
    lists: BTreeMap<usize, Vec<PeerInfo>>,
    /// When this round stops waiting for lists.
    lists_due: Option<Time>,
    pool: BTreeMap<PeerId, PeerInfo>,
    /// Drawn this round (dialled, whatever came of it).
    tried: BTreeSet<PeerId>,
    refill_at: Option<Time>,
    refill_round: u32,
    /// Peers that sent this peer forged gossip (PROTOCOL §11.4): never drawn, and refused
    /// as neighbours; past [`MAX_SHUNNED`], the oldest is forgotten first.
    shunned: Recent<PeerId>,
}

/// Most peers shunned for forged gossip.
const MAX_SHUNNED: usize = 1024;

impl Candidates {
    /// Lists are awaited `peer_list_wait`; a refill waits `refill`, doubling up to 16 times.
    /// The shunned peers hash under `keys`.
    pub(super) fn new(peer_list_wait: Duration, refill: Duration, keys: HashKeys) -> Candidates {
        Candidates {
            peer_list_wait,
            refill,
            lists: BTreeMap::new(),
            lists_due: None,
            pool: BTreeMap::new(),
            tried: BTreeSet::new(),
            refill_at: None,
            refill_round: 0,
            shunned: Recent::new(MAX_SHUNNED, keys),
        }
    }

    /// A new round: the peer asks its seeds for lists now.
    pub(super) fn ask(&mut self, now: Time) {
        self.lists.clear();
        self.tried.clear();
        self.lists_due = Some(now + self.peer_list_wait);
    }

    /// Seed `seed`'s list came (the peer keeps at most [`MAX_LIST`] entries of it). Returns
    /// whether the round waits for lists and `linked` have come: time to choose.
    pub(super) fn list(&mut self, seed: usize, list: Vec<PeerInfo>, linked: usize) -> bool {
        self.lists.insert(seed, list);
        self.lists_due.is_some() && self.lists.len() >= linked
    }

    /// When the round stops waiting for lists.
    pub(super) fn lists_due(&self) -> Option<Time> {
        self.lists_due
    }

    /// Merges the lists of the round into the candidates (each peer once, at the highest
    /// degree a seed gave; never `me`). The lists are done with.
    pub(super) fn merge(&mut self, me: PeerId) {
        self.lists_due = None;
        self.pool.clear();
        for p in std::mem::take(&mut self.lists).into_values().flatten() {
            if p.id == me {
                continue;
            }
            let e = self.pool.entry(p.id).or_insert(p);
            e.degree = e.degree.max(p.degree);
        }
    }

    /// `id` sent forged gossip: it is not drawn again, nor accepted as a neighbour.
    pub(super) fn shun(&mut self, id: PeerId) {
        self.shunned.insert(id);
    }

    /// Whether `id` sent forged gossip (one of the last [`MAX_SHUNNED`] that did).
    pub(super) fn shunned(&self, id: &PeerId) -> bool {
        self.shunned.contains(id)
    }

    /// Draws up to `need` candidates not `busy`, not shunned and not tried this round, each with
    /// probability proportional to its degree + 1 ([`attach::choose`]); they count as tried.
    pub(super) fn draw<R: Rng + ?Sized>(
        &mut self,
        need: usize,
        busy: &BTreeSet<PeerId>,
        rng: &mut R,
    ) -> Vec<PeerInfo> {
        let pool: Vec<(PeerInfo, usize)> = (self.pool.values())
            .filter(|p| !busy.contains(&p.id) && !self.tried.contains(&p.id))
            .filter(|p| !self.shunned.contains(&p.id))
            .map(|p| (*p, p.degree as usize))
            .collect();
        let drawn = attach::choose(&pool, need, rng);
        self.tried.extend(drawn.iter().map(|p| p.id));
        drawn
    }

    /// Enough links: the candidates are done with (a later loss asks for fresh lists, whose
    /// degrees are current; with thousands of peers in the lists, keeping these would be
    /// most of an idle peer's memory).
    pub(super) fn enough(&mut self) {
        self.pool.clear();
    }

    /// While `short` of links and no round is under way, asks for fresh lists later, the wait
    /// doubling per refill.
    pub(super) fn schedule_refill(&mut self, now: Time, short: bool) {
        if short && self.refill_at.is_none() && self.lists_due.is_none() {
            let wait = self.refill * 2u32.pow(self.refill_round.min(4));
            self.refill_round += 1;
            self.refill_at = Some(now + wait);
        }
    }

    /// A neighbour was lost: the next refill waits the shortest time again.
    pub(super) fn lost_one(&mut self) {
        self.refill_round = 0;
    }

    /// When the next refill is due.
    pub(super) fn refill_at(&self) -> Option<Time> {
        self.refill_at
    }

    /// The refill is due: it is taken.
    pub(super) fn take_refill(&mut self) {
        self.refill_at = None;
    }
}

#[cfg(test)]
mod tests;
