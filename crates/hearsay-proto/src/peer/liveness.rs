//! Liveness and suspicion: the peer half of failure detection (SPEC §6 Liveness and
//! Suspicion, PROTOCOL §12).
//!
//! Every `ping_interval` a peer pings each neighbour over its link (and sends one ICMP echo
//! per neighbour host); a round in which a neighbour sent nothing, neither the pong nor any
//! other frame, is a miss. A neighbour whose link dropped is
//! dialled again each round instead, and a failed dial is a miss. After `suspect_after`
//! misses in a row the peer asks witnesses (the suspect's other neighbours from the seeds'
//! topology, else its own neighbours) to probe the suspect and sign verdicts. Only when the
//! verdicts confirm it does the peer drop the suspect and send the seeds a dead-node report.
//!
//! A peer whose own timers run late (its process short of CPU) has not read what its
//! neighbours sent, nor finished its own dials in time, so the silence it sees is no
//! evidence (Lifeguard's local health, PROTOCOL §12.1): while it lags it counts no misses,
//! confirms no suspicion and signs no verdict that a suspect is unresponsive.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::suspicions::{Decided, Due, Suspicions};
use super::{Dial, Neighbor, State, Target};
use crate::cert::{Certificate, Op};
use crate::event::Event;
use crate::id::PeerId;
use crate::node::{LinkId, Output, Remote};
use crate::suspicion::{self, DeadReport, Verdict};
use crate::time::{millis, Time};
use crate::wire::Msg;

/// Most probes this peer runs for others at once.
const MAX_PROBES: usize = 64;
/// Most of them for one asker's link.
const MAX_PROBES_PER_ASKER: usize = 8;
/// Most hosts whose ICMP answer is remembered.
const MAX_HOSTS: usize = 1024;

/// A neighbour whose link dropped without a goodbye.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lost {
    addr: SocketAddr,
    incarnation: u64,
    misses: u32,
}

impl Lost {
    /// Where it was.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A peer's liveness state.
#[derive(Debug, Default)]
pub(super) struct Liveness {
    next_round: Time,
    pub(super) lost: BTreeMap<PeerId, Lost>,
    suspicions: Suspicions,
    /// Links this peer dialled to ask a witness, by the suspect asked about.
    pub(super) witness_links: BTreeMap<LinkId, PeerId>,
    /// Links, not a neighbour's, whose peer showed its admission (`Msg::Admission`): it may
    /// ask this peer to probe.
    askers: BTreeSet<LinkId>,
    probes: usize,
    echo: BTreeMap<IpAddr, bool>,
    echo_unavailable: bool,
    /// Until when this peer counts as lagging: a round after its last timer that ran
    /// [`State::lag`] or more late.
    lag_until: Time,
}

impl Liveness {
    pub(super) fn new(first_round: Time) -> Liveness {
        Liveness {
            next_round: first_round,
            ..Liveness::default()
        }
    }
}

impl State {
    /// When liveness next needs the clock.
    pub(super) fn liveness_deadline(&self) -> Time {
        let next = self.live.next_round;
        self.live
            .suspicions
            .deadline()
            .map_or(next, |d| d.min(next))
    }

    pub(super) fn liveness_timeout(&mut self) {
        let now = self.now;
        if self.live.next_round <= now {
            self.round();
        }
        for (id, due) in self.live.suspicions.due(now) {
            match due {
                Due::Decide => self.decide(id),
                Due::Witnesses => {
                    let own = self.own_witnesses(id);
                    self.ask_witnesses(id, own);
                }
            }
        }
    }

    /// How late a timer must run for this peer to lag: half a round, and at least a second
    /// (rounds of milliseconds, in tests and demos, do not make a busy machine's every
    /// hiccup a lag).
    fn lag(&self) -> Duration {
        (self.settings.ping_interval / 2).max(Duration::from_secs(1))
    }

    /// A timer of this peer ran `late` after its time. [`Self::lag`] or more, and the peer
    /// lags for a round from now (Lifeguard's local health); it says so when it starts to.
    pub(super) fn timer_ran_late(&mut self, late: Duration) {
        if late < self.lag() {
            return;
        }
        if !self.lagging() {
            let text = format!(
                "this peer's timers ran {:.1} s late (its process is short of CPU): while it \
                 lags, no neighbour's silence counts as a miss, no suspicion is confirmed and \
                 it signs no verdict of unresponsive",
                late.as_secs_f64()
            );
            self.io.event(Event::Notice { text });
        }
        self.live.lag_until = self.now + self.settings.ping_interval;
    }

