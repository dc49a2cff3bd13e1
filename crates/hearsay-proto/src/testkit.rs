//! What the machines' tests share (SPEC §5–§6): keys and addresses, a tiny deterministic
//! router that wires several machines together in virtual time and round-trips every message
//! through the wire codec, and the helpers the tests of more than one part use. Each part's
//! tests sit beside it (`peer/relay/tests.rs`, `seed/sync/tests.rs`, …): one input, the exact
//! outputs.

pub(crate) use crate::cert::{
    CertError, Certificate, Change, Evidence, Op, Proposal, Registration, SeedSet, Vote,
};
pub(crate) use crate::config::Config;
pub(crate) use crate::event::Event;
pub(crate) use crate::gossip::{self, Gossip, MsgId};
pub(crate) use crate::id::{Keypair, PeerId};
pub(crate) use crate::node::{
    DialError, DialPool, DialToken, Input, LinkId, LinkUse, Machine, Output, Remote, Role,
};
pub(crate) use crate::router::{self, Links};
pub(crate) use crate::sig::{Checks, HashKeys};
pub(crate) use crate::suspicion::{DeadReport, Verdict};
pub(crate) use crate::time::Time;
pub(crate) use crate::wire::{self, Msg, ProbeRequest, Status};
pub(crate) use crate::{node, peer, seed};
pub(crate) use std::collections::{BTreeMap, BTreeSet, VecDeque};
pub(crate) use std::net::SocketAddr;
pub(crate) use std::time::Duration;

pub(crate) const SEEDS: [&str; 3] = ["127.0.0.1:6000", "127.0.0.1:6001", "127.0.0.1:6002"];

pub(crate) const T0: Time = Time(1_000_000);

pub(crate) fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

pub(crate) fn seed_addr(i: usize) -> SocketAddr {
    addr(SEEDS[i])
}

pub(crate) fn peer_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16))
}

pub(crate) fn seed_key(i: usize) -> Keypair {
    Keypair::from_secret([i as u8 + 1; 32])
}

pub(crate) fn peer_key(i: usize) -> Keypair {
    Keypair::from_secret([i as u8 + 100; 32])
}

pub(crate) fn config() -> Config {
    Config::parse("config.txt", &SEEDS.join("\n")).unwrap()
}

pub(crate) fn peer_settings() -> peer::Settings {
    peer::Settings {
        join_timeout: Duration::from_secs(10),
        // Long enough for the tests' peers, joining 500 ms apart, to be linked before any
        // message is generated: a message generated before a peer joins cannot reach it.
        gossip_delay: Duration::from_secs(5),
        ..peer::Settings::default()
    }
}

/// An add of `peer_key(i)` at `addr`, incarnation 1, signed by the given seeds.
pub(crate) fn add(i: usize, addr: SocketAddr) -> Change {
    Change {
        op: Op::Add,
        peer: peer_key(i).id(),
        addr,
        incarnation: 1,
    }
}

pub(crate) fn cert(change: Change, signers: &[usize]) -> Certificate {
    let votes: Vec<Vote> = signers
        .iter()
        .map(|&i| Vote::new(&seed_key(i), change, true, ""))
        .collect();
    Certificate::from_votes(change, &votes)
}

/// The testkit's three seeds, every key known.
pub(crate) fn seed_set() -> SeedSet {
    SeedSet {
        n: SEEDS.len(),
        keys: (0..SEEDS.len()).map(|i| seed_key(i).id()).collect(),
    }
}

/// Message `seq` of peer `i`, born `at`, carrying its admission at [`peer_addr`] signed by
/// every seed.
pub(crate) fn gossip_of(i: usize, at: Time, seq: u32) -> Gossip {
    let admission = cert(add(i, peer_addr(i)), &[0, 1, 2]);
    let text = gossip::text(at, peer_addr(i).ip(), seq);
    Gossip::new(&peer_key(i), text, std::sync::Arc::new(admission))
}

/// A hand-made link that the router does not know: the test plays the other end.
pub(crate) fn remote(id: PeerId, role: Role, addr: SocketAddr) -> Remote {
    let source = SocketAddr::new(addr.ip(), 50_000);
    Remote {
        id,
        role,
        addr,
        source,
    }
}

