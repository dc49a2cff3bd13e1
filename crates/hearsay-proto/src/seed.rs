//! The seed state machine (SPEC §5, PROTOCOL §5–§7, §9).
//!
//! A seed coordinates the registrations its peers send it, validates every proposal on its
//! own (signature, conflicts, rate limit, dial-back), signs votes, assembles certificates from
//! a quorum of yes votes and applies only certificates that verify. Its Peer List is derived
//! from those certificates alone.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cert::{Certificate, Change, Digest, Evidence, Op, Proposal, SeedSet, Vote};
use crate::config::Config;
use crate::event::Event;
use crate::id::{Keypair, PeerId};
use crate::node::{DialToken, Input, LinkId, Machine, Output, Remote, Role};
use crate::quorum::{Outcome, Tally};
use crate::time::Time;
use crate::wire::{self, Msg, NeighborReport, PeerInfo, Registration, Status, StatusPeer};

/// A seed's tunables. The defaults suit a real network; tests shorten them.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a coordinator waits for a quorum before aborting. Must not be zero.
    pub proposal_timeout: Duration,
    /// How long to wait before dialling a lost seed again.
    pub seed_retry: Duration,
    /// Registrations one source IP may start at once (token bucket size).
    pub rate_burst: u32,
    /// One more registration token per source IP every this long.
    pub rate_refill: Duration,
    /// Most entries in one peer list sent to a peer (at most [`wire::MAX_LIST`]).
    pub peer_list_max: usize,
    /// Most proposals coordinated and most validations in flight, each.
    pub max_pending: usize,
    /// Most source IPs tracked by the rate limit.
    pub max_sources: usize,
    /// Yes votes are remembered this long, so a repeated proposal gets the same answer.
    pub vote_memory: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            proposal_timeout: Duration::from_secs(5),
            seed_retry: Duration::from_millis(500),
            rate_burst: 64,
            rate_refill: Duration::from_millis(100),
            peer_list_max: 1000,
            max_pending: 1024,
            max_sources: 4096,
            vote_memory: Duration::from_secs(600),
        }
    }
}

/// An admitted peer, with the certificate that admitted it.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its address.
    pub addr: SocketAddr,
    /// Its incarnation.
    pub incarnation: u64,
    /// The certificate it was admitted by.
    pub cert: Certificate,
}

/// Where a vote goes back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    /// This seed coordinates the proposal itself.
    Local,
    /// A remote coordinator, over this link.
    Link(LinkId),
}

#[derive(Debug)]
struct Coordination {
    change: Change,
    waiters: Vec<LinkId>,
    tally: Tally<PeerId>,
    yes: Vec<Vote>,
    no: Vec<String>,
    deadline: Time,
}

#[derive(Debug)]
struct Validation {
    change: Change,
    replies: Vec<Reply>,
    deadline: Time,
}

#[derive(Clone, Copy, Debug)]
enum Dial {
    Seed(usize),
    DialBack(Digest),
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Time,
}

const RECENT: usize = 64;
const EXTRA_REPORTS: usize = 1024;