    /// Whether this peer lags: a timer ran [`Self::lag`] late within the last round, or its
    /// next round is that overdue now. A peer that late may not have read what its
    /// neighbours sent, nor finished its own dials in time.
    pub(super) fn lagging(&self) -> bool {
        let overdue = self.now.since(self.live.next_round);
        self.now < self.live.lag_until || overdue >= self.lag()
    }

    /// One liveness round: count the neighbours that sent nothing in the last round (unless
    /// this peer lags), ping again the ones this peer sent nothing in the last half round
    /// (any frame shows this peer alive to them as well as a ping would), dial lost
    /// neighbours again, and echo every neighbour host.
    fn round(&mut self) {
        let lagged = self.lagging();
        self.live.next_round = self.now + self.settings.ping_interval;
        let quiet_since = self.now - self.settings.ping_interval / 2;
        let mut suspects = Vec::new();
        let links: Vec<LinkId> = self.neighbors.keys().copied().collect();
        let every = millis(self.settings.ping_interval);
        for link in links {
            let Some(n) = self.neighbors.get_mut(&link) else {
                continue;
            };
            if n.awaiting && !lagged {
                n.misses += 1;
            }
            n.awaiting = true;
            if n.misses >= self.settings.suspect_after && !lagged {
                suspects.push((*n, n.misses));
            }
            if n.spoke < quiet_since {
                self.io.send(link, Msg::Ping(every));
            }
        }
        for (n, misses) in suspects {
            let target = Target {
                id: n.id,
                incarnation: n.incarnation,
            };
            self.start_suspicion(target, n.addr, misses);
        }
        let lost: Vec<(PeerId, Lost)> = self.live.lost.iter().map(|(id, l)| (*id, *l)).collect();
        for (id, l) in lost {
            let dialling = self
                .io
                .dials
                .values()
                .any(|d| matches!(d, Dial::Redial(t) if t.id == id));
            if !dialling && !self.live.suspicions.contains(&id) {
                let target = Target {
                    id,
                    incarnation: l.incarnation,
                };
                self.io.dial(l.addr, Dial::Redial(target));
            }
        }
        let hosts: BTreeSet<IpAddr> = self
            .neighbors
            .values()
            .map(|n| n.addr.ip())
            .chain(self.live.lost.values().map(|l| l.addr.ip()))
            .collect();
        self.live.echo.retain(|ip, _| hosts.contains(ip));
        if !self.live.echo_unavailable {
            for ip in hosts {
                self.io.push(Output::Echo { ip });
            }
        }
    }

    /// A neighbour's ping, whose rounds last `every` ms: heard from it (`heard_from`), which
    /// is all a ping says, and this peer's own next ping answers it, unless the neighbour's
    /// rounds are shorter than this peer's: then a pong goes back at once, or its round
    /// could end first (PROTOCOL §12.1).
    pub(super) fn on_ping(&mut self, link: LinkId, every: u64) {
        if every < millis(self.settings.ping_interval) {
            self.io.send(link, Msg::Pong(every));
        }
    }

    pub(super) fn on_echo(&mut self, ip: IpAddr, answered: Option<bool>) {
        match answered {
            Some(up) if self.live.echo.len() < MAX_HOSTS || self.live.echo.contains_key(&ip) => {
                self.live.echo.insert(ip, up);
            }
            Some(_) => {}
            None if !self.live.echo_unavailable => {
                self.live.echo_unavailable = true;
                let text =
                    "ICMP echo is not available on this system: liveness uses link pings only";
                self.io.event(Event::Notice { text: text.into() });
            }
            None => {}
        }
    }

    /// Any frame from a neighbour shows it alive, a pong or not: a busy neighbour's pong
    /// can wait behind its gossip, but the gossip itself is a sign of life.
    pub(super) fn heard_from(&mut self, link: LinkId) {
        let Some(n) = self.neighbors.get_mut(&link) else {
            return;
        };
        n.awaiting = false;
        n.misses = 0;
        let id = n.id;
        // It answered: whatever the witnesses say, it is not dead.
        if let Some(s) = self.live.suspicions.close(&id) {
            self.cleared(id, &s);
        }
    }

    /// A neighbour's link dropped without this peer closing it: dial it again each round.
    pub(super) fn neighbor_lost(&mut self, n: Neighbor) {
        if self.live.lost.len() < self.settings.max_links {
            let lost = Lost {
                addr: n.addr,
                incarnation: n.incarnation,
                misses: 1,
            };
            self.live.lost.insert(n.id, lost);
        }
    }

