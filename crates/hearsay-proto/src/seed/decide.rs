//! Proposals, validation, votes and certificates (SPEC §5, PROTOCOL §5–§6, §12.3).
//!
//! The coordinator of a change sends it to every seed; each seed checks it on its own,
//! probes the peer concerned (dial-back for an add, its own probe of the accused for a
//! removal), and signs a vote. A quorum of yes votes is a certificate, applied only after it
//! verifies.

use std::net::IpAddr;

use super::list::Membership;
use super::pending::{Coordination, Reply, Validation};
use super::{Dial, State};
use crate::cert::{
    CertError, Certificate, Change, Digest, Evidence, Op, Proposal, Registration, Vote,
};
use crate::event::Event;
use crate::id::PeerId;
use crate::link::network;
use crate::node::{DialError, LinkId, Output, Record, Remote};
use crate::quorum::{Outcome, Tally};
use crate::suspicion::{self, DeadReport};
use crate::wire::Msg;

/// Why a rebuilding seed takes no part in decisions.
const REBUILDING: &str = "this seed is rebuilding its Peer List from the other seeds";

impl State {
    /// A peer's registration on its own link: answered at once if already decided (its
    /// certificate, or its removal), else a proposal this seed coordinates.
    pub(super) fn on_register(&mut self, link: LinkId, remote: Remote, reg: Registration) {
        if reg.peer != remote.id {
            return self.protocol_error(link, "registration for another peer's id".into());
        }
        if !reg.verify(&self.checks) {
            return self.protocol_error(link, "registration signature does not hold".into());
        }
        if let Some(m) = self.list.get(&reg.peer) {
            if m.incarnation == reg.incarnation && m.addr == reg.addr {
                let cert = m.cert.clone();
                return self.io.send(link, Msg::Admitted(Box::new(cert)));
            }
        }
        // Removed at this incarnation or a later one: say so, so the peer moves past it.
        if let Some(cert) = self.list.tombstone(&reg.peer) {
            if cert.change.incarnation >= reg.incarnation {
                let cert = cert.clone();
                return self.io.send(link, Msg::Removed(Box::new(cert)));
            }
        }
        let change = Change {
            op: Op::Add,
            peer: reg.peer,
            addr: reg.addr,
            incarnation: reg.incarnation,
        };
        let source = remote.source.ip();
        self.coordinate(change, Evidence::Registration(reg), source, Some(link));
    }

    /// A peer's dead-node report: checked before it is logged, then a removal this seed
    /// coordinates, if the accused is still a member at that address and incarnation.
    pub(super) fn on_dead_report(&mut self, link: LinkId, remote: Remote, report: Box<DeadReport>) {
        if report.reporter != remote.id {
            return self.protocol_error(link, "a dead-node report signed for another peer".into());
        }
        // Checked before it is logged (PROTOCOL §12.3): only a member reports, and only the
        // task's line about the accused's address, so that nobody can write what they like,
        // or much of it, into a seed's log.
        if !self.list.contains(&report.reporter) {
            return self.protocol_error(link, "a dead-node report from a peer not admitted".into());
        }
        if !suspicion::is_dead_line(&report.line, report.addr) {
            let reason = format!(
                "a dead-node report whose line ({} bytes) is not `Dead Node:{}:{}:<time>:<IP>`",
                report.line.len(),
                report.addr.ip(),
                report.addr.port()
            );
            return self.protocol_error(link, reason);
        }
        self.io.event(Event::DeadNodeReportReceived {
            line: report.line.clone(),
            reporter: report.reporter,
        });
        let current = (self.list.get(&report.suspect)).map(|m| (m.addr, m.incarnation));
        if current != Some((report.addr, report.incarnation)) {
            // Removed already, or never admitted at that address and incarnation.
            return;
        }
        let change = Change {
            op: Op::Remove,
            peer: report.suspect,
            addr: report.addr,
            incarnation: report.incarnation,
        };
        let source = remote.source.ip();
        self.coordinate(change, Evidence::DeadReport(report), source, None);
    }

