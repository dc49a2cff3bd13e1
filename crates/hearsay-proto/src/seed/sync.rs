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

use std::net::SocketAddr;

use super::{Member, State};
use crate::cert::{Certificate, Digest};
use crate::event::Event;
use crate::id::PeerId;
use crate::node::{LinkId, Output};
use crate::wire::{Msg, MAX_FRAME};

/// Buckets of the ledger: the first byte of the peer id.
pub const BUCKETS: usize = 256;
/// Budget of one `Certificates` batch, well under [`MAX_FRAME`].
const BATCH_BYTES: usize = MAX_FRAME / 2;

/// Durable state a seed hands its runtime (see [`Output::Persist`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A certificate this seed applied. Keep the newest per (peer, operation).
    Certificate(Certificate),
    /// The key of a configured seed, learned by a handshake at its address.
    SeedKey {
        /// The seed's configured address.
        addr: SocketAddr,
        /// Its key.
        id: PeerId,
    },
}

/// An order-free summary of a set of certificates: per bucket, the XOR of the digests of their
/// changes. Adding or dropping one certificate toggles one bucket, so the summary costs
/// nothing to keep; two seeds holding the same changes have the same root.
#[derive(Clone, Debug)]
pub(super) struct Ledger {
    buckets: Vec<[u8; 32]>,
    count: u32,
}

impl Ledger {
    pub(super) fn new() -> Ledger {
        Ledger {
            buckets: vec![[0; 32]; BUCKETS],
            count: 0,
        }
    }

    fn toggle(&mut self, cert: &Certificate, present: bool) {
        let d = cert.change.digest();
        let b = &mut self.buckets[usize::from(cert.change.peer.0[0])];
        for (x, y) in b.iter_mut().zip(d.0) {
            *x ^= y;
        }
        if present {
            self.count += 1;
        } else {
            self.count = self.count.saturating_sub(1);
        }
    }

    pub(super) fn count(&self) -> u32 {
        self.count
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
    // ---- the held set: every change to it goes through these ---------------------------

    pub(super) fn put_member(&mut self, peer: PeerId, member: Member) {
        self.ledger.toggle(&member.cert, true);
        if let Some(old) = self.pl.insert(peer, member) {
            self.ledger.toggle(&old.cert, false);
        }
    }

    pub(super) fn drop_member(&mut self, peer: &PeerId) {
        if let Some(old) = self.pl.remove(peer) {
            self.ledger.toggle(&old.cert, false);
        }
    }

    pub(super) fn put_tombstone(&mut self, cert: Certificate) {
        self.ledger.toggle(&cert, true);
        if let Some(old) = self.removed.insert(cert.change.peer, cert) {
            self.ledger.toggle(&old, false);
        }
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
        for (addr, id) in keys {
            if let Some(i) = self.config.position(addr) {
                // A key pinned in the config wins over a stored one.
                if self.config.seeds[i].key.is_none() {
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
        let (root, count) = (self.ledger.root(), self.ledger.count());
        self.io.send(link, Msg::SyncRoot { root, count });
    }

    fn agreed_with(&mut self, seed: PeerId) {
        if let Some(i) = self.seed_index(seed) {
            self.agreed.insert(i, self.now);
        }
    }

    pub(super) fn on_sync_root(&mut self, link: LinkId, seed: PeerId, root: Digest) {
        if root == self.ledger.root() {
            self.agreed_with(seed);
        } else {
            self.io.send(link, Msg::SyncBuckets(self.ledger.hashes()));
        }
    }

    pub(super) fn on_sync_buckets(&mut self, link: LinkId, seed: PeerId, theirs: Vec<Digest>) {
        if theirs.len() != BUCKETS {
            let reason = format!("{} bucket hashes, not {BUCKETS}", theirs.len());
            return self.protocol_error(link, reason);
        }
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