/// The peer a log line is about, if any.
pub(crate) fn about(e: &Event) -> Option<PeerId> {
    match e {
        Event::RegistrationProposed { peer, .. }
        | Event::Vote { peer, .. }
        | Event::RegistrationCommitted { peer, .. }
        | Event::RegistrationAborted { peer, .. } => Some(*peer),
        _ => None,
    }
}

// ---- the router ------------------------------------------------------------------------

pub(crate) enum Kind {
    Seed(Box<seed::State>),
    Peer(Box<peer::State>),
}

pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) id: PeerId,
    pub(crate) role: Role,
    /// What its handshake says it listens on (may differ from where it really listens).
    pub(crate) advertise: SocketAddr,
    pub(crate) events: Vec<Event>,
    /// When each of `events` was logged.
    pub(crate) logged_at: Vec<Time>,
    pub(crate) stop: Option<Result<(), String>>,
}

impl Node {
    pub(crate) fn machine(&mut self) -> &mut dyn Machine {
        match &mut self.kind {
            Kind::Seed(s) => s.as_mut(),
            Kind::Peer(p) => p.as_mut(),
        }
    }

    pub(crate) fn timeout(&self) -> Option<Time> {
        match &self.kind {
            Kind::Seed(s) => s.poll_timeout(),
            Kind::Peer(p) => p.poll_timeout(),
        }
    }
}

/// Machines by listening address, a virtual clock, and a FIFO of inputs: deterministic.
pub(crate) struct Net {
    pub(crate) now: Time,
    pub(crate) nodes: BTreeMap<SocketAddr, Node>,
    /// Every link, each end with what its holder was told of the other side.
    pub(crate) links: Links<SocketAddr, Remote>,
    pub(crate) queue: VecDeque<(SocketAddr, Input)>,
    /// Every frame delivered: (from, to, message).
    pub(crate) frames: Vec<(SocketAddr, SocketAddr, Msg)>,
    /// Every output of every node, in order (hand-made links' sends included).
    pub(crate) outputs: Vec<(SocketAddr, Output)>,
    /// Nodes that are down: they get no input and no timer, dials to them fail, frames to
    /// them are lost, and their host does not answer ICMP echo.
    pub(crate) down: BTreeSet<SocketAddr>,
    /// Nodes whose dials all fail for want of room ([`DialError::Busy`]), as a node with a
    /// full dial pool.
    pub(crate) busy: BTreeSet<SocketAddr>,
    /// Addresses where something accepts a connection and never says a word: a dial there
    /// gets no answer at all, until the dialler's own deadline.
    pub(crate) silent: BTreeSet<SocketAddr>,
    /// What each seed persisted, in order: its store.
    pub(crate) stores: BTreeMap<SocketAddr, Vec<node::Record>>,
    /// The settings of the peers added from now on.
    pub(crate) peer_settings: peer::Settings,
}

impl Net {
    pub(crate) fn new() -> Net {
        Net {
            now: T0,
            nodes: BTreeMap::new(),
            links: Links::new(),
            queue: VecDeque::new(),
            frames: Vec::new(),
            outputs: Vec::new(),
            down: BTreeSet::new(),
            busy: BTreeSet::new(),
            silent: BTreeSet::new(),
            stores: BTreeMap::new(),
            peer_settings: peer_settings(),
        }
    }

    /// A network of the three configured seeds, connected to each other.
    pub(crate) fn seeds(settings: seed::Settings) -> Net {
        let mut net = Net::new();
        for i in 0..3 {
            net.add_seed(i, settings.clone());
        }
        net.run_for(Duration::from_secs(1));
        net
    }

