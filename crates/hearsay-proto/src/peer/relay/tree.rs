//! Which neighbours a peer pushes each origin's messages to (PROTOCOL §11.7): a tree per
//! origin, grown from the announce-and-request relay and kept so that a message still
//! crosses each link at most once.
//!
//! On each link, each origin has one **token**: the end holding it may push that origin's
//! messages over the link, and pushes them only to a neighbour that asked (`Graft`), until
//! that neighbour says stop (`Prune`). The end that dialled the link holds every token at
//! first; a token moves only inside a `Graft` from its holder, who stops pushing on that
//! link before sending it. Links keep their order, so whatever the old holder pushed arrives
//! before the token, and the new holder has those messages marked as come in on the link
//! and never pushes them back. Two ends therefore never push one message to each other,
//! and requests were already safe (PROTOCOL §11.3). A token may be dropped (nobody pushes;
//! announcements still carry the message) but never made: an end forgets an origin's
//! state on a link only where it would hold no token by default, or with the link.
//!
//! A peer asks the neighbour that first delivered an origin's message to push that origin
//! to it, and tells a neighbour whose push came as a duplicate to stop. Bounded: at most
//! [`MAX_TREE`] origins (each one an admitted peer whose message passed here), each with at
//! most one state per neighbour link.

use smallvec::SmallVec;

use crate::id::PeerId;
use crate::node::LinkId;
use crate::sig::{FixedMap, HashKeys, IdMap};

/// Most origins with tree state; past it, a new origin's messages go by announcement only.
pub(super) const MAX_TREE: usize = super::origins::MAX_ORIGINS;

/// This end holds the origin's token on the link.
const TOKEN: u8 = 1;
/// The neighbour asked for this origin's messages (pushed while this end holds the token).
const PUSH: u8 = 2;
/// This end asked the neighbour to push this origin's messages to it.
const ASKED: u8 = 4;
/// This end announced one of this origin's messages to the neighbour before.
const ANNOUNCED: u8 = 8;

/// A tree control message for one origin, to be sent on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ctl {
    /// "Push this origin's messages to me", handing over the token if `token`.
    Graft { origin: PeerId, token: bool },
    /// "Stop pushing this origin's messages to me."
    Prune { origin: PeerId },
}

/// The trees of one peer.
#[derive(Debug)]
pub(super) struct Tree {
    /// Neighbour links: the neighbour's id, and whether this end dialled (holds tokens at
    /// first).
    links: FixedMap<LinkId, (PeerId, bool)>,
    /// Per origin, the links whose state is not the default, in the order first noted.
    origins: IdMap<PeerId, SmallVec<[(LinkId, u8); 4]>>,
}

impl Tree {
    pub(super) fn new(keys: HashKeys) -> Tree {
        Tree {
            links: FixedMap::default(),
            origins: IdMap::with_hasher(keys),
        }
    }

    /// A neighbour link is up: `dialled` if this end opened it.
    pub(super) fn link_up(&mut self, link: LinkId, peer: PeerId, dialled: bool) {
        self.links.insert(link, (peer, dialled));
    }

    /// Origins with state.
    #[cfg(test)]
    pub(super) fn origins(&self) -> usize {
        self.origins.len()
    }

    /// A link went away, with every token on it.
    pub(super) fn link_closed(&mut self, link: LinkId) {
        if self.links.remove(&link).is_none() {
            return;
        }
        self.origins.retain(|_, states| {
            states.retain(|(l, _)| *l != link);
            !states.is_empty()
        });
    }

    /// The links `origin`'s messages are pushed on: those whose neighbour asked, where this
    /// end holds the token.
    pub(super) fn children(&self, origin: &PeerId) -> SmallVec<[LinkId; 4]> {
        let Some(states) = self.origins.get(origin) else {
            return SmallVec::new();
        };
        (states.iter())
            .filter(|(_, s)| s & (TOKEN | PUSH) == TOKEN | PUSH)
            .map(|(l, _)| *l)
            .collect()
    }

    /// `origin`'s message came first on `link`, `pulled` if in answer to a request. Ask that
    /// neighbour to push this origin's messages here, handing over the token if this end
    /// holds it (and so no longer pushing there), if no neighbour was asked to yet, or if the
    /// message had to be requested (what was asked did not come first). Not the origin
    /// itself, which sends its messages to every neighbour.
    pub(super) fn delivered(&mut self, origin: PeerId, link: LinkId, pulled: bool) -> Option<Ctl> {
        let (peer, _) = *self.links.get(&link)?;
        let state = self.state(&origin, link);
        if peer == origin || state & ASKED != 0 || !(pulled || self.parents(&origin) == 0) {
            return None;
        }
        self.set(origin, link, ASKED)?;
        Some(Ctl::Graft {
            origin,
            token: state & TOKEN != 0,
        })
    }