    /// Starts or joins the decision on `change`. `waiter` (the registering peer's link)
    /// hears the outcome.
    pub(super) fn coordinate(
        &mut self,
        change: Change,
        evidence: Evidence,
        source: IpAddr,
        waiter: Option<crate::node::LinkId>,
    ) {
        let digest = change.digest();
        if self.pending.join(digest, waiter) {
            return;
        }
        let busy = if self.agreement.rebuilding() {
            Some(REBUILDING)
        } else if self.pending.coordinating() >= self.settings.max_pending {
            Some("the seed is busy: too many decisions in flight")
        } else {
            None
        };
        if let Some(reason) = busy {
            let reason = reason.to_string();
            if let Some(l) = waiter {
                self.io.send(l, Msg::Refused { reason });
            }
            return;
        }
        self.proposed_event(change, &evidence);
        let seeds = self.other_seed_links();
        let (n, q) = (self.config.seeds.len(), self.config.quorum());
        if seeds.len() + 1 < q {
            let reachable = seeds.len() + 1;
            let reason = format!("only {reachable} of {n} seeds reachable, a quorum needs {q}");
            self.abort_event(change, &reason);
            if let Some(l) = waiter {
                self.io.send(l, Msg::Refused { reason });
            }
            return;
        }
        let coordination = Coordination {
            change,
            waiters: waiter.into_iter().collect(),
            tally: Tally::new(n),
            yes: Vec::new(),
            no: Vec::new(),
            deadline: self.now + self.settings.proposal_timeout,
        };
        self.pending.coordinate(digest, coordination);
        let proposal = Proposal {
            change,
            evidence,
            source,
        };
        for l in seeds {
            self.io.send(l, Msg::Propose(Box::new(proposal.clone())));
        }
        self.on_propose(proposal, Reply::Local);
    }

    pub(super) fn on_propose(&mut self, p: Proposal, reply: Reply) {
        let digest = p.change.digest();
        if let Some(vote) = self.votes.get(&digest) {
            let vote = vote.clone();
            return self.reply(reply, vote);
        }
        // One reply per coordinator: every seed, this one included, and one more (a
        // coordinator that came back on another link).
        if (self.pending).reply_too(&digest, reply, self.config.seeds.len() + 1) {
            return;
        }
        if self.pending.validating() >= self.settings.max_pending {
            return self.cast(p.change, false, "the seed is busy", vec![reply]);
        }
        if self.agreement.rebuilding() {
            return self.cast(p.change, false, REBUILDING, vec![reply]);
        }
        let network = matches!(p.evidence, Evidence::Registration(_)).then(|| network(p.source));
        let from_network = network.map_or(0, |n| self.pending.registrations_from(n));
        if from_network >= self.settings.registrations_per_network {
            let reason = format!(
                "{from_network} registrations from network {} are under way at this seed: try again shortly",
                network.unwrap_or(p.source)
            );
            return self.cast(p.change, false, &reason, vec![reply]);
        }
        let checked = match &p.evidence {
            Evidence::Registration(_) => self.check_add(&p).map(|()| (None, None)),
            Evidence::DeadReport(r) => {
                let reporter = r.reporter;
                self.check_remove(&p).map(|e| (Some(reporter), e))
            }
        };
        match checked {
            Err(reason) => self.cast(p.change, false, &reason, vec![reply]),
            Ok((reporter, evidence_error)) => {
                let validation = Validation {
                    change: p.change,
                    replies: vec![reply],
                    deadline: self.now + self.settings.proposal_timeout,
                    network,
                    reporter,
                    evidence_error,
                };
                self.pending.validate(digest, validation);
                self.io.dial(p.change.addr, Dial::Probe(digest));
            }
        }
    }