    /// A lost neighbour could not be dialled again: a miss, unless this peer lags (its dial
    /// may have run out of time here).
    pub(super) fn lost_missed(&mut self, id: PeerId) {
        if self.lagging() {
            return;
        }
        let Some(l) = self.live.lost.get_mut(&id) else {
            return;
        };
        l.misses += 1;
        let l = *l;
        if l.misses >= self.settings.suspect_after && !self.live.suspicions.contains(&id) {
            self.start_suspicion(
                Target {
                    id,
                    incarnation: l.incarnation,
                },
                l.addr,
                l.misses,
            );
        }
    }

    fn start_suspicion(&mut self, target: Target, addr: SocketAddr, misses: u32) {
        if self.live.suspicions.contains(&target.id) {
            return;
        }
        self.io.event(Event::SuspicionStarted {
            peer: target.id,
            addr,
            misses,
            icmp: self.live.echo.get(&addr.ip()).copied(),
        });
        let probed = (target.id, addr, target.incarnation);
        let own = Verdict::new(&self.key, probed, false, self.now);
        let wait = self.settings.verdict_timeout;
        (self.live.suspicions).open(self.now, (target, addr), own, wait);
        match self.seeds.links().first().copied() {
            Some(seed) => self.io.send(seed, Msg::GetNeighbors(target.id)),
            None => {
                let own = self.own_witnesses(target.id);
                self.ask_witnesses(target.id, own);
            }
        }
    }

    fn own_witnesses(&self, suspect: PeerId) -> Vec<(PeerId, SocketAddr)> {
        let mut seen = BTreeSet::new();
        self.neighbors
            .values()
            .filter(|n| n.id != suspect && seen.insert(n.id))
            .map(|n| (n.id, n.addr))
            .collect()
    }

    /// The seed's answer to `GetNeighbors`: the suspect's other neighbours are the witnesses.
    pub(super) fn on_witness_list(&mut self, suspect: PeerId, list: Vec<(PeerId, SocketAddr)>) {
        if !self.live.suspicions.choosing(&suspect) {
            return;
        }
        let me = self.key.id();
        let mut witnesses: Vec<(PeerId, SocketAddr)> = list
            .into_iter()
            .filter(|(id, _)| *id != me && *id != suspect)
            .collect();
        if witnesses.is_empty() {
            witnesses = self.own_witnesses(suspect);
        }
        self.ask_witnesses(suspect, witnesses);
    }

    fn ask_witnesses(&mut self, suspect: PeerId, witnesses: Vec<(PeerId, SocketAddr)>) {
        let Some((request, new)) = self.live.suspicions.ask(suspect, witnesses) else {
            return;
        };
        for (w, at) in new {
            let ask = Msg::ProbeRequest(Box::new(request));
            match self
                .neighbors
                .iter()
                .find(|(_, n)| n.id == w)
                .map(|(l, _)| *l)
            {
                Some(link) => self.io.send(link, ask),
                None => self.io.dial(
                    at,
                    Dial::Witness {
                        suspect,
                        witness: w,
                    },
                ),
            }
        }
        if self.live.suspicions.all_in(&suspect) {
            self.decide(suspect);
        }
    }

    pub(super) fn on_witness_link(
        &mut self,
        suspect: PeerId,
        w: PeerId,
        link: LinkId,
        remote: Remote,
    ) {
        self.links.insert(link, remote);
        let Some(request) = self.live.suspicions.probe_request(suspect) else {
            return self.close(link);
        };
        if remote.id != w {
            self.close(link);
            return self.witness_unreachable(suspect, w);
        }
        let ask = Msg::ProbeRequest(Box::new(request));
        self.live.witness_links.insert(link, suspect);
        // The witness probes only for an admitted peer: show it this one's admission first.
        if let Some(cert) = self.cert.clone() {
            self.io.send(link, Msg::Admission(Box::new(cert)));
        }
        self.io.send(link, ask);
    }

    /// A peer that is not a neighbour shows its admission on `link`, before asking this one
    /// to probe. A certificate that is not the linked peer's, or does not verify, is a
    /// protocol error.
    pub(super) fn on_admission(&mut self, link: LinkId, remote: Remote, cert: Certificate) {
        let c = cert.change;
        if c.op != Op::Add || c.peer != remote.id {
            return self.protocol_error(link, "an admission that is not the peer's own".into());
        }
        if let Err(e) = cert.verify(&self.seed_set(), &self.checks) {
            let reason = format!("an admission certificate that does not verify: {e}");
            return self.protocol_error(link, reason);
        }
        let links = &self.links;
        self.live.askers.retain(|l| links.contains_key(l));
        self.live.askers.insert(link);
    }

