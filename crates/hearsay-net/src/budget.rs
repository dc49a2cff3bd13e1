//! The connection budget (PROTOCOL §3.1): how many handshakes may be under way, in all and
//! per source IP, and which inbound link makes room when the inbound slots are full.
//!
//! Pure bookkeeping, no sockets: the node task asks the machine what each link is for
//! ([`LinkUse`]) and carries out what these types decide.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hearsay_proto::link::{network, LinkMap};
use hearsay_proto::{LinkId, LinkUse};

/// Handshakes under way: bounded in all and per source IP, so that connections that never
/// finish their handshake cannot keep anyone else from starting one. When the pool is full
/// the oldest handshake makes room for the newcomer: an honest handshake takes a round trip or
/// two, so to push one out an attacker would have to open the whole pool's worth of
/// connections within that time (a pool that refused newcomers would let a few hundred
/// connections that never speak lock out a seed's probe for good).
#[derive(Debug)]
pub struct Handshakes {
    max: usize,
    per_ip: usize,
    /// Handshakes under way by number, in the order they started, with their source.
    pending: BTreeMap<u64, IpAddr>,
    by_ip: HashMap<IpAddr, usize>,
    next: u64,
}

/// What [`Handshakes::start`] decided for a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Its handshake runs under this number.
    In(u64),
    /// Its handshake runs under `id`, and the oldest one, `evict`, is to be dropped.
    Evict {
        /// The newcomer's number.
        id: u64,
        /// The handshake that makes room.
        evict: u64,
    },
    /// Its source IP has all the places it may have: drop it.
    Refuse,
}

impl Handshakes {
    /// At most `max` handshakes at once (must not be zero), at most `per_ip` of them from one
    /// source IP.
    pub fn new(max: usize, per_ip: usize) -> Handshakes {
        Handshakes {
            max: max.max(1),
            per_ip,
            pending: BTreeMap::new(),
            by_ip: HashMap::new(),
            next: 0,
        }
    }

    /// Takes a place for a handshake from `ip`: refused when `ip` holds `per_ip` places
    /// already; when the pool is full, the oldest handshake gives its place up.
    pub fn start(&mut self, ip: IpAddr) -> Start {
        if self.by_ip.get(&ip).copied().unwrap_or(0) >= self.per_ip {
            return Start::Refuse;
        }
        let evict = match self.pending.len() >= self.max {
            true => self.pending.first_key_value().map(|(id, _)| *id),
            false => None,
        };
        if let Some(old) = evict {
            self.finish(old);
        }
        let id = self.next;
        self.next += 1;
        self.pending.insert(id, ip);
        *self.by_ip.entry(ip).or_insert(0) += 1;
        match evict {
            Some(evict) => Start::Evict { id, evict },
            None => Start::In(id),
        }
    }

    /// Gives back the place of handshake `id` (done, failed, or evicted already: then this
    /// changes nothing).
    pub fn finish(&mut self, id: u64) {
        let Some(ip) = self.pending.remove(&id) else {
            return;
        };
        if let Some(n) = self.by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Handshakes under way.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is under way.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// What [`Inbound::admit`] decided for a new inbound link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// It takes a slot.
    In,
    /// It takes this link's slot: close that one.
    Evict(LinkId),
    /// No slot can be had for it: close it.
    Refuse,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ip: IpAddr,
    /// When its last frame came (or when it came up).
    heard: Instant,
}

/// The inbound links that finished their handshake, within a budget of slots.
#[derive(Debug)]
pub struct Inbound {
    max: usize,
    links: LinkMap<Entry>,
}

impl Inbound {
    /// At most `max` inbound links, beyond those the machine protects when no stranger is
    /// left to make room.
    pub fn new(max: usize) -> Inbound {
        Inbound {
            max,
            links: LinkMap::default(),
        }
    }

    /// Links held.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// A new inbound `link` from `ip`, at `now`; `use_of` says what each link is for, the new
    /// one included. While slots are free it takes one. When they are full, the least useful
    /// stranger's link makes room ([`Inbound::least_useful`]), the newcomer's own included: if
    /// that is the newcomer, it is refused. A protected newcomer (a configured seed, say) is
    /// never refused: with no stranger left to evict it takes a slot beyond the budget, which
    /// the protocol itself bounds (seeds, neighbours, admitted peers).
    pub fn admit(
        &mut self,
        link: LinkId,
        ip: IpAddr,
        now: Instant,
        use_of: impl Fn(LinkId) -> LinkUse,
    ) -> Admit {
        let entry = Entry { ip, heard: now };
        if self.links.len() < self.max {
            self.links.insert(link, entry);
            return Admit::In;
        }
        let newcomer = use_of(link);
        let mut strangers: Vec<(LinkId, Entry)> = (self.links.iter())
            .filter(|(l, _)| use_of(**l) == LinkUse::Stranger)
            .map(|(l, e)| (*l, *e))
            .collect();
        if newcomer == LinkUse::Stranger {
            strangers.push((link, entry));
        }
        match least_useful(&strangers) {
            Some(victim) if victim == link => Admit::Refuse,
            Some(victim) => {
                self.links.remove(&victim);
                self.links.insert(link, entry);
                Admit::Evict(victim)
            }
            None if newcomer == LinkUse::Protected => {
                self.links.insert(link, entry);
                Admit::In
            }
            None => Admit::Refuse,
        }
    }

    /// A frame came on `link` at `now`.
    pub fn heard(&mut self, link: LinkId, now: Instant) {
        if let Some(e) = self.links.get_mut(&link) {
            e.heard = now;
        }
    }

    /// `link` closed; `false` if it was not held.
    pub fn remove(&mut self, link: LinkId) -> bool {
        self.links.remove(&link).is_some()
    }

    /// The links held.
    pub fn links(&self) -> Vec<LinkId> {
        self.links.keys().copied().collect()
    }

    /// Whether `link` is held (an inbound link).
    pub fn holds(&self, link: LinkId) -> bool {
        self.links.contains_key(&link)
    }

    /// The strangers' links that have sent nothing for `timeout` at `now`, oldest first: the
    /// caller closes them. Protected links are never idle, however quiet.
    pub fn idle(
        &self,
        now: Instant,
        timeout: Duration,
        use_of: impl Fn(LinkId) -> LinkUse,
    ) -> Vec<LinkId> {
        let mut idle: Vec<(Instant, LinkId)> = (self.links.iter())
            .filter(|(_, e)| now.saturating_duration_since(e.heard) >= timeout)
            .filter(|(l, _)| use_of(**l) == LinkUse::Stranger)
            .map(|(l, e)| (e.heard, *l))
            .collect();
        idle.sort_unstable();
        idle.into_iter().map(|(_, l)| l).collect()
    }
}

/// The link to evict among `strangers`: from the source network ([`network`]) holding the
/// most of them (an attacker loses its own links first), and within it the one quiet
/// longest. Ties between networks go to the one whose quietest link is quiet longest; ties
/// within one to the older link number.
fn least_useful(strangers: &[(LinkId, Entry)]) -> Option<LinkId> {
    let mut by_net: HashMap<IpAddr, (usize, (Instant, LinkId))> = HashMap::new();
    for (l, e) in strangers {
        let slot = by_net.entry(network(e.ip)).or_insert((0, (e.heard, *l)));
        slot.0 += 1;
        slot.1 = slot.1.min((e.heard, *l));
    }
    by_net
        .into_values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, (_, l))| l)
}

#[cfg(test)]
mod tests;