/// A seed.
pub struct State {
    key: Keypair,
    addr: SocketAddr,
    config: Config,
    settings: Settings,
    rng: ChaCha8Rng,
    now: Time,
    /// Known keys, by config index (this seed's own included).
    seed_keys: Vec<Option<PeerId>>,
    links: BTreeMap<LinkId, Remote>,
    seed_out: BTreeMap<usize, LinkId>,
    seed_redial: BTreeMap<usize, Time>,
    dials: BTreeMap<DialToken, Dial>,
    next_token: u64,
    pl: BTreeMap<PeerId, Member>,
    removed: BTreeMap<PeerId, u64>,
    topology: BTreeMap<PeerId, NeighborReport>,
    coordinating: BTreeMap<Digest, Coordination>,
    validating: BTreeMap<Digest, Validation>,
    voted: BTreeMap<Digest, (Vote, Time)>,
    /// The address this seed voted yes for, per (peer, incarnation): it never votes yes for
    /// two, so no two certificates of one incarnation can exist (quorums overlap).
    promised: BTreeMap<(PeerId, u64), SocketAddr>,
    buckets: BTreeMap<IpAddr, Bucket>,
    recent: VecDeque<String>,
    out: VecDeque<Output>,
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
        let mut seed_keys: Vec<Option<PeerId>> = config.seeds.iter().map(|s| s.key).collect();
        match seed_keys[me] {
            Some(pinned) if pinned != key.id() => return Err(NewError::WrongKey(key.id(), addr)),
            _ => seed_keys[me] = Some(key.id()),
        }
        let mut s = State {
            key,
            addr,
            settings,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            now,
            seed_keys,
            links: BTreeMap::new(),
            seed_out: BTreeMap::new(),
            seed_redial: (0..config.seeds.len())
                .filter(|&i| i != me)
                .map(|i| (i, now))
                .collect(),
            config,
            dials: BTreeMap::new(),
            next_token: 0,
            pl: BTreeMap::new(),
            removed: BTreeMap::new(),
            topology: BTreeMap::new(),
            coordinating: BTreeMap::new(),
            validating: BTreeMap::new(),
            voted: BTreeMap::new(),
            promised: BTreeMap::new(),
            buckets: BTreeMap::new(),
            recent: VecDeque::new(),
            out: VecDeque::new(),
        };
        s.event(Event::Started {
            id: s.key.id().to_hex(),
            addr: addr.to_string(),
        });
        s.redial_seeds();
        Ok(s)
    }

    /// The Peer List.
    pub fn peer_list(&self) -> &BTreeMap<PeerId, Member> {
        &self.pl
    }

    /// The configured seeds whose keys this seed knows.
    pub fn seed_set(&self) -> SeedSet {
        SeedSet {
            n: self.config.seeds.len(),
            keys: self.seed_keys.iter().flatten().copied().collect(),
        }
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn send(&mut self, link: LinkId, msg: Msg) {
        self.out.push_back(Output::Send { link, msg });
    }

    fn dial(&mut self, addr: SocketAddr, purpose: Dial) {
        let token = DialToken(self.next_token);
        self.next_token += 1;
        self.dials.insert(token, purpose);
        self.out.push_back(Output::Dial { token, addr });
    }

    fn protocol_error(&mut self, link: LinkId, reason: String) {
        let remote = self
            .links
            .remove(&link)
            .map_or_else(|| format!("link {}", link.0), |r| r.source.to_string());
        self.forget_link(link);
        self.event(Event::ProtocolError { remote, reason });
        self.out.push_back(Output::Close { link });
    }

    fn seed_index(&self, id: PeerId) -> Option<usize> {
        self.seed_keys.iter().position(|k| *k == Some(id))
    }

    /// A link to seed `i`: our own dial if up, else any link it opened to us.
    fn seed_link(&self, i: usize) -> Option<LinkId> {
        let key = self.seed_keys[i]?;
        self.seed_out.get(&i).copied().or_else(|| {
            self.links
                .iter()
                .find(|(_, r)| r.id == key && r.role == Role::Seed)
                .map(|(l, _)| *l)
        })
    }

    fn other_seed_links(&self) -> Vec<LinkId> {
        let me = self.config.position(self.addr);
        (0..self.config.seeds.len())
            .filter(|&i| Some(i) != me)
            .filter_map(|i| self.seed_link(i))
            .collect()
    }

    fn redial_seeds(&mut self) {
        let due: Vec<usize> = self
            .seed_redial
            .iter()
            .filter(|(_, t)| **t <= self.now)
            .map(|(i, _)| *i)
            .collect();
        for i in due {
            self.seed_redial.remove(&i);
            let addr = self.config.seeds[i].addr;
            self.dial(addr, Dial::Seed(i));
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
        match dial.and_then(|t| self.dials.remove(&t)) {
            Some(Dial::DialBack(d)) => {
                self.out.push_back(Output::Close { link });
                self.on_dial_back(d, Ok(remote.id));
            }
            Some(Dial::Seed(i)) => self.on_seed_dialled(i, link, remote),
            None => {
                self.links.insert(link, remote);
                match remote.role {
                    Role::Peer => {
                        let table = self.seed_table();
                        self.send(link, Msg::Seeds(table));
                    }
                    Role::Seed => {
                        // A seed we have no link of our own to: dial it now rather than later.
                        if let Some(i) = self.config.position(remote.addr) {
                            if !self.seed_out.contains_key(&i) && self.seed_redial.contains_key(&i)
                            {
                                self.seed_redial.insert(i, self.now);
                                self.redial_seeds();
                            }
                        }
                    }
                    Role::Client => {}
                }
            }
        }
    }

    fn on_seed_dialled(&mut self, i: usize, link: LinkId, remote: Remote) {
        let addr = self.config.seeds[i].addr;
        let known = self.seed_keys[i];
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
            self.seed_redial
                .insert(i, self.now + self.settings.seed_retry);
            return;
        }
        self.seed_keys[i] = Some(remote.id);
        self.links.insert(link, remote);
        self.seed_out.insert(i, link);
        self.event(Event::SeedConnected {
            addr: addr.to_string(),
            id: remote.id.to_hex(),
        });
    }

    fn seed_table(&self) -> Vec<(SocketAddr, PeerId)> {
        self.config
            .seeds
            .iter()
            .zip(&self.seed_keys)
            .filter_map(|(s, k)| k.map(|k| (s.addr, k)))
            .collect()
    }

    fn forget_link(&mut self, link: LinkId) {
        if let Some((&i, _)) = self.seed_out.iter().find(|(_, l)| **l == link) {
            self.seed_out.remove(&i);
            self.seed_redial
                .insert(i, self.now + self.settings.seed_retry);
            let addr = self.config.seeds[i].addr.to_string();
            self.event(Event::SeedDisconnected { addr });
        }
    }

    fn on_dial_failed(&mut self, token: DialToken, reason: String) {
        match self.dials.remove(&token) {
            Some(Dial::Seed(i)) => {
                self.seed_redial
                    .insert(i, self.now + self.settings.seed_retry);
            }
            Some(Dial::DialBack(d)) => self.on_dial_back(d, Err(reason)),
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
            Msg::Register(reg) if remote.role == Role::Peer => self.on_register(link, remote, reg),
            Msg::GetPeers if remote.role == Role::Peer => {
                let list = self.sample_peer_list(remote.id);
                self.send(link, Msg::PeerList(list));
            }
            Msg::Neighbors(report) if remote.role == Role::Peer || from_seed => {
                if report.peer != remote.id && !from_seed {
                    return self
                        .protocol_error(link, "neighbour report signed for another peer".into());
                }
                self.on_neighbors(report, !from_seed);
            }
            Msg::StatusRequest { offset } => {
                let status = self.status(offset as usize);
                self.send(link, Msg::Status(status));
            }
            Msg::Propose(p) if from_seed => self.on_propose(p, Reply::Link(link)),
            Msg::Vote(v) if from_seed => {
                if self.seed_index(v.voter).is_none() || !v.verify() {
                    return self.protocol_error(link, "a vote that does not verify".into());
                }
                self.on_vote(v);
            }
            Msg::Commit(cert) if from_seed => {
                if let Err(e) = self.apply(&cert) {
                    self.event(Event::ProtocolError {
                        remote: remote.source.to_string(),
                        reason: format!("certificate rejected: {e}"),
                    });
                }
            }
            other => {
                let what = format!("{other:?}");
                let what = what.split(['(', ' ', '{']).next().unwrap_or("?");
                self.protocol_error(
                    link,
                    format!("unexpected {what} from a {}", remote.role.name()),
                );
            }
        }
    }

    fn on_register(&mut self, link: LinkId, remote: Remote, reg: Registration) {
        if reg.peer != remote.id {
            return self.protocol_error(link, "registration for another peer's id".into());
        }
        if !reg.verify() {
            return self.protocol_error(link, "registration signature does not hold".into());
        }
        let change = Change {
            op: Op::Add,
            peer: reg.peer,
            addr: reg.addr,
            incarnation: reg.incarnation,
        };
        if let Some(m) = self.pl.get(&reg.peer) {
            if m.incarnation == reg.incarnation && m.addr == reg.addr {
                let cert = m.cert.clone();
                return self.send(link, Msg::Admitted(cert));
            }
        }
        let digest = change.digest();
        if let Some(c) = self.coordinating.get_mut(&digest) {
            c.waiters.push(link);
            return;
        }
        if self.coordinating.len() >= self.settings.max_pending {
            let reason = "the seed is busy: too many registrations in flight".to_string();
            return self.send(link, Msg::Refused { reason });
        }
        self.event(Event::RegistrationProposed {
            peer: change.peer.to_hex(),
            addr: change.addr.to_string(),
            incarnation: change.incarnation,
        });
        let seeds = self.other_seed_links();
        let n = self.config.seeds.len();
        let q = self.config.quorum();
        if seeds.len() + 1 < q {
            let reason = format!(
                "only {} of {n} seeds reachable, a quorum needs {q}",
                seeds.len() + 1
            );
            self.abort_event(change, &reason);
            return self.send(link, Msg::Refused { reason });
        }
        self.coordinating.insert(
            digest,
            Coordination {
                change,
                waiters: vec![link],
                tally: Tally::new(n),
                yes: Vec::new(),
                no: Vec::new(),
                deadline: self.now + self.settings.proposal_timeout,
            },
        );
        let proposal = Proposal {
            change,
            evidence: Evidence::Registration(reg),
            source: remote.source.ip(),
        };
        for l in seeds {
            self.send(l, Msg::Propose(proposal.clone()));
        }
        self.on_propose(proposal, Reply::Local);
    }

    // ---- validation and votes ----------------------------------------------------------

    fn on_propose(&mut self, p: Proposal, reply: Reply) {
        let digest = p.change.digest();
        if let Some((vote, _)) = self.voted.get(&digest) {
            let vote = vote.clone();
            return self.reply(reply, vote);
        }
        if let Some(v) = self.validating.get_mut(&digest) {
            v.replies.push(reply);
            return;
        }
        if self.validating.len() >= self.settings.max_pending {
            return self.cast(p.change, false, "the seed is busy", vec![reply]);
        }
        match self.check_add(&p) {
            Err(reason) => self.cast(p.change, false, &reason, vec![reply]),
            Ok(()) => {
                self.validating.insert(
                    digest,
                    Validation {
                        change: p.change,
                        replies: vec![reply],
                        deadline: self.now + self.settings.proposal_timeout,
                    },
                );
                self.dial(p.change.addr, Dial::DialBack(digest));
            }
        }
    }

    /// Every check of an add but the dial-back (PROTOCOL §6.3).
    fn check_add(&mut self, p: &Proposal) -> Result<(), String> {
        let c = p.change;
        let Evidence::Registration(reg) = &p.evidence;
        if c.op != Op::Add {
            return Err("a registration can only add".into());
        }
        if (reg.peer, reg.addr, reg.incarnation) != (c.peer, c.addr, c.incarnation) {
            return Err("the registration does not match the change".into());
        }
        if !reg.verify() {
            return Err("the peer's signature does not hold".into());
        }
        if let Some(&k) = self.removed.get(&c.peer) {
            if k >= c.incarnation {
                return Err(format!("removed at incarnation {k}"));
            }
        }
        if let Some(m) = self.pl.get(&c.peer) {
            if m.incarnation > c.incarnation {
                return Err(format!("stale: incarnation {} is admitted", m.incarnation));
            }
            if m.incarnation == c.incarnation && m.addr != c.addr {
                let (inc, addr) = (m.incarnation, m.addr);
                return Err(format!("incarnation {inc} is admitted at {addr}"));
            }
        }
        if let Some(addr) = self.promised.get(&(c.peer, c.incarnation)) {
            if *addr != c.addr {
                let inc = c.incarnation;
                return Err(format!("this seed voted for incarnation {inc} at {addr}"));
            }
        }
        if let Some((holder, _)) = self
            .pl
            .iter()
            .find(|(id, m)| m.addr == c.addr && **id != c.peer)
        {
            return Err(format!("address {} is held by peer {holder}", c.addr));
        }
        if !self.take_token(p.source) {
            return Err(format!(
                "rate limit: too many registrations from {}",
                p.source
            ));
        }
        Ok(())
    }

    fn take_token(&mut self, ip: IpAddr) -> bool {
        let burst = f64::from(self.settings.rate_burst);
        let refill = self.settings.rate_refill.as_secs_f64().max(1e-6);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.settings.max_sources {
            // Forget the full buckets first: they hold no information.
            let now = self.now;
            self.buckets
                .retain(|_, b| b.tokens + now.since(b.at).as_secs_f64() / refill < burst);
            if self.buckets.len() >= self.settings.max_sources {
                return false;
            }
        }
        let now = self.now;
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.since(b.at).as_secs_f64() / refill).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn on_dial_back(&mut self, digest: Digest, answer: Result<PeerId, String>) {
        let Some(v) = self.validating.remove(&digest) else {
            return;
        };
        let addr = v.change.addr;
        match answer {
            Ok(id) if id == v.change.peer => self.cast(v.change, true, "", v.replies),
            Ok(id) => {
                let reason = format!("dial-back to {addr} met peer {id}, not the registering peer");
                self.cast(v.change, false, &reason, v.replies)
            }
            Err(e) => {
                let reason = format!("dial-back to {addr} failed: {e}");
                self.cast(v.change, false, &reason, v.replies)
            }
        }
    }

    fn cast(&mut self, change: Change, yes: bool, reason: &str, replies: Vec<Reply>) {
        // Dial-back took time: another address may have been promised meanwhile.
        let taken = self.promised.get(&(change.peer, change.incarnation));
        let (yes, reason) = match taken {
            Some(addr) if yes && *addr != change.addr => {
                let inc = change.incarnation;
                (
                    false,
                    format!("this seed voted for incarnation {inc} at {addr}"),
                )
            }
            _ => (yes, reason.to_string()),
        };
        if yes {
            self.promised
                .insert((change.peer, change.incarnation), change.addr);
        }
        let vote = Vote::new(&self.key, change, yes, &reason);
        self.voted.insert(change.digest(), (vote.clone(), self.now));
        self.event(Event::Vote {
            op: change.op_name(),
            peer: change.peer.to_hex(),
            addr: change.addr.to_string(),
            incarnation: change.incarnation,
            yes,
            reason: vote.reason.clone(),
        });
        for r in replies {
            self.reply(r, vote.clone());
        }
    }

    /// How long a vote is given again to a repeated proposal: a yes for `vote_memory`, a no
    /// only for one proposal timeout, so that a refused peer may try again (PROTOCOL §5.2).
    fn vote_memory(&self, vote: &Vote) -> Duration {
        if vote.yes {
            self.settings.vote_memory
        } else {
            self.settings.proposal_timeout
        }
    }

    fn reply(&mut self, to: Reply, vote: Vote) {
        match to {
            Reply::Local => self.on_vote(vote),
            Reply::Link(link) => self.send(link, Msg::Vote(vote)),
        }
    }

    fn on_vote(&mut self, vote: Vote) {
        let digest = vote.change.digest();
        let Some(c) = self.coordinating.get_mut(&digest) else {
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
        let Some(c) = self.coordinating.remove(&digest) else {
            return;
        };
        let cert = Certificate::from_votes(c.change, &c.yes);
        if let Err(e) = self.apply(&cert) {
            // Only if our own seed table changed under us; abort rather than send it.
            return self.abort_event(c.change, &format!("own certificate rejected: {e}"));
        }
        for l in self.other_seed_links() {
            self.send(l, Msg::Commit(cert.clone()));
        }
        for l in c.waiters {
            if self.links.contains_key(&l) {
                self.send(l, Msg::Admitted(cert.clone()));
            }
        }
    }

    fn abort(&mut self, digest: Digest, reason: &str) {
        let Some(c) = self.coordinating.remove(&digest) else {
            return;
        };
        self.abort_event(c.change, reason);
        for l in c.waiters {
            if self.links.contains_key(&l) {
                let reason = reason.to_string();
                self.send(l, Msg::Refused { reason });
            }
        }
    }

    fn abort_event(&mut self, c: Change, reason: &str) {
        self.remember(format!("aborted add of {} at {}: {reason}", c.peer, c.addr));
        self.event(Event::RegistrationAborted {
            peer: c.peer.to_hex(),
            addr: c.addr.to_string(),
            incarnation: c.incarnation,
            reason: reason.to_string(),
        });
    }

    /// Verifies a certificate and applies it to the Peer List (PROTOCOL §5.3).
    /// Applying the same change again changes nothing.
    fn apply(&mut self, cert: &Certificate) -> Result<(), crate::cert::CertError> {
        cert.verify(&self.seed_set())?;
        let c = cert.change;
        match c.op {
            Op::Add => {
                let removed = self
                    .removed
                    .get(&c.peer)
                    .is_some_and(|&k| k >= c.incarnation);
                // Two certificates of one incarnation need a corrupt quorum (see `promised`);
                // should they meet, the lower digest wins, so the order of arrival does not.
                let wins = self.pl.get(&c.peer).is_none_or(|m| {
                    m.incarnation < c.incarnation
                        || (m.incarnation == c.incarnation && c.digest() < m.cert.change.digest())
                });
                if removed || !wins {
                    return Ok(());
                }
                self.pl.insert(
                    c.peer,
                    Member {
                        addr: c.addr,
                        incarnation: c.incarnation,
                        cert: cert.clone(),
                    },
                );
                self.remember(format!(
                    "admitted {} at {} (incarnation {})",
                    c.peer, c.addr, c.incarnation
                ));
                self.event(Event::RegistrationCommitted {
                    peer: c.peer.to_hex(),
                    addr: c.addr.to_string(),
                    incarnation: c.incarnation,
                    signers: cert.signers().iter().map(PeerId::to_hex).collect(),
                });
            }
            Op::Remove => {
                let k = self.removed.entry(c.peer).or_insert(c.incarnation);
                *k = (*k).max(c.incarnation);
                if self
                    .pl
                    .get(&c.peer)
                    .is_some_and(|m| m.incarnation <= c.incarnation)
                {
                    self.pl.remove(&c.peer);
                    self.topology.remove(&c.peer);
                }
            }
        }
        Ok(())
    }

    // ---- peer lists, topology, status --------------------------------------------------

    fn degree(&self, id: &PeerId) -> u32 {
        self.topology
            .get(id)
            .map_or(0, |r| r.neighbors.len() as u32)
    }

    fn sample_peer_list(&mut self, asker: PeerId) -> Vec<PeerInfo> {
        let all: Vec<(&PeerId, &Member)> = self.pl.iter().filter(|(id, _)| **id != asker).collect();
        let max = self.settings.peer_list_max.min(wire::MAX_LIST);
        let picked: Vec<usize> = if all.len() <= max {
            (0..all.len()).collect()
        } else {
            let mut idx = rand::seq::index::sample(&mut self.rng, all.len(), max).into_vec();
            idx.sort_unstable();
            idx
        };
        picked
            .into_iter()
            .map(|i| {
                let (id, m) = all[i];
                PeerInfo {
                    id: *id,
                    addr: m.addr,
                    incarnation: m.incarnation,
                    degree: self.degree(id),
                }
            })
            .collect()
    }

    fn on_neighbors(&mut self, report: NeighborReport, from_peer: bool) {
        if !report.verify() {
            return;
        }
        if self
            .topology
            .get(&report.peer)
            .is_some_and(|r| r.seq >= report.seq)
        {
            return;
        }
        let known = self.pl.contains_key(&report.peer) || self.topology.contains_key(&report.peer);
        if !known && self.topology.len() >= self.pl.len() + EXTRA_REPORTS {
            return;
        }
        if from_peer {
            for l in self.other_seed_links() {
                self.send(l, Msg::Neighbors(report.clone()));
            }
        }
        self.topology.insert(report.peer, report);
    }

    fn status(&self, offset: usize) -> Status {
        let peers = self
            .pl
            .iter()
            .skip(offset)
            .take(wire::MAX_LIST)
            .map(|(id, m)| StatusPeer {
                id: *id,
                addr: m.addr,
                incarnation: m.incarnation,
                neighbors: self
                    .topology
                    .get(id)
                    .map(|r| r.neighbors.clone())
                    .unwrap_or_default(),
                signers: m.cert.signers(),
            })
            .collect();
        Status {
            seed: self.addr,
            id: self.key.id(),
            seeds: self.config.seeds.len() as u32,
            quorum: self.config.quorum() as u32,
            total: self.pl.len() as u32,
            peers,
            recent: if offset == 0 {
                self.recent.iter().cloned().collect()
            } else {
                Vec::new()
            },
        }
    }

    // ---- time --------------------------------------------------------------------------

    fn on_timeout(&mut self) {
        let now = self.now;
        let late: Vec<Digest> = self
            .coordinating
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(d, _)| *d)
            .collect();
        for d in late {
            let (yes, q) = (self.coordinating[&d].tally.yes(), self.config.quorum());
            self.abort(
                d,
                &format!("timed out with {yes} of the {q} yes votes needed"),
            );
        }
        let late: Vec<Digest> = self
            .validating
            .iter()
            .filter(|(_, v)| v.deadline <= now)
            .map(|(d, _)| *d)
            .collect();
        for d in late {
            self.on_dial_back(d, Err("timed out".into()));
        }
        let voted = std::mem::take(&mut self.voted);
        self.voted = voted
            .into_iter()
            .filter(|(_, (v, at))| *at + self.vote_memory(v) > now)
            .collect();
        // A promise outlives its vote only while the PL holds that peer: the PL then keeps
        // the address itself (see `check_add`).
        let (voted, pl) = (&self.voted, &self.pl);
        self.promised.retain(|(peer, inc), addr| {
            let change = Change {
                op: Op::Add,
                peer: *peer,
                addr: *addr,
                incarnation: *inc,
            };
            voted.contains_key(&change.digest()) && !pl.contains_key(peer)
        });
        self.redial_seeds();
    }
}

impl Machine for State {
    fn handle(&mut self, now: Time, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::LinkUp { link, remote, dial } => self.on_link_up(link, remote, dial),
            Input::LinkDown { link } => {
                self.links.remove(&link);
                self.forget_link(link);
            }
            Input::DialFailed { token, reason } => self.on_dial_failed(token, reason),
            Input::Frame { link, msg } => self.on_frame(link, msg),
            Input::Timeout => self.on_timeout(),
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Time> {
        let votes = self
            .voted
            .values()
            .map(|(v, at)| *at + self.vote_memory(v))
            .min();
        self.coordinating
            .values()
            .map(|c| c.deadline)
            .chain(self.validating.values().map(|v| v.deadline))
            .chain(self.seed_redial.values().copied())
            .chain(votes)
            .min()
    }
}