    /// A temporary witness link closed: if its verdict had not come, it never will.
    pub(super) fn witness_link_down(&mut self, link: LinkId) {
        if let (Some(suspect), Some(remote)) = (
            self.live.witness_links.remove(&link),
            self.links.get(&link).copied(),
        ) {
            self.witness_unreachable(suspect, remote.id);
        }
    }

    pub(super) fn witness_unreachable(&mut self, suspect: PeerId, w: PeerId) {
        if self.live.suspicions.unreachable(suspect, w) {
            self.decide(suspect);
        }
    }

    /// Another peer asks this one to probe a suspect (this peer is a witness): a neighbour,
    /// or a peer that showed its admission on this link; at most [`MAX_PROBES`] at once, and
    /// [`MAX_PROBES_PER_ASKER`] for one link. Anyone else gets no answer.
    pub(super) fn on_probe_request(&mut self, asker: LinkId, suspect: Target, addr: SocketAddr) {
        let admitted = self.neighbors.contains_key(&asker) || self.live.askers.contains(&asker);
        if !admitted {
            return;
        }
        if suspect.id == self.key.id() {
            return self.answer_probe((suspect, addr), asker, true);
        }
        let for_asker = (self.io.dials.values())
            .filter(|d| matches!(d, Dial::Probe { asker: a, .. } if *a == asker))
            .count();
        if self.live.probes >= MAX_PROBES || for_asker >= MAX_PROBES_PER_ASKER {
            return;
        }
        self.live.probes += 1;
        self.io.dial(
            addr,
            Dial::Probe {
                suspect,
                addr,
                asker,
            },
        );
    }

    /// The probe's outcome, signed and sent to the asker; a failed probe goes unanswered
    /// while this peer lags (it may have run out of time here, not there), and the asker
    /// decides without it.
    pub(super) fn answer_probe(
        &mut self,
        (suspect, addr): (Target, SocketAddr),
        asker: LinkId,
        alive: bool,
    ) {
        self.live.probes = self.live.probes.saturating_sub(1);
        if !alive && self.lagging() {
            return;
        }
        let probed = (suspect.id, addr, suspect.incarnation);
        let v = Verdict::new(&self.key, probed, alive, self.now);
        if self.links.contains_key(&asker) {
            self.io.send(asker, Msg::Verdict(Box::new(v)));
        }
    }

    pub(super) fn on_verdict(&mut self, link: LinkId, remote: Remote, v: Verdict) {
        if self.live.witness_links.remove(&link).is_some() {
            self.close(link);
        }
        let suspect = v.suspect;
        if self.live.suspicions.verdict(remote.id, v, &self.checks) {
            self.decide(suspect);
        }
    }

    /// All verdicts are in, or the time is up: report, or clear; or, when no witness gave a
    /// verdict, ask the seeds first.
    fn decide(&mut self, suspect: PeerId) {
        if self.ask_seeds(suspect) {
            return;
        }
        let Some(s) = self.live.suspicions.close(&suspect) else {
            return;
        };
        // A peer that lags may not have read the suspect's last frames, nor the witnesses'
        // other verdicts: it confirms nothing, and suspects again once on time.
        if !s.confirmed || self.lagging() {
            return self.cleared(suspect, &s);
        }
        self.io.event(Event::SuspicionConfirmed {
            peer: suspect,
            addr: s.addr,
            dead: s.dead,
            verdicts: s.verdicts.len(),
        });
        self.live.lost.remove(&suspect);
        let links: Vec<LinkId> = self
            .neighbors
            .iter()
            .filter(|(_, n)| n.id == suspect)
            .map(|(l, _)| *l)
            .collect();
        for l in links {
            self.drop_link(l);
            self.close(l);
        }
        let line = suspicion::dead_line(s.addr, self.now, self.addr);
        let report = DeadReport::new(
            &self.key,
            line.clone(),
            (suspect, s.addr, s.incarnation),
            s.verdicts,
        );
        let seeds: Vec<LinkId> = self.seeds.links();
        for &l in &seeds {
            self.io.send(l, Msg::DeadReport(Box::new(report.clone())));
        }
        self.io.event(Event::DeadNodeReported {
            line,
            peer: suspect,
            seeds: seeds.len(),
        });
    }

