//! The seed state machine (SPEC §5, PROTOCOL §5–§7, §9).
//!
//! A seed coordinates the registrations its peers send it, validates every proposal on its
//! own (signature, conflicts, rate limit, dial-back), signs votes, assembles certificates from
//! a quorum of yes votes and applies only certificates that verify. Its Peer List is derived
//! from those certificates alone.
//!
//! `State` routes inputs to what decides (`decide`: proposals, votes, certificates; `sync`:
//! anti-entropy; `serve`: peer lists and status) and owns parts that each keep their own
//! invariants and tests: `seeds` (the other seeds' keys, links and redials), `list` (the
//! Peer List, tombstones and their ledger), `pending` (decisions in flight), `votes` (votes
//! and promises), `agreement` (anti-entropy's schedule and exchanges), `topology`
//! (neighbour reports and degrees), `rate` (limits per source) and `watch` (probes and
//! orphans).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

mod agreement;
mod decide;
mod list;
mod pending;
mod rate;
mod seeds;
mod serve;
mod settings;
mod sync;
#[cfg(test)]
mod tests;
mod topology;
mod votes;
mod watch;

pub use list::Member;
pub use list::BUCKETS;
pub use settings::Settings;

use self::pending::Reply;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cert::{Digest, NeighborReport, SeedSet};
use crate::config::Config;
use crate::event::Event;
use crate::id::{Keypair, PeerId};
use crate::node::{
    DialError, DialPool, DialToken, Input, LinkId, LinkUse, Machine, Outbox, Output, Remote, Role,
};
use crate::sig::Checks;
use crate::time::Time;
use crate::wire::{Msg, NeighborsOf};

#[derive(Clone, Copy, Debug)]
enum Dial {
    Seed(usize),
    /// A dial-back (add) or the seed's own probe of an accused peer (removal).
    Probe(Digest),
    /// A probe of a suspect for a peer whose witnesses could not answer (PROTOCOL §12.6).
    Witness {
        asker: LinkId,
        probed: (PeerId, SocketAddr, u64),
    },
}

impl crate::node::Purpose for Dial {
    fn pool(&self) -> DialPool {
        match self {
            Dial::Seed(_) => DialPool::Trusted,
            Dial::Probe(_) | Dial::Witness { .. } => DialPool::Probe,
        }
    }
}

/// What a seed's clock wakes it for: [`State::deadline`] is the one table both
/// `poll_timeout` and `on_timeout` read, [`State::fire`] what each does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// A proposal coordinated or validated ran out of time.
    Proposals,
    /// Remembered votes past their memory are forgotten.
    Sweep,
    /// The ledger's root goes to the other seeds (PROTOCOL §13).
    Sync,
    /// A lost seed is dialled again.
    Redial,
    /// The Peer List is looked over for orphans (PROTOCOL §12.6).
    Orphans,
}

impl Timer {
    /// Every timer, in the order timers due together fire.
    const ALL: [Timer; 5] = [
        Timer::Proposals,
        Timer::Sweep,
        Timer::Sync,
        Timer::Redial,
        Timer::Orphans,
    ];
}

const RECENT: usize = 64;
/// Budget of one status page, well under [`wire::MAX_FRAME`].
const STATUS_PAGE_BYTES: usize = 768 * 1024;

/// Signature checks that passed a seed remembers, the oldest forgotten first: enough for
/// the registrations, votes and certificates in flight at once (a few hundred KiB).
const REMEMBERED_CHECKS: usize = 4096;

/// A seed.
pub struct State {
    key: Keypair,
    addr: SocketAddr,
    config: Config,
    settings: Settings,
    rng: ChaCha8Rng,
    now: Time,
    /// How this seed checks signatures: alone, or sharing passed checks ([`Checks`]).
    checks: Checks,
    /// The other seeds: keys, the links of its own, redials.
    seeds: seeds::Seeds,
    links: BTreeMap<LinkId, Remote>,
    /// The Peer List and the tombstones, with what is kept in step with them.
    list: list::PeerList,
    /// Neighbour reports and the degrees peer lists give.
    topology: topology::Topology,
    /// Proposals coordinated and validated here.
    pending: pending::Pending,
    /// What this seed voted and promised.
    votes: votes::Votes,
    /// Anti-entropy: the schedule, the exchanges under way, agreement, rebuilding.
    agreement: agreement::Agreement,
    /// Registrations and dead-node reports per source IP.
    rate: rate::RateLimit,
    /// Probes for peers, and orphans asked after.
    watch: watch::Watch,
    recent: VecDeque<String>,
    io: Outbox<Dial>,
}

