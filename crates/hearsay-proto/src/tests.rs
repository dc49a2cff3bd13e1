//! Sans-I/O tests of `seed::State` and `peer::State` (SPEC §5–§6): one input, the exact
//! outputs, plus a tiny deterministic router that wires several machines together in
//! virtual time and round-trips every message through the wire codec.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::cert::{CertError, Certificate, Change, Evidence, Op, Proposal, Registration, Vote};
use crate::config::Config;
use crate::event::Event;
use crate::gossip::{self, Gossip, MsgId};
use crate::id::{Keypair, PeerId};
use crate::node::{Input, LinkId, Machine, Output, Remote, Role};
use crate::sig::Checks;
use crate::suspicion::{DeadReport, Verdict};
use crate::time::Time;
use crate::wire::{self, Msg, Status};
use crate::{node, peer, seed};

const SEEDS: [&str; 3] = ["127.0.0.1:6000", "127.0.0.1:6001", "127.0.0.1:6002"];
const T0: Time = Time(1_000_000);

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn seed_addr(i: usize) -> SocketAddr {
    addr(SEEDS[i])
}

fn peer_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16))
}

fn seed_key(i: usize) -> Keypair {
    Keypair::from_secret([i as u8 + 1; 32])
}

fn peer_key(i: usize) -> Keypair {
    Keypair::from_secret([i as u8 + 100; 32])
}

fn config() -> Config {
    Config::parse("config.txt", &SEEDS.join("\n")).unwrap()
}

fn peer_settings() -> peer::Settings {
    peer::Settings {
        join_timeout: Duration::from_secs(10),
        // Long enough for the tests' peers, joining 500 ms apart, to be linked before any
        // message is generated: a message generated before a peer joins cannot reach it.
        gossip_delay: Duration::from_secs(5),
        ..peer::Settings::default()
    }
}

/// An add of `peer_key(i)` at `addr`, incarnation 1, signed by the given seeds.
fn add(i: usize, addr: SocketAddr) -> Change {
    Change {
        op: Op::Add,
        peer: peer_key(i).id(),
        addr,
        incarnation: 1,
    }
}

fn cert(change: Change, signers: &[usize]) -> Certificate {
    let votes: Vec<Vote> = signers
        .iter()
        .map(|&i| Vote::new(&seed_key(i), change, true, ""))
        .collect();
    Certificate::from_votes(change, &votes)
}

/// A hand-made link that the router does not know: the test plays the other end.
fn remote(id: PeerId, role: Role, addr: SocketAddr) -> Remote {
    let source = SocketAddr::new(addr.ip(), 50_000);
    Remote {
        id,
        role,
        addr,
        source,
    }
}

/// The peer a log line is about, if any.
fn about(e: &Event) -> Option<&str> {
    match e {
        Event::RegistrationProposed { peer, .. }
        | Event::Vote { peer, .. }
        | Event::RegistrationCommitted { peer, .. }
        | Event::RegistrationAborted { peer, .. } => Some(peer),
        _ => None,
    }
}

// ---- the router ------------------------------------------------------------------------

enum Kind {
    Seed(Box<seed::State>),
    Peer(Box<peer::State>),
}

struct Node {
    kind: Kind,
    id: PeerId,
    role: Role,
    /// What its handshake says it listens on (may differ from where it really listens).
    advertise: SocketAddr,
    events: Vec<Event>,
    /// When each of `events` was logged.
    logged_at: Vec<Time>,
    stop: Option<Result<(), String>>,
}

impl Node {
    fn machine(&mut self) -> &mut dyn Machine {
        match &mut self.kind {
            Kind::Seed(s) => s.as_mut(),
            Kind::Peer(p) => p.as_mut(),
        }
    }

    fn timeout(&self) -> Option<Time> {
        match &self.kind {
            Kind::Seed(s) => s.poll_timeout(),
            Kind::Peer(p) => p.poll_timeout(),
        }
    }
}

/// One end of a link: the node holding it, the node at the other end, the other end's id,
/// and what this end was told about the other side.
struct End {
    at: SocketAddr,
    to: SocketAddr,
    other: LinkId,
    remote: Remote,
}

/// Machines by listening address, a virtual clock, and a FIFO of inputs: deterministic.
struct Net {
    now: Time,
    nodes: BTreeMap<SocketAddr, Node>,
    ends: BTreeMap<LinkId, End>,
    next_link: u64,
    queue: VecDeque<(SocketAddr, Input)>,
    /// Every frame delivered: (from, to, message).
    frames: Vec<(SocketAddr, SocketAddr, Msg)>,
    /// Every output of every node, in order (hand-made links' sends included).
    outputs: Vec<(SocketAddr, Output)>,
    /// Nodes that are down: they get no input and no timer, dials to them fail, frames to
    /// them are lost, and their host does not answer ICMP echo.
    down: BTreeSet<SocketAddr>,
    /// What each seed persisted, in order: its store.
    stores: BTreeMap<SocketAddr, Vec<node::Record>>,
}

impl Net {
    fn new() -> Net {
        Net {
            now: T0,
            nodes: BTreeMap::new(),
            ends: BTreeMap::new(),
            next_link: 1,
            queue: VecDeque::new(),
            frames: Vec::new(),
            outputs: Vec::new(),
            down: BTreeSet::new(),
            stores: BTreeMap::new(),
        }
    }

    /// A network of the three configured seeds, connected to each other.
    fn seeds(settings: seed::Settings) -> Net {
        let mut net = Net::new();
        for i in 0..3 {
            net.add_seed(i, settings.clone());
        }
        net.run_for(Duration::from_secs(1));
        net
    }

    fn add(&mut self, listen: SocketAddr, kind: Kind, id: PeerId, advertise: SocketAddr) {
        let role = match kind {
            Kind::Seed(_) => Role::Seed,
            Kind::Peer(_) => Role::Peer,
        };
        let node = Node {
            kind,
            id,
            role,
            advertise,
            events: Vec::new(),
            logged_at: Vec::new(),
            stop: None,
        };
        self.nodes.insert(listen, node);
        self.flush(listen);
        self.drain();
    }

    fn add_seed(&mut self, i: usize, settings: seed::Settings) {
        let (key, at) = (seed_key(i), seed_addr(i));
        let id = key.id();
        let s = seed::State::new(self.now, key, at, config(), settings, i as u64).unwrap();
        self.add(at, Kind::Seed(Box::new(s)), id, at);
    }

    /// Peer `i`, listening at `listen` but registering `advertise`.
    fn add_peer_at(&mut self, i: usize, listen: SocketAddr, advertise: SocketAddr) {
        self.add_peer_incarnation(i, listen, advertise, 1);
    }

    /// Peer `i` at `incarnation`, listening at `listen` but registering `advertise`.
    fn add_peer_incarnation(
        &mut self,
        i: usize,
        listen: SocketAddr,
        advertise: SocketAddr,
        incarnation: u64,
    ) {
        let key = peer_key(i);
        let id = key.id();
        let rng = 100 + i as u64;
        let settings = peer_settings();
        let p = peer::State::new(
            self.now,
            key,
            advertise,
            incarnation,
            config(),
            settings,
            rng,
        );
        self.add(listen, Kind::Peer(Box::new(p)), id, advertise);
    }

    /// Takes the node at `at` down as a crashed machine: it gets no input and no timer any
    /// more, dials to it fail, its host does not answer ICMP echo, and, with `close_links`,
    /// every link it holds closes at the other end (else they stay up and what is sent on
    /// them is lost, as with a hung process).
    fn take_down(&mut self, at: SocketAddr, close_links: bool) {
        self.down.insert(at);
        if close_links {
            let links: Vec<LinkId> = (self.ends.iter())
                .filter(|(_, e)| e.at == at)
                .map(|(l, _)| *l)
                .collect();
            for link in links {
                self.carry_out(at, Output::Close { link });
            }
        }
        self.drain();
    }

    /// Starts seed `i` again after `take_down`, as a new process: a fresh machine that
    /// restores what its store holds before its first input, or, with `lose_store`, starts
    /// empty and rebuilding. The store keeps the last record per (peer, operation) and per
    /// seed address, as the real one does.
    fn restart_seed(&mut self, i: usize, settings: seed::Settings, lose_store: bool) {
        let (key, at) = (seed_key(i), seed_addr(i));
        if lose_store {
            self.stores.remove(&at);
        }
        let mut keys = BTreeMap::new();
        let mut certs = BTreeMap::new();
        for r in self.stores.get(&at).into_iter().flatten() {
            match r {
                node::Record::Certificate(c) => {
                    certs.insert((c.change.peer, c.change.op == Op::Remove), c.clone());
                }
                node::Record::SeedKey { addr, id } => {
                    keys.insert(*addr, *id);
                }
            }
        }
        let id = key.id();
        let mut s = seed::State::new(self.now, key, at, config(), settings, 50 + i as u64).unwrap();
        s.restore(keys, certs.into_values());
        if lose_store {
            s.rebuild();
        }
        self.down.remove(&at);
        let links: Vec<LinkId> = (self.ends.iter())
            .filter(|(_, e)| e.at == at)
            .map(|(l, _)| *l)
            .collect();
        for link in links {
            self.carry_out(at, Output::Close { link });
        }
        self.nodes.remove(&at);
        self.add(at, Kind::Seed(Box::new(s)), id, at);
    }

    /// Hands `cert` to each of `seeds` as a `Commit` from another seed, as if that seed had
    /// decided it.
    fn commit_at(&mut self, seeds: &[usize], cert: &Certificate) {
        for &i in seeds {
            let from = if i == 0 { 1 } else { 0 };
            let (link, _) = self.link(seed_addr(i), seed_addr(from));
            let msg = Msg::Commit(Box::new(cert.clone()));
            self.inject(seed_addr(i), Input::Frame { link, msg });
        }
    }

    fn add_peer(&mut self, i: usize) {
        self.add_peer_at(i, peer_addr(i), peer_addr(i));
    }

    /// Hands `input` to the node at `at`, carries out its outputs and returns them.
    fn handle(&mut self, at: SocketAddr, input: Input) -> Vec<Output> {
        if self.down.contains(&at) {
            return Vec::new();
        }
        let now = self.now;
        self.nodes
            .get_mut(&at)
            .unwrap()
            .machine()
            .handle(now, input);
        self.flush(at)
    }

    /// Hands `inputs` to the node at `at` one after the other, as a driver does with frames
    /// that arrived together, then carries out all their outputs, returns them, and runs
    /// the network until no input is left.
    fn inject_together(&mut self, at: SocketAddr, inputs: Vec<Input>) -> Vec<Output> {
        let now = self.now;
        for input in inputs {
            self.nodes
                .get_mut(&at)
                .unwrap()
                .machine()
                .handle(now, input);
        }
        let outs = self.flush(at);
        self.drain();
        outs
    }

    /// Like `handle`, then runs the network until no input is left (time stands still).
    fn inject(&mut self, at: SocketAddr, input: Input) -> Vec<Output> {
        let outs = self.handle(at, input);
        self.drain();
        outs
    }

    fn flush(&mut self, at: SocketAddr) -> Vec<Output> {
        let node = self.nodes.get_mut(&at).unwrap();
        let outs: Vec<Output> = std::iter::from_fn(|| node.machine().poll_output()).collect();
        for out in &outs {
            self.outputs.push((at, out.clone()));
            self.carry_out(at, out.clone());
        }
        outs
    }

    fn drain(&mut self) {
        // A livelock (two nodes answering each other for ever at one instant) fails the
        // test instead of hanging it.
        for _ in 0..100_000 {
            let Some((at, input)) = self.queue.pop_front() else {
                return;
            };
            self.handle(at, input);
        }
        panic!("the network never went quiet: nodes keep answering each other at one instant");
    }

    fn carry_out(&mut self, from: SocketAddr, out: Output) {
        match out {
            Output::Send { link, msg } => {
                let Some(end) = self.ends.get(&link) else {
                    return; // a hand-made link, or one already closed
                };
                if self.down.contains(&end.to) {
                    return; // lost
                }
                let decoded: Msg = wire::decode(&wire::encode(&msg)).unwrap();
                assert_eq!(decoded, msg, "the codec must round-trip every message");
                self.frames.push((from, end.to, decoded.clone()));
                let (to, link) = (end.to, end.other);
                self.queue
                    .push_back((to, Input::Frame { link, msg: decoded }));
            }
            Output::Dial { token, addr } => {
                if self.down.contains(&addr) {
                    let reason = "connection timed out".to_string();
                    return self
                        .queue
                        .push_back((from, Input::DialFailed { token, reason }));
                }
                let Some(target) = self.nodes.get(&addr) else {
                    let reason = "connection refused".to_string();
                    return self
                        .queue
                        .push_back((from, Input::DialFailed { token, reason }));
                };
                let me = &self.nodes[&from];
                let (a, b) = (LinkId(self.next_link), LinkId(self.next_link + 1));
                self.next_link += 2;
                let source = SocketAddr::new(from.ip(), 40_000 + (a.0 % 20_000) as u16);
                let (id, role, advertise) = (target.id, target.role, target.advertise);
                let theirs = Remote {
                    id,
                    role,
                    addr: advertise,
                    source: addr,
                };
                let mine = Remote {
                    id: me.id,
                    role: me.role,
                    addr: me.advertise,
                    source,
                };
                let (at, to) = (from, addr);
                let (da, db) = (Some(token), None);
                self.ends.insert(
                    a,
                    End {
                        at,
                        to,
                        other: b,
                        remote: theirs,
                    },
                );
                self.ends.insert(
                    b,
                    End {
                        at: to,
                        to: at,
                        other: a,
                        remote: mine,
                    },
                );
                self.queue.push_back((
                    at,
                    Input::LinkUp {
                        link: a,
                        remote: Box::new(theirs),
                        dial: da,
                    },
                ));
                self.queue.push_back((
                    to,
                    Input::LinkUp {
                        link: b,
                        remote: Box::new(mine),
                        dial: db,
                    },
                ));
            }
            Output::Close { link } => {
                if let Some(end) = self.ends.remove(&link) {
                    self.ends.remove(&end.other);
                    let link = end.other;
                    self.queue.push_back((end.to, Input::LinkDown { link }));
                }
            }
            Output::Event(e) => {
                let node = self.nodes.get_mut(&from).unwrap();
                node.events.push(e);
                node.logged_at.push(self.now);
            }
            Output::Stop(r) => self.nodes.get_mut(&from).unwrap().stop = Some(r),
            Output::Persist(r) => self.stores.entry(from).or_default().push(r),
            // A host answers unless a node on it is down.
            Output::Echo { ip } => {
                let answered = Some(!self.down.iter().any(|a| a.ip() == ip));
                self.queue.push_back((from, Input::Echo { ip, answered }));
            }
            // For the operator's terminal: the test reads it from the outputs.
            Output::Reply(_) => {}
        }
    }

