//! What a seed does so that every dead peer is removed, correlated failures included
//! (PROTOCOL §12.6).
//!
//! A peer's suspicion needs witnesses, and a peer needs a neighbour to suspect it. When a
//! group of neighbours dies together, both can be missing: the survivors' witnesses are dead
//! too, and a peer whose every neighbour died with it has nobody to ping it. So a seed
//! - probes a suspect for an admitted peer whose witnesses could not answer, and signs the
//!   verdict (the removal itself still needs every voting seed's own probe), and
//! - looks over its Peer List every half `orphan_after`: a member outside the overlay's main
//!   part (by the mutual links of the members' neighbour reports) for `orphan_after` is an
//!   orphan, and a member of the main part linked to this seed is asked to watch it
//!   (`Msg::Watch`) as if it were a lost neighbour: dialled each round, suspected if it stays
//!   silent, taken as a neighbour if it answers (which mends the overlay).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use super::{Dial, State};
use crate::event::Event;
use crate::id::PeerId;
use crate::node::{LinkId, Remote, Role};
use crate::suspicion::Verdict;
use crate::time::Time;
use crate::wire::{Msg, ProbeRequest};

/// Most probes a seed runs for peers at once.
const MAX_PROBES: usize = 64;
/// Most orphans one sweep asks peers to watch.
const MAX_WATCHED: usize = 64;

/// A seed's part in failure detection beyond its votes.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// Probes under way for peers.
    probes: usize,
    /// Members outside the overlay's main part, since when.
    orphans: BTreeMap<PeerId, Time>,
    /// When the Peer List is next looked over.
    next_sweep: Time,
    /// Turns through the peers asked to watch, so the next orphan goes to another one.
    turn: usize,
    /// The orphans found at a version of the topology: looked for again only once it has
    /// changed (an idle network's seeds do not walk their Peer List for nothing).
    found: Option<(u64, Vec<PeerId>)>,
}

/// How often the Peer List is looked over for orphans seen for `after`: every half of it,
/// and not more often than every 100 ms (a zero setting must not spin).
fn sweep_every(after: Duration) -> Duration {
    (after / 2).max(Duration::from_millis(100))
}

impl Watch {
    pub(super) fn new(now: Time, after: Duration) -> Watch {
        Watch {
            next_sweep: now + sweep_every(after),
            ..Watch::default()
        }
    }

    /// When the Peer List is next looked over.
    pub(super) fn deadline(&self) -> Time {
        self.next_sweep
    }

    /// Members that have been orphans for `after` at `now` (at most [`MAX_WATCHED`], in id
    /// order); each is due again `after` later. `orphans` is every member that is one now.
    fn due(
        &mut self,
        now: Time,
        after: Duration,
        orphans: impl Iterator<Item = PeerId>,
    ) -> Vec<PeerId> {
        let mut seen = BTreeMap::new();
        for id in orphans {
            let since = self.orphans.get(&id).copied().unwrap_or(now);
            seen.insert(id, since);
        }
        self.orphans = seen;
        let mut due = Vec::new();
        for (id, since) in self.orphans.iter_mut() {
            if due.len() < MAX_WATCHED && *since + after <= now {
                due.push(*id);
                *since = now;
            }
        }
        due
    }
}

impl State {
    /// An admitted peer asks this seed to probe a suspect none of its witnesses could
    /// answer about. Only a member at its Peer List address and incarnation is probed, only
    /// for a member, and at most [`MAX_PROBES`] at once; anything else gets no answer.
    pub(super) fn on_probe_request(&mut self, asker: LinkId, remote: Remote, ask: ProbeRequest) {
        let member = self.list.get(&ask.suspect).map(|m| (m.addr, m.incarnation));
        let fits = member == Some((ask.addr, ask.incarnation))
            && self.list.contains(&remote.id)
            && remote.id != ask.suspect;
        if !fits || self.watch.probes >= MAX_PROBES {
            return;
        }
        self.watch.probes += 1;
        let witness = Dial::Witness {
            asker,
            probed: (ask.suspect, ask.addr, ask.incarnation),
        };
        self.io.dial(ask.addr, witness);
    }

    /// The probe for a peer ended: `met` is who answered at the address, if anyone. The
    /// signed verdict goes back to the asker.
    pub(super) fn answer_probe(
        &mut self,
        asker: LinkId,
        probed: (PeerId, SocketAddr, u64),
        met: Option<PeerId>,
    ) {
        self.watch.probes = self.watch.probes.saturating_sub(1);
        let alive = met == Some(probed.0);
        let v = Verdict::new(&self.key, probed, alive, self.now);
        if self.links.contains_key(&asker) {
            self.io.send(asker, Msg::Verdict(Box::new(v)));
        }
    }

    /// Looks over the Peer List for orphans, and asks a peer to watch each that has been one
    /// for `orphan_after`.
    pub(super) fn sweep_orphans(&mut self) {
        let after = self.settings.orphan_after;
        self.watch.next_sweep = self.now + sweep_every(after);
        let version = self.topology.version();
        let orphans = match self.watch.found.take() {
            Some((v, orphans)) if v == version => orphans,
            _ => {
                // Each linked peer once, however many links it holds.
                let linked: BTreeSet<PeerId> = (self.links.values())
                    .filter(|r| r.role == Role::Peer)
                    .map(|r| r.id)
                    .collect();
                let list = &self.list;
                (self.topology).outside_main_part(
                    list.members().keys().copied(),
                    |id| list.contains(id),
                    linked.into_iter(),
                )
            }
        };
        // Few, as a rule: the members outside the main part.
        self.watch.found = Some((version, orphans.clone()));
        let due = self.watch.due(self.now, after, orphans.iter().copied());
        if due.is_empty() {
            return;
        }
        // Watchers are members of the main part linked to this seed.
        let watchers: Vec<(LinkId, PeerId)> = (self.links.iter())
            .filter(|(_, r)| r.role == Role::Peer && self.list.contains(&r.id))
            .filter(|(_, r)| orphans.binary_search(&r.id).is_err())
            .map(|(l, r)| (*l, r.id))
            .collect();
        if watchers.is_empty() {
            return;
        }
        for orphan in due {
            let (link, watcher) = watchers[self.watch.turn % watchers.len()];
            self.watch.turn = self.watch.turn.wrapping_add(1);
            let m = &self.list.members()[&orphan];
            let watch = ProbeRequest {
                suspect: orphan,
                addr: m.addr,
                incarnation: m.incarnation,
            };
            self.io.send(link, Msg::Watch(Box::new(watch)));
            self.io.event(Event::OrphanWatched {
                peer: orphan,
                addr: m.addr,
                watcher,
            });
        }
    }
}

#[cfg(test)]
mod tests;