/// Why a seed could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewError {
    /// Its address is not in the config.
    #[error("{0} is not a seed in the config")]
    NotInConfig(SocketAddr),
    /// Its key differs from the one pinned for it in the config.
    #[error("this seed's key {0} is not the key the config pins for {1}")]
    WrongKey(PeerId, SocketAddr),
}

impl State {
    /// A seed listening at `addr`, which must be one of the config's seeds. It starts dialling
    /// the other seeds at once.
    pub fn new(
        now: Time,
        key: Keypair,
        addr: SocketAddr,
        config: Config,
        settings: Settings,
        rng_seed: u64,
    ) -> Result<State, NewError> {
        let me = config.position(addr).ok_or(NewError::NotInConfig(addr))?;
        let seeds = seeds::Seeds::new(&config, me, key.id(), now, settings.seed_retry)
            .map_err(|_| NewError::WrongKey(key.id(), addr))?;
        let sync_every = settings.sync_interval;
        let orphan_after = settings.orphan_after;
        let rate = rate::RateLimit::new(
            settings.rate_burst,
            settings.rate_refill,
            settings.max_sources,
        );
        let keys = crate::sig::HashKeys::from_seed(rng_seed);
        let mut s = State {
            key,
            addr,
            settings,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            now,
            // A seed checks a registration, a vote and the certificate made of the votes as
            // each comes, through every seed: remembered, each signature costs one check.
            checks: Checks::shared(REMEMBERED_CHECKS, keys),
            seeds,
            links: BTreeMap::new(),
            config,
            list: list::PeerList::new(keys),
            topology: topology::Topology::new(keys),
            pending: pending::Pending::default(),
            votes: votes::Votes::new(now),
            agreement: agreement::Agreement::new(now, sync_every),
            rate,
            watch: watch::Watch::new(now, orphan_after),
            recent: VecDeque::new(),
            io: Outbox::default(),
        };
        s.io.event(Event::Started {
            id: s.key.id(),
            addr,
        });
        s.redial_seeds();
        Ok(s)
    }

    /// Shares signature checks with other machines of this process (see [`Checks`]).
    pub fn share_checks(&mut self, checks: Checks) {
        self.checks = checks;
    }

    /// How it checks signatures.
    #[cfg(test)]
    pub(crate) fn checks(&self) -> &Checks {
        &self.checks
    }

    /// The Peer List.
    pub fn peer_list(&self) -> &BTreeMap<PeerId, Member> {
        self.list.members()
    }

    /// The configured seeds whose keys this seed knows.
    pub fn seed_set(&self) -> SeedSet {
        SeedSet {
            n: self.config.seeds.len(),
            keys: self.seeds.keys().collect(),
        }
    }

    fn protocol_error(&mut self, link: LinkId, reason: String) {
        let remote = self
            .links
            .remove(&link)
            .map_or_else(|| format!("link {}", link.0), |r| r.source.to_string());
        self.forget_link(link);
        self.io.event(Event::ProtocolError { remote, reason });
        self.io.push(Output::Close { link });
    }

    fn seed_index(&self, id: PeerId) -> Option<usize> {
        self.seeds.index_of(id)
    }

    /// A link to seed `i`: our own dial if up, else any link it opened to us.
    fn seed_link(&self, i: usize) -> Option<LinkId> {
        let key = self.seeds.key(i)?;
        self.seeds.own_link(i).or_else(|| {
            self.links
                .iter()
                .find(|(_, r)| r.id == key && r.role == Role::Seed)
                .map(|(l, _)| *l)
        })
    }

