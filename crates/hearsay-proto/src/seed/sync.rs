//! What a seed holds, durably and in agreement with the other seeds (SPEC §5 "Convergence and
//! durability", PROTOCOL §13).
//!
//! Every change to the Peer List or the tombstones goes through here: it updates the
//! [`Ledger`], the order-free summary seeds compare, and asks the runtime to persist the
//! certificate. Anti-entropy: every `sync_interval`, and whenever its own link to another
//! seed comes up, a seed sends the root of its ledger; a seed whose root differs answers with
//! its 256 bucket hashes; the first seed sends its certificates in the buckets that differ
//! and asks for the other's. Certificates verify themselves, and applying one twice changes
//! nothing, so either side may send too much but never anything harmful.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{Member, State};
use crate::cert::{Certificate, Digest};
use crate::event::Event;
use crate::id::PeerId;
use crate::node::{LinkId, Output, Record};
use crate::wire::{Msg, MAX_FRAME};

/// Buckets of the ledger: the first byte of the peer id.
pub const BUCKETS: usize = 256;
/// Budget of one `Certificates` batch, well under [`MAX_FRAME`].
const BATCH_BYTES: usize = MAX_FRAME / 2;

/// An order-free summary of a set of certificates: per bucket, the XOR of the digests of their
/// changes. Adding or dropping one certificate toggles one bucket, so the summary costs
/// nothing to keep; two seeds holding the same changes have the same root.
#[derive(Clone, Debug)]
pub(super) struct Ledger {
    buckets: Vec<[u8; 32]>,
}

/// Where an exchange this seed took part in stands, per link: a seed answers only what it
/// was asked, so another seed cannot make it send its whole store unasked, over and over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Exchange {
    /// This seed sent its root and waits for bucket hashes (or an agreeing reply).
    RootSent,
    /// This seed sent its bucket hashes and may be asked for buckets.
    BucketsSent,
}

/// Indexes over the Peer List, so that no check or sample scans it: with tens of thousands
/// of peers a scan per registration makes joining quadratic.
#[derive(Clone, Debug)]
pub(super) struct Index {
    /// Every member with its address and incarnation, in no particular order, for sampling
    /// by position: a sample of a large Peer List reads nothing else (a lookup in the list
    /// per sampled peer was a seventh of a seed's time at 100,000 peers).
    pub members: Vec<(PeerId, SocketAddr, u64)>,
    /// Each member's position in `members`.
    pub at: crate::sig::IdMap<PeerId, usize>,
    /// Who holds each address.
    pub holders: BTreeMap<SocketAddr, PeerId>,
}