    /// Every check of an add but the dial-back (PROTOCOL §6.3).
    fn check_add(&mut self, p: &Proposal) -> Result<(), String> {
        let c = p.change;
        let Evidence::Registration(reg) = &p.evidence else {
            return Err("an add needs the peer's registration".into());
        };
        if c.op != Op::Add {
            return Err("a registration can only add".into());
        }
        if (reg.peer, reg.addr, reg.incarnation) != (c.peer, c.addr, c.incarnation) {
            return Err("the registration does not match the change".into());
        }
        if !reg.verify(&self.checks) {
            return Err("the peer's signature does not hold".into());
        }
        if let Some(cert) = self.list.tombstone(&c.peer) {
            let k = cert.change.incarnation;
            if k >= c.incarnation {
                return Err(format!("removed at incarnation {k}"));
            }
        }
        if let Some(m) = self.list.get(&c.peer) {
            if m.incarnation > c.incarnation {
                return Err(format!("stale: incarnation {} is admitted", m.incarnation));
            }
            if m.incarnation == c.incarnation && m.addr != c.addr {
                let (inc, addr) = (m.incarnation, m.addr);
                return Err(format!("incarnation {inc} is admitted at {addr}"));
            }
        }
        if let Some(addr) = self.votes.promised(c.peer, c.incarnation) {
            if addr != c.addr {
                let inc = c.incarnation;
                return Err(format!("this seed voted for incarnation {inc} at {addr}"));
            }
        }
        let holder = (self.list.holder(&c.addr)).filter(|h| **h != c.peer);
        if let Some(holder) = holder {
            return Err(format!("address {} is held by peer {holder}", c.addr));
        }
        if !self.rate.take(self.now, p.source) {
            return Err(format!(
                "rate limit: too many registrations from {}",
                p.source
            ));
        }
        Ok(())
    }

    /// Every check of a removal but the seed's own probe (PROTOCOL §12.3). `Ok` carries what
    /// is wrong with the evidence, if anything: the seed still probes, to tell a false
    /// accusation from a poorly evidenced true one.
    fn check_remove(&mut self, p: &Proposal) -> Result<Option<String>, String> {
        let c = p.change;
        let Evidence::DeadReport(r) = &p.evidence else {
            return Err("a removal needs a dead-node report".into());
        };
        if c.op != Op::Remove
            || (r.suspect, r.addr, r.incarnation) != (c.peer, c.addr, c.incarnation)
        {
            return Err("the report does not match the change".into());
        }
        let member = self.list.get(&c.peer).map(|m| (m.addr, m.incarnation));
        if member != Some((c.addr, c.incarnation)) {
            return Err(format!(
                "{} is not in the Peer List at {} (incarnation {})",
                c.peer, c.addr, c.incarnation
            ));
        }
        if !self.rate.take(self.now, p.source) {
            return Err(format!(
                "rate limit: too many dead-node reports from {}",
                p.source
            ));
        }
        // Witnesses are admitted peers, or seeds that probed for a peer whose own witnesses
        // could not answer (PROTOCOL §12.6).
        let (list, seeds) = (&self.list, &self.seeds);
        let witness = |w: &PeerId| list.contains(w) || seeds.knows(w);
        Ok(r.check(self.now, witness, &self.checks).err())
    }