    /// Whether this end asked the neighbour at `link` to push `origin`'s messages here, and
    /// whether that neighbour is the origin.
    pub(super) fn pushes_here(&self, origin: &PeerId, link: LinkId) -> (bool, bool) {
        let peer = self.links.get(&link).map(|(p, _)| p);
        (self.state(origin, link) & ASKED != 0, peer == Some(origin))
    }

    /// `origin`'s message is announced on `targets`: each, with whether one of its messages
    /// was announced there before (so that neighbour has its tree for the origin, and a
    /// late announcement costs it nothing; a neighbour new to the origin is told at once).
    pub(super) fn announcing(
        &mut self,
        origin: PeerId,
        targets: Vec<LinkId>,
    ) -> Vec<(LinkId, bool)> {
        (targets.into_iter())
            .map(|l| {
                let state = self.state(&origin, l);
                let before = state & ANNOUNCED != 0;
                if !before {
                    self.set(origin, l, state | ANNOUNCED);
                }
                (l, before)
            })
            .collect()
    }

    /// Whether this end dialled `link`.
    pub(super) fn dialled(&self, link: LinkId) -> bool {
        self.links.get(&link).is_some_and(|(_, d)| *d)
    }

    /// How many neighbours this end asked to push `origin`'s messages.
    fn parents(&self, origin: &PeerId) -> usize {
        let states = self.origins.get(origin).map_or(&[][..], |s| &s[..]);
        states.iter().filter(|(_, s)| s & ASKED != 0).count()
    }

    /// A copy of `origin`'s message came on `link` after the first: if this end asked that
    /// neighbour to push, it is a slower branch; ask it to stop.
    pub(super) fn duplicate(&mut self, origin: PeerId, link: LinkId) -> Option<Ctl> {
        let state = self.state(&origin, link);
        if state & ASKED == 0 {
            return None;
        }
        self.set(origin, link, state & !ASKED)?;
        Some(Ctl::Prune { origin })
    }

    /// The neighbour at `link` asks for `origin`'s messages, handing over the token if
    /// `token`. Pushed to it from now on if this end holds the token; if it does not, the
    /// token is on its way to that neighbour, which will push here instead. `listed`: this
    /// peer relays that origin's messages (only those origins get state).
    pub(super) fn on_graft(&mut self, link: LinkId, origin: PeerId, token: bool, listed: bool) {
        if !self.links.contains_key(&link) || !listed {
            return;
        }
        let mut state = self.state(&origin, link);
        if token {
            state |= TOKEN;
        }
        if state & TOKEN != 0 {
            // It pushes here no more (it has no token): what this end asked is void.
            state = (state | PUSH) & !ASKED;
        }
        self.set(origin, link, state);
    }

    /// The neighbour at `link` asks that `origin`'s messages no longer be pushed to it.
    pub(super) fn on_prune(&mut self, link: LinkId, origin: PeerId) {
        let state = self.state(&origin, link);
        if state & PUSH != 0 {
            self.set(origin, link, state & !PUSH);
        }
    }

    /// The state of `origin` on `link`; by default, the dialling end holds the token.
    fn state(&self, origin: &PeerId, link: LinkId) -> u8 {
        let noted = (self.origins.get(origin))
            .and_then(|states| states.iter().find(|(l, _)| *l == link))
            .map(|(_, s)| *s);
        noted.unwrap_or_else(|| self.default(link))
    }

    fn default(&self, link: LinkId) -> u8 {
        match self.links.get(&link) {
            Some((_, true)) => TOKEN,
            _ => 0,
        }
    }

    /// Sets `origin`'s state on `link`, keeping only states that differ from the default.
    /// `None`: the origin has no state yet and [`MAX_TREE`] origins do (nothing changed).
    fn set(&mut self, origin: PeerId, link: LinkId, state: u8) -> Option<()> {
        let default = self.default(link);
        if !self.origins.contains_key(&origin) {
            if state == default {
                return Some(());
            }
            if self.origins.len() >= MAX_TREE {
                return None;
            }
        }
        let states = self.origins.entry(origin).or_default();
        match states.iter().position(|(l, _)| *l == link) {
            Some(i) if state == default => {
                states.remove(i);
            }
            Some(i) => states[i].1 = state,
            None if state == default => {}
            None => states.push((link, state)),
        }
        if states.is_empty() {
            self.origins.remove(&origin);
        }
        Some(())
    }
}

#[cfg(test)]
mod tests;
