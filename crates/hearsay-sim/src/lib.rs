//! hearsay's deterministic simulator (issue 6): the real seed and peer state machines of
//! `hearsay-proto`, driven in virtual time over a simulated network, with faults, attackers
//! and invariant checks.
//!
//! Every message goes through the real codec (`wire::encode_msg` then `wire::decode_msg`), so
//! codec bugs show up here too. Latency, loss and every fault come from one seeded RNG, and every
//! map whose order matters is a `BTreeMap`, so the same scenario and seed give the same trace,
//! byte for byte.

#![deny(missing_docs)]

pub mod adversary;
mod agenda;
mod check;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::BuildHasherDefault;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hearsay_proto::cert::{Certificate, SeedSet};
use hearsay_proto::config::Config;
use hearsay_proto::event::Event;
use hearsay_proto::node::{self, DialError, DialToken};
use hearsay_proto::router::{self, Links};
use hearsay_proto::sig::{Checks, HashKeys};
use hearsay_proto::wire::Msg;
use hearsay_proto::{peer, seed, Input, Keypair, LinkId, Output, PeerId, Remote, Role, Time};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use adversary::{Forger, LyingSeed, SimMachine};
use agenda::Agenda;

/// What to simulate.
///
/// A scenario file (`hearsay sim --scenario FILE.toml`) deserialises straight into it: every
/// key is optional and a missing one is [`Scenario::default`]'s, durations are written as
/// `"50ms"` or `"8s"`, and the faults go under `[faults]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Peers that join at the start.
    pub peers: usize,
    /// Seeds.
    pub seeds: usize,
    /// The seed of every random choice.
    pub seed: u64,
    /// One-way latency of a frame, drawn uniformly from this range (ms).
    pub latency_ms: (u64, u64),
    /// Share of frames lost on the wire. Links are TCP: a lost segment is sent again after a
    /// retransmission timeout ([`RTO`]), so a loss delays the frame and every later frame
    /// on its link; frames are never dropped, duplicated or reordered on a live link.
    pub loss: f64,
    /// Virtual time between two peers' starts.
    #[serde(with = "humantime_serde")]
    pub join_every: Duration,
    /// Gossip messages per generating peer.
    pub gossip_count: u32,
    /// How many peers generate gossip (the first ones to join); `None`: every peer.
    pub originators: Option<usize>,
    /// Between two of a peer's messages.
    #[serde(with = "humantime_serde")]
    pub gossip_interval: Duration,
    /// Peers' liveness round (suspicion after 3 missed rounds).
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Virtual time to run; `None`: long enough for every peer to join, generate, and the
    /// gossip to settle ([`Scenario::natural_duration`]).
    #[serde(with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// Faults and attackers.
    pub faults: Faults,
    /// Most peers in one seed's peer list (a uniform sample of its Peer List). Preferential
    /// attachment over the union of uniform samples is still preferential in expectation, so
    /// a short list keeps the overlay's shape while it saves each peer memory and each seed
    /// work at large N.
    pub peer_list: usize,
    /// Check the invariants at every step (costs memory at large N). Not a key of a scenario
    /// file: the command line decides.
    #[serde(skip)]
    pub check: bool,
}

/// Faults and attackers, all between `start` and `stop` (virtual time from the start).
///
/// `Faults::default()` is no fault at all, in an empty window at 0 (for `..Faults::default()`
/// in code that sets its own window); a scenario file's `[faults]` table fills its missing keys
/// from [`Faults::none`] instead, the window a scenario has unless told otherwise.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default = "Faults::none", deny_unknown_fields)]
pub struct Faults {
    /// When the faults begin.
    #[serde(with = "humantime_serde")]
    pub start: Duration,
    /// When they end: partitions heal, crashed peers restart (with `restart`).
    #[serde(with = "humantime_serde")]
    pub stop: Duration,
    /// Share of the peers crashed (killed) at `start`.
    pub crash: f64,
    /// The crashed peers die by neighbourhoods: a peer and its neighbours together, so that
    /// some die with no live neighbour to notice (a correlated failure).
    pub correlated: bool,
    /// Crashed peers start again at `stop`, at their next incarnation.
    pub restart: bool,
    /// Share of the peers cut off, with a minority of the seeds, from `start` to `stop`.
    pub partition: f64,
    /// Churn: every this long one peer leaves (killed) and a new one joins.
    #[serde(with = "humantime_serde")]
    pub churn_every: Option<Duration>,
    /// Colluding peers that report live peers dead, one report a second, with each other's
    /// signed dead verdicts (at least 2 make a report).
    pub liars: usize,
    /// Peers whose every gossip frame is forged (altered after signing).
    pub forgers: usize,
    /// Seeds that vote yes to everything and send forged certificates (a minority).
    pub lying_seeds: usize,
}

impl Faults {
    /// No fault at all, in the window a scenario has unless told otherwise: from 10 s to 20 s.
    pub fn none() -> Faults {
        Faults {
            start: Duration::from_secs(10),
            stop: Duration::from_secs(20),
            ..Faults::default()
        }
    }

