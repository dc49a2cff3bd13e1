//! The overlay half of a peer (SPEC §6 Neighbours, PROTOCOL §7–§8): peer lists, the
//! choice of neighbours by preferential attachment, link requests, and neighbour reports.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::{Dial, Neighbor, State, Target};
use crate::cert::{CertError, Certificate, NeighborReport, Op, MAX_NEIGHBORS};
use crate::event::Event;
use crate::id::PeerId;
use crate::node::{LinkId, LinkUse, Remote, Role};
use crate::time::Time;
use crate::wire::{Msg, PeerInfo};

impl State {
    pub(super) fn ask_peer_lists(&mut self) {
        for l in self.seeds.links() {
            self.io.send(l, Msg::GetPeers);
        }
        self.candidates.ask(self.now);
    }

    pub(super) fn on_peer_list(&mut self, link: LinkId, mut list: Vec<PeerInfo>) {
        list.truncate(crate::wire::MAX_LIST);
        let Some(i) = self.seeds.index_of(link) else {
            return;
        };
        self.io.event(Event::PeerListReceived {
            seed: self.seeds.addr(i),
            peers: list.iter().map(|p| p.addr).collect(),
        });
        if self.candidates.list(i, list, self.seeds.linked()) {
            self.union_and_choose();
        }
    }

    pub(super) fn union_and_choose(&mut self) {
        // The lists are done with once merged (the next round asks for fresh ones): with
        // thousands of peers, keeping them is most of a peer's memory.
        self.candidates.merge(self.key.id());
        self.fill();
    }

    pub(super) fn degree(&self) -> usize {
        self.neighbors.len()
    }

    /// Dials neighbours by preferential attachment until `links` are up or being set up.
    pub(super) fn fill(&mut self) {
        let busy: BTreeSet<PeerId> = self
            .neighbors
            .values()
            .map(|n| n.id)
            .chain(self.io.dials.values().filter_map(|d| match d {
                Dial::Neighbor(t) | Dial::Redial(t) => Some(t.id),
                Dial::Seed(_) | Dial::Key(_) | Dial::Witness { .. } | Dial::Probe { .. } => None,
            }))
            .chain(self.pending.values().flatten().map(|t| t.id))
            .chain(self.live.lost.keys().copied())
            .collect();
        let need = self
            .settings
            .links
            .saturating_sub(self.degree() + self.outbound_in_flight());
        for p in self.candidates.draw(need, &busy, &mut self.rng) {
            let target = Target {
                id: p.id,
                incarnation: p.incarnation,
            };
            self.io.dial(p.addr, Dial::Neighbor(target));
        }
        self.schedule_refill();
        self.maybe_start_gossip();
    }

    pub(super) fn outbound_in_flight(&self) -> usize {
        let dialling = self
            .io
            .dials
            .values()
            .filter(|d| matches!(d, Dial::Neighbor(_)))
            .count();
        dialling + self.pending.values().filter(|p| p.is_some()).count()
    }

    /// While short of `links`, asks for fresh peer lists later, backing off.
    pub(super) fn schedule_refill(&mut self) {
        let short = self.degree() + self.outbound_in_flight() < self.settings.links;
        self.candidates.schedule_refill(self.now, short);
    }

    pub(super) fn on_neighbor_link(&mut self, target: Target, link: LinkId, remote: Remote) {
        let id = target.id;
        self.links.insert(link, remote);
        if remote.id != id || remote.role != Role::Peer {
            self.close(link);
            return self.fill();
        }
        let Some(cert) = self.cert.clone() else {
            return self.close(link);
        };
        self.pending.insert(link, Some(target));
        self.io.send(link, Msg::Link(Box::new(cert)));
    }

