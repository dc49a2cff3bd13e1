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

use std::collections::hash_map::Entry;

use smallvec::SmallVec;

use crate::id::PeerId;
use crate::link::{LinkId, LinkMap};
use crate::sig::{HashKeys, IdMap};

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
/// The neighbour has its tree for the origin: it asked this end to push the origin, or was
/// told of one of the origin's messages here (where trees grow from an origin's second
/// message: of two after the first).
const KNOWS: u8 = 16;

/// An origin's states on the links where they differ from the default.
type States = SmallVec<[(LinkId, u8); 4]>;

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
    links: LinkMap<(PeerId, bool)>,
    /// Per origin, the links whose state is not the default, in the order first noted.
    origins: IdMap<PeerId, States>,
    /// Trees grow from an origin's first message here; otherwise from its second (where
    /// origins send one message each, trees for them would be state for nothing).
    from_first: bool,
}

impl Tree {
    /// Trees that grow from an origin's first message if `from_first`, else its second.
    pub(super) fn new(keys: HashKeys, from_first: bool) -> Tree {
        Tree {
            links: LinkMap::default(),
            origins: IdMap::with_hasher(keys),
            from_first,
        }
    }

    /// Whether an origin's message may give it state here: always where trees grow from an
    /// origin's first message, else only if the origin was relayed here before (`again`,
    /// asked only then).
    pub(super) fn grows(&self, again: impl FnOnce() -> bool) -> bool {
        self.from_first || again()
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

    /// `origin`'s message came first on `link`, `pulled` if in answer to a request; `grow`
    /// if it may give the origin state here ([`Tree::grows`]). One look at the origin's
    /// state for what the receipt needs:
    /// - a graft for that neighbour (handing over the token if this end holds it, and so no
    ///   longer pushing there) if no neighbour was asked to push this origin yet, or if the
    ///   message had to be requested (what was asked did not come first); never to the
    ///   origin itself, which sends its messages to every neighbour;
    /// - the links to push it on: those whose neighbour asked, where this end holds the token;
    /// - whether it came along the tree: from a neighbour asked to push it, or from the
    ///   origin while this peer pushes it on.
    pub(super) fn first_receipt(
        &mut self,
        origin: PeerId,
        link: LinkId,
        pulled: bool,
        grow: bool,
    ) -> Receipt {
        let Tree { links, origins, .. } = self;
        let peer = links.get(&link).map(|(p, _)| *p);
        let Some(states) = states_of(origins, origin, grow) else {
            return Receipt::default();
        };
        let state = state_in(states, link, default_of(links, link));
        let asked = state & ASKED != 0;
        let parents = states.iter().any(|(_, s)| s & ASKED != 0);
        let ask = grow && peer.is_some_and(|p| p != origin) && !asked && (pulled || !parents);
        let graft = ask.then(|| {
            put_in(states, link, ASKED, default_of(links, link));
            Ctl::Graft {
                origin,
                token: state & TOKEN != 0,
            }
        });
        let children = pushed_on(states);
        let along_tree = asked || (peer == Some(origin) && !children.is_empty());
        if states.is_empty() {
            origins.remove(&origin);
        }
        Receipt {
            graft,
            children,
            along_tree,
        }
    }

    /// `origin`'s message is announced on `targets`, `along_tree` if it came along the tree
    /// it travels (see [`Tree::first_receipt`] and [`Tree::along`]), `route`'s (the origin's,
    /// or the carrier's of a first message); `grow` as there. For each, how many holds the
    /// announcement waits: none if the message did not come along the tree, or if that
    /// neighbour may have no tree for the route yet (it joined late: it neither asked this
    /// end to push the route's messages nor was told of one of them here, or of two after
    /// the first where trees grow from the second); one on a link this end dialled, two on
    /// the others, so that where both ends have the message the dialler's announcement
    /// arrives first. Each neighbour told is noted as told of one of the origin's messages.
    pub(super) fn announcing(
        &mut self,
        (origin, route): (PeerId, PeerId),
        targets: Vec<LinkId>,
        (along_tree, grow): (bool, bool),
    ) -> Vec<(LinkId, u32)> {
        let Tree {
            links,
            origins,
            from_first,
        } = self;
        // Where the route is another's tree, the links whose neighbour has that tree.
        let route_known: Option<SmallVec<[LinkId; 8]>> = (route != origin).then(|| {
            (origins.get(&route).into_iter().flatten())
                .filter(|(_, s)| s & KNOWS != 0)
                .map(|(l, _)| *l)
                .collect()
        });
        let Some(states) = states_of(origins, origin, grow) else {
            return targets.into_iter().map(|l| (l, 0)).collect();
        };
        let waits = (targets.into_iter())
            .map(|l| {
                let default = default_of(links, l);
                let state = state_in(states, l, default);
                let knew = state & KNOWS != 0;
                if !knew {
                    let told = if *from_first || state & ANNOUNCED != 0 {
                        KNOWS
                    } else {
                        ANNOUNCED
                    };
                    put_in(states, l, state | told, default);
                }
                if !route_known.as_ref().map_or(knew, |k| k.contains(&l)) {
                    return (l, 0);
                }
                (
                    l,
                    u32::from(along_tree) * if default & TOKEN != 0 { 1 } else { 2 },
                )
            })
            .collect();
        if states.is_empty() {
            origins.remove(&origin);
        }
        waits
    }

    /// Where a message that travels along `route`'s tree goes on its first receipt from
    /// `link` (PROTOCOL §11.7, point 8): `children` (those its origin's tree gives), and the
    /// links whose neighbour asked for `route`'s messages where this end holds the token,
    /// each once; and whether it came along that tree, from a neighbour asked to push them
    /// or from `route` itself.
    pub(super) fn along(
        &self,
        route: PeerId,
        link: LinkId,
        mut children: SmallVec<[LinkId; 4]>,
    ) -> (SmallVec<[LinkId; 4]>, bool) {
        let from_route = self.links.get(&link).is_some_and(|(p, _)| *p == route);
        let Some(states) = self.origins.get(&route) else {
            return (children, from_route);
        };
        for l in pushed_on(states) {
            if !children.contains(&l) {
                children.push(l);
            }
        }
        let asked = state_in(states, link, default_of(&self.links, link)) & ASKED != 0;
        (children, asked || from_route)
    }

    /// Where the carrier of `origin`'s first message pushes it (PROTOCOL §11.7, point 8):
    /// every neighbour but the origin, which sent it here whether or not this copy came
    /// from it. In link order.
    pub(super) fn carried(&self, origin: PeerId) -> SmallVec<[LinkId; 4]> {
        let mut to: SmallVec<[LinkId; 4]> = (self.links.iter())
            .filter(|(_, (p, _))| *p != origin)
            .map(|(l, _)| *l)
            .collect();
        to.sort_unstable();
        to
    }

    /// The neighbour to carry this peer's first message along its own tree (PROTOCOL
    /// §11.7, point 8), if trees grow from an origin's first message and a neighbour's
    /// messages came here long enough ago that its tree has grown (`relayed`): the one on
    /// the oldest such link, with its id.
    pub(super) fn carrier(&self, relayed: impl Fn(&PeerId) -> bool) -> Option<(LinkId, PeerId)> {
        if !self.from_first {
            return None;
        }
        (self.links.iter())
            .filter(|(_, (p, _))| relayed(p))
            .map(|(l, (p, _))| (*l, *p))
            .min_by_key(|(l, _)| *l)
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
        let mut state = self.state(&origin, link) | KNOWS;
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

    /// The state of `origin` on `link`.
    fn state(&self, origin: &PeerId, link: LinkId) -> u8 {
        let default = default_of(&self.links, link);
        (self.origins.get(origin)).map_or(default, |states| state_in(states, link, default))
    }

    /// Sets `origin`'s state on `link`. `None`: the origin has no state yet and
    /// [`MAX_TREE`] origins do (nothing changed).
    fn set(&mut self, origin: PeerId, link: LinkId, state: u8) -> Option<()> {
        let Tree { links, origins, .. } = self;
        let default = default_of(links, link);
        let grow = state != default;
        let Some(states) = states_of(origins, origin, grow) else {
            return (!grow).then_some(());
        };
        put_in(states, link, state, default);
        if states.is_empty() {
            origins.remove(&origin);
        }
        Some(())
    }
}

/// What a first receipt means for the tree ([`Tree::first_receipt`]).
#[derive(Debug, Default)]
pub(super) struct Receipt {
    pub graft: Option<Ctl>,
    pub children: SmallVec<[LinkId; 4]>,
    pub along_tree: bool,
}

/// The state of an origin on a link where it has none noted: the dialling end holds the
/// token.
fn default_of(links: &LinkMap<(PeerId, bool)>, link: LinkId) -> u8 {
    match links.get(&link) {
        Some((_, true)) => TOKEN,
        _ => 0,
    }
}

/// `origin`'s states; a new, empty list if it has none and `grow` and there is room.
fn states_of(
    origins: &mut IdMap<PeerId, States>,
    origin: PeerId,
    grow: bool,
) -> Option<&mut States> {
    let room = origins.len() < MAX_TREE;
    match origins.entry(origin) {
        Entry::Occupied(e) => Some(e.into_mut()),
        Entry::Vacant(e) if grow && room => Some(e.insert(States::new())),
        Entry::Vacant(_) => None,
    }
}

/// The links an origin's messages are pushed on: those whose neighbour asked, where this
/// end holds the token.
fn pushed_on(states: &States) -> SmallVec<[LinkId; 4]> {
    (states.iter())
        .filter(|(_, s)| s & (TOKEN | PUSH) == TOKEN | PUSH)
        .map(|(l, _)| *l)
        .collect()
}

fn state_in(states: &States, link: LinkId, default: u8) -> u8 {
    (states.iter().find(|(l, _)| *l == link)).map_or(default, |(_, s)| *s)
}

/// Notes `state` for `link`, keeping only states that differ from the default (the caller
/// drops a list left empty).
fn put_in(states: &mut States, link: LinkId, state: u8, default: u8) {
    match states.iter().position(|(l, _)| *l == link) {
        Some(i) if state == default => {
            states.remove(i);
        }
        Some(i) => states[i].1 = state,
        None if state == default => {}
        None => states.push((link, state)),
    }
}

#[cfg(test)]
mod tests;