    /// Whether there is any fault or attacker at all.
    pub fn any(&self) -> bool {
        self.crash > 0.0
            || self.partition > 0.0
            || self.churn_every.is_some()
            || self.liars > 0
            || self.forgers > 0
            || self.lying_seeds > 0
    }
}

/// The simulator's default [`Scenario::peer_list`].
pub const PEER_LIST: usize = 100;

/// After the faults stop, this long to settle before the invariants of a healed network must
/// hold: detection, removal, coming back, and overlay repair.
pub const SETTLE: Duration = Duration::from_secs(15);

/// After the faults stop, this long for every dead peer to leave every honest seed's Peer
/// List, those that died with all their neighbours included: a seed notices such an orphan
/// within 1.5 × `orphan_after` (10 s), a peer it asks to watch it suspects it after
/// `suspect_after` rounds, and the seeds probe it when no witness can (PROTOCOL §12.6).
pub const REMOVAL_BOUND: Duration = Duration::from_secs(40);

impl Scenario {
    /// Joins (twice over, for slow admissions), the gossip delay, the gossip rounds, the
    /// faults, and time to settle.
    pub fn natural_duration(&self) -> Duration {
        let joins = self.join_every * self.peers as u32;
        let gossip = self.gossip_delay() + self.gossip_interval * self.gossip_count;
        let faults = if self.faults.any() {
            self.faults.stop + SETTLE
        } else {
            Duration::ZERO
        };
        Duration::from_secs(3) + joins + gossip.max(faults) + Duration::from_secs(30)
    }

    /// Everyone joins before anyone generates.
    fn gossip_delay(&self) -> Duration {
        self.join_every * self.peers as u32 + Duration::from_secs(2)
    }
}

/// The defaults of `hearsay sim`'s flags and of a scenario file's keys.
impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            peers: 100,
            seeds: 3,
            seed: 1,
            latency_ms: (1, 20),
            loss: 0.0,
            join_every: Duration::from_millis(50),
            gossip_count: 3,
            originators: None,
            gossip_interval: Duration::from_secs(1),
            ping_interval: Duration::from_secs(1),
            duration: None,
            faults: Faults::none(),
            peer_list: PEER_LIST,
            check: true,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Peers admitted (holding their certificate) at some point.
    pub admitted: usize,
    /// Messages generated by honest peers.
    pub messages: usize,
    /// First-time deliveries.
    pub deliveries: usize,
    /// Of the deliveries owed (every honest message to every peer but a forger admitted
    /// before it was generated and alive at the end), the share made.
    pub coverage: f64,
    /// Generation to delivery, in virtual ms: median, 99th percentile and largest.
    pub latency_ms: (u64, u64, u64),
    /// Hops of each message's last delivery: median and largest.
    pub hops_last: (u64, u64),
    /// Frames carrying a message, per message.
    pub frames_per_message: f64,
    /// Relative message redundancy: frames per message over (receivers − 1), minus 1.
    pub rmr: f64,
    /// Frames sent of any kind, and frames lost once (and sent again).
    pub frames: (u64, u64),
    /// Peers' wake-ups: moments a peer handled an input or its timer after more than
    /// [`IDLE`] without either (a process would have slept in between), and of those, the
    /// ones its own timer caused. Each costs a real process a trip through the scheduler.
    pub wakeups: (u64, u64),
    /// Start to certificate, per registration: median and 99th percentile (ms).
    pub registration_ms: (u64, u64),
    /// Peers crashed (churn included).
    pub crashed: usize,
    /// Peers that gave up and exited (could not register in time).
    pub stopped: usize,
    /// Crash to removal at the last honest seed: median and largest (ms).
    pub detection_to_removal_ms: (u64, u64),
    /// Peers (incarnations) removed by the honest seeds.
    pub removals: usize,
    /// Removals of a peer a quorum of seeds could reach.
    pub false_removals: usize,
    /// Dead peers still in the honest seeds' Peer List at the end of a healed run.
    pub dead_in_pl: usize,
    /// False dead-node reports the liars sent (each to every seed).
    pub false_reports: u64,
    /// False accusations the honest seeds caught (one per seed and report).
    pub false_accusations: usize,
    /// From the end of the faults to the last change of any honest seed's Peer List (ms).
    pub seeds_agree_ms: u64,
    /// Inputs and timers handled.
    pub steps: u64,
    /// Invariants that did not hold (the first 100), and how many in all.
    pub violations: Vec<String>,
    /// How many invariant violations in all.
    pub violation_count: usize,
    /// blake3 of the whole event trace: the same scenario and seed give the same digest.
    pub trace_digest: String,
    /// The overlay degree of every live admitted peer at the end (for the power-law fit).
    #[serde(skip)]
    pub degrees: Vec<usize>,
    /// Every delivery's latency (ms), for the latency CDF.
    #[serde(skip)]
    pub latencies: Vec<u64>,
    /// Per honest message: when it was generated (ms from the start), the deliveries it
    /// owed, and those made. For coverage over time.
    #[serde(skip)]
    pub per_message: Vec<(u64, u32, u32)>,
}

