//! What a run records, the invariants checked as it goes and once it has healed, and the
//! metrics (issue 6).
//!
//! At every step:
//! - no Peer List change without a valid certificate: every certificate an honest seed
//!   persists verifies against the real seed keys;
//! - no removal of a peer a quorum of seeds can reach: when an honest seed removes a peer,
//!   that incarnation is dead, or was cut off by a partition lately;
//! - no message crosses a link twice (either way);
//! - no peer delivers a message nobody generated (forged gossip).
//!
//! Once the faults have stopped and [`SETTLE`] has passed: every honest seed holds the same
//! Peer List, and every live peer is in it; the overlay of live honest peers is connected by
//! their own links; and every live honest peer has every message generated after that (and
//! after it joined). Forgers are members, but no honest peer keeps one as a neighbour once
//! it has sent forged gossip (PROTOCOL §11.4), so they are owed nothing.
//!
//! Once the faults have stopped and [`REMOVAL_BOUND`] has passed: no honest seed holds a
//! dead peer in its Peer List, even one that died together with all its neighbours
//! (PROTOCOL §12.6). Until then such peers are counted (`Metrics::dead_in_pl`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use hearsay_proto::gossip::MsgId;
use hearsay_proto::{PeerId, Role, Time};

use crate::{Metrics, Sim, REMOVAL_BOUND, SETTLE};

/// Violations kept word for word; the rest are counted.
const KEEP: usize = 100;
/// How long after a partition heals a removal decided during it may still commit.
const GRACE: Duration = Duration::from_secs(20);

/// What a run records for the checks and the metrics.
#[derive(Default)]
pub(crate) struct Log {
    pub frames: (u64, u64),
    pub wakeups: (u64, u64),
    pub carried: u64,
    /// (link pair, the first 8 bytes of a message's id) pairs that crossed.
    crossed: HashSet<(u64, u64)>,
    pub violations: Vec<String>,
    pub violation_count: usize,
    /// When each node's current incarnation was admitted.
    pub admitted_at: BTreeMap<usize, Time>,
    pub ever_admitted: BTreeSet<usize>,
    pub registration_ms: Vec<u64>,
    /// Every message generated (a forger's too), with its place in `generated` if honest.
    pub generated_ids: HashMap<MsgId, Option<usize>>,
    /// Honest messages, in the order generated.
    pub generated: Vec<Born>,
    /// Deliveries (first receipts) of any message.
    pub deliveries: usize,
    /// Every delivery's latency (ms; u32 holds 49 days, and there are millions).
    pub latencies: Vec<u32>,
    /// (peer, incarnation, when).
    pub crashes: Vec<(PeerId, u64, Time)>,
    /// When each honest seed removed each (peer, incarnation).
    pub removals: BTreeMap<(PeerId, u64), Vec<Time>>,
    pub false_removals: usize,
    pub false_accusations: usize,
    pub stops: usize,
    pub dead_in_pl: usize,
    pub lies: u64,
    /// The last change of any honest seed's Peer List.
    pub pl_changed: Time,
    pub steps: u64,
    /// Nodes on the cut-off side of the partition, and when it healed.
    pub were_cut: BTreeSet<usize>,
    pub healed_at: Option<Time>,
}

/// An honest message: when and where it was born, and who has it.
pub(crate) struct Born {
    pub at: Time,
    pub origin: usize,
    /// The nodes that delivered it, a bit each.
    got: Vec<u64>,
    /// The last delivery: (latency ms, hops).
    last: Option<(u64, u16)>,
}

impl Born {
    pub fn new(at: Time, origin: usize) -> Born {
        Born {
            at,
            origin,
            got: Vec::new(),
            last: None,
        }
    }

    pub fn delivered(&mut self, node: usize, latency_ms: u64, hops: u16) {
        let (word, bit) = (node / 64, node % 64);
        if self.got.len() <= word {
            self.got.resize(word + 1, 0);
        }
        self.got[word] |= 1 << bit;
        self.last = self.last.max(Some((latency_ms, hops)));
    }

    pub fn has(&self, node: usize) -> bool {
        self.got
            .get(node / 64)
            .is_some_and(|w| w & (1 << (node % 64)) != 0)
    }
}