    fn other_seed_links(&self) -> Vec<LinkId> {
        (self.seeds.others())
            .filter_map(|i| self.seed_link(i))
            .collect()
    }

    fn redial_seeds(&mut self) {
        for i in self.seeds.due(self.now) {
            let addr = self.config.seeds[i].addr;
            self.io.dial(addr, Dial::Seed(i));
        }
    }

    fn remember(&mut self, line: String) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    // ---- links -------------------------------------------------------------------------

    fn on_link_up(&mut self, link: LinkId, remote: Remote, dial: Option<DialToken>) {
        match dial.and_then(|t| self.io.answered(t)) {
            Some(Dial::Probe(d)) => {
                self.io.push(Output::Close { link });
                self.on_probe(d, Ok(remote.id));
            }
            Some(Dial::Seed(i)) => self.on_seed_dialled(i, link, remote),
            Some(Dial::Witness { asker, probed }) => {
                self.io.push(Output::Close { link });
                self.answer_probe(asker, probed, Some(remote.id));
            }
            None => {
                self.links.insert(link, remote);
                match remote.role {
                    // A peer removed while it was cut off learns it as soon as it links up
                    // again, and comes back at a higher incarnation (PROTOCOL §12.4).
                    Role::Peer if !self.list.contains(&remote.id) => {
                        if let Some(cert) = self.list.tombstone(&remote.id) {
                            self.io.send(link, Msg::Removed(Box::new(cert.clone())));
                        }
                    }
                    Role::Peer => {}
                    Role::Seed => {
                        // A seed we have no link of our own to: dial it now rather than later.
                        let i = self.config.position(remote.addr);
                        if i.is_some_and(|i| self.seeds.dial_sooner(i, self.now)) {
                            self.redial_seeds();
                        }
                    }
                    Role::Client => {}
                }
            }
        }
    }

    fn on_seed_dialled(&mut self, i: usize, link: LinkId, remote: Remote) {
        let addr = self.config.seeds[i].addr;
        let known = self.seeds.key(i);
        let wrong = remote.role != Role::Seed || known.is_some_and(|k| k != remote.id);
        if wrong || self.seed_index(remote.id).is_some_and(|j| j != i) {
            self.links.insert(link, remote);
            self.protocol_error(
                link,
                format!(
                    "{addr} answered as {} {}, not as the seed of the config",
                    remote.role.name(),
                    remote.id
                ),
            );
            self.seeds.failed(i, self.now);
            return;
        }
        self.learn_seed_key(i, remote.id);
        self.links.insert(link, remote);
        self.seeds.connected(i, link);
        // Catch up on whatever either side missed while we were apart.
        self.send_root(link);
        self.io.event(Event::SeedConnected {
            addr,
            id: remote.id,
        });
    }

    fn forget_link(&mut self, link: LinkId) {
        self.agreement.forget(link);
        if let Some(i) = self.seeds.lost(link, self.now) {
            let addr = self.config.seeds[i].addr;
            self.io.event(Event::SeedDisconnected { addr });
        }
    }

    fn on_dial_failed(&mut self, token: DialToken, error: DialError) {
        match self.io.answered(token) {
            Some(Dial::Seed(i)) => self.seeds.failed(i, self.now),
            Some(Dial::Probe(d)) => self.on_probe(d, Err(error)),
            Some(Dial::Witness { asker, probed }) => self.answer_probe(asker, probed, None),
            None => {}
        }
    }

    // ---- frames ------------------------------------------------------------------------