enum Ev {
    /// A node gets an input (node, epoch).
    Input(usize, u32, Input),
    /// A node's timer may be due (node, epoch).
    Timer(usize, u32),
    /// Peer number `n` starts.
    Start(usize),
    FaultsBegin,
    FaultsEnd,
    Churn,
    Lie,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Seed,
    LyingSeed,
    Peer,
    Liar,
    Forger,
}

struct SimNode {
    machine: Box<dyn SimMachine>,
    key: Keypair,
    id: PeerId,
    role: Role,
    kind: Kind,
    addr: SocketAddr,
    timer: Option<Time>,
    /// Bumped at every crash: inputs and timers of an earlier life are dropped.
    epoch: u32,
    up: bool,
    incarnation: u64,
    /// On the cut-off side of a partition.
    cut_off: bool,
    /// When this node last handled an input or its timer.
    active: Option<Time>,
}

/// A peer idle this long between two inputs would have slept: the next one wakes it.
pub const IDLE: Duration = Duration::from_millis(1);

/// TCP's retransmission timeout, the delay a lost segment adds.
pub const RTO: Duration = Duration::from_millis(200);
/// How long a dial across a partition waits before it fails.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// A running simulation.
pub struct Sim {
    scenario: Scenario,
    now: Time,
    rng: ChaCha8Rng,
    nodes: Vec<SimNode>,
    by_addr: BTreeMap<SocketAddr, usize>,
    by_id: BTreeMap<PeerId, usize>,
    /// Every open link's two ends (millions at large N: hashed, not ordered).
    links: Links<usize>,
    /// Link ends held by an attacker outside its machine: what arrives there is dropped.
    ghosts: BTreeSet<LinkId>,
    next_peer: usize,
    agenda: Agenda<Ev>,
    trace: blake3::Hasher,
    trace_out: Option<Box<dyn std::io::Write>>,
    progress: Option<Box<dyn FnMut(Duration, Duration)>>,
    config: Config,
    seed_set: SeedSet,
    /// Every node checks signatures through this one handle: each signature once.
    checks: Checks,
    /// Every gossip message carries its origin's admission certificate: the copies the codec
    /// makes are shared, one per distinct certificate, as each would be one per process.
    certs: Interned,
    partitioned: bool,
    faults_over: Option<Time>,
    log: check::Log,
    /// Links a frame went to in the drain under way: the drain's later frames to one go in
    /// the same write, as the runtime sends them, and arrive with the first.
    written: HashSet<LinkId, BuildHasherDefault<DefaultHasher>>,
}

/// Peer number `n`'s address: 10.1.0.1, 10.1.0.2, … 250 to the third octet and 62,500 to
/// the second (10.2.0.1 is peer 62,500), so every peer of a run has its own.
fn peer_addr(n: usize) -> SocketAddr {
    let octet = |x: usize| x.min(255) as u8;
    let ip = [
        10,
        octet(1 + n / 62_500),
        octet(n / 250 % 250),
        octet(n % 250 + 1),
    ];
    SocketAddr::from((ip, 7000))
}

/// Virtual time starts here (a Unix time in ms, so gossip timestamps look real).
pub const T0: Time = Time(1_700_000_000_000);

impl Sim {
    /// A simulation of `scenario`: seeds at 10.0.0.x:6000, peers at 10.1.x.y:7000 joining
    /// every `join_every`.
    pub fn new(scenario: Scenario) -> Sim {
        let seeds: Vec<SocketAddr> = (0..scenario.seeds)
            .map(|i| SocketAddr::from(([10, 0, 0, (i + 1) as u8], 6000)))
            .collect();
        let text: String = seeds.iter().map(|s| format!("{s}\n")).collect();
        let config = Config::parse("sim", &text).unwrap_or(Config { seeds: Vec::new() });
        let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
        let keys: Vec<Keypair> = (0..seeds.len())
            .map(|_| Keypair::from_secret(rng.random()))
            .collect();
        let lying = scenario.faults.lying_seeds.min(seeds.len());
        let liars: Vec<Keypair> = keys[seeds.len() - lying..].to_vec();
        let mut sim = Sim {
            rng,
            now: T0,
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            by_id: BTreeMap::new(),
            links: Links::new(),
            ghosts: BTreeSet::new(),
            next_peer: scenario.peers,
            agenda: Agenda::new(T0),
            trace: blake3::Hasher::new(),
            trace_out: None,
            progress: None,
            seed_set: SeedSet {
                n: seeds.len(),
                keys: keys.iter().map(Keypair::id).collect(),
            },
            config,
            // Thousands of nodes check the same signatures: each is checked once.
            checks: Checks::shared(3 << 20, HashKeys::from_seed(scenario.seed)),
            certs: Interned::default(),
            partitioned: false,
            faults_over: None,
            log: check::Log::default(),
            written: HashSet::default(),
            scenario,
        };
        for (i, (addr, key)) in seeds.into_iter().zip(keys).enumerate() {
            let settings = seed::Settings {
                rate_burst: (64 + 2 * sim.scenario.peers) as u32,
                registrations_per_network: 64 + 2 * sim.scenario.peers,
                peer_list_max: sim.scenario.peer_list,
                ..seed::Settings::default()
            };
            let rng_seed = sim.rng.random();
            let state = seed::State::new(
                T0,
                key.clone(),
                addr,
                sim.config.clone(),
                settings,
                rng_seed,
            );
            let Ok(mut state) = state else { continue };
            state.share_checks(sim.checks.clone());
            let (machine, kind): (Box<dyn SimMachine>, Kind) = if i >= sim.scenario.seeds - lying {
                let m = LyingSeed::new(state, key.clone(), liars.clone(), T0);
                (Box::new(m), Kind::LyingSeed)
            } else {
                (Box::new(state), Kind::Seed)
            };
            sim.add(machine, key, Role::Seed, kind, addr, 0);
        }
        for n in 0..sim.scenario.peers {
            let at = T0 + Duration::from_secs(1) + sim.scenario.join_every * n as u32;
            sim.schedule(at, Ev::Start(n));
        }
        if sim.scenario.faults.any() {
            let f = &sim.scenario.faults;
            let (start, stop) = (T0 + f.start, T0 + f.stop.max(f.start));
            sim.schedule(start, Ev::FaultsBegin);
            sim.schedule(stop, Ev::FaultsEnd);
        }
        sim
    }

