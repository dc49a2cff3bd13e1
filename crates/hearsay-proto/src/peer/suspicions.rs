//! A peer's open suspicions (SPEC §6 Suspicion, PROTOCOL §12.2): for each neighbour it
//! suspects, its own verdict, the witnesses it asked and the verdicts that came, until all are
//! in or the time is up.
//!
//! [`Suspicions`] keeps the books and says when one is decided; its peer chooses the
//! witnesses, dials and sends, and acts on the decision.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use super::Target;
use crate::id::PeerId;
use crate::sig::Checks;
use crate::suspicion::{self, Verdict};
use crate::time::Time;
use crate::wire::ProbeRequest;

/// Most witnesses asked about one suspect.
pub(super) const MAX_WITNESSES: usize = 8;

#[derive(Debug)]
struct Suspicion {
    addr: SocketAddr,
    incarnation: u64,
    /// This peer's own verdict first.
    verdicts: Vec<Verdict>,
    /// Witnesses asked whose verdict has not come.
    waiting: BTreeSet<PeerId>,
    /// Whether the witnesses are chosen (else: waiting for the seed's list until `list_due`).
    asked: bool,
    list_due: Time,
    deadline: Time,
    /// Whether the seeds were asked too, because no witness could answer.
    seeds_asked: bool,
}

/// A decided (or dropped) suspicion.
#[derive(Debug, PartialEq)]
pub(super) struct Decided {
    /// Where the suspect was.
    pub addr: SocketAddr,
    /// The suspect's incarnation.
    pub incarnation: u64,
    /// Verdicts saying unresponsive.
    pub dead: usize,
    /// Every verdict (this peer's own first).
    pub verdicts: Vec<Verdict>,
    /// Whether the verdicts confirm the death ([`suspicion::confirmed`]).
    pub confirmed: bool,
}

/// What is due about a suspicion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// The seed's witness list did not come in time: ask this peer's own neighbours.
    Witnesses,
    /// The time is up: decide on the verdicts that came.
    Decide,
}

/// Open suspicions, by suspect.
#[derive(Debug, Default)]
pub(super) struct Suspicions {
    open: BTreeMap<PeerId, Suspicion>,
}

impl Suspicions {
    /// Whether `suspect` is suspected.
    pub(super) fn contains(&self, suspect: &PeerId) -> bool {
        self.open.contains_key(suspect)
    }

    /// The earliest moment something is due.
    pub(super) fn deadline(&self) -> Option<Time> {
        (self.open.values())
            .map(|s| {
                if s.asked {
                    s.deadline
                } else {
                    s.list_due.min(s.deadline)
                }
            })
            .min()
    }

    /// Opens a suspicion of `target` at `addr` with this peer's own verdict `own`: the seed's
    /// witness list is awaited a quarter of `wait`, verdicts `wait` in all. Returns false if
    /// one is open already.
    pub(super) fn open(
        &mut self,
        now: Time,
        (target, addr): (Target, SocketAddr),
        own: Verdict,
        wait: Duration,
    ) -> bool {
        if self.open.contains_key(&target.id) {
            return false;
        }
        self.open.insert(
            target.id,
            Suspicion {
                addr,
                incarnation: target.incarnation,
                verdicts: vec![own],
                waiting: BTreeSet::new(),
                asked: false,
                list_due: now + wait / 4,
                deadline: now + wait,
                seeds_asked: false,
            },
        );
        true
    }

    /// What is due at `now`, by suspect.
    pub(super) fn due(&self, now: Time) -> Vec<(PeerId, Due)> {
        (self.open.iter())
            .filter(|(_, s)| s.deadline <= now || (!s.asked && s.list_due <= now))
            .map(|(id, s)| {
                (
                    *id,
                    if s.deadline <= now {
                        Due::Decide
                    } else {
                        Due::Witnesses
                    },
                )
            })
            .collect()
    }

