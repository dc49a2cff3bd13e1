//! Links: what a driver tells a machine about a connection (PROTOCOL §1, §3).
//!
//! A link is one authenticated connection, numbered by the driver; its [`Remote`] is what the
//! handshake proved of the other end.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::id::PeerId;

/// A link (one authenticated connection), numbered by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

/// A hash map keyed by link numbers. The driver hands the numbers out itself, one after
/// another, so nobody else can aim them at a bucket, and they need no keyed hash: a link
/// number times an odd constant (Fibonacci hashing) spreads consecutive numbers over every
/// bucket (the low bits, which pick the bucket, are a one-to-one function of the number's
/// low bits) and mixes the whole number into the high bits (which pick a slot's tag). A
/// lookup is a multiplication instead of a SipHash; links are looked up several times a
/// delivery.
pub type LinkMap<V> = HashMap<LinkId, V, BuildHasherDefault<LinkHasher>>;

/// The hasher of a [`LinkMap`].
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkHasher(u64);

/// 2⁶⁴ over the golden ratio, rounded to odd.
const FIBONACCI: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for LinkHasher {
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(FIBONACCI);
    }

    /// Anything but a number (not a link's): still a function of every byte.
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|b| self.write_u64(u64::from(*b)));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Names a dial the machine asked for, so the driver's answer finds its purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialToken(pub u64);

/// What a node is, as its handshake says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A seed: a member of the membership authority.
    Seed,
    /// A peer of the gossip overlay.
    Peer,
    /// A tool such as `hearsay status`: may only ask for status.
    Client,
}

impl Role {
    /// The role's name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Seed => "seed",
            Role::Peer => "peer",
            Role::Client => "client",
        }
    }
}

/// Why a dial failed, as far as that tells whether anyone is there (PROTOCOL §12.3): a seed
/// counts its own probe of an accused peer as "dead" only when the failure is about the other
/// side, never when this node had no room to dial.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The host answered that nothing listens at the port.
    #[error("connection refused")]
    Refused,
    /// The host or its network cannot be reached (no route, an ICMP unreachable).
    #[error("unreachable ({0})")]
    Unreachable(String),
    /// No answer in the time allowed: a host that is down, or a black hole.
    #[error("no answer in time")]
    TimedOut,
    /// Something answered but did not complete the handshake (a hung process, another
    /// protocol, a bad proof), or the connection failed another way.
    #[error("{0}")]
    Failed(String),
    /// This node had no room for another dial of that kind: nothing is known of the other
    /// side.
    #[error("no room here for another dial")]
    Busy,
}

/// Which of a driver's dial pools a dial takes a place in (PROTOCOL §3.1): dials to nodes the
/// protocol already trusts never wait behind dials to strangers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DialPool {
    /// Seeds, neighbours and lost neighbours dialled again.
    Trusted,
    /// Dial-backs of registering peers, probes of suspects, witnesses asked: addresses a
    /// stranger may have named.
    Probe,
}

/// What a link is for, as its machine sees it (PROTOCOL §3.1). A driver that must make room
/// closes only [`LinkUse::Stranger`] links, and closes those that stay silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkUse {
    /// The protocol needs this link: a configured seed's, a neighbour's, an admitted peer's
    /// at a seed, or one carrying a registration, a dial-back, a probe or a verdict under
    /// way. A driver never closes it to make room, nor for being quiet.
    Protected,
    /// A link with no purpose yet: a stranger that may still ask for one (register, link,
    /// ask for a peer list or a status page), or may only be holding a slot.
    Stranger,
}

/// The other end of a link, as its handshake proved it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Its id: the handshake proved it holds the key.
    pub id: PeerId,
    /// Its role.
    pub role: Role,
    /// The address it says it listens on (not proved by the handshake).
    pub addr: SocketAddr,
    /// Where the connection actually comes from.
    pub source: SocketAddr,
}

/// The network an address belongs to: its /24 (IPv4) or /64 (IPv6). An attacker's
/// addresses usually share one, so spreading work over many addresses of one network does
/// not spread it over many shares (the connection budget's eviction, PROTOCOL §3.1; a seed's
/// registrations under way, §6.3).
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut s = v6.segments();
            s[4..].fill(0);
            IpAddr::from(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::hash::BuildHasher;

    use super::*;

    fn hash(n: u64) -> u64 {
        BuildHasherDefault::<LinkHasher>::default().hash_one(LinkId(n))
    }

    #[test]
    fn consecutive_link_numbers_take_every_bucket_and_many_tags() {
        assert_eq!(hash(1), FIBONACCI);
        assert_eq!(hash(2), FIBONACCI.wrapping_mul(2));
        // A table of 1,024 buckets picks one by the low ten bits: 1,024 consecutive numbers
        // from anywhere take each bucket once.
        for start in [0, 1, 5_000, u64::MAX - 2_000] {
            let buckets: BTreeSet<u64> = (start..start + 1024).map(|n| hash(n) & 1023).collect();
            assert_eq!(buckets.len(), 1024, "from {start}");
        }
        // The tag is the top seven bits: 128 consecutive numbers take most of the 128 tags.
        let tags: BTreeSet<u64> = (1..=128).map(|n| hash(n) >> 57).collect();
        assert!(tags.len() >= 96, "{} tags", tags.len());
    }

    #[test]
    fn a_link_map_finds_what_it_holds() {
        let mut map: LinkMap<u64> = LinkMap::default();
        map.extend((1..=10_000).map(|n| (LinkId(n), n * 3)));
        assert!((1..=10_000).all(|n| map.get(&LinkId(n)) == Some(&(n * 3))));
        assert_eq!(map.get(&LinkId(0)), None);
        assert_eq!(map.get(&LinkId(10_001)), None);
    }
}