    /// Writes every event as a JSON line of the `--events` format to `out`.
    pub fn with_trace(mut self, out: Box<dyn std::io::Write>) -> Sim {
        self.trace_out = Some(out);
        self
    }

    /// Calls `report(done, total)` (virtual time) now and then while it runs: for a
    /// progress bar. It does not change the run.
    pub fn with_progress(mut self, report: Box<dyn FnMut(Duration, Duration)>) -> Sim {
        self.progress = Some(report);
        self
    }

    fn add(
        &mut self,
        machine: Box<dyn SimMachine>,
        key: Keypair,
        role: Role,
        kind: Kind,
        addr: SocketAddr,
        incarnation: u64,
    ) -> usize {
        let n = self.nodes.len();
        let id = key.id();
        self.nodes.push(SimNode {
            machine,
            key,
            id,
            role,
            kind,
            addr,
            timer: None,
            epoch: 0,
            up: true,
            incarnation,
            cut_off: false,
            active: None,
        });
        self.by_addr.insert(addr, n);
        self.by_id.insert(id, n);
        self.after_input(n);
        n
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.agenda.push(at, ev);
    }

    fn deliver(&mut self, at: Time, node: usize, input: Input) {
        let epoch = self.nodes[node].epoch;
        self.schedule(at, Ev::Input(node, epoch, input));
    }

    fn latency(&mut self) -> Duration {
        let (lo, hi) = self.scenario.latency_ms;
        Duration::from_millis(self.rng.random_range(lo..=hi.max(lo)))
    }

    fn peer_settings(&self) -> peer::Settings {
        let s = &self.scenario;
        let (origin_burst, origin_every) = peer::origin_bound(s.gossip_count, s.gossip_interval);
        peer::Settings {
            origin_burst,
            origin_every,
            gossip_count: s.gossip_count,
            gossip_interval: s.gossip_interval,
            gossip_delay: s.gossip_delay(),
            ping_interval: s.ping_interval,
            // For every peer, originator or not (PROTOCOL §11.7).
            trees_from_first: s.gossip_count > 1,
            ..peer::Settings::default()
        }
    }

    /// A peer machine of `kind`, generating gossip or not.
    fn peer_machine(
        &mut self,
        key: Keypair,
        addr: SocketAddr,
        incarnation: u64,
        gossip: bool,
        kind: Kind,
    ) -> Box<dyn SimMachine> {
        let mut settings = self.peer_settings();
        if !gossip {
            settings.gossip_count = 0;
        }
        let rng_seed = self.rng.random();
        let config = self.config.clone();
        let mut state =
            peer::State::new(self.now, key, addr, incarnation, config, settings, rng_seed);
        state.share_checks(self.checks.clone());
        match kind {
            Kind::Forger => Box::new(Forger(state)),
            _ => Box::new(state),
        }
    }

    /// Starts peer number `n` at its own address.
    fn start_peer(&mut self, n: usize) {
        let addr = peer_addr(n);
        let key = Keypair::from_secret(self.rng.random());
        let f = &self.scenario.faults;
        let kind = if n < f.liars {
            Kind::Liar
        } else if n < f.liars + f.forgers {
            Kind::Forger
        } else {
            Kind::Peer
        };
        let gossip = self.scenario.originators.is_none_or(|k| n < k);
        let machine = self.peer_machine(key.clone(), addr, 1, gossip, kind);
        self.add(machine, key, Role::Peer, kind, addr, 1);
    }

    /// Starts crashed node `i` again at its next incarnation. It generates nothing more:
    /// its messages would not be new.
    fn restart_peer(&mut self, i: usize) {
        let node = &self.nodes[i];
        let (key, addr, kind, incarnation) =
            (node.key.clone(), node.addr, node.kind, node.incarnation + 1);
        let machine = self.peer_machine(key, addr, incarnation, false, kind);
        let node = &mut self.nodes[i];
        node.machine = machine;
        node.incarnation = incarnation;
        node.up = true;
        node.timer = None;
        self.after_input(i);
    }