    /// The answer of a probe: the id met at the address, or why nobody was met. For a
    /// removal, what this seed saw is the vote's reason; a dial this seed had no room for
    /// says nothing of the accused, so it is no evidence of death (PROTOCOL §12.3).
    pub(super) fn on_probe(&mut self, digest: Digest, answer: Result<PeerId, DialError>) {
        let Some(v) = self.pending.end_validation(&digest) else {
            return;
        };
        let (c, addr) = (v.change, v.change.addr);
        let alive = matches!(answer, Ok(id) if id == c.peer);
        let (yes, reason) = match (c.op, answer) {
            (Op::Add, Ok(_)) if alive => (true, String::new()),
            (Op::Add, Ok(id)) => (
                false,
                format!("dial-back to {addr} met peer {id}, not the registering peer"),
            ),
            (Op::Add, Err(e)) => (false, format!("dial-back to {addr} failed: {e}")),
            (Op::Remove, _) if alive => {
                let reason = format!("the accused answered this seed's own probe at {addr}");
                let reporter = v.reporter;
                let by = reporter.map(|r| r.to_hex()).unwrap_or_default();
                self.remember(format!("false accusation of {} by {by:.8}", c.peer));
                self.io.event(Event::FalseAccusation {
                    peer: c.peer,
                    addr,
                    reporter,
                    reason: reason.clone(),
                });
                (false, reason)
            }
            (Op::Remove, Err(DialError::Busy)) => (
                false,
                format!("this seed could not probe {addr}: {}", DialError::Busy),
            ),
            (Op::Remove, seen) => match v.evidence_error {
                Some(e) => (false, format!("evidence: {e}")),
                None => {
                    let saw = match seen {
                        Ok(id) => format!("peer {id} answers there"),
                        Err(e) => e.to_string(),
                    };
                    (true, format!("this seed's own probe of {addr}: {saw}"))
                }
            },
        };
        self.cast(c, yes, &reason, v.replies);
    }

    fn cast(&mut self, change: Change, yes: bool, reason: &str, replies: Vec<Reply>) {
        // A dial-back takes time: another address may have been promised meanwhile.
        let taken = self.votes.promised(change.peer, change.incarnation);
        let (yes, reason) = match taken {
            Some(addr) if yes && change.op == Op::Add && addr != change.addr => {
                let inc = change.incarnation;
                (
                    false,
                    format!("this seed voted for incarnation {inc} at {addr}"),
                )
            }
            _ => (yes, reason.to_string()),
        };
        let vote = Vote::new(&self.key, change, yes, &reason);
        self.votes.record(&vote, self.now);
        // A signed yes carries no reason (every yes of a certificate is the same statement);
        // the log still says what this seed saw, such as how its own probe failed.
        self.io.event(Event::Vote {
            op: change.op,
            peer: change.peer,
            addr: change.addr,
            incarnation: change.incarnation,
            yes,
            reason,
        });
        for r in replies {
            self.reply(r, vote.clone());
        }
    }

    fn reply(&mut self, to: Reply, vote: Vote) {
        match to {
            Reply::Local => self.on_vote(vote),
            Reply::Link(link) => self.io.send(link, Msg::Vote(Box::new(vote))),
        }
    }

    pub(super) fn on_vote(&mut self, vote: Vote) {
        let digest = vote.change.digest();
        let Some(c) = self.pending.coordination(&digest) else {
            return;
        };
        if !c.tally.record(vote.voter, vote.yes) {
            return;
        }
        if vote.yes {
            c.yes.push(vote);
        } else {
            c.no.push(format!("{}: {}", vote.voter, vote.reason));
        }
        match c.tally.outcome() {
            Outcome::Pending => {}
            Outcome::Won => self.commit(digest),
            Outcome::Lost => {
                let reason = format!("voted down: {}", c.no.join("; "));
                self.abort(digest, &reason);
            }
        }
    }

    fn commit(&mut self, digest: Digest) {
        let Some(c) = self.pending.end_coordination(&digest) else {
            return;
        };
        let cert = Certificate::from_votes(c.change, &c.yes);
        if let Err(e) = self.apply(&cert) {
            // Only if our own seed table changed under us; abort rather than send it.
            return self.abort_event(c.change, &format!("own certificate rejected: {e}"));
        }
        for l in self.other_seed_links() {
            self.io.send(l, Msg::Commit(Box::new(cert.clone())));
        }
        for l in c.waiters {
            if self.links.contains_key(&l) {
                self.io.send(l, Msg::Admitted(Box::new(cert.clone())));
            }
        }
    }

