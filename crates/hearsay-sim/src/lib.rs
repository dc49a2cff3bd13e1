//! hearsay's deterministic simulator (issue 6): the real seed and peer state machines of
//! `hearsay-proto`, driven in virtual time over a simulated network.
//!
//! Every message goes through the real codec (`wire::encode` then `wire::decode`), so codec
//! bugs show up here too. Latency and frame loss come from one seeded RNG, and every map
//! whose order matters is a `BTreeMap`, so the same scenario and seed give the same trace,
//! byte for byte. This first slice covers plain gossip with latency and loss; the fault
//! and attack knobs of issue 6 build on it.

#![deny(missing_docs)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::time::Duration;

use hearsay_proto::config::Config;
use hearsay_proto::node::DialToken;
use hearsay_proto::wire::{self, Msg};
use hearsay_proto::{
    peer, seed, Input, Keypair, LinkId, Machine, Output, PeerId, Remote, Role, Time,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Peers.
    pub peers: usize,
    /// Seeds.
    pub seeds: usize,
    /// The seed of every random choice.
    pub seed: u64,
    /// One-way latency of a frame, drawn uniformly from this range (ms).
    pub latency_ms: (u64, u64),
    /// Share of frames lost on the wire. Links are TCP: a lost segment is sent again after a
    /// retransmission timeout ([`RTO`]), so a loss delays the frame and every later frame
    /// on its link; frames are never dropped or reordered on a live link.
    pub loss: f64,
    /// Virtual time between two peers' starts.
    pub join_every: Duration,
    /// Gossip messages per peer.
    pub gossip_count: u32,
    /// Between two of a peer's messages.
    pub gossip_interval: Duration,
    /// Virtual time to run; `None`: long enough for every peer to join, generate, and the
    /// gossip to settle ([`Scenario::natural_duration`]).
    pub duration: Option<Duration>,
}

impl Scenario {
    /// Joins (twice over, for slow admissions), the gossip delay, the gossip rounds, and 30 s
    /// to settle.
    pub fn natural_duration(&self) -> Duration {
        let joins = self.join_every * self.peers as u32;
        let gossip = self.gossip_interval * self.gossip_count;
        Duration::from_secs(3) + joins * 2 + gossip + Duration::from_secs(30)
    }
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            peers: 20,
            seeds: 3,
            seed: 1,
            latency_ms: (1, 20),
            loss: 0.0,
            join_every: Duration::from_millis(50),
            gossip_count: 3,
            gossip_interval: Duration::from_secs(1),
            duration: None,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Peers admitted (holding their certificate).
    pub admitted: usize,
    /// Messages generated.
    pub messages: usize,
    /// First-time deliveries.
    pub deliveries: usize,
    /// Of the deliveries owed (every message to every other peer admitted before it was
    /// generated), the share made.
    pub coverage: f64,
    /// Generation to delivery, in virtual ms: median, 99th percentile and largest.
    pub latency_ms: (u64, u64, u64),
    /// Frames carrying a message, per message.
    pub frames_per_message: f64,
    /// Frames sent of any kind, and frames lost once (and sent again).
    pub frames: (u64, u64),
    /// blake3 of the whole event trace: the same scenario and seed give the same digest.
    pub trace_digest: String,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A node gets an input.
    Input(usize, InputKey),
    /// A node's timer may be due.
    Timer(usize),
    /// Peer `n` starts.
    Start(usize),
}

/// Inputs wait in a side table (they are not `Ord`); the queue holds their keys.
type InputKey = u64;

struct SimNode {
    machine: Box<dyn Machine>,
    id: PeerId,
    role: Role,
    addr: SocketAddr,
    timer: Option<Time>,
}

struct End {
    node: usize,
    other: LinkId,
    /// When the last frame sent on this end arrives: later ones arrive after it (TCP order).
    busy_until: Time,
}

/// TCP's retransmission timeout, the delay a lost segment adds.
pub const RTO: Duration = Duration::from_millis(200);

/// A running simulation.
pub struct Sim {
    scenario: Scenario,
    now: Time,
    rng: ChaCha8Rng,
    nodes: Vec<SimNode>,
    by_addr: BTreeMap<SocketAddr, usize>,
    ends: BTreeMap<LinkId, End>,
    next_link: u64,
    queue: BinaryHeap<Reverse<(Time, u64, Ev)>>,
    inputs: BTreeMap<InputKey, Input>,
    seq: u64,
    trace: blake3::Hasher,
    /// (message id, born, origin node) and (message id, receiver, latency).
    generated: Vec<(String, Time, usize)>,
    received: Vec<(String, usize, u64)>,
    admitted_at: BTreeMap<usize, Time>,
    carried: u64,
    frames: (u64, u64),
    config: Config,
}

const T0: Time = Time(1_700_000_000_000);