    /// Runs the network for `d` of virtual time, firing every timer as it falls due.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            self.drain();
            let next = (self.nodes.iter())
                .filter(|(a, _)| !self.down.contains(a))
                .filter_map(|(_, n)| n.timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    let due: Vec<SocketAddr> = (self.nodes.iter())
                        .filter(|(a, _)| !self.down.contains(a))
                        .filter(|(_, n)| n.timeout().is_some_and(|t| t <= now))
                        .map(|(a, _)| *a)
                        .collect();
                    for at in due {
                        self.handle(at, Input::Timeout);
                    }
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("the network never went quiet: a timer keeps firing at the same time");
    }

    fn seed(&self, at: SocketAddr) -> &seed::State {
        match &self.nodes[&at].kind {
            Kind::Seed(s) => s,
            Kind::Peer(_) => panic!("{at} is a peer"),
        }
    }

    fn peer(&self, at: SocketAddr) -> &peer::State {
        match &self.nodes[&at].kind {
            Kind::Peer(p) => p,
            Kind::Seed(_) => panic!("{at} is a seed"),
        }
    }

    fn events(&self, at: SocketAddr) -> &[Event] {
        &self.nodes[&at].events
    }

    /// How many `name` events the node at `at` logged about `peer`.
    fn count(&self, at: SocketAddr, name: &str, peer: PeerId) -> usize {
        let hex = peer.to_hex();
        (self.events(at).iter())
            .filter(|e| e.name() == name && about(e) == Some(hex.as_str()))
            .count()
    }

    /// The votes (yes, reason) the seed at `at` logged on `peer`.
    fn votes(&self, at: SocketAddr, peer: PeerId) -> Vec<(bool, String)> {
        let hex = peer.to_hex();
        (self.events(at).iter())
            .filter_map(|e| match e {
                Event::Vote {
                    peer, yes, reason, ..
                } if *peer == hex => Some((*yes, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// The seed at `at` voted on `peer`, and every time no for `reason` (a no may be cast
    /// again once it is forgotten, so the count is not fixed).
    fn assert_voted_no(&self, at: SocketAddr, peer: PeerId, reason: &str) {
        let votes = self.votes(at, peer);
        let only_no = votes.iter().all(|(yes, r)| !yes && r == reason);
        assert!(!votes.is_empty() && only_no, "{at} voted {votes:?}");
    }

    /// A link the node at `at` holds to the node at `to`.
    fn link(&self, at: SocketAddr, to: SocketAddr) -> (LinkId, Remote) {
        (self.ends.iter())
            .find(|(_, e)| e.at == at && e.to == to)
            .map(|(l, e)| (*l, e.remote))
            .unwrap()
    }
}

// ---- tests -----------------------------------------------------------------------------

/// SPEC §5 Peer List, Proposals; §6 Joining.
#[test]
fn three_seeds_admit_one_peer_by_a_certificate_of_a_quorum() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));

    let id = peer_key(0).id();
    let cert = net.peer(peer_addr(0)).certificate().cloned();
    let cert = cert.expect("the peer holds a certificate of its admission");
    assert_eq!(cert.change, add(0, peer_addr(0)));
    let signers: BTreeSet<PeerId> = cert.signers().into_iter().collect();
    assert!(signers.len() >= 2, "{signers:?}");
    for i in 0..3 {
        let s = net.seed(seed_addr(i));
        assert_eq!(
            cert.verify(&s.seed_set(), &Checks::default()),
            Ok(()),
            "seed {i}"
        );
        let member = s.peer_list().get(&id).expect("every seed admits the peer");
        assert_eq!((member.addr, member.incarnation), (peer_addr(0), 1));
        let committed = net.count(seed_addr(i), "registration_committed", id);
        assert_eq!(committed, 1, "seed {i} logs one commit");
    }
}

/// SPEC §5 Proposals: the same proposal arriving through several seeds is one decision.
#[test]
fn the_same_registration_through_several_seeds_is_one_decision() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));

    let id = peer_key(0).id();
    let coordinators = (0..3)
        .filter(|&i| net.count(seed_addr(i), "registration_proposed", id) == 1)
        .count();
    assert_eq!(coordinators, 2, "the peer registers with q = 2 seeds");
    for i in 0..3 {
        assert_eq!(
            net.votes(seed_addr(i), id),
            [(true, String::new())],
            "seed {i}"
        );
    }
    let admitted: Vec<Change> = (net.frames.iter())
        .filter(|(_, to, _)| *to == peer_addr(0))
        .filter_map(|(_, _, m)| match m {
            Msg::Admitted(c) => Some(c.change),
            _ => None,
        })
        .collect();
    assert_eq!(
        admitted,
        [add(0, peer_addr(0)); 2],
        "both coordinators certify one change"
    );
}

/// SPEC §6 Joining: without a quorum the peer gives up with a clear message; SPEC §5: a lone
/// seed cannot make a certificate.
#[test]
fn a_lone_seed_admits_nobody() {
    let mut net = Net::new();
    net.add_seed(0, seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_millis(9_900));
    assert_eq!(
        net.nodes[&peer_addr(0)].stop,
        None,
        "not before join_timeout"
    );
    net.run_for(Duration::from_millis(200));
    let why = "could not register: reached 1 of 3 seeds in 10s, and a quorum needs 2";
    assert_eq!(net.nodes[&peer_addr(0)].stop, Some(Err(why.to_string())));
    assert!(net.peer(peer_addr(0)).certificate().is_none());
    assert!(net.seed(seed_addr(0)).peer_list().is_empty());
    // It registers only once q seed links are up (PROTOCOL §6).
    let registers = (net.frames.iter())
        .filter(|(_, _, m)| matches!(m, Msg::Register(_)))
        .count();
    assert_eq!(registers, 0);

    // A registration straight to the lone seed is refused at once.
    let (s, link, key) = (seed_addr(0), LinkId(1_000_000), peer_key(1));
    let r = remote(key.id(), Role::Peer, peer_addr(1));
    assert_eq!(
        net.inject(
            s,
            Input::LinkUp {
                link,
                remote: Box::new(r),
                dial: None
            }
        ),
        []
    );
    let reg = Registration::new(&key, peer_addr(1), 1);
    let reason = "only 1 of 3 seeds reachable, a quorum needs 2".to_string();
    let (peer, a) = (key.id().to_hex(), peer_addr(1).to_string());
    assert_eq!(
        net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::Register(Box::new(reg))
            }
        ),
        [
            Output::Event(Event::RegistrationProposed {
                peer: peer.clone(),
                addr: a.clone(),
                incarnation: 1
            }),
            Output::Event(Event::RegistrationAborted {
                peer,
                addr: a,
                incarnation: 1,
                reason: reason.clone()
            }),
            Output::Send {
                link,
                msg: Msg::Refused { reason }
            },
        ]
    );
    let commits = (net.events(s).iter())
        .filter(|e| e.name() == "registration_committed")
        .count();
    assert_eq!(commits, 0);
    assert!(net.seed(s).peer_list().is_empty());
}

/// SPEC §5 Validating an add: dial-back must meet the registering peer at its address.
#[test]
fn a_peer_registering_an_address_where_another_node_listens_gets_no_yes_vote() {
    let mut net = Net::seeds(seed::Settings::default());
    // Listens at 7009 but claims seed 2's address.
    net.add_peer_at(0, peer_addr(9), seed_addr(2));
    net.run_for(Duration::from_secs(3));
    let id = peer_key(0).id();
    let reason = format!(
        "dial-back to {} met peer {}, not the registering peer",
        seed_addr(2),
        seed_key(2).id()
    );
    for i in 0..3 {
        net.assert_voted_no(seed_addr(i), id, &reason);
        assert!(!net.seed(seed_addr(i)).peer_list().contains_key(&id));
    }
    assert!(net.peer(peer_addr(9)).certificate().is_none());
    let refused = (net.frames.iter()).find_map(|(_, to, m)| match m {
        Msg::Refused { reason } if *to == peer_addr(9) => Some(reason.clone()),
        _ => None,
    });
    let refused = refused.expect("the coordinators refuse the registration");
    assert!(refused.starts_with("voted down: "), "{refused}");
    assert!(refused.contains(&reason), "{refused}");
}

/// SPEC §5 Validating an add: a dial-back that reaches nobody is a no.
#[test]
fn a_peer_registering_an_address_where_nothing_listens_gets_no_yes_vote() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer_at(0, peer_addr(9), peer_addr(99));
    net.run_for(Duration::from_secs(3));
    let id = peer_key(0).id();
    let reason = format!("dial-back to {} failed: connection refused", peer_addr(99));
    for i in 0..3 {
        net.assert_voted_no(seed_addr(i), id, &reason);
        assert!(!net.seed(seed_addr(i)).peer_list().contains_key(&id));
    }
}

/// SPEC §5 Peer List: applied only with q distinct valid seed signatures; §8 a minority of
/// seeds cannot forge a change.
#[test]
fn a_forged_commit_from_a_seed_link_is_not_applied() {
    let mut net = Net::seeds(seed::Settings::default());
    let (at, from) = (seed_addr(1), seed_addr(0));
    let (link, r) = net.link(at, from);
    let change = add(5, peer_addr(5));
    let rejected = |e: CertError| {
        vec![Output::Event(Event::ProtocolError {
            remote: r.source.to_string(),
            reason: format!("certificate rejected: {e}"),
        })]
    };

    let one = Msg::Commit(Box::new(cert(change, &[0])));
    let e = CertError::TooFewSignatures { have: 1, need: 2 };
    assert_eq!(net.inject(at, Input::Frame { link, msg: one }), rejected(e));
    let twice = Msg::Commit(Box::new(cert(change, &[0, 0])));
    let e = CertError::DuplicateSigner(seed_key(0).id());
    assert_eq!(
        net.inject(at, Input::Frame { link, msg: twice }),
        rejected(e)
    );
    assert!(net.seed(at).peer_list().is_empty());

    // The same path applies a genuine certificate.
    let good = cert(change, &[0, 2]);
    let signers = vec![seed_key(0).id().to_hex(), seed_key(2).id().to_hex()];
    assert_eq!(
        net.inject(
            at,
            Input::Frame {
                link,
                msg: Msg::Commit(Box::new(good.clone()))
            }
        ),
        [
            Output::Persist(node::Record::Certificate(good)),
            Output::Event(Event::RegistrationCommitted {
                peer: change.peer.to_hex(),
                addr: change.addr.to_string(),
                incarnation: 1,
                signers
            })
        ]
    );
    assert!(net.seed(at).peer_list().contains_key(&change.peer));
}

/// SPEC §4: a frame out of place closes its link with a logged reason; SPEC §5: only seeds
/// propose and vote.
#[test]
fn a_vote_or_proposal_from_a_link_that_is_not_a_seed_is_a_protocol_error() {
    let mut net = Net::seeds(seed::Settings::default());
    let s = seed_addr(0);
    let change = add(5, peer_addr(5));
    let vote = Msg::Vote(Box::new(Vote::new(&seed_key(1), change, true, "")));
    let reg = Registration::new(&peer_key(5), peer_addr(5), 1);
    let propose = Msg::Propose(Box::new(Proposal {
        change,
        evidence: Evidence::Registration(reg),
        source: peer_addr(5).ip(),
    }));
    let impostor = Keypair::from_secret([77; 32]).id();
    let cases = [
        (
            Role::Peer,
            peer_key(6).id(),
            vote.clone(),
            "unexpected Vote from a peer",
        ),
        (
            Role::Client,
            peer_key(6).id(),
            vote.clone(),
            "unexpected Vote from a client",
        ),
        (
            Role::Seed,
            impostor,
            vote.clone(),
            "unexpected Vote from a seed",
        ),
        (
            Role::Peer,
            peer_key(6).id(),
            propose,
            "unexpected Propose from a peer",
        ),
    ];
    for (n, (role, id, msg, reason)) in cases.into_iter().enumerate() {
        let link = LinkId(1_000_000 + n as u64);
        let r = remote(id, role, addr("127.0.0.1:6009"));
        net.inject(
            s,
            Input::LinkUp {
                link,
                remote: Box::new(r),
                dial: None,
            },
        );
        assert_eq!(
            net.inject(s, Input::Frame { link, msg }),
            [
                Output::Event(Event::ProtocolError {
                    remote: r.source.to_string(),
                    reason: reason.to_string()
                }),
                Output::Close { link }
            ],
            "{reason}"
        );
        let again = Input::Frame {
            link,
            msg: Msg::StatusRequest { offset: 0 },
        };
        assert_eq!(net.inject(s, again), [], "the link is gone");
    }

    // The same vote from seed 1's own link is taken (no proposal is open, so it is dropped).
    let (link, _) = net.link(s, seed_addr(1));
    assert_eq!(net.inject(s, Input::Frame { link, msg: vote }), []);
}

