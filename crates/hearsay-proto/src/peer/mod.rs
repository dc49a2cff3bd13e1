//! The peer state machine (SPEC §6 Joining and Neighbours, PROTOCOL §6–§8).
//!
//! A peer connects to q randomly chosen seeds (trying the others, with backoff, when one
//! fails), registers, and counts as registered once it holds a certificate of its own
//! admission. It then asks its seeds for peer lists, takes their union, and picks `links`
//! neighbours by preferential attachment, reporting its neighbour set to the seeds on every
//! change.
//!
//! `State` routes inputs to what acts on them (`register`: seeds and registration;
//! `overlay`: peer lists, link requests and neighbour reports; `liveness`: pings, suspicion
//! and dead-node reports; `console`: the operator's commands) and owns parts that each keep
//! their own invariants and tests: `seeds` (seed keys, links, backoff), `join` (the
//! registration attempt), `candidates` (peer lists and the overlay rule), `reports` (when
//! the neighbour set is reported), `relay` (gossip: the Message List, announcements,
//! requests) and, within liveness, `suspicions` (suspicions and their verdicts).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod candidates;
mod console;
mod join;
mod liveness;
mod overlay;
mod register;
mod relay;
mod reports;
mod seeds;
mod settings;
mod suspicions;

pub use settings::{origin_bound, Settings};

use crate::cert::{Certificate, SeedSet};
use crate::config::Config;
use crate::event::Event;
use crate::gossip::{Counters, Gossip, MessageList};
use crate::id::{Keypair, PeerId};
use crate::node::{
    DialError, DialPool, DialToken, Input, LinkId, LinkUse, Machine, Outbox, Output, Remote, Role,
};
use crate::sig::Checks;
use crate::time::Time;
use crate::wire::Msg;

#[derive(Clone, Copy, Debug)]
enum Dial {
    Seed(usize),
    /// A seed dialled only to learn its key (PROTOCOL §2).
    Key(usize),
    Neighbor(Target),
    /// A neighbour whose link dropped, dialled again each round (PROTOCOL §12.1).
    Redial(Target),
    /// A witness, to ask for its verdict on `suspect`.
    Witness {
        suspect: PeerId,
        witness: PeerId,
    },
    /// A suspect this peer probes as a witness at `addr`, answering on `asker`.
    Probe {
        suspect: Target,
        addr: SocketAddr,
        asker: LinkId,
    },
}

impl crate::node::Purpose for Dial {
    fn pool(&self) -> DialPool {
        match self {
            Dial::Seed(_) | Dial::Key(_) | Dial::Neighbor(_) | Dial::Redial(_) => DialPool::Trusted,
            Dial::Witness { .. } | Dial::Probe { .. } => DialPool::Probe,
        }
    }
}

/// What a peer's clock wakes it for. Each is set by one part and fired by [`State::fire`];
/// [`State::deadline`] is the one table both `poll_timeout` and `on_timeout` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Not registered within `join_timeout`: give up.
    Join,
    /// Register again after a refusal.
    Register,
    /// The next liveness round, or a suspicion's wait for witnesses or verdicts.
    Liveness,
    /// Choose neighbours from the peer lists that came.
    Lists,
    /// Send the neighbour report that waited (`report_every`).
    Report,
    /// Look for more neighbours while the degree is short.
    Refill,
    /// The relay: generate, ask the next announcer, log the counters.
    Relay,
    /// Dial a seed again after its backoff, while fewer than a quorum are linked.
    Seeds,
}

impl Timer {
    /// Every timer, in the order timers due together fire.
    const ALL: [Timer; 8] = [
        Timer::Join,
        Timer::Register,
        Timer::Liveness,
        Timer::Lists,
        Timer::Report,
        Timer::Refill,
        Timer::Relay,
        Timer::Seeds,
    ];
}

/// A peer at an incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Target {
    id: PeerId,
    incarnation: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Neighbor {
    id: PeerId,
    addr: SocketAddr,
    incarnation: u64,
    outbound: bool,
    /// Liveness rounds missed in a row.
    misses: u32,
    /// Whether this round waits for a frame from it (its own ping, say).
    awaiting: bool,
    /// When this peer last sent it a frame other than a ping: a round's ping goes only to a
    /// neighbour not sent anything in the last half round (PROTOCOL §12.1).
    spoke: Time,
}

