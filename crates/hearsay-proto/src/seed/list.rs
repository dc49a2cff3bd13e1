//! A seed's Peer List and tombstones (SPEC §5, PROTOCOL §5.3, §13): the members with the
//! certificates that admitted them, the newest removal certificate of every removed peer,
//! and what is kept in step with both: the [`Ledger`] that seeds compare in anti-entropy,
//! and the indexes that let checks and samples avoid scanning a list of tens of thousands.
//! Every change goes through [`PeerList::apply`]; certificates are verified before they
//! reach it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::cert::{Certificate, Change, Digest, Op};
use crate::id::PeerId;
use crate::sig::{HashKeys, IdMap};

/// An admitted peer, with the certificate that admitted it.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its address.
    pub addr: SocketAddr,
    /// Its incarnation.
    pub incarnation: u64,
    /// The certificate it was admitted by.
    pub cert: Certificate,
}

/// Buckets of the ledger: the first byte of the peer id.
pub const BUCKETS: usize = 256;
/// An order-free summary of a set of certificates: per bucket, the XOR of the digests of their
/// changes. Adding or dropping one certificate toggles one bucket, so the summary costs
/// nothing to keep; two seeds holding the same changes have the same root.
#[derive(Clone, Debug)]
struct Ledger {
    buckets: Vec<[u8; 32]>,
}

/// Indexes over the Peer List, so that no check or sample scans it: with tens of thousands
/// of peers a scan per registration makes joining quadratic.
#[derive(Clone, Debug)]
struct Index {
    /// Every member with its address and incarnation, in no particular order, for sampling
    /// by position: a sample of a large Peer List reads nothing else (a lookup in the list
    /// per sampled peer was a seventh of a seed's time at 100,000 peers).
    members: Vec<(PeerId, SocketAddr, u64)>,
    /// Each member's position in `members`.
    at: IdMap<PeerId, usize>,
    /// Who holds each address.
    holders: BTreeMap<SocketAddr, PeerId>,
}

impl Index {
    /// No members; ids hashed under `keys`.
    fn new(keys: HashKeys) -> Index {
        Index {
            members: Vec::new(),
            at: IdMap::with_hasher(keys),
            holders: BTreeMap::new(),
        }
    }

    fn release(&mut self, addr: SocketAddr, peer: PeerId) {
        if self.holders.get(&addr) == Some(&peer) {
            self.holders.remove(&addr);
        }
    }
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            buckets: vec![[0; 32]; BUCKETS],
        }
    }

    /// Adds a certificate's change to its bucket, or takes it out: XOR does both.
    fn toggle(&mut self, cert: &Certificate) {
        let d = cert.change.digest();
        let b = &mut self.buckets[usize::from(cert.change.peer.0[0])];
        for (x, y) in b.iter_mut().zip(d.0) {
            *x ^= y;
        }
    }

    fn root(&self) -> Digest {
        let mut h = blake3::Hasher::new();
        for b in &self.buckets {
            h.update(b);
        }
        Digest(*h.finalize().as_bytes())
    }

    fn hashes(&self) -> Vec<Digest> {
        self.buckets.iter().map(|b| Digest(*b)).collect()
    }
}

/// What applying a certificate did to the membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Membership {
    /// The peer became a member.
    Joined,
    /// A member's entry changed (a later incarnation, or the lower digest of two).
    Updated,
    /// The peer left the Peer List.
    Left,
    /// A tombstone changed; the Peer List did not.
    Tombstone,
}

/// The Peer List, the tombstones, and their ledger and indexes.
#[derive(Debug)]
pub(super) struct PeerList {
    members: BTreeMap<PeerId, Member>,
    /// Tombstones: the newest removal certificate of every removed peer. Kept for good, so
    /// that no replayed registration of a removed incarnation can come back.
    removed: BTreeMap<PeerId, Certificate>,
    ledger: Ledger,
    index: Index,
}

impl PeerList {
    /// Empty; ids hashed under `keys`.
    pub(super) fn new(keys: HashKeys) -> PeerList {
        PeerList {
            members: BTreeMap::new(),
            removed: BTreeMap::new(),
            ledger: Ledger::new(),
            index: Index::new(keys),
        }
    }

    /// The members, in id order.
    pub(super) fn members(&self) -> &BTreeMap<PeerId, Member> {
        &self.members
    }

    /// `peer`'s entry, if it is a member.
    pub(super) fn get(&self, peer: &PeerId) -> Option<&Member> {
        self.members.get(peer)
    }