/// A seed samples a large Peer List by position; what it sends of each sampled peer is what
/// the list holds now, through a re-admission at a new address and a removal.
#[test]
fn a_sampled_peer_list_carries_each_members_current_address_and_incarnation() {
    let mut net = Net::seeds(seed::Settings {
        peer_list_max: 3,
        ..seed::Settings::default()
    });
    let s = seed_addr(0);
    for i in 0..8 {
        net.commit_at(&[0], &cert(add(i, peer_addr(i)), &[0, 1]));
    }
    let moved = addr("10.9.9.9:7003");
    let back = Change {
        addr: moved,
        incarnation: 2,
        ..add(3, moved)
    };
    net.commit_at(&[0], &cert(back, &[0, 1]));
    net.commit_at(&[0], &cert(removal(5, peer_addr(5), 1), &[0, 1]));
    assert_eq!(net.seed(s).peer_list().len(), 7);

    let asker = peer_key(7).id();
    let link = LinkId(2_000_000);
    let r = Box::new(remote(asker, Role::Peer, peer_addr(7)));
    net.inject(
        s,
        Input::LinkUp {
            link,
            remote: r,
            dial: None,
        },
    );
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let outs = net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::GetPeers,
            },
        );
        let [Output::Send {
            msg: Msg::PeerList(list),
            ..
        }] = outs.as_slice()
        else {
            panic!("{outs:?}");
        };
        assert_eq!(list.len(), 3);
        for p in list {
            let i = (0..8).find(|&i| peer_key(i).id() == p.id).unwrap();
            assert!(i != 5 && i != 7, "peer {i}: removed, or the asker");
            let now = if i == 3 {
                (moved, 2)
            } else {
                (peer_addr(i), 1)
            };
            assert_eq!((p.addr, p.incarnation), now, "peer {i}");
            seen.insert(i);
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from([0, 1, 2, 3, 4, 6]),
        "samples reach every member"
    );
}

/// SPEC §5 Validating an add: registrations from one source are rate-limited.
#[test]
fn a_third_registration_from_one_source_ip_within_the_refill_time_is_refused() {
    let mut net = Net::seeds(seed::Settings {
        rate_burst: 2,
        rate_refill: Duration::from_secs(60),
        ..seed::Settings::default()
    });
    for i in 0..3 {
        net.add_peer(i);
        net.run_for(Duration::from_secs(2));
    }
    // Another source IP has its own bucket.
    let other = addr("127.0.0.2:7003");
    net.add_peer_at(3, other, other);
    net.run_for(Duration::from_secs(2));

    let reason = "rate limit: too many registrations from 127.0.0.1".to_string();
    for i in 0..3 {
        let s = seed_addr(i);
        for p in [0, 1, 3] {
            assert_eq!(net.votes(s, peer_key(p).id()), [(true, String::new())]);
        }
        net.assert_voted_no(s, peer_key(2).id(), &reason);
        let admitted: BTreeSet<PeerId> = net.seed(s).peer_list().keys().copied().collect();
        let expected: BTreeSet<PeerId> = [0, 1, 3].map(|p| peer_key(p).id()).into();
        assert_eq!(admitted, expected, "seed {i}");
    }
    assert!(net.peer(peer_addr(2)).certificate().is_none());
}

/// SPEC §6 Neighbours (choose `links` by preferential attachment, stay connected); SPEC §5
/// Topology (seeds keep each peer's reported neighbours) and §1 `hearsay status`.
#[test]
fn peers_choose_links_neighbours_and_the_seeds_know_the_topology() {
    let mut net = Net::seeds(seed::Settings::default());
    let n = 6;
    for i in 0..n {
        net.add_peer(i);
        net.run_for(Duration::from_secs(3));
    }
    net.run_for(Duration::from_secs(30));

    let graph: BTreeMap<PeerId, BTreeSet<PeerId>> = (0..n)
        .map(|i| (peer_key(i).id(), net.peer(peer_addr(i)).neighbors()))
        .collect();
    let nbrs = |id: &PeerId| graph[id].clone();
    for i in 0..n {
        let id = peer_key(i).id();
        let mine = nbrs(&id);
        assert!(
            mine.len() >= i.min(3),
            "peer {i} has {} neighbours",
            mine.len()
        );
        for other in &mine {
            assert!(nbrs(other).contains(&id), "links go both ways");
        }
    }
    let mut seen = BTreeSet::from([peer_key(0).id()]);
    let mut todo = vec![peer_key(0).id()];
    while let Some(id) = todo.pop() {
        todo.extend(nbrs(&id).into_iter().filter(|n| seen.insert(*n)));
    }
    assert_eq!(seen.len(), n, "the overlay is connected");

    for i in 0..3 {
        let s = seed_addr(i);
        let link = LinkId(2_000_000 + i as u64);
        let client = remote(
            Keypair::from_secret([88; 32]).id(),
            Role::Client,
            addr("127.0.0.1:9000"),
        );
        assert_eq!(
            net.inject(
                s,
                Input::LinkUp {
                    link,
                    remote: Box::new(client),
                    dial: None
                }
            ),
            []
        );
        let outs = net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::StatusRequest { offset: 0 },
            },
        );
        let [Output::Send { link: l, msg }] = outs.as_slice() else {
            panic!("one status reply, not {outs:?}");
        };
        assert_eq!(*l, link);
        let Ok(Msg::Status(status)) = wire::decode::<Msg>(&wire::encode(msg)) else {
            panic!("a status reply, not {msg:?}");
        };
        let status: Status = *status;
        assert_eq!((status.seed, status.quorum, status.total), (s, 2, n as u32));
        let listed: BTreeMap<PeerId, Vec<PeerId>> = status
            .peers
            .into_iter()
            .map(|p| (p.id, p.neighbors))
            .collect();
        let expected: BTreeMap<PeerId, Vec<PeerId>> = graph
            .iter()
            .map(|(id, n)| (*id, n.iter().copied().collect()))
            .collect();
        assert_eq!(listed, expected, "seed {i}'s topology");
    }
}

/// SPEC §6 Neighbours and §8: a link needs an admission certificate of q distinct seeds.
#[test]
fn a_peer_refuses_a_link_request_whose_certificate_does_not_verify() {
    let (mut net, p) = registered_peer();
    assert!(net.peer(p).certificate().is_some());
    let change = add(5, peer_addr(5));
    let r = remote(change.peer, Role::Peer, peer_addr(5));
    let cases = [
        (
            cert(change, &[0]),
            CertError::TooFewSignatures { have: 1, need: 2 },
        ),
        (
            cert(change, &[1, 1]),
            CertError::DuplicateSigner(seed_key(1).id()),
        ),
    ];
    for (n, (bad, e)) in cases.into_iter().enumerate() {
        let link = LinkId(1_000_000 + n as u64);
        assert_eq!(
            net.inject(
                p,
                Input::LinkUp {
                    link,
                    remote: Box::new(r),
                    dial: None
                }
            ),
            []
        );
        let reason = format!("its admission certificate does not verify: {e}");
        assert_eq!(
            net.inject(
                p,
                Input::Frame {
                    link,
                    msg: Msg::Link(Box::new(bad))
                }
            ),
            [
                Output::Send {
                    link,
                    msg: Msg::LinkRefused { reason }
                },
                Output::Close { link }
            ]
        );
        assert!(net.peer(p).neighbors().is_empty());
    }

    // A certificate of two seeds is accepted.
    let link = LinkId(1_000_010);
    net.inject(
        p,
        Input::LinkUp {
            link,
            remote: Box::new(r),
            dial: None,
        },
    );
    let outs = net.inject(
        p,
        Input::Frame {
            link,
            msg: Msg::Link(Box::new(cert(change, &[0, 1]))),
        },
    );
    assert_eq!(
        outs[..2],
        [
            Output::Send {
                link,
                msg: Msg::LinkAccepted
            },
            Output::Event(Event::NeighborAdded {
                peer: change.peer.to_hex(),
                addr: change.addr.to_string(),
                outbound: false,
                degree: 1
            })
        ]
    );
    assert_eq!(net.peer(p).neighbors(), BTreeSet::from([change.peer]));
}

/// SPEC §5 Conflicts and "seeds converge just by exchanging the certificates they hold": at
/// most one add may be certified per (peer, incarnation), or seeds that see the two
/// certificates in different orders keep different addresses for the peer.
#[test]
fn one_incarnation_of_a_peer_is_admitted_at_one_address_only() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    // The same key and incarnation started a second time, elsewhere.
    net.add_peer_at(0, peer_addr(5), peer_addr(5));
    net.run_for(Duration::from_secs(3));
    let first = net.peer(peer_addr(0)).certificate().map(|c| c.change);
    let second = net.peer(peer_addr(5)).certificate().map(|c| c.change);
    assert_eq!(first, Some(add(0, peer_addr(0))));
    assert_eq!(second, None, "two addresses certified for incarnation 1");

    // Applying the two certificates in either order must give the same Peer List.
    let (a, b) = (
        cert(add(0, peer_addr(0)), &[0, 2]),
        cert(add(0, peer_addr(5)), &[0, 2]),
    );
    let mut fresh = Net::seeds(seed::Settings::default());
    let (l1, _) = fresh.link(seed_addr(1), seed_addr(0));
    let (l2, _) = fresh.link(seed_addr(2), seed_addr(0));
    for msg in [
        Msg::Commit(Box::new(a.clone())),
        Msg::Commit(Box::new(b.clone())),
    ] {
        fresh.inject(seed_addr(1), Input::Frame { link: l1, msg });
    }
    for msg in [Msg::Commit(Box::new(b)), Msg::Commit(Box::new(a))] {
        fresh.inject(seed_addr(2), Input::Frame { link: l2, msg });
    }
    let at = |s: usize| fresh.seed(seed_addr(s)).peer_list()[&peer_key(0).id()].addr;
    assert_eq!(at(1), at(2), "seeds disagree on the peer's address");
}

/// SPEC §6 Gossip: every peer generates `gossip_count` messages once its neighbours are
/// connected, and every other peer receives each of them exactly once.
#[test]
fn every_peer_receives_every_other_peers_gossip_once() {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..6 {
        net.add_peer(i);
        net.run_for(Duration::from_millis(500));
    }
    net.run_for(Duration::from_secs(60));
    // Peers on one IP that generate at the same millisecond write the same text; their
    // messages must still be told apart (the identity hashes the origin too).
    let mut texts: BTreeMap<String, BTreeSet<SocketAddr>> = BTreeMap::new();
    for i in 0..6 {
        for e in net.events(peer_addr(i)) {
            if let Event::GossipGenerated { text, .. } = e {
                texts.entry(text.clone()).or_default().insert(peer_addr(i));
            }
        }
    }
    assert!(
        texts.values().any(|who| who.len() >= 2),
        "no two peers generated the same text at the same millisecond: {texts:?}"
    );
    // No message crosses a link twice: every frame carrying a message arrives as a first
    // receipt or a duplicate, and there are at most as many as links in the overlay.
    let degrees: usize = (0..6)
        .map(|i| net.peer(peer_addr(i)).neighbors().len())
        .sum();
    let mut frames: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..6 {
        for e in net.events(peer_addr(i)) {
            match e {
                Event::GossipReceived { id, .. } | Event::GossipDuplicate { id, .. } => {
                    *frames.entry(id.clone()).or_default() += 1
                }
                _ => {}
            }
        }
    }
    assert_eq!(frames.len(), 60);
    for (id, n) in &frames {
        assert!(
            *n <= degrees / 2,
            "message {id}: {n} frames over {} links",
            degrees / 2
        );
    }
    for i in 0..6 {
        let c = net.peer(peer_addr(i)).counters();
        assert_eq!(c.generated, 10, "peer {i}: {c:?}");
        assert_eq!(c.received, 50, "peer {i}: {c:?}");
        assert_eq!(c.dropped, 0, "peer {i}: {c:?}");
    }
}

/// Three seeds and peer 0, registered (3 s of virtual time), and its address.
fn registered_peer() -> (Net, SocketAddr) {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    (net, peer_addr(0))
}

/// Peer `i` (admitted by seeds 0 and 1) links to the peer at `p` on `link`, inbound there.
fn link_from(net: &mut Net, p: SocketAddr, i: usize, link: LinkId) {
    let change = add(i, peer_addr(i));
    let remote = remote(change.peer, Role::Peer, peer_addr(i));
    let up = Input::LinkUp {
        link,
        remote: Box::new(remote),
        dial: None,
    };
    net.inject(p, up);
    let msg = Msg::Link(Box::new(cert(change, &[0, 1])));
    net.inject(p, Input::Frame { link, msg });
}

/// A registered peer with three inbound neighbours (peers 5, 6 and 7), for gossip tests.
fn peer_with_three_neighbours() -> (Net, SocketAddr, [LinkId; 3]) {
    let (mut net, p) = registered_peer();
    let links = [LinkId(2_000_005), LinkId(2_000_006), LinkId(2_000_007)];
    for (i, link) in (5..8).zip(links) {
        link_from(&mut net, p, i, link);
    }
    assert_eq!(net.peer(p).neighbors().len(), 3);
    (net, p, links)
}