    /// Carries out a node's outputs and re-arms its timer.
    fn after_input(&mut self, n: usize) {
        self.written.clear();
        while let Some(out) = self.nodes[n].machine.poll_output() {
            self.carry_out(n, out);
        }
        let next = self.nodes[n].machine.poll_timeout();
        if next != self.nodes[n].timer {
            self.nodes[n].timer = next;
            if let Some(t) = next {
                let epoch = self.nodes[n].epoch;
                self.schedule(t.max(self.now), Ev::Timer(n, epoch));
            }
        }
    }

    /// Node `n` handles an input (its timer: `timer`) now: counted as a wake-up of a peer
    /// idle for more than [`IDLE`].
    fn awake(&mut self, n: usize, timer: bool) {
        let node = &mut self.nodes[n];
        let asleep = node.active.is_none_or(|t| self.now.since(t) > IDLE);
        node.active = Some(self.now);
        if asleep && node.role == Role::Peer {
            self.log.wakeups.0 += 1;
            self.log.wakeups.1 += u64::from(timer);
        }
    }

    fn remote(&self, n: usize) -> Remote {
        let node = &self.nodes[n];
        Remote {
            id: node.id,
            role: node.role,
            addr: node.addr,
            source: node.addr,
        }
    }

    /// Whether a partition separates nodes `a` and `b` now.
    fn cut(&self, a: usize, b: usize) -> bool {
        self.partitioned && self.nodes[a].cut_off != self.nodes[b].cut_off
    }

    fn honest_seed(&self, n: usize) -> bool {
        self.nodes[n].kind == Kind::Seed
    }

    /// Whether node `n` is owed gossip: any peer but a forger, whom honest peers drop
    /// (PROTOCOL §11.4).
    fn owed_gossip(&self, n: usize) -> bool {
        self.nodes[n].kind != Kind::Forger
    }

    fn carry_out(&mut self, n: usize, out: Output) {
        match out {
            Output::Send { link, msg } => {
                let Some(end) = self.links.end(link) else {
                    return;
                };
                self.log.frames.0 += 1;
                if let Msg::Gossip(g) = &msg {
                    self.log.carried += 1;
                    if self.scenario.check {
                        let pair = link.0.min(end.other.0);
                        self.log.crossed(pair, &g.id(), g.hops);
                    }
                }
                // Through the real codec, both ways.
                let Ok(mut msg) = router::through_codec(&msg) else {
                    self.log
                        .violation(format!("a {} did not survive the codec", msg.name()));
                    return;
                };
                if let Msg::Gossip(g) = &mut msg {
                    g.cert = self.certs.intern(&g.cert);
                }
                let mut delay = self.latency();
                if !self.written.insert(link) {
                    delay = Duration::ZERO;
                }
                if self.rng.random::<f64>() < self.scenario.loss {
                    self.log.frames.1 += 1;
                    delay += RTO;
                }
                let Some((to, other, at)) = self.links.send(link, self.now, delay) else {
                    return;
                };
                if !self.ghosts.contains(&other) {
                    self.deliver(at, to, Input::Frame { link: other, msg });
                }
            }
            Output::Dial { token, addr, .. } => self.dial(n, token, addr),
            Output::Close { link } => {
                if self.links.end(link).is_some() {
                    // The close arrives after what was sent before it.
                    let delay = self.latency();
                    let sent = self.links.send(link, self.now, delay);
                    let Some((to, other, at)) = sent else { return };
                    self.links.close(link);
                    if !self.ghosts.contains(&other) {
                        self.deliver(at, to, Input::LinkDown { link: other });
                    }
                }
            }
            Output::Echo { ip } => {
                let answered = self
                    .by_addr
                    .range(SocketAddr::new(ip, 0)..=SocketAddr::new(ip, u16::MAX))
                    .any(|(_, &m)| self.nodes[m].up && !self.cut(n, m));
                let at = self.now + self.latency() * 2;
                let answered = Some(answered);
                self.deliver(at, n, Input::Echo { ip, answered });
            }
            Output::Persist(record) => {
                if self.honest_seed(n) {
                    self.on_persist(n, record);
                }
            }
            Output::Event(e) => self.on_event(n, &e),
            // The process exits (a peer that could not register in time).
            Output::Stop(_) => {
                self.log.stops += 1;
                self.crash(n);
            }
            Output::Reply(_) => {}
        }
    }

    fn dial(&mut self, n: usize, token: DialToken, addr: SocketAddr) {
        // Connect and handshake: two round trips.
        let rtt = self.latency() * 2;
        let at = self.now + rtt * 2;
        let target = self.by_addr.get(&addr).copied();
        let m = match target {
            Some(m) if self.cut(n, m) => {
                let error = DialError::TimedOut;
                let at = self.now + DIAL_TIMEOUT;
                return self.deliver(at, n, Input::DialFailed { token, error });
            }
            Some(m) if self.nodes[m].up => m,
            _ => {
                let error = DialError::Refused;
                return self.deliver(at, n, Input::DialFailed { token, error });
            }
        };
        let (a, b) = self.links.open(n, m, at, ((), ()));
        let (rm, rn) = (self.remote(m), self.remote(n));
        let [at_n, at_m] = router::link_up((a, rm), (b, rn), token);
        self.deliver(at, n, at_n);
        self.deliver(at, m, at_m);
    }

