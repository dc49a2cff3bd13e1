//! Links between machines held in one process: the in-memory router that the simulator
//! (`hearsay-sim`) and the machines' own tests (`testkit`) both drive (PROTOCOL §1).
//!
//! A driver that runs machines in memory needs what a network gives a real node: link
//! numbers handed out in pairs (one per end), each end knowing who holds it and who holds
//! the other, frames on one link arriving in the order they were sent (TCP's order), a
//! close that reaches the other end after what was sent before it, and every message
//! passing through the real codec. [`Links`] keeps that; how long a frame takes, what is
//! lost and who is down is the driver's own policy.
//!
//! Compiled for proto's tests and with the `router` feature, which the simulator turns on.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash};
use std::time::Duration;

use crate::link::{DialToken, LinkId, LinkMap, Remote};
use crate::node::Input;
use crate::time::Time;
use crate::wire::{self, DecodeError, Msg};

/// One end of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End<N, R> {
    /// The node that holds this end (sends on it).
    pub holder: N,
    /// The node that holds the other end (receives what is sent on this one).
    pub to: N,
    /// The other end's link number.
    pub other: LinkId,
    /// When the last frame sent on this end arrives: a later one never arrives before it.
    pub busy_until: Time,
    /// What the driver keeps with this end (the tests: what its holder was told of the other
    /// side; the simulator: nothing).
    pub told: R,
}

/// Nodes hashed with fixed keys: the same run, the same order.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// Every open link of an in-memory network, by end, and the ends each node holds.
#[derive(Debug)]
pub struct Links<N, R = ()> {
    ends: LinkMap<End<N, R>>,
    held: HashMap<N, BTreeSet<LinkId>, Fixed>,
    next: u64,
}

impl<N: Copy + Eq + Hash, R> Default for Links<N, R> {
    fn default() -> Self {
        Links {
            ends: LinkMap::default(),
            held: HashMap::default(),
            next: 1,
        }
    }
}

impl<N: Copy + Eq + Hash, R> Links<N, R> {
    /// No links; the first one opened is numbered 1 and 2.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a link between `n` (holding the first number) and `m` (the second), up at `at`:
    /// nothing sent on it arrives before then. `told` is what each end keeps: `n`'s first.
    pub fn open(&mut self, n: N, m: N, at: Time, told: (R, R)) -> (LinkId, LinkId) {
        let (a, b) = (LinkId(self.next), LinkId(self.next + 1));
        self.next += 2;
        let end = |holder, to, other, told| End {
            holder,
            to,
            other,
            busy_until: at,
            told,
        };
        self.ends.insert(a, end(n, m, b, told.0));
        self.ends.insert(b, end(m, n, a, told.1));
        self.held.entry(n).or_default().insert(a);
        self.held.entry(m).or_default().insert(b);
        (a, b)
    }

    /// The end numbered `link`, while it is open.
    pub fn end(&self, link: LinkId) -> Option<&End<N, R>> {
        self.ends.get(&link)
    }

    /// Sends on `link` now, taking `delay`: the node it reaches, the number of its end, and
    /// when it arrives, never before what was sent on the link earlier. `None`: not open.
    pub fn send(&mut self, link: LinkId, now: Time, delay: Duration) -> Option<(N, LinkId, Time)> {
        let end = self.ends.get_mut(&link)?;
        let at = (now + delay).max(end.busy_until);
        end.busy_until = at;
        Some((end.to, end.other, at))
    }

    /// Closes the link `link` is an end of, both ends; returns `link`'s end.
    pub fn close(&mut self, link: LinkId) -> Option<End<N, R>> {
        let end = self.ends.remove(&link)?;
        self.unhold(end.holder, link);
        if self.ends.remove(&end.other).is_some() {
            self.unhold(end.to, end.other);
        }
        Some(end)
    }

    fn unhold(&mut self, n: N, link: LinkId) {
        if let Some(held) = self.held.get_mut(&n) {
            held.remove(&link);
            if held.is_empty() {
                self.held.remove(&n);
            }
        }
    }

    /// Every open end, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (LinkId, &End<N, R>)> + '_ {
        self.ends.iter().map(|(l, e)| (*l, e))
    }

    /// The numbers the next [`Links::open`] gives.
    pub fn upcoming(&self) -> (LinkId, LinkId) {
        (LinkId(self.next), LinkId(self.next + 1))
    }

    /// The ends `n` holds, in order.
    pub fn held(&self, n: N) -> impl Iterator<Item = LinkId> + '_ {
        self.held.get(&n).into_iter().flatten().copied()
    }

    /// The first end `n` holds of a link to `m`.
    pub fn between(&self, n: N, m: N) -> Option<LinkId> {
        self.held(n).find(|l| self.ends[l].to == m)
    }

    /// Every open link once, as (lower number, higher number, holder of the lower, holder of
    /// the higher), in order.
    pub fn pairs(&self) -> Vec<(LinkId, LinkId, N, N)> {
        let mut pairs: Vec<_> = (self.ends.iter())
            .filter(|(l, e)| **l < e.other)
            .map(|(l, e)| (*l, e.other, e.holder, e.to))
            .collect();
        pairs.sort_unstable_by_key(|p| (p.0, p.1));
        pairs
    }

    /// `n`'s links, each as [`Links::pairs`] gives it, in order.
    pub fn pairs_of(&self, n: N) -> Vec<(LinkId, LinkId, N, N)> {
        let mut pairs: Vec<_> = (self.held(n))
            .map(|l| {
                let e = &self.ends[&l];
                if l < e.other {
                    (l, e.other, n, e.to)
                } else {
                    (e.other, l, e.to, n)
                }
            })
            .collect();
        pairs.sort_unstable_by_key(|p| (p.0, p.1));
        pairs
    }

    /// How many ends are open (twice the links).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no link is open.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// `msg` as the other end decodes it from its encoding: what crosses a real link.
pub fn through_codec(msg: &Msg) -> Result<Msg, DecodeError> {
    wire::decode_msg(&wire::encode_msg(msg))
}

/// The two inputs a completed dial gives: the dialler's end (with its token) and the
/// listener's, each with what it learns of the other side.
pub fn link_up(
    (dialler, theirs): (LinkId, Remote),
    (listener, mine): (LinkId, Remote),
    token: DialToken,
) -> [Input; 2] {
    [
        Input::LinkUp {
            link: dialler,
            remote: Box::new(theirs),
            dial: Some(token),
        },
        Input::LinkUp {
            link: listener,
            remote: Box::new(mine),
            dial: None,
        },
    ]
}

#[cfg(test)]
mod tests;
