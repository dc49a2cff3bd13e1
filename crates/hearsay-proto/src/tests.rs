//! Sans-I/O tests of `seed::State` and `peer::State` (SPEC §5–§6): one input, the exact
//! outputs, plus a tiny deterministic router that wires several machines together in
//! virtual time and round-trips every message through the wire codec.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::cert::{CertError, Certificate, Change, Evidence, Op, Proposal, Vote};
use crate::config::Config;
use crate::event::Event;
use crate::gossip::{self, Gossip};
use crate::id::{Keypair, PeerId};
use crate::node::{Input, LinkId, Machine, Output, Remote, Role};
use crate::time::Time;
use crate::wire::{self, Msg, Registration, Status};
use crate::{peer, seed};

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
        let key = peer_key(i);
        let id = key.id();
        let rng = 100 + i as u64;
        let p = peer::State::new(self.now, key, advertise, 1, config(), peer_settings(), rng);
        self.add(listen, Kind::Peer(Box::new(p)), id, advertise);
    }

    fn add_peer(&mut self, i: usize) {
        self.add_peer_at(i, peer_addr(i), peer_addr(i));
    }

    /// Hands `input` to the node at `at`, carries out its outputs and returns them.
    fn handle(&mut self, at: SocketAddr, input: Input) -> Vec<Output> {
        let now = self.now;
        self.nodes
            .get_mut(&at)
            .unwrap()
            .machine()
            .handle(now, input);
        self.flush(at)
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
            self.carry_out(at, out.clone());
        }
        outs
    }

    fn drain(&mut self) {
        while let Some((at, input)) = self.queue.pop_front() {
            self.handle(at, input);
        }
    }

    fn carry_out(&mut self, from: SocketAddr, out: Output) {
        match out {
            Output::Send { link, msg } => {
                let Some(end) = self.ends.get(&link) else {
                    return; // a hand-made link, or one already closed
                };
                let decoded: Msg = wire::decode(&wire::encode(&msg)).unwrap();
                assert_eq!(decoded, msg, "the codec must round-trip every message");
                self.frames.push((from, end.to, decoded.clone()));
                let (to, link) = (end.to, end.other);
                self.queue
                    .push_back((to, Input::Frame { link, msg: decoded }));
            }
            Output::Dial { token, addr } => {
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
                        remote: theirs,
                        dial: da,
                    },
                ));
                self.queue.push_back((
                    to,
                    Input::LinkUp {
                        link: b,
                        remote: mine,
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
            Output::Event(e) => self.nodes.get_mut(&from).unwrap().events.push(e),
            Output::Stop(r) => self.nodes.get_mut(&from).unwrap().stop = Some(r),
            // Every host of the router is 127.0.0.1, and up.
            Output::Echo { ip } => {
                let answered = Some(true);
                self.queue.push_back((from, Input::Echo { ip, answered }));
            }
        }
    }

    /// Runs the network for `d` of virtual time, firing every timer as it falls due.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            self.drain();
            let next = self.nodes.values().filter_map(Node::timeout).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    let due: Vec<SocketAddr> = (self.nodes.iter())
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
        assert_eq!(cert.verify(&s.seed_set()), Ok(()), "seed {i}");
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
    let table = vec![(s, seed_key(0).id())];
    assert_eq!(
        net.inject(
            s,
            Input::LinkUp {
                link,
                remote: r,
                dial: None
            }
        ),
        [Output::Send {
            link,
            msg: Msg::Seeds(table)
        }]
    );
    let reg = Registration::new(&key, peer_addr(1), 1);
    let reason = "only 1 of 3 seeds reachable, a quorum needs 2".to_string();
    let (peer, a) = (key.id().to_hex(), peer_addr(1).to_string());
    assert_eq!(
        net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::Register(reg)
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

    let one = Msg::Commit(cert(change, &[0]));
    let e = CertError::TooFewSignatures { have: 1, need: 2 };
    assert_eq!(net.inject(at, Input::Frame { link, msg: one }), rejected(e));
    let twice = Msg::Commit(cert(change, &[0, 0]));
    let e = CertError::DuplicateSigner(seed_key(0).id());
    assert_eq!(
        net.inject(at, Input::Frame { link, msg: twice }),
        rejected(e)
    );
    assert!(net.seed(at).peer_list().is_empty());

    // The same path applies a genuine certificate.
    let good = Msg::Commit(cert(change, &[0, 2]));
    let signers = vec![seed_key(0).id().to_hex(), seed_key(2).id().to_hex()];
    assert_eq!(
        net.inject(at, Input::Frame { link, msg: good }),
        [Output::Event(Event::RegistrationCommitted {
            peer: change.peer.to_hex(),
            addr: change.addr.to_string(),
            incarnation: 1,
            signers
        })]
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
    let vote = Msg::Vote(Vote::new(&seed_key(1), change, true, ""));
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
                remote: r,
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
                    remote: client,
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
        let status: Status = status;
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
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    let p = peer_addr(0);
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
                    remote: r,
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
                    msg: Msg::Link(bad)
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
            remote: r,
            dial: None,
        },
    );
    let outs = net.inject(
        p,
        Input::Frame {
            link,
            msg: Msg::Link(cert(change, &[0, 1])),
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
    for msg in [Msg::Commit(a.clone()), Msg::Commit(b.clone())] {
        fresh.inject(seed_addr(1), Input::Frame { link: l1, msg });
    }
    for msg in [Msg::Commit(b), Msg::Commit(a)] {
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

/// A registered peer with three inbound neighbours (peers 5, 6 and 7), for gossip tests.
fn peer_with_three_neighbours() -> (Net, SocketAddr, [LinkId; 3]) {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    let p = peer_addr(0);
    let links = [LinkId(2_000_005), LinkId(2_000_006), LinkId(2_000_007)];
    for (i, link) in (5..8).zip(links) {
        let change = add(i, peer_addr(i));
        let remote = remote(change.peer, Role::Peer, peer_addr(i));
        net.inject(
            p,
            Input::LinkUp {
                link,
                remote,
                dial: None,
            },
        );
        let msg = Msg::Link(cert(change, &[0, 1]));
        net.inject(p, Input::Frame { link, msg });
    }
    assert_eq!(net.peer(p).neighbors().len(), 3);
    (net, p, links)
}

fn sends(outs: &[Output]) -> Vec<(LinkId, Gossip)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send {
                link,
                msg: Msg::Gossip(g),
            } => Some((*link, g.clone())),
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
            msg: Msg::Gossip(g.clone()),
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
            msg: Msg::Gossip(g.clone()),
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
    assert_eq!(e.came_in, vec![l5, l6]);
    assert_eq!(e.went_out, vec![l6, l7]);
    assert_eq!(e.sent, vec![l7]);
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
            msg: Msg::Gossip(forged),
        },
    );
    assert_eq!(outs.last(), Some(&want(l6)), "{outs:?}");
    assert_eq!(sends(&outs), vec![]);
    // 6 answers: received, and announced to the one link it has not crossed (7).
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(g),
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
            msg: Msg::Gossip(forged.clone()),
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
            msg: Msg::Gossip(forged),
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
            msg: Msg::Gossip(real),
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
            msg: Msg::Gossip(old),
        },
    );
    assert_eq!(sends(&outs), vec![]);
    assert_eq!(net.peer(p).counters().dropped, 1);
}