/// A peer.
pub struct State {
    key: Keypair,
    addr: SocketAddr,
    incarnation: u64,
    config: Config,
    settings: Settings,
    rng: ChaCha8Rng,
    now: Time,
    stopped: bool,
    /// Its seeds: keys, links, backoff, registrations.
    seeds: seeds::Seeds,
    /// The registration attempt: retries, and why it fails.
    join: join::Join,
    links: BTreeMap<LinkId, Remote>,
    cert: Option<Certificate>,
    /// Peer lists, candidates and refills: the overlay rule.
    candidates: candidates::Candidates,
    neighbors: BTreeMap<LinkId, Neighbor>,
    /// Outbound links waiting for `LinkAccepted`, and inbound ones waiting for `Link`.
    pending: BTreeMap<LinkId, Option<Target>>,
    /// When the neighbour set is reported to the seeds, and each report's number.
    reports: reports::Reports,
    relay: relay::Relay,
    live: liveness::Liveness,
    /// How this peer checks signatures: alone, or sharing passed checks ([`Checks`]).
    checks: Checks,
    io: Outbox<Dial>,
}

impl State {
    /// A peer listening at `addr`, at `incarnation` (higher after every restart). It starts
    /// dialling seeds at once. `rng_seed` seeds its random choices and keys its hash maps
    /// ([`HashKeys`](crate::sig::HashKeys)): a driver draws it from the OS (or a run seed).
    pub fn new(
        now: Time,
        key: Keypair,
        addr: SocketAddr,
        incarnation: u64,
        config: Config,
        settings: Settings,
        rng_seed: u64,
    ) -> State {
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        let live = liveness::Liveness::new(now + settings.ping_interval);
        let keys = crate::sig::HashKeys::from_seed(rng_seed);
        let relay = relay::Relay::new(&settings, keys, key.id());
        let candidates =
            candidates::Candidates::new(settings.peer_list_wait, settings.refill, keys);
        let join = join::Join::new(now, settings.retry, settings.join_timeout);
        // Numbered above any report an earlier run of this peer can have sent.
        let reports = reports::Reports::new(now, settings.report_every);
        let mut seed_order: Vec<usize> = (0..config.seeds.len()).collect();
        seed_order.shuffle(&mut rng);
        let mut s = State {
            key,
            addr,
            incarnation,
            seeds: seeds::Seeds::new(&config, seed_order, settings.retry),
            config,
            settings,
            rng,
            now,
            stopped: false,
            join,
            links: BTreeMap::new(),
            cert: None,
            candidates,
            neighbors: BTreeMap::new(),
            pending: BTreeMap::new(),
            // Above any sequence number an earlier run of this peer can have used.
            reports,
            live,
            checks: Checks::default(),
            relay,
            io: Outbox::default(),
        };
        s.io.event(Event::Started {
            id: s.key.id(),
            addr,
        });
        s.keep_seeds();
        s.learn_keys();
        s
    }

    /// Shares signature checks with other machines of this process (see [`Checks`]).
    pub fn share_checks(&mut self, checks: Checks) {
        self.checks = checks;
    }

    /// Starts generating once the neighbours are connected: registered, at least one
    /// neighbour, and no neighbour still being dialled.
    fn maybe_start_gossip(&mut self) {
        let settled = self.cert.is_some() && self.degree() > 0 && self.outbound_in_flight() == 0;
        if settled {
            self.relay.start(self.now);
        }
    }

