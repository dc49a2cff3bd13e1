//! Joining (SPEC §6 Joining, PROTOCOL §6): a peer keeps q seed links up, trying the seeds
//! in its own random order with backoff; learns seed keys first hand; registers with every
//! seed link once q are up; takes its admission certificate once it verifies; and gives up,
//! saying why, when the join timeout passes. The attempt's state is the [`Join`] part;
//! the seeds', the [`Seeds`] part (keys, links, backoff).
//!
//! [`Join`]: super::join::Join
//! [`Seeds`]: super::seeds::Seeds

use std::sync::Arc;

use super::{Dial, State};
use crate::cert::{CertError, Certificate, Change, Op, Registration};
use crate::event::Event;
use crate::node::{LinkId, Output, Remote};
use crate::wire::Msg;

impl State {
    /// Briefly dials every seed whose key is unknown and that is not being dialled already,
    /// only to learn its key.
    pub(super) fn learn_keys(&mut self) {
        let unknown: Vec<usize> = (self.seeds.keys_unknown().into_iter())
            .filter(|&i| {
                !self
                    .io
                    .dials
                    .values()
                    .any(|d| matches!(d, Dial::Seed(j) | Dial::Key(j) if *j == i))
            })
            .collect();
        for i in unknown {
            self.io.dial(self.config.seeds[i].addr, Dial::Key(i));
        }
    }

    /// A key-learning dial answered.
    pub(super) fn on_key_link(&mut self, i: usize, link: LinkId, remote: Remote) {
        self.io.push(Output::Close { link });
        if self.seeds.key_learned(i, &remote) {
            if let Some((cert, from)) = self.join.take_held() {
                self.on_admitted(from, cert);
            }
            for (_, (link, from), g) in self.relay.take_held() {
                self.on_gossip(link, from, g);
            }
        }
    }

    pub(super) fn my_change(&self) -> Change {
        Change {
            op: Op::Add,
            peer: self.key.id(),
            addr: self.addr,
            incarnation: self.incarnation,
        }
    }

    /// Keeps q seed links up or being dialled, trying seeds in this peer's random order.
    pub(super) fn keep_seeds(&mut self) {
        let dials = &self.io.dials;
        let in_flight = dials
            .values()
            .filter(|d| matches!(d, Dial::Seed(_)))
            .count();
        let to_dial = (self.seeds).to_dial(self.now, in_flight, |i| {
            dials
                .values()
                .any(|d| matches!(d, Dial::Seed(j) if *j == i))
        });
        for i in to_dial {
            self.io.dial(self.seeds.addr(i), Dial::Seed(i));
        }
    }

    /// Tries seed `i` again after a backoff, and another seed meanwhile.
    pub(super) fn seed_failed(&mut self, i: usize) {
        self.seeds.failed(self.now, i);
        self.keep_seeds();
    }

    pub(super) fn on_seed_link(&mut self, i: usize, link: LinkId, remote: Remote) {
        let addr = self.seeds.addr(i);
        self.links.insert(link, remote);
        if let Err(reason) = self.seeds.connected(i, link, &remote) {
            self.join.seed_problem(reason.clone());
            self.protocol_error(link, reason);
            return self.seed_failed(i);
        }
        self.io.event(Event::SeedConnected {
            addr,
            id: remote.id,
        });
        if self.cert.is_some() {
            let report = self.report_now();
            self.io.send(link, Msg::Neighbors(Box::new(report)));
        }
        self.register();
    }

    /// Sends the registration to every seed link it has not gone to, once q are up.
    pub(super) fn register(&mut self) {
        if self.cert.is_some() || self.seeds.short() {
            return;
        }
        let reg = Registration::new(&self.key, self.addr, self.incarnation);
        for link in self.seeds.registrations_due() {
            self.io.send(link, Msg::Register(Box::new(reg.clone())));
        }
    }

    pub(super) fn on_admitted(&mut self, link: LinkId, cert: Certificate) {
        if self.cert.is_some() {
            return;
        }
        if cert.change != self.my_change() {
            return self.protocol_error(link, "a certificate for another change".into());
        }
        if let Err(CertError::UnknownSigner(_)) = cert.verify(&self.seed_set(), &self.checks) {
            self.join.hold(cert, link);
            return self.learn_keys();
        }
        if let Err(e) = cert.verify(&self.seed_set(), &self.checks) {
            let remote = self
                .links
                .get(&link)
                .map_or(String::new(), |r| r.source.to_string());
            let reason = format!("admission certificate rejected: {e}");
            self.join.rejected(reason.clone());
            return self.io.event(Event::ProtocolError { remote, reason });
        }
        self.io.event(Event::Registered {
            incarnation: self.incarnation,
            signers: cert.signers(),
            latency: self.join.took(self.now),
        });
        self.relay.admitted(Arc::new(cert.clone()));
        self.cert = Some(cert);
        self.join.no_retry();
        // Admitted again after a removal: the seeds may still hold a report of links it has
        // dropped since (it reports nothing while unadmitted), which would show it linked
        // while it has no neighbour. Its neighbour set now replaces that report at once.
        if self.reports.reported() {
            self.send_report();
        }
        self.ask_peer_lists();
    }

    pub(super) fn on_refused(&mut self, link: LinkId, reason: String) {
        if self.cert.is_some() {
            return;
        }
        if let Some(i) = self.seeds.refused(link) {
            let addr = self.seeds.addr(i);
            self.io.event(Event::Notice {
                text: format!("registration refused by seed {addr}: {reason}"),
            });
        }
        self.join.refused(self.now, &reason);
    }

    pub(super) fn give_up(&mut self) {
        let seeds = (self.config.seeds.len(), self.config.quorum());
        let why = self
            .join
            .why(self.now, (seeds.0, seeds.1, self.seeds.linked()));
        self.stopped = true;
        self.io.push(Output::Stop(Err(why)));
    }
}