    /// Whether `peer` is a member (a hash lookup).
    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        self.index.at.contains_key(peer)
    }

    /// How many members.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// The newest removal certificate of `peer`, if it was ever removed.
    pub(super) fn tombstone(&self, peer: &PeerId) -> Option<&Certificate> {
        self.removed.get(peer)
    }

    /// How many peers were removed.
    pub(super) fn tombstones(&self) -> usize {
        self.removed.len()
    }

    /// Certificates held: admissions and removals.
    pub(super) fn certificates(&self) -> usize {
        self.members.len() + self.removed.len()
    }

    /// The member that holds `addr`.
    pub(super) fn holder(&self, addr: &SocketAddr) -> Option<&PeerId> {
        self.index.holders.get(addr)
    }

    /// Every member with its address and incarnation, in no particular order: for sampling
    /// by position.
    pub(super) fn listed(&self) -> &[(PeerId, SocketAddr, u64)] {
        &self.index.members
    }

    /// Whether applying a certificate of `c` would change the Peer List or the tombstones.
    /// Two certificates of one kind and incarnation need a corrupt quorum or a seed that
    /// lost its promises; should they meet, the lower digest wins, so the order of arrival
    /// does not matter.
    pub(super) fn changes(&self, c: &Change) -> bool {
        // The same change (anti-entropy brings many a seed holds) is not newer: no digests.
        let newer = |held: &Change| {
            held.incarnation < c.incarnation
                || (held.incarnation == c.incarnation && held != c && c.digest() < held.digest())
        };
        let tombstone = self.removed.get(&c.peer).map(|r| &r.change);
        match c.op {
            Op::Add => {
                tombstone.is_none_or(|r| r.incarnation < c.incarnation)
                    && self
                        .members
                        .get(&c.peer)
                        .is_none_or(|m| newer(&m.cert.change))
            }
            Op::Remove => tombstone.is_none_or(newer),
        }
    }

    /// Applies a verified certificate, if it changes anything ([`PeerList::changes`]).
    /// Applying certificates in any order gives the same Peer List and tombstones.
    pub(super) fn apply(&mut self, cert: &Certificate) -> Option<Membership> {
        let c = cert.change;
        if !self.changes(&c) {
            return None;
        }
        Some(match c.op {
            Op::Add => {
                let member = Member {
                    addr: c.addr,
                    incarnation: c.incarnation,
                    cert: cert.clone(),
                };
                self.put_member(c.peer, member)
            }
            Op::Remove => {
                self.put_tombstone(cert.clone());
                let held =
                    (self.members.get(&c.peer)).is_some_and(|m| m.incarnation <= c.incarnation);
                if held {
                    self.drop_member(&c.peer);
                    Membership::Left
                } else {
                    Membership::Tombstone
                }
            }
        })
    }

    fn put_member(&mut self, peer: PeerId, member: Member) -> Membership {
        self.ledger.toggle(&member.cert);
        self.index.holders.insert(member.addr, peer);
        let listed = (peer, member.addr, member.incarnation);
        match self.members.insert(peer, member) {
            Some(old) => {
                self.ledger.toggle(&old.cert);
                self.index.release(old.addr, peer);
                if let Some(&i) = self.index.at.get(&peer) {
                    self.index.members[i] = listed;
                }
                Membership::Updated
            }
            None => {
                self.index.at.insert(peer, self.index.members.len());
                self.index.members.push(listed);
                Membership::Joined
            }
        }
    }

    fn drop_member(&mut self, peer: &PeerId) {
        if let Some(old) = self.members.remove(peer) {
            self.ledger.toggle(&old.cert);
            self.index.release(old.addr, *peer);
            if let Some(i) = self.index.at.remove(peer) {
                self.index.members.swap_remove(i);
                if let Some(&(moved, _, _)) = self.index.members.get(i) {
                    self.index.at.insert(moved, i);
                }
            }
        }
    }

    fn put_tombstone(&mut self, cert: Certificate) {
        self.ledger.toggle(&cert);
        if let Some(old) = self.removed.insert(cert.change.peer, cert) {
            self.ledger.toggle(&old);
        }
    }

    /// The ledger's root: equal at two seeds holding the same certificates.
    pub(super) fn root(&self) -> Digest {
        self.ledger.root()
    }

    /// The ledger's bucket hashes.
    pub(super) fn hashes(&self) -> Vec<Digest> {
        self.ledger.hashes()
    }

    /// The buckets whose hashes differ from `theirs` ([`BUCKETS`] of them), in order.
    pub(super) fn differing(&self, theirs: &[Digest]) -> Vec<u8> {
        (0..=u8::MAX)
            .filter(|&b| theirs[usize::from(b)].0 != self.ledger.buckets[usize::from(b)])
            .collect()
    }

    /// Every certificate held in bucket `b`: admissions, then removals, each in id order.
    pub(super) fn bucket(&self, b: u8) -> impl Iterator<Item = &Certificate> {
        let (mut lo, mut hi) = ([0; 32], [u8::MAX; 32]);
        (lo[0], hi[0]) = (b, b);
        let (lo, hi) = (PeerId(lo), PeerId(hi));
        (self.members.range(lo..=hi).map(|(_, m)| &m.cert))
            .chain(self.removed.range(lo..=hi).map(|(_, c)| c))
    }
}

#[cfg(test)]
mod tests;