    pub(crate) fn add(
        &mut self,
        listen: SocketAddr,
        kind: Kind,
        id: PeerId,
        advertise: SocketAddr,
    ) {
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

    pub(crate) fn add_seed(&mut self, i: usize, settings: seed::Settings) {
        let (key, at) = (seed_key(i), seed_addr(i));
        let id = key.id();
        let s = seed::State::new(self.now, key, at, config(), settings, i as u64).unwrap();
        self.add(at, Kind::Seed(Box::new(s)), id, at);
    }

    /// Peer `i`, listening at `listen` but registering `advertise`.
    pub(crate) fn add_peer_at(&mut self, i: usize, listen: SocketAddr, advertise: SocketAddr) {
        self.add_peer_incarnation(i, listen, advertise, 1);
    }

    /// Peer `i` at `incarnation`, listening at `listen` but registering `advertise`.
    pub(crate) fn add_peer_incarnation(
        &mut self,
        i: usize,
        listen: SocketAddr,
        advertise: SocketAddr,
        incarnation: u64,
    ) {
        let key = peer_key(i);
        let id = key.id();
        let rng = 100 + i as u64;
        let settings = self.peer_settings.clone();
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
    pub(crate) fn take_down(&mut self, at: SocketAddr, close_links: bool) {
        self.down.insert(at);
        if close_links {
            let links: Vec<LinkId> = self.links.held(at).collect();
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
    pub(crate) fn restart_seed(&mut self, i: usize, settings: seed::Settings, lose_store: bool) {
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
        let links: Vec<LinkId> = self.links.held(at).collect();
        for link in links {
            self.carry_out(at, Output::Close { link });
        }
        self.nodes.remove(&at);
        self.add(at, Kind::Seed(Box::new(s)), id, at);
    }

    /// Hands `cert` to each of `seeds` as a `Commit` from another seed, as if that seed had
    /// decided it.
    pub(crate) fn commit_at(&mut self, seeds: &[usize], cert: &Certificate) {
        for &i in seeds {
            let from = if i == 0 { 1 } else { 0 };
            let (link, _) = self.link(seed_addr(i), seed_addr(from));
            let msg = Msg::Commit(Box::new(cert.clone()));
            self.inject(seed_addr(i), Input::Frame { link, msg });
        }
    }

    pub(crate) fn add_peer(&mut self, i: usize) {
        self.add_peer_at(i, peer_addr(i), peer_addr(i));
    }

    /// Hands `input` to the node at `at`, carries out its outputs and returns them.
    pub(crate) fn handle(&mut self, at: SocketAddr, input: Input) -> Vec<Output> {
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
    pub(crate) fn inject_together(&mut self, at: SocketAddr, inputs: Vec<Input>) -> Vec<Output> {
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
    pub(crate) fn inject(&mut self, at: SocketAddr, input: Input) -> Vec<Output> {
        let outs = self.handle(at, input);
        self.drain();
        outs
    }

    pub(crate) fn flush(&mut self, at: SocketAddr) -> Vec<Output> {
        let node = self.nodes.get_mut(&at).unwrap();
        let outs: Vec<Output> = std::iter::from_fn(|| node.machine().poll_output()).collect();
        for out in &outs {
            self.outputs.push((at, out.clone()));
            self.carry_out(at, out.clone());
        }
        outs
    }

    pub(crate) fn drain(&mut self) {
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

    pub(crate) fn carry_out(&mut self, from: SocketAddr, out: Output) {
        match out {
            Output::Send { link, msg } => {
                let Some(end) = self.links.end(link) else {
                    return; // a hand-made link, or one already closed
                };
                if self.down.contains(&end.to) {
                    return; // lost
                }
                let decoded = router::through_codec(&msg).unwrap();
                assert_eq!(decoded, msg, "the codec must round-trip every message");
                let (to, link, _) = self.links.send(link, self.now, Duration::ZERO).unwrap();
                self.frames.push((from, to, decoded.clone()));
                self.queue
                    .push_back((to, Input::Frame { link, msg: decoded }));
            }
            Output::Dial { token, addr, .. } => {
                if self.busy.contains(&from) {
                    let error = DialError::Busy;
                    return self
                        .queue
                        .push_back((from, Input::DialFailed { token, error }));
                }
                if self.silent.contains(&addr) {
                    return;
                }
                if self.down.contains(&addr) {
                    let error = DialError::TimedOut;
                    return self
                        .queue
                        .push_back((from, Input::DialFailed { token, error }));
                }
                let Some(target) = self.nodes.get(&addr) else {
                    let error = DialError::Refused;
                    return self
                        .queue
                        .push_back((from, Input::DialFailed { token, error }));
                };
                let me = &self.nodes[&from];
                let (a, _) = self.links.upcoming();
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
                let (a, b) = self.links.open(from, addr, self.now, (theirs, mine));
                let [at_dialler, at_listener] = router::link_up((a, theirs), (b, mine), token);
                self.queue.push_back((from, at_dialler));
                self.queue.push_back((addr, at_listener));
            }
            Output::Close { link } => {
                if let Some(end) = self.links.close(link) {
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
    pub(crate) fn run_for(&mut self, d: Duration) {
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

    pub(crate) fn seed(&self, at: SocketAddr) -> &seed::State {
        match &self.nodes[&at].kind {
            Kind::Seed(s) => s,
            Kind::Peer(_) => panic!("{at} is a peer"),
        }
    }

    pub(crate) fn peer(&self, at: SocketAddr) -> &peer::State {
        match &self.nodes[&at].kind {
            Kind::Peer(p) => p,
            Kind::Seed(_) => panic!("{at} is a seed"),
        }
    }

    pub(crate) fn events(&self, at: SocketAddr) -> &[Event] {
        &self.nodes[&at].events
    }

    /// How many `name` events the node at `at` logged about `peer`.
    pub(crate) fn count(&self, at: SocketAddr, name: &str, peer: PeerId) -> usize {
        (self.events(at).iter())
            .filter(|e| e.name() == name && about(e) == Some(peer))
            .count()
    }

    /// The votes (yes, reason) the seed at `at` logged on `peer`.
    pub(crate) fn votes(&self, at: SocketAddr, peer: PeerId) -> Vec<(bool, String)> {
        self.votes_on(at, peer, None)
    }

    /// The votes (yes, reason) the seed at `at` logged on `who`, on changes of kind `op` (any
    /// kind: `None`).
    fn votes_on(&self, at: SocketAddr, who: PeerId, op: Option<Op>) -> Vec<(bool, String)> {
        (self.events(at).iter())
            .filter_map(|e| match e {
                Event::Vote {
                    op: o,
                    peer,
                    yes,
                    reason,
                    ..
                } if *peer == who && op.is_none_or(|op| op == *o) => Some((*yes, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// The seed at `at` voted on `peer`, and every time no for `reason` (a no may be cast
    /// again once it is forgotten, so the count is not fixed).
    pub(crate) fn assert_voted_no(&self, at: SocketAddr, peer: PeerId, reason: &str) {
        let votes = self.votes(at, peer);
        let only_no = votes.iter().all(|(yes, r)| !yes && r == reason);
        assert!(!votes.is_empty() && only_no, "{at} voted {votes:?}");
    }

    /// A link the node at `at` holds to the node at `to`.
    pub(crate) fn link(&self, at: SocketAddr, to: SocketAddr) -> (LinkId, Remote) {
        let link = self.links.between(at, to).unwrap();
        (link, self.links.end(link).unwrap().told)
    }
}

/// Three seeds and peer 0, registered (3 s of virtual time), and its address.
pub(crate) fn registered_peer() -> (Net, SocketAddr) {
    registered_peer_with(peer_settings())
}

/// [`registered_peer`], with these settings.
pub(crate) fn registered_peer_with(settings: peer::Settings) -> (Net, SocketAddr) {
    let mut net = Net::seeds(seed::Settings::default());
    net.peer_settings = settings;
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    (net, peer_addr(0))
}

/// A link from peer `i` (at `peer_addr(i)`) comes up at the node at `at`, inbound, made by
/// hand: nothing runs on the other end. Returns what the node was told of it.
pub(crate) fn inbound_from(net: &mut Net, at: SocketAddr, i: usize, link: LinkId) -> Remote {
    let from = remote(peer_key(i).id(), Role::Peer, peer_addr(i));
    let up = Input::LinkUp {
        link,
        remote: Box::new(from),
        dial: None,
    };
    net.handle(at, up);
    from
}

/// Peer `i` (admitted by seeds 0 and 1) links to the peer at `p` on `link`, inbound there.
pub(crate) fn link_from(net: &mut Net, p: SocketAddr, i: usize, link: LinkId) {
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

/// The link from peer `i` to the peer under test in the gossip tests: numbered apart from
/// the seed links, so that a test can tell what went to neighbours.
pub(crate) fn neighbour_link(i: u64) -> LinkId {
    LinkId(NEIGHBOUR_LINKS + i)
}

/// Where the numbers of [`neighbour_link`]s start.
pub(crate) const NEIGHBOUR_LINKS: u64 = 2_000_000;

/// A registered peer with three inbound neighbours (peers 5, 6 and 7), for gossip tests.
pub(crate) fn peer_with_three_neighbours() -> (Net, SocketAddr, [LinkId; 3]) {
    peer_with_three_neighbours_with(peer_settings())
}

/// [`peer_with_three_neighbours`], the peer with these settings.
pub(crate) fn peer_with_three_neighbours_with(
    settings: peer::Settings,
) -> (Net, SocketAddr, [LinkId; 3]) {
    let (mut net, p) = registered_peer_with(settings);
    let links = [5, 6, 7].map(neighbour_link);
    for (i, link) in (5..8).zip(links) {
        link_from(&mut net, p, i, link);
    }
    assert_eq!(net.peer(p).neighbors().len(), 3);
    (net, p, links)
}

// ---- failure detection (SPEC §5 Validating a removal, §6 Liveness and Suspicion) --------

/// Peer `i` on a host of its own, 127.0.0.(10+i): a `Dead Node:` line's two IPs then differ,
/// and taking the peer down takes its host's ICMP echo down with it.
pub(crate) fn host_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 10 + i as u8], 7000 + i as u16))
}

/// `Dead Node:<DeadNode.IP>:<DeadNode.Port>:<self.timestamp>:<self.IP>` (SPEC §6), written
/// out here rather than taken from `suspicion::dead_line`.
pub(crate) fn expected_dead_line(dead: SocketAddr, at: Time, me: std::net::IpAddr) -> String {
    let (secs, ms) = (at.0 / 1000, at.0 % 1000);
    format!(
        "Dead Node:{}:{}:{secs}.{ms:03}:{me}",
        dead.ip(),
        dead.port()
    )
}

pub(crate) fn removal(i: usize, addr: SocketAddr, incarnation: u64) -> Change {
    Change {
        op: Op::Remove,
        peer: peer_key(i).id(),
        addr,
        incarnation,
    }
}

/// Whether an output is part of failure detection (not gossip, pings or echoes).
pub(crate) fn liveness_output(o: &Output) -> bool {
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
    pub(crate) fn timed_events(&self, at: SocketAddr) -> impl Iterator<Item = (Time, &Event)> {
        let node = &self.nodes[&at];
        node.logged_at.iter().copied().zip(&node.events)
    }

    /// The outputs of the node at `at` from the `from`-th output of the network on.
    pub(crate) fn outputs_of(&self, at: SocketAddr, from: usize) -> Vec<Output> {
        (self.outputs[from..].iter())
            .filter(|(a, _)| *a == at)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// The votes (yes, reason) on removing `peer` that the seed at `at` logged.
    pub(crate) fn remove_votes(&self, at: SocketAddr, peer: PeerId) -> Vec<(bool, String)> {
        self.votes_on(at, peer, Some(Op::Remove))
    }

    /// The peers the seed at `at` logged a removal of.
    pub(crate) fn removals(&self, at: SocketAddr) -> Vec<PeerId> {
        (self.events(at).iter())
            .filter_map(|e| match e {
                Event::RemovalCommitted { peer, .. } => Some(*peer),
                _ => None,
            })
            .collect()
    }

    /// A seed that peer `p` is connected to, and the seed's end of that link.
    pub(crate) fn seed_end(&self, p: SocketAddr) -> (SocketAddr, LinkId) {
        let s = (0..3)
            .map(seed_addr)
            .find(|s| self.links.between(*s, p).is_some())
            .expect("the peer has a seed link");
        (s, self.link(s, p).0)
    }

    /// Peer `p`'s own links to seeds, in config order.
    pub(crate) fn seed_links_of(&self, p: SocketAddr) -> Vec<LinkId> {
        (0..3)
            .map(seed_addr)
            .filter_map(|s| self.links.between(p, s))
            .collect()
    }
}

/// Seeds with peers `0..n` admitted at `peer_addr(i)` (incarnation 1), linked, and settled.
pub(crate) fn seeds_and_peers(n: usize) -> Net {
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
pub(crate) fn overlay(n: usize) -> Net {
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

/// Runs `p` (from `peer_with_three_neighbours`) in 1 s steps, each neighbour but the one on
/// `silent` pinging it every step, as a live neighbour does in its own rounds (PROTOCOL
/// §12.1; rounds as long as `p`'s, which then needs no pong), until it suspects the
/// neighbour on `silent`. Returns the index into `net.outputs` where the step that started
/// the suspicion began.
pub(crate) fn suspect(net: &mut Net, p: SocketAddr, silent: LinkId) -> usize {
    let live = [5, 6, 7].map(neighbour_link);
    let every = crate::time::millis(peer_settings().ping_interval);
    for _ in 0..120 {
        let mark = net.outputs.len();
        net.run_for(Duration::from_secs(1));
        for &link in live.iter().filter(|&&l| l != silent) {
            let msg = Msg::Ping(every);
            net.inject(p, Input::Frame { link, msg });
        }
        let started = (net.outputs_of(p, mark).iter())
            .any(|o| matches!(o, Output::Event(Event::SuspicionStarted { .. })));
        if started {
            return mark;
        }
    }
    panic!("no suspicion in 120 s");
}

/// A dead-node report from `reporter` about peer `suspect` at (`addr`, `incarnation`),
/// with the given verdicts, its line stamped `now`.
pub(crate) fn report(
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
pub(crate) fn dead(witness: usize, suspect: usize, incarnation: u64, now: Time) -> Verdict {
    Verdict::new(
        &peer_key(witness),
        (peer_key(suspect).id(), peer_addr(suspect), incarnation),
        false,
        now,
    )
}

/// Delivers `r` to a seed over the reporter's (peer 0's) own link and checks that the seed
/// logs it and proposes the removal; returns the seed.
pub(crate) fn deliver_report(net: &mut Net, r: Box<DeadReport>) -> SocketAddr {
    let (s, link) = net.seed_end(peer_addr(0));
    let c = Change {
        op: Op::Remove,
        peer: r.suspect,
        addr: r.addr,
        incarnation: r.incarnation,
    };
    let (line, reporter) = (r.line.clone(), r.reporter);
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
                reporter
            }),
            Output::Event(Event::RemovalProposed {
                peer: c.peer,
                addr: c.addr,
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
pub(crate) fn assert_removal_aborted(net: &Net, s: SocketAddr, who: PeerId) {
    let aborted = net.events(s).iter().find_map(|e| match e {
        Event::RemovalAborted { peer, reason, .. } if *peer == who => Some(reason.clone()),
        _ => None,
    });
    let reason = aborted.expect("the coordinator aborts");
    assert!(reason.starts_with("voted down: "), "{reason}");
}

// ---- durability and anti-entropy (SPEC §5 "Convergence and durability", PROTOCOL §13) ---

/// Every peer of every seed's Peer List, as (id, addr, incarnation), and its tombstones.
pub(crate) fn held(net: &Net, i: usize) -> (Vec<(PeerId, SocketAddr, u64)>, usize) {
    let s = net.seed(seed_addr(i));
    let pl = (s.peer_list().iter())
        .map(|(id, m)| (*id, m.addr, m.incarnation))
        .collect();
    let status = s.status(0);
    (pl, status.certificates as usize - s.peer_list().len())
}

/// Every seed has agreed with each other seed since `t`.
pub(crate) fn assert_all_agreed_since(net: &Net, t: Time) {
    for i in 0..3 {
        for (addr, ago) in net.seed(seed_addr(i)).status(0).agreed {
            let ago = ago.unwrap_or_else(|| panic!("seed {i} never agreed with {addr}"));
            let since = crate::time::millis(net.now.since(t));
            assert!(ago <= since, "seed {i} with {addr}: {ago} ms ago");
        }
    }
}