    /// Closes every link whose two holders `doomed` names, telling each holder that is up,
    /// as a host does when its peer's process dies (or a partition cuts the path).
    fn close_links(&mut self, doomed: &[(LinkId, LinkId, usize, usize)]) {
        for &(a, b, ha, hb) in doomed {
            self.links.close(a);
            for (link, holder) in [(a, ha), (b, hb)] {
                if self.nodes[holder].up && !self.ghosts.contains(&link) {
                    let at = self.now + self.latency();
                    self.deliver(at, holder, Input::LinkDown { link });
                }
            }
        }
    }

    /// Every link once, as (link, other end, holder of link, holder of other end).
    fn links_where(
        &self,
        pick: impl Fn(usize, usize) -> bool,
    ) -> Vec<(LinkId, LinkId, usize, usize)> {
        let mut picked = self.links.pairs();
        picked.retain(|&(_, _, a, b)| pick(a, b));
        picked
    }

    fn crash(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        node.up = false;
        node.epoch += 1;
        node.timer = None;
        self.log.crashes.push((node.id, node.incarnation, self.now));
        // Its links, from the ends it holds (not a scan of every link: crashes come by the
        // thousand at large N).
        let doomed = self.links.pairs_of(n);
        self.close_links(&doomed);
    }

    fn live_peers(&self, kinds: &[Kind]) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && kinds.contains(&self.nodes[i].kind))
            .collect()
    }

    fn on_faults_begin(&mut self) {
        let f = self.scenario.faults.clone();
        let victims = self.live_peers(&[Kind::Peer]);
        if f.crash > 0.0 {
            let k = ((victims.len() as f64) * f.crash).round() as usize;
            let chosen = if f.correlated {
                self.neighbourhoods(&victims, k)
            } else {
                victims.choose_multiple(&mut self.rng, k).copied().collect()
            };
            for n in chosen {
                self.crash(n);
            }
        }
        if f.partition > 0.0 {
            let peers = self.live_peers(&[Kind::Peer, Kind::Forger]);
            let k = ((peers.len() as f64) * f.partition).round() as usize;
            let side: Vec<usize> = peers.choose_multiple(&mut self.rng, k).copied().collect();
            for n in side {
                self.nodes[n].cut_off = true;
            }
            // A minority of the seeds, honest ones first from the end.
            let minority = (self.scenario.seeds - 1) / 2;
            for n in (0..self.scenario.seeds).rev().take(minority) {
                self.nodes[n].cut_off = true;
            }
            self.partitioned = true;
            self.log.were_cut = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].cut_off)
                .collect();
            let doomed = self.links_where(|a, b| self.cut(a, b));
            self.close_links(&doomed);
        }
        if let Some(every) = f.churn_every {
            self.schedule(self.now + every, Ev::Churn);
        }
        if f.liars >= 2 {
            self.schedule(self.now + Duration::from_secs(1), Ev::Lie);
        }
    }

    /// `k` of `victims`, taken a random one and its neighbours at a time.
    fn neighbourhoods(&mut self, victims: &[usize], k: usize) -> Vec<usize> {
        let mut left: Vec<usize> = victims.to_vec();
        let mut chosen = Vec::new();
        while chosen.len() < k && !left.is_empty() {
            let first = left.swap_remove(self.rng.random_range(0..left.len()));
            let around = (self.nodes[first].machine.peer())
                .map(|p| p.neighbors())
                .unwrap_or_default();
            chosen.push(first);
            for id in around {
                let Some(&n) = self.by_id.get(&id) else {
                    continue;
                };
                if chosen.len() < k {
                    if let Some(at) = left.iter().position(|&v| v == n) {
                        chosen.push(left.swap_remove(at));
                    }
                }
            }
        }
        chosen
    }

    fn on_faults_end(&mut self) {
        if self.partitioned {
            self.log.healed_at = Some(self.now);
        }
        self.partitioned = false;
        for node in &mut self.nodes {
            node.cut_off = false;
        }
        self.faults_over = Some(self.now);
        if self.scenario.faults.restart {
            let down: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| !self.nodes[i].up && self.nodes[i].role == Role::Peer)
                .collect();
            for n in down {
                self.restart_peer(n);
            }
        }
    }

    fn faults_on(&self) -> bool {
        self.faults_over.is_none()
    }

    fn on_churn(&mut self) {
        if !self.faults_on() {
            return;
        }
        let live = self.live_peers(&[Kind::Peer]);
        if let Some(&n) = live.choose(&mut self.rng) {
            self.crash(n);
        }
        let n = self.next_peer;
        self.next_peer += 1;
        self.start_peer(n);
        if let Some(every) = self.scenario.faults.churn_every {
            self.schedule(self.now + every, Ev::Churn);
        }
    }

    /// One false dead-node report, by one liar with all liars' verdicts, to every seed.
    fn on_lie(&mut self) {
        if !self.faults_on() {
            return;
        }
        self.schedule(self.now + Duration::from_secs(1), Ev::Lie);
        let liars = self.live_peers(&[Kind::Liar]);
        let targets: Vec<usize> = self
            .live_peers(&[Kind::Peer])
            .into_iter()
            .filter(|&i| {
                self.nodes[i]
                    .machine
                    .peer()
                    .is_some_and(|p| p.certificate().is_some())
            })
            .collect();
        let Some(&t) = targets.choose(&mut self.rng) else {
            return;
        };
        if liars.len() < 2 {
            return;
        }
        let keys: Vec<(&Keypair, SocketAddr)> = (liars.iter())
            .map(|&i| (&self.nodes[i].key, self.nodes[i].addr))
            .collect();
        let target = &self.nodes[t];
        let suspect = (target.id, target.addr, target.incarnation);
        let report = adversary::false_report(&keys, suspect, self.now);
        self.log.lies += 1;
        let reporter = liars[0];
        for s in 0..self.scenario.seeds {
            if !self.nodes[s].up || self.cut(reporter, s) {
                continue;
            }
            // A link of the liar's own, outside its machine.
            let at = self.now + self.latency() * 4;
            let (mine, theirs) = self.links.open(reporter, s, at, ((), ()));
            self.ghosts.insert(mine);
            let remote = Box::new(self.remote(reporter));
            self.deliver(
                at,
                s,
                Input::LinkUp {
                    link: theirs,
                    remote,
                    dial: None,
                },
            );
            let msg = Msg::DeadReport(Box::new(report.clone()));
            self.carry_out(reporter, Output::Send { link: mine, msg });
        }
    }

    fn on_persist(&mut self, n: usize, record: node::Record) {
        let node::Record::Certificate(cert) = record else {
            return;
        };
        self.log.pl_changed = self.now;
        let c = cert.change;
        if c.op == hearsay_proto::cert::Op::Remove {
            // A metric (crash to removal) as well as a check.
            let times = self.log.removals.entry((c.peer, c.incarnation));
            times.or_default().push(self.now);
        }
        if !self.scenario.check {
            return;
        }
        if let Err(e) = cert.verify(&self.seed_set, &self.checks) {
            self.log.violation(format!(
                "seed {} applied a certificate that does not verify ({e}): {} {} at {}",
                self.nodes[n].addr,
                c.op_name(),
                c.peer,
                c.addr
            ));
        }
        if c.op == hearsay_proto::cert::Op::Remove {
            self.check_removal(n, c.peer, c.incarnation);
        }
    }

    fn on_event(&mut self, n: usize, e: &Event) {
        let node = &self.nodes[n];
        let role = if node.role == Role::Seed {
            "seed"
        } else {
            "peer"
        };
        let line = e.json(self.now, &node.addr.to_string(), role);
        self.trace.update(line.as_bytes());
        if let Some(out) = &mut self.trace_out {
            let _ = out.write_all(line.as_bytes());
        }
        let forger = node.kind == Kind::Forger;
        match e {
            Event::Registered { latency, .. } => {
                self.log.admitted_at.insert(n, self.now);
                self.log.ever_admitted.insert(n);
                self.log.registration_ms.push(latency.as_millis() as u64);
            }
            Event::GossipGenerated { id, .. } => {
                let honest = (!forger).then_some(self.log.generated.len());
                self.log.generated_ids.insert(*id, honest);
                if honest.is_some() {
                    self.log.generated.push(check::Born::new(self.now, n));
                }
            }
            Event::GossipReceived {
                id, latency, hops, ..
            } => {
                let latency_ms = latency.as_millis() as u64;
                match self.log.generated_ids.get(id) {
                    Some(Some(k)) => self.log.generated[*k].delivered(n, latency_ms, *hops),
                    Some(None) => {}
                    None if self.scenario.check => self.log.violation(format!(
                        "peer {} delivered {id}, which nobody generated",
                        node.addr
                    )),
                    None => {}
                }
                self.log.deliveries += 1;
                self.log
                    .latencies
                    .push(u32::try_from(latency_ms).unwrap_or(u32::MAX));
            }
            Event::FalseAccusation { .. } if self.honest_seed(n) => {
                self.log.false_accusations += 1;
            }
            _ => {}
        }
    }

    /// Runs the scenario to its end and returns what it measured.
    pub fn run(mut self) -> Metrics {
        let end = T0
            + self
                .scenario
                .duration
                .unwrap_or_else(|| self.scenario.natural_duration());
        while let Some((at, ev)) = self.agenda.pop() {
            if at > end {
                break;
            }
            self.now = at;
            self.log.steps += 1;
            if self.log.steps.is_multiple_of(65_536) {
                if let Some(report) = &mut self.progress {
                    report(at.since(T0), end.since(T0));
                }
            }
            match ev {
                Ev::Start(n) => self.start_peer(n),
                Ev::Input(n, epoch, input) => {
                    if self.nodes[n].epoch == epoch && self.nodes[n].up {
                        self.awake(n, false);
                        self.nodes[n].machine.handle(at, input);
                        self.after_input(n);
                    }
                }
                Ev::Timer(n, epoch) => {
                    let node = &mut self.nodes[n];
                    if node.up && node.epoch == epoch && node.timer.is_some_and(|t| t <= at) {
                        node.timer = None;
                        self.awake(n, true);
                        self.nodes[n].machine.handle(at, Input::Timeout);
                        self.after_input(n);
                    }
                }
                Ev::FaultsBegin => self.on_faults_begin(),
                Ev::FaultsEnd => self.on_faults_end(),
                Ev::Churn => self.on_churn(),
                Ev::Lie => self.on_lie(),
            }
        }
        self.now = self.now.max(end);
        if let Some(out) = &mut self.trace_out {
            let _ = out.flush();
        }
        if self.scenario.check {
            self.check_healed();
        }
        self.metrics()
    }
}
/// Certificates by value, each held once: a decoded copy is swapped for the one held.
#[derive(Default)]
struct Interned(HashSet<Arc<Certificate>, BuildHasherDefault<DefaultHasher>>);

