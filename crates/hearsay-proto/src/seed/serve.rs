//! What a seed serves (SPEC §5 Peer List, PROTOCOL §6, §9): a sampled peer list to a peer
//! that asks, and its status, page by page, to `hearsay status`.

use std::net::SocketAddr;

use super::{State, STATUS_PAGE_BYTES};
use crate::id::PeerId;
use crate::wire::{self, PeerInfo, Status, StatusPeer};

impl State {
    /// Up to `peer_list_max` members for `asker` (never itself), each with its current
    /// address, incarnation and degree: all of them when that many fit, else a uniform
    /// sample.
    pub(super) fn sample_peer_list(&mut self, asker: PeerId) -> Vec<PeerInfo> {
        let max = self.settings.peer_list_max.min(wire::MAX_LIST);
        let picked: Vec<(PeerId, SocketAddr, u64)> = if self.list.len() <= max + 1 {
            (self.list.members().iter())
                .filter(|(id, _)| **id != asker)
                .take(max)
                .map(|(id, m)| (*id, m.addr, m.incarnation))
                .collect()
        } else {
            // One more than needed, in case the asker is among them.
            let members = self.list.listed();
            let mut idx =
                rand::seq::index::sample(&mut self.rng, members.len(), max + 1).into_vec();
            idx.sort_unstable();
            (idx.into_iter().map(|i| members[i]))
                .filter(|(id, _, _)| *id != asker)
                .take(max)
                .collect()
        };
        (picked.into_iter())
            .map(|(id, addr, incarnation)| PeerInfo {
                id,
                addr,
                incarnation,
                degree: self.degree(&id),
            })
            .collect()
    }

    /// One page of status from `offset`: at most [`wire::MAX_LIST`] peers, and as many as
    /// fit in `STATUS_PAGE_BYTES` (a peer's reported neighbours can be long). Every page
    /// holds at least one peer, so paging always moves on.
    pub fn status(&self, offset: usize) -> Status {
        let mut bytes = 0;
        let peers = self
            .list
            .members()
            .iter()
            .skip(offset)
            .take(wire::MAX_LIST)
            .map(|(id, m)| StatusPeer {
                id: *id,
                addr: m.addr,
                incarnation: m.incarnation,
                neighbors: self
                    .topology
                    .report(id)
                    .map(|r| r.neighbors.clone())
                    .unwrap_or_default(),
                signers: m.cert.signers(),
            })
            .take_while(|p| {
                // An upper bound of its encoded size: ids are 32 bytes, the rest is small.
                let size = 100 + 33 * (p.neighbors.len() + p.signers.len());
                let fits = bytes == 0 || bytes + size <= STATUS_PAGE_BYTES;
                bytes += size;
                fits
            })
            .collect();
        Status {
            seed: self.addr,
            id: self.key.id(),
            seeds: self.config.seeds.len() as u32,
            quorum: self.config.quorum() as u32,
            total: self.list.len() as u32,
            peers,
            recent: if offset == 0 {
                self.recent.iter().cloned().collect()
            } else {
                Vec::new()
            },
            certificates: self.list.certificates() as u32,
            agreed: self
                .seeds
                .others()
                .map(|i| {
                    let ago = (self.agreement.agreed_at(i))
                        .map(|t| crate::time::millis(self.now.since(t)));
                    (self.config.seeds[i].addr, ago)
                })
                .collect(),
        }
    }
}