impl Sim {
    /// A simulation of `scenario`: seeds at 10.0.0.x:6000, peers at 10.1.x.y:7000 joining
    /// every `join_every`.
    pub fn new(scenario: Scenario) -> Sim {
        let seeds: Vec<SocketAddr> = (0..scenario.seeds)
            .map(|i| SocketAddr::from(([10, 0, 0, (i + 1) as u8], 6000)))
            .collect();
        let text: String = seeds.iter().map(|s| format!("{s}\n")).collect();
        let config = Config::parse("sim", &text).unwrap_or(Config { seeds: Vec::new() });
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(scenario.seed),
            scenario,
            now: T0,
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            ends: BTreeMap::new(),
            next_link: 1,
            queue: BinaryHeap::new(),
            inputs: BTreeMap::new(),
            seq: 0,
            trace: blake3::Hasher::new(),
            generated: Vec::new(),
            received: Vec::new(),
            admitted_at: BTreeMap::new(),
            carried: 0,
            frames: (0, 0),
            config,
        };
        for addr in seeds {
            let key = Keypair::from_secret(sim.rng.random());
            let settings = seed::Settings {
                rate_burst: (64 + 2 * sim.scenario.peers) as u32,
                ..seed::Settings::default()
            };
            let rng_seed = sim.rng.random();
            let machine = seed::State::new(
                T0,
                key.clone(),
                addr,
                sim.config.clone(),
                settings,
                rng_seed,
            );
            if let Ok(m) = machine {
                sim.add(Box::new(m), key.id(), Role::Seed, addr);
            }
        }
        for n in 0..sim.scenario.peers {
            let at = T0 + Duration::from_secs(1) + sim.scenario.join_every * n as u32;
            sim.schedule(at, Ev::Start(n));
        }
        sim
    }

    fn add(&mut self, machine: Box<dyn Machine>, id: PeerId, role: Role, addr: SocketAddr) {
        let n = self.nodes.len();
        self.nodes.push(SimNode {
            machine,
            id,
            role,
            addr,
            timer: None,
        });
        self.by_addr.insert(addr, n);
        self.after_input(n);
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    fn deliver(&mut self, at: Time, node: usize, input: Input) {
        self.seq += 1;
        let key = self.seq;
        self.inputs.insert(key, input);
        self.schedule(at, Ev::Input(node, key));
    }

    fn latency(&mut self) -> Duration {
        let (lo, hi) = self.scenario.latency_ms;
        Duration::from_millis(self.rng.random_range(lo..=hi.max(lo)))
    }

    fn start_peer(&mut self, n: usize) {
        let addr = SocketAddr::from(([10, 1, (n / 250) as u8, (n % 250 + 1) as u8], 7000));
        let key = Keypair::from_secret(self.rng.random());
        let settings = peer::Settings {
            gossip_count: self.scenario.gossip_count,
            gossip_interval: self.scenario.gossip_interval,
            // Everyone joins before anyone generates.
            gossip_delay: self.scenario.join_every * self.scenario.peers as u32
                + Duration::from_secs(2),
            ..peer::Settings::default()
        };
        let rng_seed = self.rng.random();
        let m = peer::State::new(
            self.now,
            key.clone(),
            addr,
            1,
            self.config.clone(),
            settings,
            rng_seed,
        );
        self.add(Box::new(m), key.id(), Role::Peer, addr);
    }

    /// Carries out a node's outputs and re-arms its timer.
    fn after_input(&mut self, n: usize) {
        while let Some(out) = self.nodes[n].machine.poll_output() {
            self.carry_out(n, out);
        }
        let next = self.nodes[n].machine.poll_timeout();
        if next != self.nodes[n].timer {
            self.nodes[n].timer = next;
            if let Some(t) = next {
                self.schedule(t.max(self.now), Ev::Timer(n));
            }
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

    fn carry_out(&mut self, n: usize, out: Output) {
        match out {
            Output::Send { link, msg } => {
                if !self.ends.contains_key(&link) {
                    return;
                }
                self.frames.0 += 1;
                if matches!(msg, Msg::Gossip(_)) {
                    self.carried += 1;
                }
                // Through the real codec, both ways.
                let Ok(msg) = wire::decode::<Msg>(&wire::encode(&msg)) else {
                    return;
                };
                let mut delay = self.latency();
                if self.rng.random::<f64>() < self.scenario.loss {
                    self.frames.1 += 1;
                    delay += RTO;
                }
                let (to, other, at) = self.in_order(link, delay);
                self.deliver(at, to, Input::Frame { link: other, msg });
            }
            Output::Dial { token, addr } => self.dial(n, token, addr),
            Output::Close { link } => {
                if self.ends.contains_key(&link) {
                    // The close arrives after what was sent before it.
                    let delay = self.latency();
                    let (to, other, at) = self.in_order(link, delay);
                    self.ends.remove(&link);
                    self.ends.remove(&other);
                    self.deliver(at, to, Input::LinkDown { link: other });
                }
            }
            Output::Echo { ip } => {
                let at = self.now + self.latency() * 2;
                self.deliver(
                    at,
                    n,
                    Input::Echo {
                        ip,
                        answered: Some(true),
                    },
                );
            }
            Output::Event(e) => self.on_event(n, &e),
            // Seeds in the simulator do not crash yet, so nothing needs to be kept.
            Output::Persist(_) | Output::Reply(_) | Output::Stop(_) => {}
        }
    }

    /// The receiving node and link of a frame sent on `link` now with `delay`, and when it
    /// arrives: never before an earlier frame of the same link.
    fn in_order(&mut self, link: LinkId, delay: Duration) -> (usize, LinkId, Time) {
        let now = self.now;
        let Some(end) = self.ends.get_mut(&link) else {
            return (0, link, now);
        };
        let at = (now + delay).max(end.busy_until);
        end.busy_until = at;
        (end.node, end.other, at)
    }

    fn dial(&mut self, n: usize, token: DialToken, addr: SocketAddr) {
        // Connect and handshake: two round trips.
        let rtt = self.latency() * 2;
        let at = self.now + rtt * 2;
        let Some(&m) = self.by_addr.get(&addr) else {
            let reason = "connection refused".to_string();
            return self.deliver(at, n, Input::DialFailed { token, reason });
        };
        let (a, b) = (LinkId(self.next_link), LinkId(self.next_link + 1));
        self.next_link += 2;
        self.ends.insert(
            a,
            End {
                node: m,
                other: b,
                busy_until: at,
            },
        );
        self.ends.insert(
            b,
            End {
                node: n,
                other: a,
                busy_until: at,
            },
        );
        let (rm, rn) = (self.remote(m), self.remote(n));
        self.deliver(
            at,
            n,
            Input::LinkUp {
                link: a,
                remote: rm,
                dial: Some(token),
            },
        );
        self.deliver(
            at,
            m,
            Input::LinkUp {
                link: b,
                remote: rn,
                dial: None,
            },
        );
    }

    fn on_event(&mut self, n: usize, e: &hearsay_proto::event::Event) {
        use hearsay_proto::event::Event as E;
        let line = format!(
            "{} {} {}\n",
            self.now.0,
            n,
            serde_json::to_string(e).unwrap_or_default()
        );
        self.trace.update(line.as_bytes());
        match e {
            E::Registered { .. } => {
                self.admitted_at.entry(n).or_insert(self.now);
            }
            E::GossipGenerated { id, .. } => self.generated.push((id.clone(), self.now, n)),
            E::GossipReceived { id, latency_ms, .. } => {
                self.received.push((id.clone(), n, *latency_ms))
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
        while let Some(Reverse((at, _, ev))) = self.queue.pop() {
            if at > end {
                break;
            }
            self.now = at;
            match ev {
                Ev::Start(n) => self.start_peer(n),
                Ev::Input(n, key) => {
                    if let Some(input) = self.inputs.remove(&key) {
                        self.nodes[n].machine.handle(at, input);
                        self.after_input(n);
                    }
                }
                Ev::Timer(n) => {
                    if self.nodes[n].timer.is_some_and(|t| t <= at) {
                        self.nodes[n].timer = None;
                        self.nodes[n].machine.handle(at, Input::Timeout);
                        self.after_input(n);
                    }
                }
            }
        }
        self.metrics()
    }

    fn metrics(self) -> Metrics {
        let mut got: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (id, n, _) in &self.received {
            got.entry(id).or_default().push(*n);
        }
        let (mut owed, mut made) = (0usize, 0usize);
        for (id, born, origin) in &self.generated {
            let receivers = got.get(id.as_str());
            for (n, at) in &self.admitted_at {
                if n != origin && at <= born {
                    owed += 1;
                    made += usize::from(receivers.is_some_and(|r| r.contains(n)));
                }
            }
        }
        let mut lat: Vec<u64> = self.received.iter().map(|(_, _, l)| *l).collect();
        lat.sort_unstable();
        let pick = |p: f64| {
            lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        let messages = self.generated.len();
        Metrics {
            admitted: self.admitted_at.len(),
            messages,
            deliveries: self.received.len(),
            coverage: if owed == 0 {
                1.0
            } else {
                made as f64 / owed as f64
            },
            latency_ms: (pick(0.5), pick(0.99), lat.last().copied().unwrap_or(0)),
            frames_per_message: if messages == 0 {
                0.0
            } else {
                self.carried as f64 / messages as f64
            },
            frames: self.frames,
            trace_digest: self.trace.finalize().to_hex().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