impl Interned {
    /// The held copy of `cert` (equal to it in every field), held from now on if new.
    fn intern(&mut self, cert: &Arc<Certificate>) -> Arc<Certificate> {
        if let Some(held) = self.0.get(&**cert) {
            return Arc::clone(held);
        }
        self.0.insert(Arc::clone(cert));
        Arc::clone(cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turning_the_checks_off_changes_no_metric() {
        let checked = Scenario {
            faults: Faults {
                start: Duration::from_secs(5),
                stop: Duration::from_secs(6),
                crash: 0.25,
                ..Faults::default()
            },
            duration: Some(Duration::from_secs(25)),
            ..small(4)
        };
        let unchecked = Scenario {
            check: false,
            ..checked.clone()
        };
        let (a, b) = (Sim::new(checked).run(), Sim::new(unchecked).run());
        assert!(a.crashed > 0 && a.removals == a.crashed, "{a:?}");
        assert_eq!(a.violation_count, 0, "{:?}", a.violations);
        assert_eq!(a, b);
    }

    #[test]
    fn every_peer_of_a_large_run_has_its_own_address() {
        assert_eq!(peer_addr(0), "10.1.0.1:7000".parse().unwrap());
        assert_eq!(peer_addr(62_499), "10.1.249.250:7000".parse().unwrap());
        assert_eq!(peer_addr(62_500), "10.2.0.1:7000".parse().unwrap());
        let all: BTreeSet<SocketAddr> = (0..200_000).map(peer_addr).collect();
        assert_eq!(all.len(), 200_000);
    }

    fn small(seed: u64) -> Scenario {
        Scenario {
            peers: 12,
            seed,
            duration: Some(Duration::from_secs(20)),
            ..Scenario::default()
        }
    }

    #[test]
    fn plain_gossip_reaches_every_peer_that_joined_before_it() {
        let m = Sim::new(small(7)).run();
        assert_eq!(m.admitted, 12, "{m:?}");
        assert_eq!(m.messages, 36, "{m:?}");
        assert_eq!(m.coverage, 1.0, "{m:?}");
        assert_eq!(m.deliveries, 36 * 11, "{m:?}");
        assert!(m.latency_ms.0 > 0 && m.latency_ms.2 < 2_000, "{m:?}");
    }

    /// Issue 13: a peer's wake-ups are the inputs and timers it handles after more than
    /// [`IDLE`] without one: counted for the peers, some of them by their own timers. Where
    /// every frame arrives at once (no latency), a message's whole spread is a moment, and
    /// a peer wakes far less often than where each hop takes 1–20 ms.
    #[test]
    fn a_peer_wakes_once_for_inputs_that_come_together() {
        let m = Sim::new(small(7)).run();
        let (all, timers) = m.wakeups;
        assert!(timers > 0 && timers < all, "{m:?}");
        // The deliveries alone are inputs; some come while the peer is awake.
        assert!(all as usize > m.deliveries / 2, "{m:?}");
        let at_once = Sim::new(Scenario {
            latency_ms: (0, 0),
            ..small(7)
        })
        .run();
        assert_eq!(at_once.deliveries, m.deliveries);
        assert!(
            at_once.wakeups.0 * 2 < all,
            "{:?} against {all}",
            at_once.wakeups
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_trace_and_another_seed_another() {
        let a = Sim::new(small(1)).run();
        let b = Sim::new(small(1)).run();
        let c = Sim::new(small(2)).run();
        assert_eq!(a.trace_digest, b.trace_digest);
        assert_eq!(a, b);
        assert_ne!(a.trace_digest, c.trace_digest);
    }

    #[test]
    fn gossip_gets_through_five_percent_frame_loss() {
        let lossy = Scenario {
            loss: 0.05,
            duration: Some(Duration::from_secs(40)),
            ..small(3)
        };
        let m = Sim::new(lossy).run();
        assert!(m.frames.1 > 0, "some frames were lost: {m:?}");
        assert_eq!(m.admitted, 12, "{m:?}");
        assert_eq!(m.coverage, 1.0, "{m:?}");
    }
}