    pub(super) fn abort(&mut self, digest: Digest, reason: &str) {
        let Some(c) = self.pending.end_coordination(&digest) else {
            return;
        };
        self.abort_event(c.change, reason);
        for l in c.waiters {
            if self.links.contains_key(&l) {
                let reason = reason.to_string();
                self.io.send(l, Msg::Refused { reason });
            }
        }
    }

    fn proposed_event(&mut self, c: Change, evidence: &Evidence) {
        let (peer, addr, incarnation) = (c.peer, c.addr, c.incarnation);
        self.io.event(match evidence {
            Evidence::Registration(_) => Event::RegistrationProposed {
                peer,
                addr,
                incarnation,
            },
            Evidence::DeadReport(r) => Event::RemovalProposed {
                peer,
                addr,
                incarnation,
                reporter: r.reporter,
                line: r.line.clone(),
            },
        });
    }

    fn abort_event(&mut self, c: Change, reason: &str) {
        let op = c.op_name();
        self.remember(format!(
            "aborted {op} of {} at {}: {reason}",
            c.peer, c.addr
        ));
        let (peer, addr, incarnation) = (c.peer, c.addr, c.incarnation);
        let reason = reason.to_string();
        self.io.event(match c.op {
            Op::Add => Event::RegistrationAborted {
                peer,
                addr,
                incarnation,
                reason,
            },
            Op::Remove => Event::RemovalAborted {
                peer,
                addr,
                incarnation,
                reason,
            },
        });
    }

    /// Verifies a certificate and applies it to the Peer List (PROTOCOL §5.3).
    /// Applying the same change again changes nothing.
    /// A certificate that would change nothing is not verified: the common case of a
    /// catch-up batch, which mostly holds what this seed has.
    pub(super) fn apply(&mut self, cert: &Certificate) -> Result<(), CertError> {
        if self.list.changes(&cert.change) {
            cert.verify(&self.seed_set(), &self.checks)?;
            self.admit(cert, true);
        }
        Ok(())
    }

    /// Applies a verified certificate. `live`: it is news (not a restore from the store), so
    /// it is persisted, logged, and a removed peer still linked to this seed hears of it.
    /// Applying certificates in any order gives the same Peer List and tombstones.
    pub(super) fn admit(&mut self, cert: &Certificate, live: bool) {
        let Some(change) = self.list.apply(cert) else {
            return;
        };
        let peer = cert.change.peer;
        match change {
            // Degrees count only admitted neighbours.
            Membership::Joined => self.topology.membership_changed(peer, true),
            Membership::Left => {
                self.topology.membership_changed(peer, false);
                self.set_report(peer, None);
            }
            Membership::Updated | Membership::Tombstone => {}
        }
        if live {
            self.io
                .push(Output::Persist(Record::Certificate(cert.clone())));
            self.announce(cert);
        }
    }

    /// Logs a change just applied; a removed peer that is still there learns it, and can
    /// come back later with a higher incarnation.
    fn announce(&mut self, cert: &Certificate) {
        let c = cert.change;
        let signers = cert.signers();
        let (peer, addr, incarnation) = (c.peer, c.addr, c.incarnation);
        match c.op {
            Op::Add => {
                self.remember(format!(
                    "admitted {} at {} (incarnation {incarnation})",
                    c.peer, c.addr
                ));
                self.io.event(Event::RegistrationCommitted {
                    peer,
                    addr,
                    incarnation,
                    signers,
                });
            }
            Op::Remove => {
                self.remember(format!(
                    "removed {} at {} (incarnation {incarnation})",
                    c.peer, c.addr
                ));
                self.io.event(Event::RemovalCommitted {
                    peer,
                    addr,
                    incarnation,
                    signers,
                });
                let links: Vec<_> = self
                    .links
                    .iter()
                    .filter(|(_, r)| r.id == c.peer)
                    .map(|(l, _)| *l)
                    .collect();
                for l in links {
                    self.io.send(l, Msg::Removed(Box::new(cert.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