    /// The certificate of this peer's admission, once it has one.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.cert.as_ref()
    }

    /// The current neighbours' ids.
    pub fn neighbors(&self) -> BTreeSet<PeerId> {
        self.neighbors.values().map(|n| n.id).collect()
    }

    /// The gossip counters so far.
    pub fn counters(&self) -> Counters {
        self.relay.counters()
    }

    /// The Message List.
    pub fn message_list(&self) -> &MessageList {
        self.relay.message_list()
    }

    fn close(&mut self, link: LinkId) {
        self.links.remove(&link);
        self.pending.remove(&link);
        self.io.push(Output::Close { link });
    }

    /// A part refused a frame (`Err`): a protocol error of its link.
    fn or_protocol_error(&mut self, link: LinkId, done: Result<(), String>) {
        if let Err(reason) = done {
            self.protocol_error(link, reason);
        }
    }

    fn protocol_error(&mut self, link: LinkId, reason: String) {
        let remote = self
            .links
            .get(&link)
            .map_or_else(|| format!("link {}", link.0), |r| r.source.to_string());
        self.io.event(Event::ProtocolError { remote, reason });
        self.drop_link(link);
        self.close(link);
    }

    /// The seeds' keys this peer trusts: pinned in the config, or proved to it first hand
    /// by a handshake at the seed's configured address. Never a key one seed states for
    /// another: a lying seed could name a key of its own making (PROTOCOL §2).
    pub fn seed_set(&self) -> SeedSet {
        self.seeds.set()
    }

    /// Forgets a link that went away, and repairs what depended on it.
    fn drop_link(&mut self, link: LinkId) {
        self.links.remove(&link);
        if let Some(Some(_)) = self.pending.remove(&link) {
            self.fill();
        }
        if let Some(i) = self.seeds.dropped(self.now, link) {
            let addr = self.seeds.addr(i);
            self.io.event(Event::SeedDisconnected { addr });
            self.keep_seeds();
        }
        self.relay.link_closed(self.now, link, &mut self.io);
        if let Some(n) = self.neighbors.remove(&link) {
            self.io.event(Event::NeighborRemoved {
                peer: n.id,
                addr: n.addr,
                degree: self.degree(),
            });
            self.report();
            self.candidates.lost_one();
            self.schedule_refill();
        }
    }

    // ---- inputs ------------------------------------------------------------------------

    fn on_link_up(&mut self, link: LinkId, remote: Remote, dial: Option<DialToken>) {
        match dial.and_then(|t| self.io.answered(t)) {
            Some(Dial::Seed(i)) => self.on_seed_link(i, link, remote),
            Some(Dial::Key(i)) => self.on_key_link(i, link, remote),
            Some(Dial::Neighbor(t) | Dial::Redial(t)) => self.on_neighbor_link(t, link, remote),
            Some(Dial::Witness { suspect, witness }) => {
                self.on_witness_link(suspect, witness, link, remote)
            }
            Some(Dial::Probe {
                suspect,
                addr,
                asker,
            }) => {
                self.io.push(Output::Close { link });
                self.answer_probe((suspect, addr), asker, remote.id == suspect.id);
            }
            None => {
                self.links.insert(link, remote);
                if remote.role == Role::Peer {
                    self.pending.insert(link, None);
                }
            }
        }
    }

    fn on_dial_failed(&mut self, token: DialToken, error: DialError) {
        match self.io.answered(token) {
            Some(Dial::Seed(i)) => {
                // Something answered there but did not finish a handshake (an older,
                // plaintext hearsay; another program): said when the peer gives up.
                if let DialError::Failed(why) = error {
                    (self.join).seed_problem(format!("{}: {why}", self.seeds.addr(i)));
                }
                self.seed_failed(i)
            }
            Some(Dial::Key(_)) => {}
            Some(Dial::Neighbor(_)) => self.fill(),
            Some(Dial::Redial(t)) => self.lost_missed(t.id),
            Some(Dial::Witness { suspect, witness }) => self.witness_unreachable(suspect, witness),
            Some(Dial::Probe {
                suspect,
                addr,
                asker,
            }) => self.answer_probe((suspect, addr), asker, false),
            None => {}
        }
    }

    fn on_frame(&mut self, link: LinkId, msg: Msg) {
        let Some(remote) = self.links.get(&link).copied() else {
            return;
        };
        let seed = self.seeds.index_of(link);
        self.heard_from(link);
        match (msg, seed) {
            (Msg::Admitted(cert), Some(_)) => self.on_admitted(link, *cert),
            (Msg::Refused { reason }, Some(_)) => self.on_refused(link, reason),
            (Msg::PeerList(list), Some(_)) => self.on_peer_list(link, list),
            (Msg::NeighborsOf(of), Some(_)) => self.on_witness_list(of.peer, of.neighbors),
            (Msg::Removed(cert), Some(_)) => self.on_removed(*cert),
            // A seed probed a suspect for this peer (PROTOCOL §12.6).
            (Msg::Verdict(v), Some(_)) => self.on_verdict(link, remote, *v),
            (Msg::Watch(w), Some(_)) => {
                let target = Target {
                    id: w.suspect,
                    incarnation: w.incarnation,
                };
                self.on_watch(target, w.addr)
            }
            (Msg::Ping(every), None) if self.neighbors.contains_key(&link) => {
                self.on_ping(link, every)
            }
            // Heard from it (see `heard_from` above), which is all a pong says.
            (Msg::Pong(_), None) if self.neighbors.contains_key(&link) => {}
            (Msg::ProbeRequest(ask), None) if remote.role == Role::Peer => {
                let target = Target {
                    id: ask.suspect,
                    incarnation: ask.incarnation,
                };
                self.on_probe_request(link, target, ask.addr)
            }
            (Msg::Admission(cert), None) if remote.role == Role::Peer => {
                self.on_admission(link, remote, *cert)
            }
            (Msg::Verdict(v), None) if remote.role == Role::Peer => {
                self.on_verdict(link, remote, *v)
            }
            (Msg::Link(cert), None) if remote.role == Role::Peer => {
                self.on_link_request(link, remote, *cert)
            }
            (Msg::Gossip(g), None) if self.neighbors.contains_key(&link) => {
                self.on_gossip(link, remote.addr, *g)
            }
            (Msg::Have(id), None) if self.neighbors.contains_key(&link) => {
                let done = self.relay.on_haves(self.now, link, &[id]);
                self.or_protocol_error(link, done)
            }
            (Msg::Want(id), None) if self.neighbors.contains_key(&link) => {
                let done = self.relay.on_wants(self.now, link, &[id], &mut self.io);
                self.or_protocol_error(link, done)
            }
            (Msg::Haves(ids), None) if self.neighbors.contains_key(&link) => {
                let done = self.relay.on_haves(self.now, link, &ids);
                self.or_protocol_error(link, done)
            }
            (Msg::Wants(ids), None) if self.neighbors.contains_key(&link) => {
                let done = self.relay.on_wants(self.now, link, &ids, &mut self.io);
                self.or_protocol_error(link, done)
            }
            (Msg::Graft(origins), None) if self.neighbors.contains_key(&link) => {
                let done = self.relay.on_graft(link, &origins);
                self.or_protocol_error(link, done)
            }
            (Msg::Prune(origins), None) if self.neighbors.contains_key(&link) => {
                let done = self.relay.on_prune(link, &origins);
                self.or_protocol_error(link, done)
            }
            (Msg::LinkAccepted, None) => match self.pending.remove(&link) {
                // A link in the other direction won meanwhile: one link per pair.
                Some(Some(t)) if self.neighbors.values().any(|n| n.id == t.id) => self.close(link),
                Some(Some(t)) => self.add_neighbor(link, t.id, remote.addr, t.incarnation, true),
                _ => self.protocol_error(link, "an acceptance out of place".into()),
            },
            (Msg::LinkRefused { reason }, None)
                if matches!(self.pending.get(&link), Some(Some(_))) =>
            {
                // It answered, so it is alive, whatever it thinks of this peer.
                if let Some(Some(t)) = self.pending.get(&link) {
                    self.live.lost.remove(&t.id);
                }
                self.io.event(Event::Notice {
                    text: format!("{} refused to be a neighbour: {reason}", remote.addr),
                });
                self.pending.remove(&link);
                self.close(link);
                self.fill();
            }
            (other, _) => {
                let reason = format!("unexpected {} from a {}", other.name(), remote.role.name());
                self.protocol_error(link, reason);
            }
        }
    }

    /// A gossip message from the neighbour at `from`, for the relay. A certificate short of
    /// known signers while some seed's key is not known here yet (this peer registered while
    /// that seed was cut off) makes the peer learn it; the relay holds the message until then.
    /// A forged message shows that its sender forges or relays forgeries (an honest relay
    /// checks before it forwards): its link is closed and it is never taken as a neighbour
    /// again (PROTOCOL §11.4), so forgers cannot stand between honest peers.
    pub(super) fn on_gossip(&mut self, link: LinkId, from: SocketAddr, g: Gossip) {
        let (seeds, checks) = (&self.seeds, &self.checks);
        let mut short_of_keys = false;
        let seeds_signed = |c: &Certificate| {
            let set = seeds.set();
            if c.verify_known(&set, checks) {
                return Some(true);
            }
            short_of_keys = c.sigs.iter().any(|(s, _)| !set.keys.contains(s));
            // A signer unknown while some seed's key is still to be learned: it cannot tell
            // yet. With every seed's key known, the signatures do not hold, whoever signed.
            if short_of_keys && set.keys.len() < set.n {
                None
            } else {
                Some(false)
            }
        };
        let neighbors = self.neighbors.keys().copied();
        let at = (link, from);
        let done = (self.relay).on_gossip(
            self.now,
            at,
            g,
            neighbors,
            (checks, seeds_signed),
            &mut self.io,
        );
        if short_of_keys {
            self.learn_keys();
        }
        if let Err(reason) = done {
            if let Some(remote) = self.links.get(&link) {
                self.candidates.shun(remote.id);
                self.protocol_error(link, reason);
            }
        }
    }

    /// When `timer` is due, if it is set.
    fn deadline(&self, timer: Timer) -> Option<Time> {
        match timer {
            Timer::Join => self.join.deadline(self.cert.is_some()),
            Timer::Register => self.join.again(),
            Timer::Liveness => Some(self.liveness_deadline()),
            Timer::Lists => self.candidates.lists_due(),
            Timer::Report => self.reports.deadline(),
            Timer::Refill => self.candidates.refill_at(),
            Timer::Relay => self.relay.deadline(),
            Timer::Seeds => self.seeds.deadline(),
        }
    }

    /// Does what `timer` was set for.
    fn fire(&mut self, timer: Timer) {
        let now = self.now;
        match timer {
            Timer::Join => self.give_up(),
            Timer::Register => {
                self.join.no_retry();
                self.register();
            }
            Timer::Liveness => self.liveness_timeout(),
            Timer::Lists => self.union_and_choose(),
            Timer::Report => self.send_report(),
            Timer::Refill => {
                self.candidates.take_refill();
                if self.degree() + self.outbound_in_flight() < self.settings.links {
                    self.ask_peer_lists();
                }
            }
            Timer::Relay => {
                let me = (&self.key, self.addr.ip());
                let neighbors = self.neighbors.keys().copied();
                (self.relay).on_timeout(now, me, neighbors, &mut self.io);
            }
            Timer::Seeds => {
                self.seeds.expire(now);
                self.keep_seeds();
            }
        }
    }

    /// Fires every timer that is due, in [`Timer::ALL`]'s order. The seed links are topped
    /// up on every wake-up, due or not (a seed may have become ready without a timer).
    fn on_timeout(&mut self) {
        // How late the earliest timer due runs: how far behind this peer's process is.
        if let Some(due) = self.poll_timeout().filter(|&t| t <= self.now) {
            self.timer_ran_late(self.now.since(due));
        }
        for timer in Timer::ALL {
            if self.stopped {
                return;
            }
            let due = self.deadline(timer).is_some_and(|t| t <= self.now);
            if due || timer == Timer::Seeds {
                self.fire(timer);
            }
        }
    }
}