    pub(super) fn on_link_request(&mut self, link: LinkId, remote: Remote, cert: Certificate) {
        if self.pending.get(&link) != Some(&None) {
            return self.protocol_error(link, "a link request out of place".into());
        }
        self.pending.remove(&link);
        let c = cert.change;
        let refusal = if c.op != Op::Add || c.peer != remote.id {
            Some("the certificate is not this peer's admission".to_string())
        } else if let Err(e) = cert.verify(&self.seed_set(), &self.checks) {
            if let CertError::UnknownSigner(_) = e {
                // Refused now; the key is learned for its next try.
                self.learn_keys();
            }
            Some(format!("its admission certificate does not verify: {e}"))
        } else if self.candidates.shunned(&remote.id) {
            Some("you relayed forged gossip to this peer".to_string())
        } else if self.neighbors.values().any(|n| n.id == remote.id) {
            Some("already neighbours".to_string())
        } else if self.linking_to(remote.id) && self.key.id() < remote.id {
            // Both dialled at once: the link the lower id dialled is the one kept.
            Some("this peer is dialling you too; its link is kept".to_string())
        } else if self.degree() >= self.settings.max_links.min(MAX_NEIGHBORS) {
            Some(format!("this peer is full ({} links)", self.degree()))
        } else {
            None
        };
        match refusal {
            Some(reason) => {
                self.io.send(link, Msg::LinkRefused { reason });
                self.close(link);
            }
            None => {
                self.io.send(link, Msg::LinkAccepted);
                self.add_neighbor(link, remote.id, c.addr, c.incarnation, false);
            }
        }
    }

    /// Whether this peer is dialling `id` as a neighbour, or waiting for it to accept.
    pub(super) fn linking_to(&self, id: PeerId) -> bool {
        let dialling = self
            .io
            .dials
            .values()
            .any(|d| matches!(d, Dial::Neighbor(t) | Dial::Redial(t) if t.id == id));
        dialling || self.pending.values().flatten().any(|t| t.id == id)
    }

    pub(super) fn add_neighbor(
        &mut self,
        link: LinkId,
        id: PeerId,
        addr: SocketAddr,
        incarnation: u64,
        outbound: bool,
    ) {
        self.live.lost.remove(&id);
        let n = Neighbor {
            id,
            addr,
            incarnation,
            outbound,
            misses: 0,
            awaiting: false,
            spoke: Time(0),
        };
        self.neighbors.insert(link, n);
        self.relay.link_up(self.now, link, id, outbound);
        if self.degree() >= self.settings.links {
            // Enough links: the candidates are done with. A later loss asks for fresh peer
            // lists (`schedule_refill`), whose degrees are current; with thousands of peers in
            // the lists, keeping these would be most of an idle peer's memory.
            self.candidates.enough();
        }
        self.io.event(Event::NeighborAdded {
            peer: id,
            addr,
            outbound,
            degree: self.degree(),
        });
        self.report();
        self.maybe_start_gossip();
    }

    /// A fresh signed neighbour report.
    pub(super) fn report_now(&mut self) -> NeighborReport {
        let ids: BTreeSet<PeerId> = self.neighbors.values().map(|n| n.id).collect();
        let seq = self.reports.next_seq();
        NeighborReport::new(&self.key, seq, ids.into_iter().collect())
    }

    /// The neighbour set changed: reports it to every seed (SPEC §5 Topology) now, or, within
    /// `report_every` of the last report, once that has passed.
    pub(super) fn report(&mut self) {
        if self.cert.is_some() && self.reports.changed(self.now) {
            self.send_report();
        }
    }

    pub(super) fn send_report(&mut self) {
        self.reports.sent(self.now);
        let report = self.report_now();
        let links: Vec<LinkId> = self.seeds.links();
        for l in links {
            self.io.send(l, Msg::Neighbors(Box::new(report.clone())));
        }
    }

    /// What `link` is for (PROTOCOL §3.1): a seed's (its own seed links, and any link of a
    /// seed whose key it knows: a dial-back or a probe), a neighbour's, a link request of its
    /// own awaiting the answer, a witness link awaiting a verdict, or the link of a peer this
    /// one probes for. Any other peer's link is a stranger's until it asks to link.
    pub(super) fn use_of(&self, link: LinkId) -> LinkUse {
        let Some(remote) = self.links.get(&link) else {
            return LinkUse::Stranger;
        };
        let kept = self.seeds.index_of(link).is_some()
            || (remote.role == Role::Seed && self.seeds.knows(&remote.id))
            || self.neighbors.contains_key(&link)
            || matches!(self.pending.get(&link), Some(Some(_)))
            || self.live.witness_links.contains_key(&link)
            || (self.io.dials.values())
                .any(|d| matches!(d, Dial::Probe { asker, .. } if *asker == link));
        if kept {
            LinkUse::Protected
        } else {
            LinkUse::Stranger
        }
    }
}

#[cfg(test)]
mod tests;