    fn on_frame(&mut self, link: LinkId, msg: Msg) {
        let Some(remote) = self.links.get(&link).copied() else {
            return;
        };
        let from_seed = remote.role == Role::Seed && self.seed_index(remote.id).is_some();
        match msg {
            Msg::Register(reg) if remote.role == Role::Peer => self.on_register(link, remote, *reg),
            Msg::GetNeighbors(peer) if remote.role == Role::Peer => {
                let neighbors = self.neighbors_of(&peer);
                self.io.send(
                    link,
                    Msg::NeighborsOf(Box::new(NeighborsOf { peer, neighbors })),
                );
            }
            Msg::GetPeers if remote.role == Role::Peer => {
                let list = self.sample_peer_list(remote.id);
                self.io.send(link, Msg::PeerList(list));
            }
            Msg::Neighbors(report) if remote.role == Role::Peer || from_seed => {
                if report.peer != remote.id && !from_seed {
                    return self
                        .protocol_error(link, "neighbour report signed for another peer".into());
                }
                self.on_neighbors(*report, !from_seed);
            }
            Msg::StatusRequest { offset } => {
                let status = self.status(offset as usize);
                self.io.send(link, Msg::Status(Box::new(status)));
            }
            Msg::DeadReport(r) if remote.role == Role::Peer => self.on_dead_report(link, remote, r),
            Msg::ProbeRequest(ask) if remote.role == Role::Peer => {
                self.on_probe_request(link, remote, *ask)
            }
            Msg::Propose(p) if from_seed => self.on_propose(*p, Reply::Link(link)),
            Msg::Vote(v) if from_seed => {
                // Votes go straight from voter to coordinator: a vote relayed by another
                // seed could be an old one, replayed to veto.
                if v.voter != remote.id || !v.verify(&self.checks) {
                    return self.protocol_error(link, "a vote that does not verify".into());
                }
                self.on_vote(*v);
            }
            Msg::SyncRoot { root, reply } if from_seed => {
                self.on_sync_root(link, remote.id, root, reply)
            }
            Msg::SyncBuckets(b) if from_seed => self.on_sync_buckets(link, remote.id, b),
            Msg::SyncFetch(b) if from_seed => self.on_sync_fetch(link, b),
            Msg::Certificates(certs) if from_seed => self.on_certificates(remote.source, certs),
            Msg::Commit(cert) if from_seed => {
                if let Err(e) = self.apply(&cert) {
                    self.io.event(Event::ProtocolError {
                        remote: remote.source.to_string(),
                        reason: format!("certificate rejected: {e}"),
                    });
                }
            }
            // A seed whose key this seed has not learned yet (its own dial is on the way):
            // nothing it says can be checked, and the catch-up at link-up brings it again.
            Msg::Propose(_)
            | Msg::Vote(_)
            | Msg::Commit(_)
            | Msg::Neighbors(_)
            | Msg::SyncRoot { .. }
            | Msg::SyncBuckets(_)
            | Msg::SyncFetch(_)
            | Msg::Certificates(_)
                if remote.role == Role::Seed
                    && !from_seed
                    && self
                        .config
                        .position(remote.addr)
                        .is_some_and(|i| self.seeds.key(i).is_none()) => {}
            other => {
                let reason = format!("unexpected {} from a {}", other.name(), remote.role.name());
                self.protocol_error(link, reason);
            }
        }
    }

    // ---- peer lists, topology, status --------------------------------------------------

    /// A peer's degree as peer lists give it ([`topology::Topology`]).
    pub(crate) fn degree(&self, id: &PeerId) -> u32 {
        self.topology.degree(id)
    }

    /// Neighbour reports held (tests).
    #[cfg(test)]
    pub(crate) fn reports_held(&self) -> usize {
        self.topology.len()
    }

    /// [`State::degree`] counted from scratch (tests compare the two).
    #[cfg(test)]
    pub(crate) fn count_degree(&self, id: &PeerId) -> u32 {
        self.topology.count_degree(id, |p| self.list.contains(p))
    }

    /// `peer`'s report becomes `report` (or goes).
    pub(super) fn set_report(&mut self, peer: PeerId, report: Option<NeighborReport>) {
        let list = &self.list;
        self.topology.set_report(peer, report, |p| list.contains(p));
    }

    /// A peer's reported neighbours that are in the Peer List, with their addresses.
    fn neighbors_of(&self, peer: &PeerId) -> Vec<(PeerId, SocketAddr)> {
        let Some(report) = self.topology.report(peer) else {
            return Vec::new();
        };
        report
            .neighbors
            .iter()
            .filter_map(|n| self.list.get(n).map(|m| (*n, m.addr)))
            .collect()
    }