impl Machine for State {
    fn handle(&mut self, now: Time, input: Input) {
        if self.stopped {
            return;
        }
        self.now = self.now.max(now);
        match input {
            Input::LinkUp { link, remote, dial } => self.on_link_up(link, *remote, dial),
            Input::LinkDown { link } => {
                if let Some(n) = self.neighbors.get(&link).copied() {
                    let others = self
                        .neighbors
                        .iter()
                        .any(|(l, m)| *l != link && m.id == n.id);
                    if !others {
                        self.neighbor_lost(n);
                    }
                }
                self.witness_link_down(link);
                self.drop_link(link);
            }
            Input::Echo { ip, answered } => self.on_echo(ip, answered),
            Input::Command { line } => {
                let text = self.answer(&line);
                self.io.push(Output::Reply(text));
            }
            Input::DialFailed { token, error } => self.on_dial_failed(token, error),
            Input::Frame { link, msg } => self.on_frame(link, msg),
            Input::Timeout => self.on_timeout(),
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        let out = self.io.pop().or_else(|| {
            self.relay.drain(self.now, &mut self.io);
            self.io.pop()
        })?;
        match &out {
            Output::Send {
                msg: Msg::Ping(_), ..
            } => {}
            Output::Send { link, .. } => {
                if let Some(n) = self.neighbors.get_mut(link) {
                    n.spoke = self.now;
                }
            }
            _ => {}
        }
        Some(out)
    }

    fn poll_timeout(&self) -> Option<Time> {
        if self.stopped {
            return None;
        }
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.deadline(t))
            .min()
    }

    fn link_use(&self, link: LinkId) -> LinkUse {
        self.use_of(link)
    }
}