/// PROTOCOL §7: a change right after a report waits out `report_every`, and goes out with
/// the changes made meanwhile, as one report.
#[test]
fn neighbour_changes_right_after_a_report_go_to_the_seeds_together() {
    let (mut net, p) = registered_peer();
    // The sizes of the neighbour reports the peer sent since output `from`.
    let reports = |net: &Net, from: usize| -> Vec<usize> {
        (net.outputs[from..].iter())
            .filter(|(at, _)| *at == p)
            .filter_map(|(_, o)| match o {
                Output::Send {
                    msg: Msg::Neighbors(r),
                    ..
                } => Some(r.neighbors.len()),
                _ => None,
            })
            .collect()
    };
    let start = net.outputs.len();
    let t0 = net.now;
    for i in 5..8 {
        link_from(&mut net, p, i, LinkId(2_000_000 + i as u64));
    }
    // The first change at once, to each of its two seeds; the other two wait.
    assert_eq!(reports(&net, start), vec![1, 1]);
    net.run_for(Duration::from_millis(499));
    assert_eq!(reports(&net, start), vec![1, 1]);
    net.run_for(Duration::from_millis(1));
    assert_eq!(net.now, t0 + peer::Settings::default().report_every);
    assert_eq!(reports(&net, start), vec![1, 1, 3, 3]);
    // Quiet since: the next change goes out at once again.
    net.run_for(Duration::from_secs(1));
    let from = net.outputs.len();
    let link = LinkId(2_000_005);
    net.inject(p, Input::LinkDown { link });
    assert_eq!(reports(&net, from), vec![2, 2]);
}

fn sends(outs: &[Output]) -> Vec<(LinkId, Gossip)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send {
                link,
                msg: Msg::Gossip(g),
            } => Some((*link, (**g).clone())),
            _ => None,
        })
        .collect()
}

fn haves(outs: &[Output]) -> Vec<LinkId> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send {
                link,
                msg: Msg::Have(_),
            } => Some(*link),
            _ => None,
        })
        .collect()
}

/// SPEC §6 Gossip, PROTOCOL §11.3: a message arriving on one link is announced to the
/// others; it goes to a neighbour only when asked, at most once per link, never back to
/// where it came from, and its copies are dropped as duplicates.
#[test]
fn a_message_crosses_each_link_at_most_once() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let g = Gossip::new(&peer_key(9), gossip::text(net.now, peer_addr(9).ip(), 1));
    let id = g.id();
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    assert_eq!(haves(&outs), vec![l6, l7]);
    assert_eq!(sends(&outs), vec![]);
    let received = outs.iter().filter(|o| {
        matches!(
            o,
            Output::Event(Event::GossipReceived {
                announced: 2,
                hops: 1,
                ..
            })
        )
    });
    assert_eq!(received.count(), 1, "{outs:?}");
    // 6 announces it too (it got it elsewhere): nothing to do, and it is not asked.
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l6,
                msg: Msg::Have(id)
            }
        ),
        []
    );
    // 7 asks: it gets the message once, however often it asks.
    let outs = net.inject(
        p,
        Input::Frame {
            link: l7,
            msg: Msg::Want(id),
        },
    );
    assert_eq!(
        sends(&outs),
        vec![(
            l7,
            Gossip {
                hops: 1,
                ..g.clone()
            }
        )]
    );
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l7,
                msg: Msg::Want(id)
            }
        ),
        []
    );
    // 5 sent it: asking for it back gets nothing.
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l5,
                msg: Msg::Want(id)
            }
        ),
        []
    );
    // A copy on another link is a duplicate: logged as such, not sent on.
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    assert_eq!(sends(&outs), vec![]);
    assert_eq!(haves(&outs), vec![]);
    assert!(
        matches!(&outs[..], [Output::Event(Event::GossipDuplicate { .. })]),
        "{outs:?}"
    );
    let c = net.peer(p).counters();
    assert_eq!(
        (c.received, c.duplicates, c.forwarded, c.announced),
        (1, 1, 1, 2)
    );
    let e = net.peer(p).message_list().get(&id).unwrap();
    assert_eq!(e.came_in(), vec![l5, l6]);
    assert_eq!(e.went_out(), vec![l6, l7]);
    assert_eq!(e.sent(), vec![l7]);
}

/// The frames a node sent, in order: (link, message), gossip bodies by their id.
fn frames_out(outs: &[Output]) -> Vec<(LinkId, String)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { link, msg } => Some((
                *link,
                match msg {
                    Msg::Gossip(g) => format!("Gossip {:.6}", hex::encode(g.id().0)),
                    Msg::Have(id) => format!("Have {:.6}", hex::encode(id.0)),
                    Msg::Want(id) => format!("Want {:.6}", hex::encode(id.0)),
                    Msg::Haves(ids) | Msg::Wants(ids) => format!(
                        "{} {}",
                        msg.name(),
                        ids.iter()
                            .map(|id| format!("{:.6}", hex::encode(id.0)))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    other => other.name().to_string(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// Issue 13, PROTOCOL §11.3: what a peer announces and requests while handling frames that
/// arrived together goes out as one frame per neighbour and kind, and every message still
/// crosses each link at most once.
#[test]
fn announcements_and_requests_made_in_one_turn_go_to_each_neighbour_in_one_frame() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let g1 = Gossip::new(&peer_key(9), gossip::text(net.now, peer_addr(9).ip(), 1));
    let g2 = Gossip::new(&peer_key(8), gossip::text(net.now, peer_addr(8).ip(), 1));
    let (m1, m2) = (g1.id(), g2.id());
    let short = |id: MsgId| format!("{:.6}", hex::encode(id.0));
    let frame = |link, msg| Input::Frame { link, msg };
    // m1 comes from 5 and m2 from 6 in one turn: 7 hears of both in one frame, 6 and 5 of
    // the one they did not send, alone.
    let outs = net.inject_together(
        p,
        vec![
            frame(l5, Msg::Gossip(Box::new(g1.clone()))),
            frame(l6, Msg::Gossip(Box::new(g2.clone()))),
        ],
    );
    assert_eq!(
        frames_out(&outs),
        vec![
            (l6, format!("Have {}", short(m1))),
            (l7, format!("Haves {},{}", short(m1), short(m2))),
            (l5, format!("Have {}", short(m2))),
        ]
    );
    // 7 asks for both in one frame: each body goes once, however often it asks again.
    let outs = net.inject(p, frame(l7, Msg::Wants(vec![m1, m2])));
    assert_eq!(
        frames_out(&outs),
        vec![
            (l7, format!("Gossip {}", short(m1))),
            (l7, format!("Gossip {}", short(m2)))
        ]
    );
    let outs = net.inject(p, frame(l7, Msg::Wants(vec![m2, m1, m1])));
    assert_eq!(frames_out(&outs), vec![]);
    // 5 asks for m1, which it sent: nothing goes back over the link it came on.
    assert_eq!(
        frames_out(&net.inject(p, frame(l5, Msg::Wants(vec![m1, m2])))),
        vec![(l5, format!("Gossip {}", short(m2)))]
    );
    for (id, came, out) in [(m1, l5, vec![l6, l7]), (m2, l6, vec![l5, l7])] {
        let e = net.peer(p).message_list().get(&id).unwrap();
        assert_eq!(e.came_in(), vec![came]);
        assert_eq!(e.went_out(), out);
    }
    // Two neighbours announce three new messages in one turn: one request per message, to
    // the first announcer, in one frame per neighbour.
    let ids: Vec<MsgId> = (1..4)
        .map(|n| Gossip::new(&peer_key(7), gossip::text(net.now, peer_addr(7).ip(), n)).id())
        .collect();
    let outs = net.inject_together(
        p,
        vec![
            frame(l5, Msg::Haves(vec![ids[0], ids[1]])),
            frame(l6, Msg::Haves(vec![ids[1], ids[2]])),
            frame(l7, Msg::Have(ids[2])),
        ],
    );
    assert_eq!(
        frames_out(&outs),
        vec![
            (l5, format!("Wants {},{}", short(ids[0]), short(ids[1]))),
            (l6, format!("Want {}", short(ids[2]))),
        ]
    );
}

/// A `Haves` or `Wants` frame over the bound is a protocol error: the link goes.
#[test]
fn a_frame_of_more_ids_than_the_bound_closes_its_link() {
    let (mut net, p, [l5, _, _]) = peer_with_three_neighbours();
    let ids = vec![MsgId([7; 32]); crate::wire::MAX_IDS + 1];
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Haves(ids),
        },
    );
    assert!(outs.contains(&Output::Close { link: l5 }), "{outs:?}");
    assert_eq!(frames_out(&outs), vec![]);
    assert_eq!(net.peer(p).neighbors().len(), 2);
}

/// PROTOCOL §11.3: an announced message is asked of one neighbour at a time; a forged
/// answer gets the next announcer asked.
#[test]
fn an_announced_message_is_asked_of_one_neighbour_at_a_time() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let g = Gossip::new(&peer_key(9), gossip::text(net.now, peer_addr(9).ip(), 1));
    let id = g.id();
    let want = |link| Output::Send {
        link,
        msg: Msg::Want(id),
    };
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l5,
                msg: Msg::Have(id)
            }
        ),
        [want(l5)]
    );
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l6,
                msg: Msg::Have(id)
            }
        ),
        []
    );
    let forged = Gossip {
        sig: Gossip::new(&peer_key(8), g.text.clone()).sig,
        ..g.clone()
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(forged)),
        },
    );
    assert_eq!(outs.last(), Some(&want(l6)), "{outs:?}");
    assert_eq!(sends(&outs), vec![]);
    // 6 answers: received, and announced to the one link it has not crossed (7).
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(Box::new(g)),
        },
    );
    assert_eq!(haves(&outs), vec![l7]);
    assert_eq!(net.peer(p).counters().received, 1);
}

/// PROTOCOL §11.3: a neighbour that was asked and does not answer is given up on after
/// `want_patience`, and the next announcer is asked.
#[test]
fn a_request_that_is_not_answered_goes_to_the_next_announcer() {
    let (mut net, p, [l5, l6, _]) = peer_with_three_neighbours();
    let id = Gossip::new(&peer_key(9), gossip::text(net.now, peer_addr(9).ip(), 1)).id();
    net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Have(id),
        },
    );
    net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Have(id),
        },
    );
    net.now = net.now + peer::Settings::default().want_patience;
    let outs = net.inject(p, Input::Timeout);
    assert!(
        outs.contains(&Output::Send {
            link: l6,
            msg: Msg::Want(id)
        }),
        "{outs:?}"
    );
}

/// SPEC §8: a forged message (another peer's origin, a bad signature) is dropped, counted,
/// logged once and not passed on; and it does not stop the genuine message with the same
/// identity from going through.
#[test]
fn a_gossip_message_with_a_bad_signature_is_not_forwarded() {
    let (mut net, p, [l5, l6, _]) = peer_with_three_neighbours();
    let real = Gossip::new(&peer_key(9), gossip::text(net.now, peer_addr(9).ip(), 1));
    let forged = Gossip {
        sig: Gossip::new(&peer_key(8), real.text.clone()).sig,
        ..real.clone()
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(forged.clone())),
        },
    );
    assert_eq!((sends(&outs), haves(&outs)), (vec![], vec![]));
    assert!(
        matches!(&outs[..], [Output::Event(Event::ProtocolError { reason, .. })] if reason.contains("signature")),
        "{outs:?}"
    );
    let again = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(Box::new(forged)),
        },
    );
    assert_eq!(again, [], "logged once");
    assert_eq!(net.peer(p).counters().dropped, 2);
    assert!(net.peer(p).message_list().get(&real.id()).is_none());
    // The genuine message still goes through, announced to every link but its own.
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(Box::new(real)),
        },
    );
    assert_eq!(haves(&outs).len(), 2);
    assert_eq!(net.peer(p).counters().received, 1);
}

/// SPEC §8 Replays: a message older than the Message List's window is refused, so an entry
/// that expired cannot be replayed.
#[test]
fn a_message_older_than_the_window_is_refused() {
    let (mut net, p, [l5, ..]) = peer_with_three_neighbours();
    let window = peer::Settings::default().ml_window;
    let old = Gossip::new(
        &peer_key(9),
        gossip::text(
            net.now - window - Duration::from_secs(1),
            peer_addr(9).ip(),
            1,
        ),
    );
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(old)),
        },
    );
    assert_eq!(sends(&outs), vec![]);
    assert_eq!(net.peer(p).counters().dropped, 1);
}

// ---- failure detection (SPEC §5 Validating a removal, §6 Liveness and Suspicion) --------

/// Peer `i` on a host of its own, 127.0.0.(10+i): a `Dead Node:` line's two IPs then differ,
/// and taking the peer down takes its host's ICMP echo down with it.
fn host_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 10 + i as u8], 7000 + i as u16))
}

/// `Dead Node:<DeadNode.IP>:<DeadNode.Port>:<self.timestamp>:<self.IP>` (SPEC §6), written
/// out here rather than taken from `suspicion::dead_line`.
fn expected_dead_line(dead: SocketAddr, at: Time, me: std::net::IpAddr) -> String {
    let (secs, ms) = (at.0 / 1000, at.0 % 1000);
    format!(
        "Dead Node:{}:{}:{secs}.{ms:03}:{me}",
        dead.ip(),
        dead.port()
    )
}

fn removal(i: usize, addr: SocketAddr, incarnation: u64) -> Change {
    Change {
        op: Op::Remove,
        peer: peer_key(i).id(),
        addr,
        incarnation,
    }
}

/// Whether an output is part of failure detection (not gossip, pings or echoes).
fn liveness_output(o: &Output) -> bool {
    match o {
        Output::Event(e) => matches!(
            e,
            Event::SuspicionStarted { .. }
                | Event::SuspicionConfirmed { .. }
                | Event::SuspicionCleared { .. }
                | Event::DeadNodeReported { .. }
        ),
        Output::Send { msg, .. } => matches!(
            msg,
            Msg::GetNeighbors(_) | Msg::ProbeRequest(_) | Msg::Verdict(_) | Msg::DeadReport(_)
        ),
        _ => false,
    }
}