    fn on_neighbors(&mut self, report: NeighborReport, from_peer: bool) {
        let member = self.list.contains(&report.peer);
        let checks = &self.checks;
        let room = (member, self.list.len());
        if !(self.topology).admits(&report, room, |r| r.verify(checks)) {
            return;
        }
        if from_peer && member {
            for l in self.other_seed_links() {
                self.io.send(l, Msg::Neighbors(Box::new(report.clone())));
            }
        }
        self.set_report(report.peer, Some(report));
    }

    // ---- time --------------------------------------------------------------------------

    /// Forgets votes past their memory, and the promises that went with them.
    fn sweep(&mut self) {
        let list = &self.list;
        let admitted = |peer, inc| list.get(&peer).is_some_and(|m| m.incarnation >= inc);
        let settings = &self.settings;
        self.votes
            .sweep(self.now, |v| settings.memory_of(v), admitted);
    }

    /// When `timer` is due, if it is set.
    fn deadline(&self, timer: Timer) -> Option<Time> {
        match timer {
            Timer::Proposals => self.pending.next_deadline(),
            Timer::Sweep => self.votes.deadline(),
            Timer::Sync => Some(self.agreement.deadline()),
            Timer::Redial => self.seeds.deadline(),
            Timer::Orphans => Some(self.watch.deadline()),
        }
    }

    /// Does what `timer` was set for.
    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::Proposals => self.proposals_late(),
            Timer::Sweep => self.sweep(),
            Timer::Sync => self.sync_all(),
            Timer::Redial => self.redial_seeds(),
            Timer::Orphans => self.sweep_orphans(),
        }
    }

    /// Aborts the proposals this seed coordinates that ran out of time, then gives up the
    /// validations that did, each in digest order.
    fn proposals_late(&mut self) {
        for d in self.pending.late(self.now, true) {
            let yes = self.pending.coordination(&d).map_or(0, |c| c.tally.yes());
            let q = self.config.quorum();
            self.abort(
                d,
                &format!("timed out with {yes} of the {q} yes votes needed"),
            );
        }
        for d in self.pending.late(self.now, false) {
            self.on_probe(d, Err(DialError::TimedOut));
        }
    }

    /// Fires every timer that is due, in [`Timer::ALL`]'s order (see [`votes::Votes::due`]
    /// for the sweep).
    fn on_timeout(&mut self) {
        for timer in Timer::ALL {
            let due = match timer {
                Timer::Sweep => self.votes.due(self.now),
                _ => self.deadline(timer).is_some_and(|t| t <= self.now),
            };
            if due {
                self.fire(timer);
            }
        }
    }
}

impl Machine for State {
    fn handle(&mut self, now: Time, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::LinkUp { link, remote, dial } => self.on_link_up(link, *remote, dial),
            Input::LinkDown { link } => {
                self.links.remove(&link);
                self.forget_link(link);
            }
            Input::DialFailed { token, error } => self.on_dial_failed(token, error),
            Input::Frame { link, msg } => self.on_frame(link, msg),
            Input::Timeout => self.on_timeout(),
            // Seeds send no echo and take no typed commands (one process may run several).
            Input::Echo { .. } | Input::Command { .. } => {}
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.io.pop()
    }

    fn poll_timeout(&self) -> Option<Time> {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.deadline(t))
            .min()
    }

    /// A seed keeps the links of the other seeds (keys it knows), of admitted peers, and of
    /// peers whose registration it coordinates; its own dial-backs and probes close as soon
    /// as they answer. Clients and unadmitted peers are strangers.
    fn link_use(&self, link: LinkId) -> LinkUse {
        let Some(remote) = self.links.get(&link) else {
            return LinkUse::Stranger;
        };
        let kept = match remote.role {
            Role::Seed => self.seed_index(remote.id).is_some(),
            Role::Peer => self.list.contains(&remote.id) || self.pending.registering(link),
            Role::Client => false,
        };
        if kept {
            LinkUse::Protected
        } else {
            LinkUse::Stranger
        }
    }
}