    /// No witness gave a verdict on `suspect` (its neighbours may have died with it): every
    /// linked seed is asked to probe it and sign a verdict, once (PROTOCOL §12.6). Returns
    /// whether they were asked; the decision then waits for their verdicts.
    fn ask_seeds(&mut self, suspect: PeerId) -> bool {
        let seeds: Vec<(LinkId, PeerId, SocketAddr)> = (self.seeds.links().into_iter())
            .filter_map(|l| self.links.get(&l).map(|r| (l, r.id, r.addr)))
            .collect();
        if seeds.is_empty() {
            return false;
        }
        let (now, wait) = (self.now, self.settings.verdict_timeout);
        if !self.live.suspicions.ask_seeds(now, suspect, wait) {
            return false;
        }
        let offered = seeds.iter().map(|&(_, id, addr)| (id, addr)).collect();
        let Some((request, new)) = self.live.suspicions.ask(suspect, offered) else {
            return false;
        };
        for (l, id, _) in seeds {
            if new.iter().any(|(w, _)| *w == id) {
                self.io.send(l, Msg::ProbeRequest(Box::new(request)));
            }
        }
        true
    }

    /// A seed asks this peer to watch `target` at `addr`, a member with no live neighbour
    /// by its topology: it is dialled each round like a lost neighbour, and suspected if it
    /// stays silent (PROTOCOL §12.6). A live one simply becomes a neighbour.
    pub(super) fn on_watch(&mut self, target: Target, addr: SocketAddr) {
        let known = target.id == self.key.id()
            || self.live.lost.contains_key(&target.id)
            || self.neighbors.values().any(|n| n.id == target.id)
            || self.linking_to(target.id);
        if known || self.cert.is_none() || self.live.lost.len() >= self.settings.max_links {
            return;
        }
        let lost = Lost {
            addr,
            incarnation: target.incarnation,
            misses: 0,
        };
        self.live.lost.insert(target.id, lost);
    }

    fn cleared(&mut self, suspect: PeerId, s: &Decided) {
        self.io.event(Event::SuspicionCleared {
            peer: suspect,
            addr: s.addr,
            dead: s.dead,
            verdicts: s.verdicts.len(),
        });
        // Alive, by the witnesses' word: a lost link gets one more dial, then is let go
        // (refilling covers the degree); a live one starts counting again. The one dial
        // mends links a healed partition cut: both sides may have refilled meanwhile, and
        // without it the overlay would stay split (the simulator found such splits).
        if let Some(l) = self.live.lost.remove(&suspect) {
            let dialling = (self.io.dials.values())
                .any(|d| matches!(d, Dial::Redial(t) | Dial::Neighbor(t) if t.id == suspect));
            if !dialling && !self.neighbors.values().any(|n| n.id == suspect) {
                let target = Target {
                    id: suspect,
                    incarnation: l.incarnation,
                };
                self.io.dial(l.addr, Dial::Redial(target));
            }
        }
        for n in self.neighbors.values_mut().filter(|n| n.id == suspect) {
            n.misses = 0;
        }
    }

    /// The seeds removed this peer while it is alive (a partition healed, or a false
    /// accusation got through): come back with a higher incarnation (SPEC §5 Conflicts).
    pub(super) fn on_removed(&mut self, cert: Certificate) {
        let c = cert.change;
        let mine = c.op == Op::Remove && c.peer == self.key.id();
        if !mine
            || c.incarnation < self.incarnation
            || cert.verify(&self.seed_set(), &self.checks).is_err()
        {
            return;
        }
        self.incarnation = c.incarnation + 1;
        self.cert = None;
        self.seeds.forget_registrations();
        // The new incarnation gets the whole join timeout: the old start would make a peer
        // that was cut off for long give up at once.
        self.join.restart(self.now);
        // And neighbours of its own choosing, from the whole Peer List once it is admitted
        // again: the links it kept may all lie on its side of a partition that has healed,
        // where the others have given it up (the simulator's random scenarios found such
        // overlays split in two).
        let links: Vec<LinkId> = self.neighbors.keys().copied().collect();
        for l in links {
            self.drop_link(l);
            self.close(l);
        }
        let text = format!(
            "removed by the seeds at incarnation {} while alive: registering again at incarnation {}",
            c.incarnation, self.incarnation
        );
        self.io.event(Event::Notice { text });
        self.register();
    }
}

#[cfg(test)]
mod tests;