impl Net {
    /// The events the node at `at` logged, with when.
    fn timed_events(&self, at: SocketAddr) -> impl Iterator<Item = (Time, &Event)> {
        let node = &self.nodes[&at];
        node.logged_at.iter().copied().zip(&node.events)
    }

    /// The outputs of the node at `at` from the `from`-th output of the network on.
    fn outputs_of(&self, at: SocketAddr, from: usize) -> Vec<Output> {
        (self.outputs[from..].iter())
            .filter(|(a, _)| *a == at)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// The votes (yes, reason) on removing `peer` that the seed at `at` logged.
    fn remove_votes(&self, at: SocketAddr, peer: PeerId) -> Vec<(bool, String)> {
        let hex = peer.to_hex();
        (self.events(at).iter())
            .filter_map(|e| match e {
                Event::Vote {
                    op: "remove",
                    peer,
                    yes,
                    reason,
                    ..
                } if *peer == hex => Some((*yes, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// The peers the seed at `at` logged a removal of.
    fn removals(&self, at: SocketAddr) -> Vec<String> {
        (self.events(at).iter())
            .filter_map(|e| match e {
                Event::RemovalCommitted { peer, .. } => Some(peer.clone()),
                _ => None,
            })
            .collect()
    }

    /// A seed that peer `p` is connected to, and the seed's end of that link.
    fn seed_end(&self, p: SocketAddr) -> (SocketAddr, LinkId) {
        let s = (0..3)
            .map(seed_addr)
            .find(|s| self.ends.values().any(|e| e.at == *s && e.to == p))
            .expect("the peer has a seed link");
        (s, self.link(s, p).0)
    }

    /// Peer `p`'s own links to seeds, in config order.
    fn seed_links_of(&self, p: SocketAddr) -> Vec<LinkId> {
        (0..3)
            .map(seed_addr)
            .filter_map(|s| {
                (self.ends.iter())
                    .find(|(_, e)| e.at == p && e.to == s)
                    .map(|(l, _)| *l)
            })
            .collect()
    }
}

/// Seeds with peers `0..n` admitted at `peer_addr(i)` (incarnation 1), linked, and settled.
fn seeds_and_peers(n: usize) -> Net {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..n {
        net.add_peer(i);
        net.run_for(Duration::from_secs(2));
    }
    net.run_for(Duration::from_secs(3));
    for i in 0..n {
        assert!(net.peer(peer_addr(i)).certificate().is_some(), "peer {i}");
    }
    net
}

/// Peers `0..n` on hosts of their own (see [`host_addr`]), settled into an overlay.
fn overlay(n: usize) -> Net {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..n {
        let a = host_addr(i);
        net.add_peer_at(i, a, a);
        net.run_for(Duration::from_millis(500));
    }
    net.run_for(Duration::from_secs(30));
    for i in 0..n {
        assert!(net.peer(host_addr(i)).certificate().is_some(), "peer {i}");
    }
    net
}

/// Takes the best connected peer of an `n`-peer overlay down, runs 90 s, checks that its
/// neighbours suspected it within `window` (from the moment it went down) at `suspect_after`
/// misses, that whoever reported it sent exactly the task's line and the witnesses'
/// evidence to every seed it is connected to, and that every seed removed it and only it.
fn a_dead_peer_is_detected_reported_and_removed(close_links: bool, window: (u32, u32)) {
    let n = 6;
    let mut net = overlay(n);
    let victim = (0..n)
        .max_by_key(|&i| (net.peer(host_addr(i)).neighbors().len(), i))
        .unwrap();
    let (dead, dead_id) = (host_addr(victim), peer_key(victim).id());
    let hex = dead_id.to_hex();
    let watchers: Vec<usize> = (0..n)
        .filter(|&i| net.peer(host_addr(i)).neighbors().contains(&dead_id))
        .collect();
    assert!(watchers.len() >= 2, "peer {victim} has {watchers:?}");
    let settings = peer::Settings::default();
    let (t_down, mark) = (net.now, net.outputs.len());
    net.take_down(dead, close_links);
    net.run_for(Duration::from_secs(90));

    // SPEC §6 Liveness: every neighbour suspects it after `suspect_after` missed rounds.
    let round = settings.ping_interval;
    let (earliest, latest) = (t_down + round * window.0, t_down + round * window.1);
    for &w in &watchers {
        let started: Vec<(Time, &Event)> = net
            .timed_events(host_addr(w))
            .filter(|(_, e)| matches!(e, Event::SuspicionStarted { peer, .. } if *peer == hex))
            .collect();
        assert_eq!(
            started.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
            [&Event::SuspicionStarted {
                peer: hex.clone(),
                addr: dead.to_string(),
                misses: settings.suspect_after,
                icmp: Some(false),
            }],
            "peer {w}"
        );
        let at = started[0].0;
        assert!(
            earliest < at && at <= latest,
            "peer {w} suspected it {} ms after it went down",
            at.since(t_down).as_millis()
        );
    }

    // SPEC §6 Suspicion: witnesses asked, a majority of dead verdicts, the report to every
    // seed the reporter is connected to, and the exact line.
    let mut reporters = 0;
    for i in (0..n).filter(|&i| i != victim) {
        let me = host_addr(i);
        let reported: Vec<(Time, Event)> = net
            .timed_events(me)
            .filter(|(_, e)| matches!(e, Event::DeadNodeReported { .. }))
            .map(|(t, e)| (t, e.clone()))
            .collect();
        if reported.is_empty() {
            continue;
        }
        reporters += 1;
        assert!(
            watchers.contains(&i),
            "peer {i} reported a peer it had no link to"
        );
        let [(at, Event::DeadNodeReported { line, peer, seeds })] = reported.as_slice() else {
            panic!("peer {i} reported {reported:?}");
        };
        assert_eq!(*line, expected_dead_line(dead, *at, me.ip()), "peer {i}");
        assert_eq!(*peer, hex);
        let outs = net.outputs_of(me, mark);
        let asked = outs.iter().filter(|o| {
            matches!(o, Output::Send { msg: Msg::ProbeRequest(ask), .. }
                if ask.suspect == dead_id && ask.addr == dead && ask.incarnation == 1)
        });
        assert!(asked.count() >= 1, "peer {i} asked no witness");
        let confirmed = net.events(me).iter().find_map(|e| match e {
            Event::SuspicionConfirmed {
                peer,
                addr,
                dead,
                verdicts,
            } if *peer == hex => Some((addr.clone(), *dead, *verdicts)),
            _ => None,
        });
        let (addr, d, v) = confirmed.expect("a confirmed suspicion before the report");
        assert_eq!(addr, dead.to_string());
        assert!(crate::suspicion::confirmed(d, v), "{d} of {v}");
        // The DeadReport frames: one per seed link, to distinct seeds, carrying the line and
        // the verdicts.
        let to_seeds: Vec<SocketAddr> = (net.frames.iter())
            .filter_map(|(from, to, m)| match m {
                Msg::DeadReport(r) if *from == me => {
                    assert_eq!(r.line, *line);
                    assert_eq!((r.suspect, r.addr, r.incarnation), (dead_id, dead, 1));
                    assert_eq!(r.verdicts.len(), v);
                    assert!(r
                        .verdicts
                        .iter()
                        .all(|v| v.verify(&Checks::default()) && v.suspect == dead_id));
                    Some(*to)
                }
                _ => None,
            })
            .collect();
        let distinct: BTreeSet<SocketAddr> = to_seeds.iter().copied().collect();
        assert_eq!(*seeds, 2, "a peer keeps q = 2 seed links");
        assert_eq!(to_seeds.len(), *seeds, "peer {i} sent {to_seeds:?}");
        assert_eq!(distinct.len(), *seeds);
        assert!(distinct
            .iter()
            .all(|s| SEEDS.contains(&s.to_string().as_str())));
        for s in distinct {
            let received = net.events(s).iter().any(|e| {
                matches!(e, Event::DeadNodeReportReceived { line: l, reporter }
                    if l == line && *reporter == peer_key(i).id().to_hex())
            });
            assert!(received, "{s} did not log the line as sent");
        }
    }
    assert!(reporters >= 1, "nobody reported peer {victim}");

    // SPEC §5: every seed removes it, by a certificate of a quorum; nobody else.
    for s in (0..3).map(seed_addr) {
        assert_eq!(net.removals(s), std::slice::from_ref(&hex), "{s}");
        let committed = net.events(s).iter().find_map(|e| match e {
            Event::RemovalCommitted {
                addr,
                incarnation,
                signers,
                ..
            } => Some((addr.clone(), *incarnation, signers.len())),
            _ => None,
        });
        let (addr, incarnation, signers) = committed.unwrap();
        assert_eq!((addr, incarnation), (dead.to_string(), 1));
        assert!(signers >= 2);
        assert!(net.remove_votes(s, dead_id).iter().all(|(yes, _)| *yes));
        let pl: BTreeSet<PeerId> = net.seed(s).peer_list().keys().copied().collect();
        let live: BTreeSet<PeerId> = (0..n)
            .filter(|&i| i != victim)
            .map(|i| peer_key(i).id())
            .collect();
        assert_eq!(pl, live, "{s}");
    }
    // The dead peer did nothing once down, and the live peers are still admitted.
    assert_eq!(net.outputs_of(dead, mark), []);
    for i in (0..n).filter(|&i| i != victim) {
        let cert = net.peer(host_addr(i)).certificate().unwrap();
        assert_eq!(cert.change, add(i, host_addr(i)));
        assert!(!net.peer(host_addr(i)).neighbors().contains(&dead_id));
    }
}

/// SPEC §6 Liveness and Suspicion, §5 Validating a removal and Seed log: a neighbour that
/// hangs (its links stay up, it answers no ping, its host no echo) is suspected after
/// `suspect_after` missed rounds, the witnesses confirm it, the reporter sends the task's
/// `Dead Node:` line to its seeds, and the seeds remove it and no live peer.
#[test]
fn a_neighbour_that_stops_answering_pings_is_reported_dead_and_removed_by_the_seeds() {
    // One round to send the unanswered ping, then `suspect_after` = 3 missed rounds.
    a_dead_peer_is_detected_reported_and_removed(false, (3, 4));
}

/// SPEC §6 Liveness (PROTOCOL §12.1): a neighbour whose links close and that cannot be
/// dialled again counts the lost link as one miss and each failed redial as another.
#[test]
fn a_crashed_neighbour_whose_redials_fail_is_reported_dead_and_removed_by_the_seeds() {
    a_dead_peer_is_detected_reported_and_removed(true, (1, 2));
}

/// Runs `p` (from `peer_with_three_neighbours`) in 1 s steps, answering every ping but those
/// on `silent`, until it suspects the neighbour on `silent`. Returns the index into
/// `net.outputs` where the step that started the suspicion began.
fn suspect(net: &mut Net, p: SocketAddr, silent: LinkId) -> usize {
    for _ in 0..120 {
        let mark = net.outputs.len();
        net.run_for(Duration::from_secs(1));
        let pings: Vec<(LinkId, u64)> = (net.outputs_of(p, mark).into_iter())
            .filter_map(|o| match o {
                Output::Send {
                    link,
                    msg: Msg::Ping(n),
                } if link != silent => Some((link, n)),
                _ => None,
            })
            .collect();
        for (link, n) in pings {
            let pong = Msg::Pong(n);
            net.inject(p, Input::Frame { link, msg: pong });
        }
        let started = (net.outputs_of(p, mark).iter())
            .any(|o| matches!(o, Output::Event(Event::SuspicionStarted { .. })));
        if started {
            return mark;
        }
    }
    panic!("no suspicion in 120 s");
}

/// SPEC §6 Suspicion: witnesses that find the suspect alive clear the suspicion; nothing
/// goes to the seeds.
#[test]
fn a_suspicion_without_a_witness_majority_sends_no_report() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let (id5, inc) = (peer_key(5).id(), 1);
    let start = suspect(&mut net, p, l5);
    let seed_link = net.seed_links_of(p)[0];
    let probe = Msg::ProbeRequest(Box::new(wire::ProbeRequest {
        suspect: id5,
        addr: peer_addr(5),
        incarnation: inc,
    }));
    let suspected = Event::SuspicionStarted {
        peer: id5.to_hex(),
        addr: peer_addr(5).to_string(),
        misses: 3,
        icmp: Some(true),
    };
    // The seeds know no topology of 5: its witnesses are p's own other neighbours.
    let outs: Vec<Output> = (net.outputs_of(p, start).into_iter())
        .filter(liveness_output)
        .collect();
    assert_eq!(
        outs,
        [
            Output::Event(suspected),
            Output::Send {
                link: seed_link,
                msg: Msg::GetNeighbors(id5)
            },
            Output::Send {
                link: l6,
                msg: probe.clone()
            },
            Output::Send {
                link: l7,
                msg: probe
            },
        ]
    );
    let alive = |w: usize| {
        Msg::Verdict(Box::new(Verdict::new(
            &peer_key(w),
            id5,
            inc,
            true,
            net.now,
        )))
    };
    let (v6, v7) = (alive(6), alive(7));
    assert_eq!(net.inject(p, Input::Frame { link: l6, msg: v6 }), []);
    assert_eq!(
        net.inject(p, Input::Frame { link: l7, msg: v7 }),
        [Output::Event(Event::SuspicionCleared {
            peer: id5.to_hex(),
            addr: peer_addr(5).to_string(),
            dead: 1,
            verdicts: 3
        })]
    );
    net.run_for(Duration::from_secs(10));
    let reports = (net.outputs.iter())
        .filter(|(_, o)| {
            matches!(
                o,
                Output::Send {
                    msg: Msg::DeadReport(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(reports, 0);
    assert!(net.peer(p).neighbors().contains(&id5), "the link stays");
    let confirmed = (net.events(p).iter())
        .filter(|e| {
            matches!(
                e,
                Event::SuspicionConfirmed { .. } | Event::DeadNodeReported { .. }
            )
        })
        .count();
    assert_eq!(confirmed, 0);
}

/// A dead-node report from `reporter` about peer `suspect` at (`addr`, `incarnation`),
/// with the given verdicts, its line stamped `now`.
fn report(
    reporter: usize,
    suspect: usize,
    addr: SocketAddr,
    incarnation: u64,
    verdicts: Vec<Verdict>,
    now: Time,
) -> Box<DeadReport> {
    let line = expected_dead_line(addr, now, peer_addr(reporter).ip());
    let suspect = (peer_key(suspect).id(), addr, incarnation);
    Box::new(DeadReport::new(
        &peer_key(reporter),
        line,
        suspect,
        verdicts,
    ))
}

/// A dead verdict by `witness` on peer `suspect` at `incarnation`.
fn dead(witness: usize, suspect: usize, incarnation: u64, now: Time) -> Verdict {
    Verdict::new(
        &peer_key(witness),
        peer_key(suspect).id(),
        incarnation,
        false,
        now,
    )
}

/// Delivers `r` to a seed over the reporter's (peer 0's) own link and checks that the seed
/// logs it and proposes the removal; returns the seed.
fn deliver_report(net: &mut Net, r: Box<DeadReport>) -> SocketAddr {
    let (s, link) = net.seed_end(peer_addr(0));
    let c = Change {
        op: Op::Remove,
        peer: r.suspect,
        addr: r.addr,
        incarnation: r.incarnation,
    };
    let (line, reporter) = (r.line.clone(), r.reporter.to_hex());
    let outs = net.inject(
        s,
        Input::Frame {
            link,
            msg: Msg::DeadReport(r),
        },
    );
    assert_eq!(
        outs[..2],
        [
            Output::Event(Event::DeadNodeReportReceived {
                line: line.clone(),
                reporter: reporter.clone()
            }),
            Output::Event(Event::RemovalProposed {
                peer: c.peer.to_hex(),
                addr: c.addr.to_string(),
                incarnation: c.incarnation,
                reporter,
                line
            })
        ],
        "{outs:?}"
    );
    s
}

/// The seed at `s` aborted the removal of `peer`, voted down.
fn assert_removal_aborted(net: &Net, s: SocketAddr, peer: PeerId) {
    let hex = peer.to_hex();
    let aborted = net.events(s).iter().find_map(|e| match e {
        Event::RemovalAborted { peer, reason, .. } if *peer == hex => Some(reason.clone()),
        _ => None,
    });
    let reason = aborted.expect("the coordinator aborts");
    assert!(reason.starts_with("voted down: "), "{reason}");
}

/// SPEC §5 Validating a removal: the report must carry signed verdicts of a majority of the
/// witnesses; without them every seed votes no even though its own probe fails too.
#[test]
fn a_dead_node_report_without_valid_evidence_gets_a_no_vote_from_every_seed() {
    let mut net = seeds_and_peers(5);
    for i in [1, 2, 4] {
        net.take_down(peer_addr(i), true);
    }
    let now = net.now;

    // Missing verdicts: the reporter's own only.
    let alone = report(0, 1, peer_addr(1), 1, vec![dead(0, 1, 1, now)], now);
    let s1 = deliver_report(&mut net, alone);
    // A forged verdict: peer 3's name, peer 0's signature.
    let mut forged = dead(3, 2, 1, now);
    forged.sig = dead(0, 2, 1, now).sig;
    let s2 = deliver_report(
        &mut net,
        report(0, 2, peer_addr(2), 1, vec![dead(0, 2, 1, now), forged], now),
    );
    // The same kind of report with valid evidence removes its peer (a control).
    let valid = vec![dead(0, 4, 1, now), dead(3, 4, 1, now)];
    deliver_report(&mut net, report(0, 4, peer_addr(4), 1, valid, now));

    let missing =
        "evidence: only 1 of 1 verdicts say unresponsive (a majority, and at least 2, needed)";
    let forged = format!(
        "evidence: the verdict of {} does not verify",
        peer_key(3).id()
    );
    for s in (0..3).map(seed_addr) {
        assert_eq!(
            net.remove_votes(s, peer_key(1).id()),
            [(false, missing.to_string())],
            "{s}"
        );
        assert_eq!(
            net.remove_votes(s, peer_key(2).id()),
            [(false, forged.clone())],
            "{s}"
        );
        assert_eq!(
            net.remove_votes(s, peer_key(4).id()),
            [(true, String::new())],
            "{s}"
        );
        assert_eq!(net.removals(s), [peer_key(4).id().to_hex()], "{s}");
        let pl = net.seed(s).peer_list();
        for i in [0, 1, 2, 3] {
            assert_eq!(pl[&peer_key(i).id()].incarnation, 1, "{s}: peer {i}");
        }
        assert!(!pl.contains_key(&peer_key(4).id()));
    }
    assert_removal_aborted(&net, s1, peer_key(1).id());
    assert_removal_aborted(&net, s2, peer_key(2).id());
}

/// SPEC §5 Validating a removal: "If the accused answers the seed, the vote is no and the
/// seed logs a false accusation naming the reporter" — however good the evidence looks.
#[test]
fn a_seed_whose_own_probe_reaches_the_accused_votes_no_and_logs_a_false_accusation() {
    let mut net = seeds_and_peers(4);
    let now = net.now;
    let verdicts = vec![dead(0, 1, 1, now), dead(2, 1, 1, now), dead(3, 1, 1, now)];
    let r = report(0, 1, peer_addr(1), 1, verdicts, now);
    let pl = net.seed(seed_addr(0)).peer_list();
    assert_eq!(
        r.check(now, |p| pl.contains_key(p), &Checks::default()),
        Ok(()),
        "the evidence holds"
    );
    let coordinator = deliver_report(&mut net, r);

    let id1 = peer_key(1).id();
    let reason = format!(
        "the accused answered this seed's own probe at {}",
        peer_addr(1)
    );
    for s in (0..3).map(seed_addr) {
        let accusations: Vec<&Event> = (net.events(s).iter())
            .filter(|e| e.name() == "false_accusation")
            .collect();
        assert_eq!(
            accusations,
            [&Event::FalseAccusation {
                peer: id1.to_hex(),
                addr: peer_addr(1).to_string(),
                reporter: peer_key(0).id().to_hex(),
                reason: reason.clone(),
            }],
            "{s}"
        );
        assert_eq!(net.remove_votes(s, id1), [(false, reason.clone())], "{s}");
        assert_eq!(net.removals(s), Vec::<String>::new(), "{s}");
        let m = &net.seed(s).peer_list()[&id1];
        assert_eq!((m.addr, m.incarnation), (peer_addr(1), 1));
    }
    assert_removal_aborted(&net, coordinator, id1);
    assert!(net.peer(peer_addr(1)).certificate().is_some());
}

/// SPEC §6 Suspicion, §5 Conflicts: a verdict is about one incarnation of the suspect; a
/// verdict about an older one does not count toward the peer's decision.
#[test]
fn a_verdict_about_an_older_incarnation_does_not_count_at_the_peer() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let id5 = peer_key(5).id();
    suspect(&mut net, p, l5);
    let started = (net.timed_events(p))
        .find(|(_, e)| matches!(e, Event::SuspicionStarted { .. }))
        .map(|(t, _)| t)
        .unwrap();
    // Peer 5 is linked at incarnation 1; verdicts about incarnation 0 are stale.
    for (w, link) in [(6, l6), (7, l7)] {
        let stale = Msg::Verdict(Box::new(dead(w, 5, 0, net.now)));
        assert_eq!(
            net.inject(p, Input::Frame { link, msg: stale }),
            [],
            "witness {w}"
        );
    }
    let decided = |net: &Net| {
        (net.events(p).iter())
            .filter(|e| {
                matches!(
                    e,
                    Event::SuspicionConfirmed { .. } | Event::SuspicionCleared { .. }
                )
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(decided(&net), [], "undecided until the deadline");
    // At the deadline only its own verdict counts: one is not enough.
    let deadline = started + peer::Settings::default().verdict_timeout;
    net.run_for(deadline.since(net.now) - Duration::from_millis(1));
    assert_eq!(decided(&net), []);
    net.run_for(Duration::from_millis(1));
    assert_eq!(
        decided(&net),
        [Event::SuspicionCleared {
            peer: id5.to_hex(),
            addr: peer_addr(5).to_string(),
            dead: 1,
            verdicts: 1
        }]
    );
    let reports = (net.outputs.iter())
        .filter(|(_, o)| {
            matches!(
                o,
                Output::Send {
                    msg: Msg::DeadReport(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(reports, 0);
}

/// SPEC §5 Validating a removal and Conflicts: a report about the current incarnation whose
/// verdicts are about an older one is voted down; a report about an older incarnation is
/// not even proposed.
#[test]
fn a_dead_node_report_with_verdicts_about_an_older_incarnation_is_voted_down() {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..4 {
        let incarnation = if i == 1 { 2 } else { 1 };
        net.add_peer_incarnation(i, peer_addr(i), peer_addr(i), incarnation);
        net.run_for(Duration::from_secs(2));
    }
    net.run_for(Duration::from_secs(3));
    let id1 = peer_key(1).id();
    assert_eq!(net.seed(seed_addr(0)).peer_list()[&id1].incarnation, 2);
    net.take_down(peer_addr(1), true);
    let now = net.now;

    // About incarnation 1 altogether: the seed logs it and does nothing more.
    let old = vec![dead(0, 1, 1, now), dead(2, 1, 1, now), dead(3, 1, 1, now)];
    let r = report(0, 1, peer_addr(1), 1, old.clone(), now);
    let (s, link) = net.seed_end(peer_addr(0));
    let line = r.line.clone();
    assert_eq!(
        net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::DeadReport(r)
            }
        ),
        [Output::Event(Event::DeadNodeReportReceived {
            line,
            reporter: peer_key(0).id().to_hex()
        })]
    );
    // About incarnation 2, with the witnesses' verdicts about incarnation 1.
    let mixed = vec![dead(0, 1, 2, now), old[1].clone(), old[2].clone()];
    let coordinator = deliver_report(&mut net, report(0, 1, peer_addr(1), 2, mixed, now));
    let reason = format!(
        "evidence: the verdict of {} is about another peer or incarnation",
        peer_key(2).id()
    );
    for s in (0..3).map(seed_addr) {
        assert_eq!(net.remove_votes(s, id1), [(false, reason.clone())], "{s}");
        assert_eq!(net.removals(s), Vec::<String>::new(), "{s}");
        assert_eq!(net.seed(s).peer_list()[&id1].incarnation, 2, "{s}");
    }
    assert_removal_aborted(&net, coordinator, id1);
}

/// SPEC §5 Peer List and §8: a removal is applied only with a certificate of q distinct
/// configured seeds; a forged majority is rejected, a genuine one applied once.
#[test]
fn a_removal_certificate_without_a_quorum_of_seeds_is_rejected() {
    let mut net = Net::seeds(seed::Settings::default());
    let change = add(5, peer_addr(5));
    let id5 = change.peer;
    for at in [1, 2].map(seed_addr) {
        let (link, _) = net.link(at, seed_addr(0));
        let msg = Msg::Commit(Box::new(cert(change, &[0, 1])));
        net.inject(at, Input::Frame { link, msg });
        assert!(net.seed(at).peer_list().contains_key(&id5));
    }
    let gone = removal(5, peer_addr(5), 1);
    let mut forged_sig = cert(gone, &[0, 2]);
    forged_sig.sigs[1].1 = forged_sig.sigs[0].1; // seed 0's signature under seed 2's name
    let mut peer_signed = cert(gone, &[0]);
    let v = Vote::new(&peer_key(0), gone, true, "");
    peer_signed.sigs.push((v.voter, v.sig));
    let cases = [
        (
            cert(gone, &[0]),
            CertError::TooFewSignatures { have: 1, need: 2 },
        ),
        (
            cert(gone, &[0, 0]),
            CertError::DuplicateSigner(seed_key(0).id()),
        ),
        (forged_sig, CertError::BadSignature(seed_key(2).id())),
        (peer_signed, CertError::UnknownSigner(peer_key(0).id())),
    ];
    for at in [1, 2].map(seed_addr) {
        let (link, r) = net.link(at, seed_addr(0));
        for (bad, e) in cases.clone() {
            assert_eq!(
                net.inject(
                    at,
                    Input::Frame {
                        link,
                        msg: Msg::Commit(Box::new(bad))
                    }
                ),
                [Output::Event(Event::ProtocolError {
                    remote: r.source.to_string(),
                    reason: format!("certificate rejected: {e}"),
                })],
                "{at}: {e}"
            );
        }
        let m = &net.seed(at).peer_list()[&id5];
        assert_eq!((m.addr, m.incarnation), (peer_addr(5), 1));
        assert_eq!(net.removals(at), Vec::<String>::new());
    }
    // A genuine removal certificate of two seeds, once, then again: applied once.
    let signers = vec![seed_key(0).id().to_hex(), seed_key(1).id().to_hex()];
    for at in [1, 2].map(seed_addr) {
        let (link, _) = net.link(at, seed_addr(0));
        let good = || Msg::Commit(Box::new(cert(gone, &[0, 1])));
        assert_eq!(
            net.inject(at, Input::Frame { link, msg: good() }),
            [
                Output::Persist(node::Record::Certificate(cert(gone, &[0, 1]))),
                Output::Event(Event::RemovalCommitted {
                    peer: id5.to_hex(),
                    addr: peer_addr(5).to_string(),
                    incarnation: 1,
                    signers: signers.clone()
                })
            ],
            "{at}"
        );
        assert!(!net.seed(at).peer_list().contains_key(&id5));
        assert_eq!(
            net.inject(at, Input::Frame { link, msg: good() }),
            [],
            "{at}"
        );
    }
}

/// SPEC §5 Conflicts: "a peer that comes back registers again with a higher incarnation" —
/// a live peer told of its own removal registers at incarnation + 1 and is admitted again.
#[test]
fn a_live_peer_told_of_its_own_removal_registers_again_at_a_higher_incarnation() {
    let (mut net, p) = registered_peer();
    let id = peer_key(0).id();
    let links = net.seed_links_of(p);
    assert_eq!(links.len(), 2);
    let told = |net: &mut Net, c: Certificate| {
        let msg = Msg::Removed(Box::new(c));
        net.inject(
            p,
            Input::Frame {
                link: links[0],
                msg,
            },
        )
    };
    // Not about it, not its incarnation, or not signed by a quorum: ignored.
    assert_eq!(
        told(&mut net, cert(removal(5, peer_addr(5), 1), &[0, 1])),
        []
    );
    assert_eq!(told(&mut net, cert(removal(0, p, 0), &[0, 1])), []);
    assert_eq!(told(&mut net, cert(removal(0, p, 1), &[0])), []);
    assert_eq!(net.peer(p).certificate().map(|c| c.change), Some(add(0, p)));

    let reg = Registration::new(&peer_key(0), p, 2);
    let text =
        "removed by the seeds at incarnation 1 while alive: registering again at incarnation 2";
    let mut expected = vec![Output::Event(Event::Notice { text: text.into() })];
    expected.extend(links.iter().map(|&link| Output::Send {
        link,
        msg: Msg::Register(Box::new(reg.clone())),
    }));
    assert_eq!(told(&mut net, cert(removal(0, p, 1), &[0, 1])), expected);
    net.run_for(Duration::from_secs(3));

    let again = Change {
        incarnation: 2,
        ..add(0, p)
    };
    assert_eq!(net.peer(p).certificate().map(|c| c.change), Some(again));
    let registered: Vec<u64> = (net.events(p).iter())
        .filter_map(|e| match e {
            Event::Registered { incarnation, .. } => Some(*incarnation),
            _ => None,
        })
        .collect();
    assert_eq!(registered, [1, 2]);
    for s in (0..3).map(seed_addr) {
        let m = &net.seed(s).peer_list()[&id];
        assert_eq!((m.addr, m.incarnation), (p, 2), "{s}");
    }
    // The same removal again is stale now.
    assert_eq!(told(&mut net, cert(removal(0, p, 1), &[0, 1])), []);
}

/// SPEC §5 Conflicts, end to end: the seeds apply a removal of a peer that is in fact alive,
/// tell it, and it comes back at incarnation 2 past the tombstone of incarnation 1.
#[test]
fn a_peer_the_seeds_removed_while_alive_comes_back_past_its_tombstone() {
    let (mut net, p) = registered_peer();
    let id = peer_key(0).id();
    let gone = cert(removal(0, p, 1), &[0, 1]);
    for (at, from) in [(0, 1), (1, 0), (2, 0)] {
        let (link, _) = net.link(seed_addr(at), seed_addr(from));
        let msg = Msg::Commit(Box::new(gone.clone()));
        net.inject(seed_addr(at), Input::Frame { link, msg });
    }
    net.run_for(Duration::from_secs(3));
    let registers: Vec<u64> = (net.frames.iter())
        .filter_map(|(from, _, m)| match m {
            Msg::Register(r) if *from == p => Some(r.incarnation),
            _ => None,
        })
        .collect();
    assert_eq!(registers, [1, 1, 2, 2]);
    assert_eq!(
        net.peer(p).certificate().map(|c| c.change.incarnation),
        Some(2)
    );
    for s in (0..3).map(seed_addr) {
        assert_eq!(net.removals(s), [id.to_hex()], "{s}");
        let m = &net.seed(s).peer_list()[&id];
        assert_eq!((m.addr, m.incarnation), (p, 2), "{s}");
    }
}

/// Issue 5: a peer answers its operator's short commands, as the task's write-ups describe.
#[test]
fn a_peer_answers_peers_messages_and_help() {
    let (mut net, p, [l5, ..]) = peer_with_three_neighbours();
    let reply = |net: &mut Net, line: &str| -> String {
        let outs = net.inject(p, Input::Command { line: line.into() });
        match &outs[..] {
            [Output::Reply(text)] => text.clone(),
            other => panic!("{line}: {other:?}"),
        }
    };
    let peers = reply(&mut net, "peers");
    assert!(peers.starts_with("3 neighbours"), "{peers}");
    for i in 5..8 {
        assert!(peers.contains(&peer_key(i).id().to_string()), "{peers}");
    }
    assert_eq!(reply(&mut net, "1"), peers);
    let g = Gossip::new(&peer_key(9), gossip::text(net.now, peer_addr(9).ip(), 1));
    net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    let messages = reply(&mut net, "messages");
    assert!(
        messages.contains(&g.text) && messages.contains("received 1"),
        "{messages}"
    );
    assert!(
        messages.contains(&format!("from {}", peer_addr(5))),
        "{messages}"
    );
    assert_eq!(reply(&mut net, "2"), messages);
    assert!(reply(&mut net, "help").contains("messages, 2"));
    assert!(reply(&mut net, "bogus").starts_with("unknown command"));
}

/// PROTOCOL §7, SPEC §8: a peer that reports neighbours it does not have (to draw links by
/// preferential attachment) is listed with only the neighbours that report it back.
#[test]
fn a_seeds_kept_degrees_equal_a_recount_through_reports_admissions_and_removals() {
    use rand::{Rng, SeedableRng};
    let mut net = Net::seeds(seed::Settings::default());
    let s = seed_addr(0);
    const N: usize = 12;
    let ids: Vec<PeerId> = (0..N).map(|i| peer_key(i).id()).collect();
    let links: Vec<LinkId> = (0..N).map(|i| LinkId(4_000_000 + i as u64)).collect();
    for i in 0..N {
        let remote = remote(ids[i], Role::Peer, peer_addr(i));
        let up = Input::LinkUp {
            link: links[i],
            remote: Box::new(remote),
            dial: None,
        };
        net.inject(s, up);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (mut seq, mut admitted, mut removed) = (0, BTreeSet::new(), BTreeSet::new());
    let mut most = 0;
    for step in 0..600 {
        let i = rng.random_range(0..N);
        match rng.random_range(0..10) {
            0..=1 if !admitted.contains(&i) && !removed.contains(&i) => {
                admitted.insert(i);
                net.commit_at(&[0], &cert(add(i, peer_addr(i)), &[0, 1, 2]));
            }
            2 if step > 300 && admitted.remove(&i) => {
                removed.insert(i);
                net.commit_at(&[0], &cert(removal(i, peer_addr(i), 1), &[0, 1, 2]));
            }
            _ => {
                // Any subset, itself and removed peers included.
                let named: Vec<PeerId> = (ids.iter())
                    .filter(|_| rng.random_bool(0.4))
                    .copied()
                    .collect();
                seq += 1;
                let report = crate::cert::NeighborReport::new(&peer_key(i), seq, named);
                let msg = Msg::Neighbors(Box::new(report));
                net.inject(
                    s,
                    Input::Frame {
                        link: links[i],
                        msg,
                    },
                );
            }
        }
        let seed = net.seed(s);
        for id in &ids {
            assert_eq!(seed.degree(id), seed.count_degree(id), "step {step}");
            most = most.max(seed.degree(id));
        }
    }
    // The run made links, and removals broke some.
    assert!(most >= 3, "{most}");
    assert!(removed.len() >= 3, "{removed:?}");
}

#[test]
fn a_peer_cannot_draw_links_by_claiming_neighbours() {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..4 {
        net.add_peer(i);
        net.run_for(Duration::from_secs(1));
    }
    let liar = peer_key(0);
    let real: Vec<PeerId> = net.peer(peer_addr(0)).neighbors().into_iter().collect();
    assert!(!real.is_empty());
    // Made-up ids (peer keys start at 100, seed keys at 1), and the real ones twice over.
    let fake: Vec<PeerId> = (200..250)
        .map(|i| Keypair::from_secret([i; 32]).id())
        .collect();
    let claimed: Vec<PeerId> = real.iter().chain(&real).copied().chain(fake).collect();
    let report = crate::cert::NeighborReport::new(&liar, u64::MAX / 2, claimed);
    let s = seed_addr(0);
    let (from_liar, asker) = (LinkId(3_000_000), LinkId(3_000_001));
    let up = |link, id| Input::LinkUp {
        link,
        remote: Box::new(remote(id, Role::Peer, peer_addr(9))),
        dial: None,
    };
    net.inject(s, up(from_liar, liar.id()));
    net.inject(
        s,
        Input::Frame {
            link: from_liar,
            msg: Msg::Neighbors(Box::new(report)),
        },
    );
    net.inject(s, up(asker, peer_key(9).id()));
    let outs = net.inject(
        s,
        Input::Frame {
            link: asker,
            msg: Msg::GetPeers,
        },
    );
    let list = outs
        .iter()
        .find_map(|o| match o {
            Output::Send {
                msg: Msg::PeerList(l),
                ..
            } => Some(l.clone()),
            _ => None,
        })
        .expect("a peer list");
    let listed = list
        .iter()
        .find(|p| p.id == liar.id())
        .expect("the liar is listed");
    assert_eq!(
        listed.degree as usize,
        real.len(),
        "{} claimed, {} real",
        2 * real.len() + 50,
        real.len()
    );
}

// ---- durability and anti-entropy (SPEC §5 "Convergence and durability", PROTOCOL §13) ---

/// Every peer of every seed's Peer List, as (id, addr, incarnation), and its tombstones.
fn held(net: &Net, i: usize) -> (Vec<(PeerId, SocketAddr, u64)>, usize) {
    let s = net.seed(seed_addr(i));
    let pl = (s.peer_list().iter())
        .map(|(id, m)| (*id, m.addr, m.incarnation))
        .collect();
    let status = s.status(0);
    (pl, status.certificates as usize - s.peer_list().len())
}

/// A seed persists a certificate before it acknowledges it: at the coordinator, the
/// `Persist` of the admission comes before the `Admitted` sent to the peer and the `Commit`
/// sent to the other seeds.
#[test]
fn a_seed_persists_a_certificate_before_it_sends_it_anywhere() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    let change = add(0, peer_addr(0));
    let mut checked = 0;
    for i in 0..3 {
        let outs: Vec<&Output> = (net.outputs.iter())
            .filter(|(at, _)| *at == seed_addr(i))
            .map(|(_, o)| o)
            .collect();
        let persisted = outs.iter().position(
            |o| matches!(o, Output::Persist(node::Record::Certificate(c)) if c.change == change),
        );
        let persisted = persisted.unwrap_or_else(|| panic!("seed {i} persisted the admission"));
        let acked = outs.iter().position(|o| {
            matches!(o, Output::Send { msg: Msg::Admitted(c) | Msg::Commit(c), .. } if c.change == change)
        });
        if let Some(acked) = acked {
            assert!(
                persisted < acked,
                "seed {i} sent the certificate before persisting it"
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "some seed coordinated the admission");
    // Each seed persisted the keys of the two others, learned by handshake.
    for i in 0..3 {
        let keys: BTreeSet<(SocketAddr, PeerId)> = (net.stores[&seed_addr(i)].iter())
            .filter_map(|r| match r {
                node::Record::SeedKey { addr, id } => Some((*addr, *id)),
                node::Record::Certificate(_) => None,
            })
            .collect();
        let others: BTreeSet<(SocketAddr, PeerId)> = (0..3)
            .filter(|&j| j != i)
            .map(|j| (seed_addr(j), seed_key(j).id()))
            .collect();
        assert_eq!(keys, others, "seed {i}");
    }
}

/// A restarted seed rebuilds its Peer List and tombstones from its store alone, quietly
/// (one `restored` event, no commits logged again), and verifies later certificates with the
/// seed keys it stored.
#[test]
fn a_restarted_seed_rebuilds_its_peer_list_from_its_store_before_it_serves() {
    let mut net = seeds_and_peers(3);
    // Remove peer 2 (down, so it does not come back) by a certificate of seeds 0 and 1.
    net.take_down(peer_addr(2), true);
    let gone = cert(removal(2, peer_addr(2), 1), &[0, 1]);
    net.commit_at(&[0, 1, 2], &gone);
    let before = held(&net, 0);
    assert_eq!((before.0.len(), before.1), (2, 1));

    // Cut it off from everything, so only its store can rebuild it.
    net.take_down(seed_addr(0), true);
    net.take_down(seed_addr(1), true);
    net.take_down(seed_addr(2), true);
    net.restart_seed(0, seed::Settings::default(), false);
    assert_eq!(held(&net, 0), before);
    let events = net.events(seed_addr(0));
    let restored: Vec<&Event> = events.iter().filter(|e| e.name() == "restored").collect();
    assert_eq!(
        restored,
        [&Event::Restored {
            certificates: 3 + 1,
            peers: 2,
            removed: 1
        }],
        "one event for the whole store: 3 admissions and 1 removal"
    );
    assert_eq!(
        net.count(seed_addr(0), "registration_committed", peer_key(0).id()),
        0
    );
    // The stored seed keys let it verify a certificate signed by the others at once, from
    // a seed it has not dialled yet.
    let l = LinkId(9_999);
    let remote = remote(seed_key(1).id(), Role::Seed, seed_addr(1));
    net.inject(
        seed_addr(0),
        Input::LinkUp {
            link: l,
            remote: Box::new(remote),
            dial: None,
        },
    );
    let late = cert(add(7, peer_addr(7)), &[1, 2]);
    net.inject(
        seed_addr(0),
        Input::Frame {
            link: l,
            msg: Msg::Commit(Box::new(late)),
        },
    );
    assert!(net
        .seed(seed_addr(0))
        .peer_list()
        .contains_key(&peer_key(7).id()));
}

/// A seed that was down while a peer was admitted and another removed learns both from the
/// others by anti-entropy soon after it is back, and reports when it last agreed with each.
#[test]
fn a_seed_that_was_down_during_decisions_catches_up_by_anti_entropy() {
    let mut net = seeds_and_peers(2);
    net.take_down(seed_addr(2), true);
    net.add_peer(2);
    net.run_for(Duration::from_secs(3));
    assert!(
        net.peer(peer_addr(2)).certificate().is_some(),
        "two seeds are a quorum"
    );
    net.take_down(peer_addr(0), true);
    let gone = cert(removal(0, peer_addr(0), 1), &[0, 1]);
    net.commit_at(&[0, 1], &gone);
    let want = held(&net, 0);
    assert_eq!(held(&net, 1), want);
    assert_ne!(held(&net, 2), want);

    let back = net.now;
    net.restart_seed(2, seed::Settings::default(), false);
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        held(&net, 2),
        want,
        "caught up within a second of its return"
    );
    assert!(net
        .events(seed_addr(2))
        .iter()
        .any(|e| e.name() == "catch_up"));
    // Nothing it learned was proposed again: it was learned by certificate.
    assert_eq!(
        net.count(seed_addr(2), "registration_proposed", peer_key(2).id()),
        0
    );
    net.run_for(Duration::from_secs(3));
    for i in 0..3 {
        assert_eq!(net.seed(seed_addr(i)).status(0).agreed.len(), 2, "seed {i}");
    }
    assert_all_agreed_since(&net, back);
}

/// Every seed has agreed with each other seed since `t`.
fn assert_all_agreed_since(net: &Net, t: Time) {
    for i in 0..3 {
        for (addr, ago) in net.seed(seed_addr(i)).status(0).agreed {
            let ago = ago.unwrap_or_else(|| panic!("seed {i} never agreed with {addr}"));
            let since = net.now.since(t).as_millis() as u64;
            assert!(ago <= since, "seed {i} with {addr}: {ago} ms ago");
        }
    }
}

/// A seed whose store is lost comes back empty and rebuilds the whole Peer List and every
/// tombstone from the others; its catch-up goes in batches, never one frame per certificate.
#[test]
fn a_seed_that_lost_its_store_rebuilds_everything_from_the_others() {
    let mut net = seeds_and_peers(4);
    net.take_down(peer_addr(3), true);
    let gone = cert(removal(3, peer_addr(3), 1), &[0, 1]);
    net.commit_at(&[0, 1, 2], &gone);
    let want = held(&net, 0);
    net.take_down(seed_addr(1), true);
    let mark = net.frames.len();
    net.restart_seed(1, seed::Settings::default(), true);
    net.run_for(Duration::from_secs(2));
    assert_eq!(held(&net, 1), want);
    let batches = net.frames[mark..]
        .iter()
        .filter(|(_, to, m)| *to == seed_addr(1) && matches!(m, Msg::Certificates(_)))
        .count();
    let commits = net.frames[mark..]
        .iter()
        .filter(|(_, to, m)| *to == seed_addr(1) && matches!(m, Msg::Commit(_)))
        .count();
    assert_eq!(commits, 0, "the catch-up uses batches");
    assert!(
        (1..=4).contains(&batches),
        "{batches} batches from two seeds"
    );
}

/// Seeds that hold the same certificates exchange one root each way and nothing more.
#[test]
fn seeds_in_agreement_send_only_their_roots() {
    let mut net = seeds_and_peers(2);
    let mark = net.frames.len();
    net.run_for(Duration::from_secs(10));
    let sync: BTreeSet<&str> = net.frames[mark..]
        .iter()
        .filter(|(from, to, _)| from.port() < 7000 && to.port() < 7000)
        .map(|(_, _, m)| m.name())
        .collect();
    assert_eq!(sync, BTreeSet::from(["SyncRoot"]));
}

/// A bucket list of the wrong length is a protocol error that closes that link only.
#[test]
fn a_bucket_list_of_the_wrong_length_closes_the_link() {
    let mut net = Net::seeds(seed::Settings::default());
    let (l, _) = net.link(seed_addr(0), seed_addr(1));
    let outs = net.inject(
        seed_addr(0),
        Input::Frame {
            link: l,
            msg: Msg::SyncBuckets(vec![crate::cert::Digest([0; 32]); 3]),
        },
    );
    assert!(outs.contains(&Output::Close { link: l }), "{outs:?}");
    assert!(net.events(seed_addr(0)).iter().any(|e| matches!(
        e,
        Event::ProtocolError { reason, .. } if reason.contains("3 bucket hashes, not 256")
    )));
}

/// A catch-up batch is checked certificate by certificate: the genuine ones are applied, a
/// forged one is dropped with one `protocol_error` for the batch, and the link stays up.
#[test]
fn a_catch_up_batch_applies_what_verifies_and_drops_what_does_not() {
    let mut net = Net::seeds(seed::Settings::default());
    let at = seed_addr(2);
    let (link, _) = net.link(at, seed_addr(0));
    let good = cert(add(5, peer_addr(5)), &[0, 1]);
    let forged = cert(add(6, peer_addr(6)), &[0]);
    let outs = net.inject(
        at,
        Input::Frame {
            link,
            msg: Msg::Certificates(vec![forged, good.clone()]),
        },
    );
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Close { .. })),
        "{outs:?}"
    );
    let pl = net.seed(at).peer_list();
    assert!(pl.contains_key(&peer_key(5).id()) && !pl.contains_key(&peer_key(6).id()));
    let errors: Vec<&Event> = (net.events(at).iter())
        .filter(|e| e.name() == "protocol_error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0], Event::ProtocolError { reason, .. }
        if reason.starts_with("1 certificates rejected, the last: ")));
    assert!(outs.contains(&Output::Persist(node::Record::Certificate(good))));
}

/// PROTOCOL §12.4: a peer removed while it was cut off from every seed learns it when it
/// links up to one again, and comes back at the next incarnation, with a join timeout of
/// its own (the simulator's partition scenario found the peer giving up at once).
#[test]
fn a_peer_removed_while_cut_off_learns_it_when_it_links_up_again_and_comes_back() {
    let mut net = seeds_and_peers(2);
    let (me, id) = (peer_addr(1), peer_key(1).id());
    // Cut the peer off: its links close, and while it is away the seeds remove it.
    let mine: Vec<LinkId> = (net.ends.iter())
        .filter(|(_, e)| e.at == me)
        .map(|(l, _)| *l)
        .collect();
    net.take_down(me, true);
    let gone = cert(removal(1, me, 1), &[0, 1]);
    net.commit_at(&[0, 1, 2], &gone);
    assert!(!net.seed(seed_addr(0)).peer_list().contains_key(&id));
    // Away for longer than the join timeout, and back while two seeds are down: it is told
    // at once, and waits for a quorum with a join timeout of its own instead of giving up.
    net.run_for(peer_settings().join_timeout * 2);
    net.take_down(seed_addr(1), true);
    net.take_down(seed_addr(2), true);
    net.down.remove(&me);
    for link in mine {
        net.inject(me, Input::LinkDown { link });
    }
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[&me].stop, None, "it gave up at once");
    // The seeds return: it is admitted at incarnation 2.
    net.restart_seed(1, seed::Settings::default(), false);
    net.restart_seed(2, seed::Settings::default(), false);
    net.run_for(Duration::from_secs(30));
    let cert = net.peer(me).certificate().cloned().expect("admitted again");
    assert_eq!((cert.change.incarnation, cert.change.addr), (2, me));
    for i in 0..3 {
        let m = &net.seed(seed_addr(i)).peer_list()[&id];
        assert_eq!(m.incarnation, 2, "seed {i}");
    }
}

/// PROTOCOL §13.2: a commit one seed never got (a lost frame) is repaired on the live link
/// within one sync interval, and then the seeds agree both ways.
#[test]
fn a_missed_commit_is_repaired_on_a_live_link_within_one_sync_interval() {
    let mut net = Net::seeds(seed::Settings::default());
    let late = cert(add(7, peer_addr(7)), &[0, 1]);
    net.commit_at(&[0, 1], &late);
    assert!(!net
        .seed(seed_addr(2))
        .peer_list()
        .contains_key(&peer_key(7).id()));
    let t = net.now;
    net.run_for(seed::Settings::default().sync_interval + Duration::from_millis(10));
    assert!(net
        .seed(seed_addr(2))
        .peer_list()
        .contains_key(&peer_key(7).id()));
    assert_all_agreed_since(&net, t);
}

/// A seed answers only what it asked for: bucket hashes it did not ask for and a fetch
/// that follows no bucket hashes of its own get nothing, so another seed cannot make it
/// send its whole store at will.
#[test]
fn a_seed_sends_certificates_only_when_an_exchange_asks_for_them() {
    let mut net = seeds_and_peers(2);
    let at = seed_addr(0);
    let (link, _) = net.link(at, seed_addr(1));
    let fetch = Msg::SyncFetch((0..=u8::MAX).collect());
    let outs = net.inject(at, Input::Frame { link, msg: fetch });
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Send { .. })),
        "{outs:?}"
    );
    let zeros = vec![crate::cert::Digest([0; 32]); seed::BUCKETS];
    let outs = net.inject(
        at,
        Input::Frame {
            link,
            msg: Msg::SyncBuckets(zeros),
        },
    );
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Send { .. })),
        "{outs:?}"
    );
    // A root that differs gets bucket hashes once per sync interval, not once per ask.
    let root = Msg::SyncRoot {
        root: crate::cert::Digest([1; 32]),
        reply: false,
    };
    let buckets = |outs: &[Output]| {
        outs.iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Send {
                        msg: Msg::SyncBuckets(_),
                        ..
                    }
                )
            })
            .count()
    };
    let first = net.inject(
        at,
        Input::Frame {
            link,
            msg: root.clone(),
        },
    );
    let second = net.inject(at, Input::Frame { link, msg: root });
    assert_eq!((buckets(&first), buckets(&second)), (1, 0));
}

/// A seed rebuilding from nothing votes no and coordinates nothing until it has agreed with
/// another seed; then it takes part again.
#[test]
fn a_rebuilding_seed_takes_no_part_in_decisions_until_it_has_caught_up() {
    let mut net = seeds_and_peers(2);
    net.take_down(seed_addr(1), true);
    net.take_down(seed_addr(2), true);
    net.restart_seed(2, seed::Settings::default(), true);
    // With a lost store: a proposal gets a no.
    let l = LinkId(9_998);
    let remote = remote(seed_key(0).id(), Role::Seed, seed_addr(0));
    net.inject(
        seed_addr(2),
        Input::LinkUp {
            link: l,
            remote: Box::new(remote),
            dial: None,
        },
    );
    let reg = Registration::new(&peer_key(5), peer_addr(5), 1);
    let proposal = Proposal {
        change: add(5, peer_addr(5)),
        evidence: Evidence::Registration(reg),
        source: peer_addr(5).ip(),
    };
    let outs = net.inject(
        seed_addr(2),
        Input::Frame {
            link: l,
            msg: Msg::Propose(Box::new(proposal)),
        },
    );
    let votes: Vec<&Vote> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                msg: Msg::Vote(v), ..
            } => Some(&**v),
            _ => None,
        })
        .collect();
    assert_eq!(votes.len(), 1, "{outs:?}");
    assert!(
        !votes[0].yes && votes[0].reason.contains("rebuilding"),
        "{votes:?}"
    );
    // It cannot take seed 0's certificates yet: they are co-signed by seed 1, whose key it
    // lost with its store and can learn only from seed 1 itself.
    net.run_for(Duration::from_secs(3));
    assert_eq!(held(&net, 2).0, []);
    // Seed 1 comes back: seed 2 learns its key, takes every certificate, agrees, and votes.
    net.restart_seed(1, seed::Settings::default(), false);
    net.run_for(Duration::from_secs(3));
    assert_eq!(held(&net, 2), held(&net, 0));
    assert!(net.events(seed_addr(2)).iter().any(|e| matches!(
        e, Event::Notice { text } if text.starts_with("caught up")
    )));
    net.add_peer(6);
    net.run_for(Duration::from_secs(3));
    assert!(net.peer(peer_addr(6)).certificate().is_some());
    assert!(net
        .votes(seed_addr(2), peer_key(6).id())
        .iter()
        .any(|(yes, _)| *yes));
}

/// A no to a false accusation is not remembered: when the accused dies right after, the
/// next report is validated afresh and removes it (the simulator's churn-with-liars
/// scenarios found dead peers shielded by the remembered no).
#[test]
fn a_peer_that_dies_right_after_a_false_accusation_is_still_removed() {
    let mut net = seeds_and_peers(4);
    let now = net.now;
    let verdicts = |now| vec![dead(0, 1, 1, now), dead(2, 1, 1, now), dead(3, 1, 1, now)];
    deliver_report(&mut net, report(0, 1, peer_addr(1), 1, verdicts(now), now));
    let id1 = peer_key(1).id();
    assert!(net.seed(seed_addr(0)).peer_list().contains_key(&id1));
    // It dies a second later, well within a proposal timeout; a true report comes.
    net.run_for(Duration::from_secs(1));
    net.take_down(peer_addr(1), true);
    let now = net.now;
    deliver_report(&mut net, report(0, 1, peer_addr(1), 1, verdicts(now), now));
    net.run_for(Duration::from_secs(1));
    for s in (0..3).map(seed_addr) {
        assert!(
            !net.seed(s).peer_list().contains_key(&id1),
            "{s} still holds it"
        );
    }
}
