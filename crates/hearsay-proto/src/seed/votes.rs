//! What one seed voted and promised (PROTOCOL §5.2, §10): its votes, given again to a
//! repeated proposal while remembered, and the address it voted yes for per (peer,
//! incarnation), so that it never votes yes for two (quorums overlap: no two certificates
//! of one incarnation can exist).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::cert::{Change, Digest, Op, Vote};
use crate::id::PeerId;
use crate::time::Time;

/// Votes remembered.
const MAX_VOTES: usize = 100_000;
/// How often remembered votes are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// This seed's remembered votes and its promises.
#[derive(Debug)]
pub(super) struct Votes {
    voted: BTreeMap<Digest, (Vote, Time)>,
    promised: BTreeMap<(PeerId, u64), SocketAddr>,
    /// When remembered votes are next swept.
    sweep_at: Time,
}

impl Votes {
    pub(super) fn new(now: Time) -> Votes {
        Votes {
            voted: BTreeMap::new(),
            promised: BTreeMap::new(),
            sweep_at: now,
        }
    }

    /// The vote remembered on the change of `digest`.
    pub(super) fn get(&self, digest: &Digest) -> Option<&Vote> {
        self.voted.get(digest).map(|(v, _)| v)
    }

    /// The address this seed voted yes for, for `peer` at `incarnation`.
    pub(super) fn promised(&self, peer: PeerId, incarnation: u64) -> Option<SocketAddr> {
        self.promised.get(&(peer, incarnation)).copied()
    }

    /// Records `vote`, cast at `now`: a yes to an add is a promise. Beyond the bound a vote
    /// is not remembered: a repeat is validated again instead. Nor is a no to a removal:
    /// the accused may die right after it answered a probe, and the next report must get a
    /// probe of its own (a false accusation would otherwise shield a peer that dies within
    /// the memory).
    pub(super) fn record(&mut self, vote: &Vote, now: Time) {
        let c = vote.change;
        if vote.yes && c.op == Op::Add {
            self.promised.insert((c.peer, c.incarnation), c.addr);
        }
        let remember = vote.yes || c.op == Op::Add;
        if remember && self.voted.len() < MAX_VOTES {
            self.voted.insert(c.digest(), (vote.clone(), now));
        }
    }

    /// When the next sweep is due, while votes are held. A promise may outlive its vote, so
    /// [`Votes::due`] holds on any wake-up past it, votes held or not.
    pub(super) fn deadline(&self) -> Option<Time> {
        (!self.voted.is_empty()).then_some(self.sweep_at)
    }

    /// Whether a sweep is due at `now`.
    pub(super) fn due(&self, now: Time) -> bool {
        self.sweep_at <= now
    }

    /// Forgets the votes older than their memory (`memory` of a vote), and the promises
    /// that went with them. A promise outlives its vote only while the Peer List holds
    /// that peer at that incarnation or a later one (`admitted`): the list then keeps the
    /// address itself. Once a second rather than at each vote's own deadline: finding that
    /// deadline would mean a scan of every vote after every input.
    pub(super) fn sweep(
        &mut self,
        now: Time,
        memory: impl Fn(&Vote) -> Duration,
        admitted: impl Fn(PeerId, u64) -> bool,
    ) {
        self.sweep_at = now + SWEEP_EVERY;
        self.voted.retain(|_, (v, at)| *at + memory(v) > now);
        let voted = &self.voted;
        self.promised.retain(|(peer, inc), addr| {
            let change = Change {
                op: Op::Add,
                peer: *peer,
                addr: *addr,
                incarnation: *inc,
            };
            voted.contains_key(&change.digest()) && !admitted(*peer, *inc)
        });
    }
}

#[cfg(test)]
mod tests;