impl Log {
    pub fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < KEEP {
            self.violations.push(what);
        }
    }

    /// A message crossed the link pair `pair`: the second time is a violation.
    pub fn crossed(&mut self, pair: u64, id: &MsgId, hops: u16) {
        let mut prefix = [0; 8];
        prefix.copy_from_slice(&id.0[..8]);
        if !self.crossed.insert((pair, u64::from_le_bytes(prefix))) {
            self.violation(format!(
                "message {} crossed link {pair} a second time (hop {hops})",
                hex(&id.0)
            ));
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().take(4).map(|x| format!("{x:02x}")).collect()
}

/// The `p` quantile of sorted `xs` (0 when empty).
fn pick(xs: &[u64], p: f64) -> u64 {
    xs.get(((xs.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0)
}

impl Sim {
    /// An honest seed removed `peer` at `incarnation`: that must be a dead incarnation, or
    /// one a partition cut off from a quorum of seeds lately.
    pub(crate) fn check_removal(&mut self, seed: usize, peer: PeerId, incarnation: u64) {
        let Some(&n) = self.by_id.get(&peer) else {
            return;
        };
        let node = &self.nodes[n];
        let live = node.up && node.incarnation == incarnation;
        let cut = self.log.were_cut.contains(&n)
            && (self.partitioned || self.log.healed_at.is_some_and(|h| self.now <= h + GRACE));
        if live && !cut {
            self.log.false_removals += 1;
            let what = format!(
                "seed {} removed {} ({}), alive and reachable",
                self.nodes[seed].addr, node.addr, node.id
            );
            self.log.violation(what);
        }
    }

    fn honest_seeds(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.honest_seed(i))
            .collect()
    }

    /// Live peers holding a certificate.
    fn live_members(&self) -> BTreeMap<PeerId, usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && self.nodes[i].role == Role::Peer)
            .filter(|&i| (self.nodes[i].machine.peer()).is_some_and(|p| p.certificate().is_some()))
            .map(|i| (self.nodes[i].id, i))
            .collect()
    }

    /// The invariants of a healed network, checked at the end of a run that left them time.
    pub(crate) fn check_healed(&mut self) {
        let (after, removal_due) = match self.faults_over {
            Some(t) => (t + SETTLE, t + REMOVAL_BOUND),
            None if self.scenario.faults.any() => return,
            None => (crate::T0, crate::T0),
        };
        if self.now < after {
            return;
        }
        // Every honest seed holds the same Peer List, and it is exactly the live peers.
        let seeds = self.honest_seeds();
        let pls: Vec<BTreeMap<PeerId, (std::net::SocketAddr, u64)>> = (seeds.iter())
            .filter_map(|&s| self.nodes[s].machine.seed())
            .map(|s| {
                (s.peer_list().iter())
                    .map(|(id, m)| (*id, (m.addr, m.incarnation)))
                    .collect()
            })
            .collect();
        for (k, pl) in pls.iter().enumerate().skip(1) {
            if *pl != pls[0] {
                let (a, b) = (self.nodes[seeds[0]].addr, self.nodes[seeds[k]].addr);
                let what = format!("seeds {a} and {b} hold different Peer Lists after healing");
                self.log.violation(what);
            }
        }
        let live = self.live_members();
        if let Some(pl) = pls.first() {
            let held: BTreeSet<&PeerId> = pl.keys().collect();
            let want: BTreeSet<&PeerId> = live.keys().collect();
            self.log.dead_in_pl = held.difference(&want).count();
            for id in want.difference(&held) {
                self.log
                    .violation(format!("live peer {id} is missing from the Peer List"));
            }
        }
        // Every dead peer is out of every honest seed's Peer List, once the bound has passed.
        if self.now >= removal_due {
            let dead: BTreeSet<&PeerId> = (pls.iter())
                .flat_map(|pl| pl.keys())
                .filter(|id| !live.contains_key(id))
                .collect();
            for id in dead {
                let what = format!(
                    "dead peer {id} is still in a Peer List {} s after the faults ended",
                    REMOVAL_BOUND.as_secs()
                );
                self.log.violation(what);
            }
        }
        // The overlay of live honest peers is connected, without forgers' links.
        let live: BTreeMap<PeerId, usize> = (live.into_iter())
            .filter(|&(_, i)| self.owed_gossip(i))
            .collect();
        let mut seen = BTreeSet::new();
        let mut todo: VecDeque<PeerId> = live.keys().next().copied().into_iter().collect();
        seen.extend(todo.iter().copied());
        while let Some(id) = todo.pop_front() {
            let Some(p) = self.nodes[live[&id]].machine.peer() else {
                continue;
            };
            for m in p.neighbors() {
                if live.contains_key(&m) && seen.insert(m) {
                    todo.push_back(m);
                }
            }
        }
        if seen.len() != live.len() {
            let what = format!(
                "the overlay of the {} live honest peers is not connected ({} reachable from one)",
                live.len(),
                seen.len()
            );
            self.log.violation(what);
        }
        // Every live peer has every message generated after healing and after it joined.
        let mut missing = Vec::new();
        for (k, m) in self.log.generated.iter().enumerate() {
            if m.at < after {
                continue;
            }
            for &n in live.values() {
                let joined = self.log.admitted_at.get(&n).is_some_and(|t| *t <= m.at);
                if n != m.origin && joined && !m.has(n) {
                    missing.push(format!(
                        "peer {} never got message {k} (born at {} ms)",
                        self.nodes[n].addr,
                        m.at.since(crate::T0).as_millis()
                    ));
                }
            }
        }
        for m in missing {
            self.log.violation(m);
        }
    }

    pub(crate) fn metrics(mut self) -> Metrics {
        let mut log = std::mem::take(&mut self.log);
        let (mut owed, mut made) = (0usize, 0usize);
        let mut hops_last = Vec::new();
        let mut per_message = Vec::with_capacity(log.generated.len());
        for born in &log.generated {
            let (mut o, mut m) = (0u32, 0u32);
            for (&n, at) in &log.admitted_at {
                if n != born.origin && *at <= born.at && self.nodes[n].up && self.owed_gossip(n) {
                    o += 1;
                    m += u32::from(born.has(n));
                }
            }
            (owed, made) = (owed + o as usize, made + m as usize);
            per_message.push((born.at.since(crate::T0).as_millis() as u64, o, m));
            if let Some((_, hops)) = born.last {
                hops_last.push(u64::from(hops));
            }
        }
        hops_last.sort_unstable();
        let lat = std::mem::take(&mut log.latencies);
        let mut lat: Vec<u64> = lat.into_iter().map(u64::from).collect();
        lat.sort_unstable();
        per_message.sort_unstable();
        let mut reg = log.registration_ms.clone();
        reg.sort_unstable();
        let honest = self.honest_seeds().len();
        let mut removal: Vec<u64> = (log.crashes.iter())
            .filter_map(|(id, inc, at)| {
                let times = log.removals.get(&(*id, *inc))?;
                let last = times.iter().max()?;
                (times.len() >= honest).then(|| last.since(*at).as_millis() as u64)
            })
            .collect();
        removal.sort_unstable();
        let messages = log.generated.len();
        let deliveries = log.deliveries;
        Metrics {
            admitted: log.ever_admitted.len(),
            messages,
            deliveries,
            coverage: if owed == 0 {
                1.0
            } else {
                made as f64 / owed as f64
            },
            latency_ms: (
                pick(&lat, 0.5),
                pick(&lat, 0.99),
                lat.last().copied().unwrap_or(0),
            ),
            hops_last: (
                pick(&hops_last, 0.5),
                hops_last.last().copied().unwrap_or(0),
            ),
            frames_per_message: if messages == 0 {
                0.0
            } else {
                log.carried as f64 / messages as f64
            },
            rmr: if deliveries == 0 {
                0.0
            } else {
                log.carried as f64 / deliveries as f64 - 1.0
            },
            frames: log.frames,
            wakeups: log.wakeups,
            registration_ms: (pick(&reg, 0.5), pick(&reg, 0.99)),
            crashed: log.crashes.len() - log.stops,
            stopped: log.stops,
            detection_to_removal_ms: (pick(&removal, 0.5), removal.last().copied().unwrap_or(0)),
            removals: log.removals.len(),
            dead_in_pl: log.dead_in_pl,
            false_removals: log.false_removals,
            false_reports: log.lies,
            false_accusations: log.false_accusations,
            seeds_agree_ms: self
                .faults_over
                .map_or(0, |f| log.pl_changed.since(f).as_millis() as u64),
            steps: log.steps,
            violations: log.violations.clone(),
            violation_count: log.violation_count,
            trace_digest: self.trace.finalize().to_hex().to_string(),
            latencies: lat,
            per_message,
            degrees: (self.live_members().values())
                .filter_map(|&n| self.nodes[n].machine.peer())
                .map(|p| p.neighbors().len())
                .collect(),
        }
    }
}