impl Index {
    /// No members; ids hashed under `keys`.
    pub(super) fn new(keys: crate::sig::HashKeys) -> Index {
        Index {
            members: Vec::new(),
            at: crate::sig::IdMap::with_hasher(keys),
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
    pub(super) fn new() -> Ledger {
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

impl State {
    /// Whether `peer` is in the Peer List (by the index: a hash lookup).
    pub(super) fn is_member(&self, peer: &PeerId) -> bool {
        self.index.at.contains_key(peer)
    }

    // ---- the held set: every change to it goes through these ---------------------------

    pub(super) fn put_member(&mut self, peer: PeerId, member: Member) {
        self.ledger.toggle(&member.cert);
        self.index.holders.insert(member.addr, peer);
        let listed = (peer, member.addr, member.incarnation);
        match self.pl.insert(peer, member) {
            Some(old) => {
                self.ledger.toggle(&old.cert);
                self.index.release(old.addr, peer);
                if let Some(&i) = self.index.at.get(&peer) {
                    self.index.members[i] = listed;
                }
            }
            None => {
                self.index.at.insert(peer, self.index.members.len());
                self.index.members.push(listed);
                // Degrees count only admitted neighbours.
                self.topology.membership_changed(peer, true);
            }
        }
    }

    pub(super) fn drop_member(&mut self, peer: &PeerId) {
        if let Some(old) = self.pl.remove(peer) {
            self.topology.membership_changed(*peer, false);
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

    pub(super) fn put_tombstone(&mut self, cert: Certificate) {
        self.ledger.toggle(&cert);
        if let Some(old) = self.removed.insert(cert.change.peer, cert) {
            self.ledger.toggle(&old);
        }
    }

    /// Certificates held: admissions and removals.
    pub(super) fn certificates(&self) -> usize {
        self.pl.len() + self.removed.len()
    }

    /// Rebuilds this seed from its own store before it serves anything: the seed keys it
    /// learned and the certificates it applied. They were verified when first applied, and
    /// the store checks its own pages, so they are not verified again; restoring is
    /// quiet apart from one `restored` event.
    pub fn restore(
        &mut self,
        keys: impl IntoIterator<Item = (SocketAddr, PeerId)>,
        certs: impl IntoIterator<Item = Certificate>,
    ) {
        let me = self.config.position(self.addr);
        for (addr, id) in keys {
            if let Some(i) = self.config.position(addr) {
                // A key pinned in the config wins over a stored one; our own is our own.
                if Some(i) != me && self.config.seeds[i].key.is_none() {
                    self.seed_keys[i] = Some(id);
                }
            }
        }
        let mut read = 0u64;
        for cert in certs {
            read += 1;
            self.admit(&cert, false);
        }
        self.io.event(Event::Restored {
            certificates: read,
            peers: self.pl.len() as u64,
            removed: self.removed.len() as u64,
        });
    }

    /// Marks this seed as rebuilding: it started empty in place of a store it could not
    /// read, so it holds none of the decisions it took part in. Until it has agreed with
    /// another seed it votes no and coordinates nothing.
    pub fn rebuild(&mut self) {
        self.rebuilding = true;
    }

    /// Remembers a seed key learned first hand, durably.
    pub(super) fn learn_seed_key(&mut self, i: usize, id: PeerId) {
        if self.seed_keys[i] != Some(id) {
            self.seed_keys[i] = Some(id);
            let addr = self.config.seeds[i].addr;
            self.io.push(Output::Persist(Record::SeedKey { addr, id }));
        }
    }

    // ---- anti-entropy ------------------------------------------------------------------

    /// Sends the ledger's root over every link of our own to another seed.
    pub(super) fn sync_all(&mut self) {
        self.sync_at = self.now + self.settings.sync_interval;
        let links: Vec<LinkId> = self.seed_out.values().copied().collect();
        for l in links {
            self.send_root(l);
        }
    }

    pub(super) fn send_root(&mut self, link: LinkId) {
        self.exchanges.insert(link, (Exchange::RootSent, self.now));
        let root = self.ledger.root();
        self.io.send(link, Msg::SyncRoot { root, reply: false });
    }

    fn agreed_with(&mut self, seed: PeerId) {
        if let Some(i) = self.seed_index(seed) {
            self.agreed.insert(i, self.now);
        }
        if self.rebuilding {
            self.rebuilding = false;
            let text = "caught up with another seed: voting and coordinating again".into();
            self.io.event(Event::Notice { text });
        }
    }

    pub(super) fn on_sync_root(&mut self, link: LinkId, seed: PeerId, root: Digest, reply: bool) {
        let mine = self.ledger.root();
        if reply {
            // The answer to our own root: equal, or the race of a change in between.
            if self.exchanges.get(&link).map(|e| e.0) == Some(Exchange::RootSent) {
                self.exchanges.remove(&link);
                if root == mine {
                    self.agreed_with(seed);
                }
            }
            return;
        }
        if root == mine {
            self.agreed_with(seed);
            return self.io.send(link, Msg::SyncRoot { root, reply: true });
        }
        // At most one set of bucket hashes per link and sync interval.
        let recent = self.exchanges.get(&link).is_some_and(|(e, at)| {
            *e == Exchange::BucketsSent && *at + self.settings.sync_interval > self.now
        });
        if !recent {
            self.exchanges
                .insert(link, (Exchange::BucketsSent, self.now));
            self.io.send(link, Msg::SyncBuckets(self.ledger.hashes()));
        }
    }

    pub(super) fn on_sync_buckets(&mut self, link: LinkId, seed: PeerId, theirs: Vec<Digest>) {
        if theirs.len() != BUCKETS {
            let reason = format!("{} bucket hashes, not {BUCKETS}", theirs.len());
            return self.protocol_error(link, reason);
        }
        if self.exchanges.get(&link).map(|e| e.0) != Some(Exchange::RootSent) {
            return; // not asked for
        }
        self.exchanges.remove(&link);
        let differ: Vec<u8> = (0..=u8::MAX)
            .filter(|&b| theirs[usize::from(b)].0 != self.ledger.buckets[usize::from(b)])
            .collect();
        if differ.is_empty() {
            return self.agreed_with(seed);
        }
        let addr = self.links.get(&link).map(|r| r.addr.to_string());
        self.io.event(Event::CatchUp {
            seed: addr.unwrap_or_default(),
            buckets: differ.len() as u32,
        });
        self.send_buckets(link, &differ);
        self.io.send(link, Msg::SyncFetch(differ));
    }

    pub(super) fn on_sync_fetch(&mut self, link: LinkId, mut buckets: Vec<u8>) {
        if self.exchanges.get(&link).map(|e| e.0) != Some(Exchange::BucketsSent) {
            return; // not after our bucket hashes: not asked for
        }
        self.exchanges.remove(&link);
        buckets.sort_unstable();
        buckets.dedup();
        self.send_buckets(link, &buckets);
    }

    /// Sends every certificate held in these buckets, in batches under the frame limit.
    fn send_buckets(&mut self, link: LinkId, buckets: &[u8]) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for &b in buckets {
            let (mut lo, mut hi) = ([0; 32], [u8::MAX; 32]);
            (lo[0], hi[0]) = (b, b);
            let (lo, hi) = (PeerId(lo), PeerId(hi));
            let certs = (self.pl.range(lo..=hi).map(|(_, m)| &m.cert))
                .chain(self.removed.range(lo..=hi).map(|(_, c)| c));
            for cert in certs {
                // An upper bound of its encoded size: a signature and its signer are 96 bytes.
                let size = 96 + 100 * cert.sigs.len();
                if bytes + size > BATCH_BYTES && !batch.is_empty() {
                    self.io
                        .send(link, Msg::Certificates(std::mem::take(&mut batch)));
                    bytes = 0;
                }
                batch.push(cert.clone());
                bytes += size;
            }
        }
        if !batch.is_empty() {
            self.io.send(link, Msg::Certificates(batch));
        }
    }

    /// A catch-up batch from another seed: applies what verifies, and says once what did not.
    pub(super) fn on_certificates(&mut self, from: SocketAddr, certs: Vec<Certificate>) {
        let mut rejected = 0;
        let mut last = None;
        for cert in certs {
            if let Err(e) = self.apply(&cert) {
                rejected += 1;
                last = Some(e);
            }
        }
        if let Some(e) = last {
            self.io.event(Event::ProtocolError {
                remote: from.to_string(),
                reason: format!("{rejected} certificates rejected, the last: {e}"),
            });
        }
    }
}

#[cfg(test)]
mod tests;