    /// Whether `suspect`'s witnesses are still to be chosen.
    pub(super) fn choosing(&self, suspect: &PeerId) -> bool {
        self.open.get(suspect).is_some_and(|s| !s.asked)
    }

    /// The witnesses are chosen: those not asked yet (at most [`MAX_WITNESSES`] in all
    /// offered) are to be asked with the request returned. `None`: no such suspicion.
    pub(super) fn ask(
        &mut self,
        suspect: PeerId,
        witnesses: Vec<(PeerId, SocketAddr)>,
    ) -> Option<(ProbeRequest, Vec<(PeerId, SocketAddr)>)> {
        let s = self.open.get_mut(&suspect)?;
        s.asked = true;
        let new = (witnesses.into_iter().take(MAX_WITNESSES))
            .filter(|(w, _)| s.waiting.insert(*w))
            .collect();
        Some((Self::request(suspect, s), new))
    }

    /// The probe request for `suspect`, if it is suspected.
    pub(super) fn probe_request(&self, suspect: PeerId) -> Option<ProbeRequest> {
        self.open.get(&suspect).map(|s| Self::request(suspect, s))
    }

    fn request(suspect: PeerId, s: &Suspicion) -> ProbeRequest {
        ProbeRequest {
            suspect,
            addr: s.addr,
            incarnation: s.incarnation,
        }
    }

    /// Whether `suspect`'s witnesses are chosen and none is waited for: time to decide.
    pub(super) fn all_in(&self, suspect: &PeerId) -> bool {
        self.open
            .get(suspect)
            .is_some_and(|s| s.asked && s.waiting.is_empty())
    }

    /// Witness `w` cannot answer about `suspect`. Returns whether that was the last one
    /// waited for.
    pub(super) fn unreachable(&mut self, suspect: PeerId, w: PeerId) -> bool {
        let Some(s) = self.open.get_mut(&suspect) else {
            return false;
        };
        s.waiting.remove(&w) && s.waiting.is_empty() && s.asked
    }

    /// A verdict came from `from`. It counts if `from` signed it, was asked, and it is
    /// about the suspected address and incarnation. Returns whether it was the last one waited for.
    pub(super) fn verdict(&mut self, from: PeerId, v: Verdict, checks: &Checks) -> bool {
        let Some(s) = self.open.get_mut(&v.suspect) else {
            return false;
        };
        let fits = v.witness == from
            && (v.addr, v.incarnation) == (s.addr, s.incarnation)
            && v.verify(checks);
        if !fits || !s.waiting.remove(&v.witness) {
            return false;
        }
        s.verdicts.push(v);
        s.waiting.is_empty()
    }

    /// The witnesses are all in or out of time, and none of them gave a verdict: the suspect's
    /// neighbours may have died with it (a correlated failure), or have none to give. The
    /// seeds are asked once, with `wait` more, instead of clearing a suspicion nobody could
    /// check (PROTOCOL §12.6). Returns whether they are to be asked (then [`Suspicions::ask`]
    /// them); not if the verdicts that came decide it, or the seeds were asked already.
    pub(super) fn ask_seeds(&mut self, now: Time, suspect: PeerId, wait: Duration) -> bool {
        let Some(s) = self.open.get_mut(&suspect) else {
            return false;
        };
        if s.seeds_asked || s.verdicts.len() > 1 {
            return false;
        }
        s.seeds_asked = true;
        s.deadline = now + wait;
        true
    }

    /// Closes `suspect`'s suspicion (decided, or answered), with what its verdicts say.
    pub(super) fn close(&mut self, suspect: &PeerId) -> Option<Decided> {
        let s = self.open.remove(suspect)?;
        let dead = s.verdicts.iter().filter(|v| !v.alive).count();
        Some(Decided {
            addr: s.addr,
            incarnation: s.incarnation,
            dead,
            confirmed: suspicion::confirmed(dead, s.verdicts.len()),
            verdicts: s.verdicts,
        })
    }
}

#[cfg(test)]
mod tests;
