//! Anti-entropy between seeds (SPEC §5 "Convergence and durability", PROTOCOL §13), and a
//! seed's restore from its own store.
//!
//! Every `sync_interval`, and whenever its own link to another seed comes up, a seed sends
//! the root of its ledger (see `list`); a seed whose root differs answers with its 256
//! bucket hashes; the first seed sends its certificates in the buckets that differ and asks
//! for the other's. Certificates verify themselves, and applying one twice changes nothing,
//! so either side may send too much but never anything harmful.

use std::net::SocketAddr;

use super::agreement::Exchange;
use super::list::BUCKETS;
use super::State;
use crate::cert::{Certificate, Digest};
use crate::event::Event;
use crate::id::PeerId;
use crate::node::{LinkId, Output, Record};
use crate::wire::{Msg, MAX_FRAME};

/// Budget of one `Certificates` batch, well under [`MAX_FRAME`].
const BATCH_BYTES: usize = MAX_FRAME / 2;

impl State {
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
                self.seeds.restore(i, id);
            }
        }
        let mut read = 0u64;
        for cert in certs {
            read += 1;
            self.admit(&cert, false);
        }
        self.io.event(Event::Restored {
            certificates: read,
            peers: self.list.len() as u64,
            removed: self.list.tombstones() as u64,
        });
    }

    /// Marks this seed as rebuilding: it started empty in place of a store it could not
    /// read, so it holds none of the decisions it took part in. Until it has agreed with
    /// another seed it votes no and coordinates nothing.
    pub fn rebuild(&mut self) {
        self.agreement.rebuild();
    }

    /// Remembers a seed key learned first hand, durably.
    pub(super) fn learn_seed_key(&mut self, i: usize, id: PeerId) {
        if self.seeds.learn(i, id) {
            let addr = self.config.seeds[i].addr;
            self.io.push(Output::Persist(Record::SeedKey { addr, id }));
        }
    }

    // ---- anti-entropy ------------------------------------------------------------------

    /// Sends the ledger's root over every link of our own to another seed.
    pub(super) fn sync_all(&mut self) {
        self.agreement.round(self.now);
        for l in self.seeds.own_links() {
            self.send_root(l);
        }
    }

    pub(super) fn send_root(&mut self, link: LinkId) {
        self.agreement.root_sent(link, self.now);
        let root = self.list.root();
        self.io.send(link, Msg::SyncRoot { root, reply: false });
    }

    fn agreed_with(&mut self, seed: PeerId) {
        let i = self.seed_index(seed);
        if self.agreement.agreed(i, self.now) {
            let text = "caught up with another seed: voting and coordinating again".into();
            self.io.event(Event::Notice { text });
        }
    }

    pub(super) fn on_sync_root(&mut self, link: LinkId, seed: PeerId, root: Digest, reply: bool) {
        let mine = self.list.root();
        if reply {
            // The answer to our own root: equal, or the race of a change in between.
            if self.agreement.answered(link, Exchange::RootSent) && root == mine {
                self.agreed_with(seed);
            }
            return;
        }
        if root == mine {
            self.agreed_with(seed);
            return self.io.send(link, Msg::SyncRoot { root, reply: true });
        }
        if self.agreement.send_buckets(link, self.now) {
            self.io.send(link, Msg::SyncBuckets(self.list.hashes()));
        }
    }

    pub(super) fn on_sync_buckets(&mut self, link: LinkId, seed: PeerId, theirs: Vec<Digest>) {
        if theirs.len() != BUCKETS {
            let reason = format!("{} bucket hashes, not {BUCKETS}", theirs.len());
            return self.protocol_error(link, reason);
        }
        if !self.agreement.answered(link, Exchange::RootSent) {
            return; // not asked for
        }
        let differ = self.list.differing(&theirs);
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
        if !self.agreement.answered(link, Exchange::BucketsSent) {
            return; // not after our bucket hashes: not asked for
        }
        buckets.sort_unstable();
        buckets.dedup();
        self.send_buckets(link, &buckets);
    }

    /// Sends every certificate held in these buckets, in batches under the frame limit.
    fn send_buckets(&mut self, link: LinkId, buckets: &[u8]) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for &b in buckets {
            for cert in self.list.bucket(b) {
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
