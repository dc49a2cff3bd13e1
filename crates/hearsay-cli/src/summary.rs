//! The summary of a run (issue 5): registration, overlay, gossip and failures, computed from
//! the nodes' events (SPEC §7) and a seed's status. Shared by `hearsay up` and
//! `hearsay analyze`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use hearsay_proto::wire::Status;
use serde::{Deserialize, Serialize};

/// A seed's status as JSON: the shape of SPEC §1, plus the seed's id, the seed count and
/// recent decisions (`hearsay status --seed ADDR --json`, a run's `topology.json`). The fields
/// are in alphabetical order, the order its keys have always been written in. Read back
/// (`hearsay analyze FILE`), a missing key is empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusJson {
    /// When the seed last agreed with each other seed, in ms, by address (`null`: never).
    pub agreed_ms_ago: Agreed,
    /// Certificates it holds.
    pub certificates: u32,
    /// Its id (hex).
    pub id: String,
    /// Its Peer List.
    pub peers: Vec<PeerJson>,
    /// Seeds that must agree on a change.
    pub quorum: u32,
    /// Its recent decisions, as sentences.
    pub recent: Vec<String>,
    /// Its address.
    pub seed: String,
    /// Seeds in the config.
    pub seeds: u32,
}

/// One peer of a [`StatusJson`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerJson {
    /// Its address.
    pub addr: String,
    /// Its id (hex).
    pub id: String,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its overlay neighbours' ids (hex), as it last reported them.
    pub neighbors: Vec<String>,
    /// The seeds that signed its certificate (hex).
    pub signers: Vec<String>,
}

/// When a seed last agreed with each other seed, in ms, by address (`null`: never).
pub type Agreed = BTreeMap<String, Option<u64>>;

/// A seed's status as [`StatusJson`].
pub fn status_json(s: &Status) -> StatusJson {
    let hex = |ids: &[hearsay_proto::PeerId]| ids.iter().map(|n| n.to_hex()).collect();
    StatusJson {
        agreed_ms_ago: agreed_json(s),
        certificates: s.certificates,
        id: s.id.to_hex(),
        peers: (s.peers.iter())
            .map(|p| PeerJson {
                addr: p.addr.to_string(),
                id: p.id.to_hex(),
                incarnation: p.incarnation,
                neighbors: hex(&p.neighbors),
                signers: hex(&p.signers),
            })
            .collect(),
        quorum: s.quorum,
        recent: s.recent.clone(),
        seed: s.seed.to_string(),
        seeds: s.seeds,
    }
}

/// When the seed last agreed with each other seed, in ms, by address (`null`: never).
pub fn agreed_json(s: &Status) -> Agreed {
    (s.agreed.iter())
        .map(|(a, ms)| (a.to_string(), *ms))
        .collect()
}

/// The fields of an event line (the `--events` format, PROTOCOL §10) that the summary and
/// `hearsay up`'s progress read; the others are skipped. A missing field is empty (0, "").
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventLine<'a> {
    /// Unix ms (virtual ms in a simulator's trace).
    pub ts: u64,
    /// The node that logged it.
    #[serde(borrow)]
    pub node: Cow<'a, str>,
    /// `seed` or `peer`.
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    /// The event's name (`registered`, `gossip_received`, …).
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    /// `started`: the node's id; `gossip_*`: the message's.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// The peer a seed's decision or a suspicion is about.
    #[serde(borrow)]
    pub peer: Cow<'a, str>,
    /// `registered`: start to certificate; `gossip_received`: generation to delivery.
    pub latency_ms: u64,
    /// `false_accusation`: the peer that sent the report.
    #[serde(borrow)]
    pub reporter: Cow<'a, str>,
    /// `protocol_error`: what was wrong.
    #[serde(borrow)]
    pub reason: Cow<'a, str>,
    /// `suspicion_started`: whether the suspect's host answered ICMP echo.
    pub icmp: Option<bool>,
    /// `gossip_stats`: announcements this peer has sent so far.
    pub announced: u64,
    /// `gossip_stats`: requests this peer has sent so far.
    pub requested: u64,
}

impl<'a> EventLine<'a> {
    /// Parses one line; `None` if it is not an event line.
    pub fn parse(line: &'a str) -> Option<EventLine<'a>> {
        serde_json::from_str(line).ok()
    }

    /// The event's name, found without parsing the line: for counting a live run's lines
    /// (hundreds of thousands a second) where only a few need their fields. Exact for the
    /// lines hearsay writes: `"event":"` can only be a key there (a quote inside a string is
    /// escaped), and no key before it is `event`. `None` for a line that is not an object.
    pub fn name(line: &str) -> Option<&str> {
        const KEY: &str = "\"event\":\"";
        if !(line.starts_with('{') && line.ends_with('}')) {
            return None;
        }
        let rest = &line[line.find(KEY)? + KEY.len()..];
        Some(&rest[..rest.find('"')?])
    }
}

/// Percentiles of a sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// How many.
    pub n: usize,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Spread {
    /// The spread of `xs` (all zero when empty).
    pub fn of(mut xs: Vec<u64>) -> Spread {
        if xs.is_empty() {
            return Spread::default();
        }
        xs.sort_unstable();
        let at = |p: f64| xs[((p * (xs.len() - 1) as f64).round() as usize).min(xs.len() - 1)];
        Spread {
            n: xs.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: xs[xs.len() - 1],
        }
    }
}

/// The overlay as a seed's topology shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Overlay {
    /// Peers in the Peer List.
    pub peers: usize,
    /// Undirected links.
    pub links: usize,
    /// Smallest degree.
    pub degree_min: usize,
    /// Mean degree.
    pub degree_mean: f64,
    /// Largest degree.
    pub degree_max: usize,
    /// Whether every peer can reach every other.
    pub connected: bool,
    /// Every peer's degree, in id order.
    pub degrees: Vec<u64>,
}

/// The overlay's links from a seed's status: each member's neighbours (ids), a link counting
/// if either end reports it, among members of the Peer List only (a report can still name a
/// removed neighbour).
pub fn adjacency(status: &StatusJson) -> BTreeMap<String, BTreeSet<String>> {
    let mut adj: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &status.peers {
        adj.entry(p.id.clone()).or_default();
        for n in &p.neighbors {
            adj.entry(p.id.clone()).or_default().insert(n.clone());
            adj.entry(n.clone()).or_default().insert(p.id.clone());
        }
    }
    let members: BTreeSet<String> = status.peers.iter().map(|p| p.id.clone()).collect();
    adj.retain(|id, _| members.contains(id));
    for ns in adj.values_mut() {
        ns.retain(|n| members.contains(n));
    }
    adj
}

/// Whether the members are connected by links both ends report, as the seeds count degrees.
/// Reports go out at most once per interval, so one end's report can still name a link it
/// has dropped; a link both ends report is one they hold (or held until just now).
pub fn connected_both_ways(status: &StatusJson) -> bool {
    let reported: BTreeMap<&String, BTreeSet<&String>> = (status.peers.iter())
        .map(|p| (&p.id, p.neighbors.iter().collect()))
        .collect();
    let adj = (reported.iter())
        .map(|(id, ns)| {
            let back = |n: &&&String| reported.get(**n).is_some_and(|m| m.contains(*id));
            (
                id.to_string(),
                ns.iter().filter(back).map(|n| n.to_string()).collect(),
            )
        })
        .collect();
    connected(&adj)
}

/// Whether every node of `adj` (links listed at both ends) reaches every other.
fn connected(adj: &BTreeMap<String, BTreeSet<String>>) -> bool {
    let Some(first) = adj.keys().next() else {
        return true;
    };
    let mut seen = BTreeSet::from([first]);
    let mut todo = VecDeque::from([first]);
    while let Some(n) = todo.pop_front() {
        for m in &adj[n] {
            if seen.insert(m) {
                todo.push_back(m);
            }
        }
    }
    seen.len() == adj.len()
}

/// An overlay from a seed's status (`hearsay status --json`).
pub fn overlay(status: &StatusJson) -> Overlay {
    let adj = adjacency(status);
    let degrees: Vec<u64> = adj.values().map(|ns| ns.len() as u64).collect();
    let links = degrees.iter().sum::<u64>() as usize / 2;
    let connected = connected(&adj);
    Overlay {
        peers: adj.len(),
        links,
        degree_min: degrees.iter().copied().min().unwrap_or(0) as usize,
        degree_mean: if degrees.is_empty() {
            0.0
        } else {
            2.0 * links as f64 / degrees.len() as f64
        },
        degree_max: degrees.iter().copied().max().unwrap_or(0) as usize,
        connected,
        degrees,
    }
}

/// Gossip over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GossipSummary {
    /// Messages generated.
    pub messages: usize,
    /// Of the messages generated while every peer was alive, the share with full coverage.
    pub full_coverage_share: f64,
    /// The lowest coverage of any message: the share of the peers that were in the overlay
    /// when it was generated, and alive to the end, that received it.
    pub coverage_min: f64,
    /// Mean coverage.
    pub coverage_mean: f64,
    /// Generation to first-time delivery, every delivery, in ms.
    pub latency_ms: Spread,
    /// Frames carrying a message, per message (mean).
    pub frames_per_message: f64,
    /// Links in the overlay at the end, to compare.
    pub links: usize,
    /// Duplicate copies dropped.
    pub duplicates: usize,
    /// Ids announced (`Have`) per first-time delivery: what keeps each message to one
    /// crossing of each link (PROTOCOL §11.3). From each peer's last `gossip_stats`.
    pub announced_per_delivery: f64,
    /// Ids requested (`Want`) per first-time delivery, likewise.
    pub requested_per_delivery: f64,
    /// Every first-time delivery's latency in ms, for the CDF plot.
    #[serde(skip)]
    pub latencies: Vec<u64>,
}

/// Failures over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FailureSummary {
    /// Peers killed on purpose.
    pub killed: usize,
    /// Of those, removed by every seed.
    pub removed: usize,
    /// Kill to removal at the last seed, in ms.
    pub detection_to_removal_ms: Spread,
    /// Live peers some seed removed.
    pub false_removals: usize,
    /// Each peer lost on purpose, in the order of their ids.
    pub lost: Vec<Lost>,
    /// Every peer some seed removed (ids).
    #[serde(skip)]
    pub removed_ids: BTreeSet<String>,
}

/// A partition between hosts (`hearsay up --hosts --partition F`) and what became of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PartitionSummary {
    /// Peers cut off from the seeds and the other peers.
    pub peers_cut: usize,
    /// How long, in ms.
    pub window_ms: u64,
    /// Of those, removed by some seed (the seeds' quorum could not reach them).
    pub removed: usize,
    /// Of those, in every seed's Peer List at the end.
    pub back: usize,
    /// From healing until the network settled, in ms: every seed's Peer List the same, with
    /// every live peer, and the overlay they report connected, for the last time while the
    /// gossip ran (`None`: not within the wait).
    pub settled_ms: Option<u64>,
    /// Messages generated once it settled.
    pub messages_after: usize,
    /// The lowest share of the live peers that any of them reached.
    pub coverage_after_min: f64,
}

/// Messages generated at or after `since` (Unix ms) in the events of `dir`, and the lowest
/// share of the peers listening at `live` (their addresses, as events name nodes) that any
/// of them reached, its origin aside.
pub fn coverage_since(dir: &Path, since: u64, live: &BTreeSet<String>) -> (usize, f64) {
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    each_event(dir, |e| match &*e.event {
        "gossip_generated" if e.ts >= since => {
            origin.insert(e.id.to_string(), e.node.to_string());
        }
        "gossip_received" => {
            (got.entry(e.id.to_string()).or_default()).insert(e.node.to_string());
        }
        _ => {}
    });
    let share = |(id, from): (&String, &String)| {
        let owed: Vec<&String> = live.iter().filter(|n| *n != from).collect();
        let reached = got
            .get(id)
            .map_or(0, |g| owed.iter().filter(|n| g.contains(**n)).count());
        if owed.is_empty() {
            1.0
        } else {
            reached as f64 / owed.len() as f64
        }
    };
    let min = origin.iter().map(share).fold(1.0, f64::min);
    (origin.len(), min)
}

/// How a peer was lost on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Its process was killed (`--kill`); its host stays on the network.
    ProcessKilled,
    /// Its host was taken off the network (`--kill-hosts`): no TCP, no ICMP.
    HostCut,
}

/// What liveness saw of one peer lost on purpose, and when the seeds removed it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lost {
    /// Its id (hex).
    pub id: String,
    /// Its name in the run (`peer3`), where known.
    pub name: String,
    /// How it was lost, where known.
    pub how: Option<Loss>,
    /// Whether its host answered ICMP echo, as the first suspicion of it that could tell
    /// said (`None`: no suspicion said).
    pub icmp: Option<bool>,
    /// Loss to removal by the last seed, in ms (`None`: not removed by every seed).
    pub removal_ms: Option<u64>,
}

/// A whole run's summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Peers started.
    pub peers: usize,
    /// Seeds.
    pub seeds: usize,
    /// Start of a peer to its certificate, in ms.
    pub registration_ms: Spread,
    /// The overlay at the end.
    pub overlay: Overlay,
    /// The power-law fit of the degrees, if there were enough.
    pub power_law: Option<crate::fit::PowerLawFit>,
    /// Gossip.
    pub gossip: GossipSummary,
    /// Failures.
    pub failures: FailureSummary,
    /// The CPU the run's nodes used, when it was measured.
    pub cpu: Option<Cpu>,
    /// The attacks run beside the network and what became of them (`hearsay up --liars …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attacks: Option<crate::up::attack::Report>,
    /// What the events say about attacks, whether or not any was run.
    #[serde(skip)]
    pub evidence: Evidence,
    /// The partition between hosts, if one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionSummary>,
}

/// What a run's events say about attacks (issue 15), whichever were run: the honest nodes'
/// side of each, for [`crate::up::attack`] to weigh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// `false_accusation` lines of the seeds, by reporter (hex id).
    pub accusations: BTreeMap<String, usize>,
    /// Certificates the seeds rejected (`protocol_error`, "certificate rejected").
    pub rejected_certificates: usize,
    /// Gossip copies the peers dropped because the origin's signature did not hold.
    pub forged_dropped: usize,
    /// First-time deliveries of messages that no peer of these events generated.
    pub unknown_deliveries: usize,
    /// Peers a seed admitted or removed by certificate (hex ids).
    pub committed: BTreeSet<String>,
    /// Peers some seed removed (hex ids).
    pub removed: BTreeSet<String>,
    /// Peers that logged `started` (hex ids).
    pub started: BTreeSet<String>,
}

/// The CPU a run used: every node, child processes included, up to the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cpu {
    /// User plus system time, in seconds.
    pub seconds: f64,
    /// That, per first-time delivery of a gossip message, in µs.
    pub per_delivery_us: f64,
    /// Cores busy on average while the messages spread (from the last peer's start to the
    /// last delivery): near `cores`, the machine was saturated, so CPU per delivery is its
    /// speed over the run's length and latency is queueing. 0: not measured.
    pub spread_cores_busy: f64,
    /// The CPU used while the messages spread, per first-time delivery, in µs: the whole
    /// run's figure less the network's start (registration, handshakes, the wait before the
    /// first message). 0: not measured.
    pub spread_per_delivery_us: f64,
    /// The cores this process may run on (0: not measured).
    pub cores: usize,
}

impl Cpu {
    /// `seconds` of CPU spread over `deliveries`.
    pub fn new(seconds: f64, deliveries: usize) -> Cpu {
        Cpu {
            seconds,
            per_delivery_us: per(seconds * 1e6, deliveries),
            ..Cpu::default()
        }
    }

    /// With `seconds` of CPU used over `wall` while the messages spread, on `cores`.
    pub fn spreading(self, seconds: f64, wall: std::time::Duration, cores: usize) -> Cpu {
        let share = match self.seconds > 0.0 {
            true => seconds / self.seconds,
            false => 0.0,
        };
        Cpu {
            spread_cores_busy: seconds / wall.as_secs_f64().max(1e-3),
            spread_per_delivery_us: self.per_delivery_us * share,
            cores,
            ..self
        }
    }

    /// Whether the machine was the limit while the messages spread: nine tenths of its cores
    /// or more busy. Then latency is queueing, and a live peer can be too starved of CPU to
    /// answer its neighbours', witnesses' and seeds' probes in time.
    pub fn saturated(&self) -> bool {
        self.cores > 0 && self.spread_cores_busy >= 0.9 * self.cores as f64
    }
}

/// The adversaries' events file in a run directory: kept apart, so that the summary of the
/// honest network counts only honest nodes.
pub const ADVERSARIES: &str = "adversaries.jsonl";

/// The `*.jsonl` files of `dir` but the adversaries', in name order.
fn event_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .filter(|p| p.file_name().is_none_or(|n| n != ADVERSARIES))
        .collect();
    files.sort();
    files
}

/// Reads the events files of a run directory ([`event_files`]) as they grow: each call hands
/// over the whole lines added since the last one (a line still being written waits for the
/// next call).
#[derive(Debug)]
pub struct Tail {
    offsets: BTreeMap<std::path::PathBuf, u64>,
    /// One buffer for every read, at most a chunk (or the longest line) long: a busy run adds
    /// megabytes between two calls, and a fresh buffer for each faulted in fresh memory every
    /// time and was as large as the file had grown (issue 13).
    buf: Vec<u8>,
    chunk: usize,
}

impl Default for Tail {
    fn default() -> Tail {
        Tail::with_chunk(1 << 20)
    }
}

impl Tail {
    /// Reads at most `chunk` bytes at a time (more only for a longer line).
    fn with_chunk(chunk: usize) -> Tail {
        Tail {
            offsets: BTreeMap::new(),
            buf: Vec::new(),
            chunk,
        }
    }

    /// Hands `f` every whole line added to `dir`'s events files since the last call.
    pub fn read(&mut self, dir: &Path, f: impl FnMut(&str)) {
        self.read_files(&event_files(dir), f);
    }

    /// Hands `f` every whole line added to `files` since the last call; a directory stands
    /// for its events files.
    pub fn read_files(&mut self, files: &[std::path::PathBuf], mut f: impl FnMut(&str)) {
        let files = files.iter().flat_map(|p| match p.is_dir() {
            true => event_files(p),
            false => vec![p.clone()],
        });
        for path in files {
            let at = self.offsets.get(&path).copied().unwrap_or(0);
            let Ok(file) = std::fs::File::open(&path) else {
                continue;
            };
            let at = self.read_from(file, at, &mut f);
            self.offsets.insert(path, at);
        }
    }

    /// Hands `f` the whole lines of `file` from `at` on, a chunk at a time; returns where the
    /// first line not yet whole starts.
    fn read_from(&mut self, mut file: std::fs::File, mut at: u64, f: &mut impl FnMut(&str)) -> u64 {
        use std::io::{Read, Seek, SeekFrom};
        let mut want = self.chunk;
        loop {
            self.buf.clear();
            let read = file
                .seek(SeekFrom::Start(at))
                .and_then(|_| (&mut file).take(want as u64).read_to_end(&mut self.buf));
            let Ok(n) = read else {
                return at;
            };
            let whole = self
                .buf
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            // Valid text (always, from hearsay) is checked at full speed; the rest is mended.
            match std::str::from_utf8(&self.buf[..whole]) {
                Ok(text) => text.lines().for_each(&mut *f),
                Err(_) => String::from_utf8_lossy(&self.buf[..whole])
                    .lines()
                    .for_each(&mut *f),
            }
            at += whole as u64;
            if n < want {
                return at;
            }
            // A full chunk: more may follow; a line longer than the chunk needs a longer one.
            want = if whole == 0 { want * 2 } else { self.chunk };
        }
    }
}

/// Numbers for strings, so that a million events need little memory.
#[derive(Default)]
struct Names {
    index: BTreeMap<String, u32>,
}

impl Names {
    fn of(&mut self, name: &str) -> u32 {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = self.index.len() as u32;
        self.index.insert(name.to_string(), i);
        i
    }
}

/// What a run's events add up to, gathered in one pass in any order.
#[derive(Default)]
struct Tally {
    nodes: Names,
    msgs: Names,
    /// Peer node → peer id.
    peer_id: BTreeMap<u32, String>,
    admitted: BTreeMap<u32, u64>,
    registration: Vec<u64>,
    /// (message, receiving node).
    receipts: Vec<(u32, u32)>,
    frames: BTreeMap<u32, usize>,
    latencies: Vec<u64>,
    duplicates: usize,
    /// Per peer node: the (announced, requested) of its latest `gossip_stats` (the counters
    /// only grow, so the largest is the latest).
    relayed: BTreeMap<u32, (u64, u64)>,
    /// (message, origin node, when).
    generated: Vec<(u32, u32, u64)>,
    removals: BTreeMap<String, Vec<u64>>,
    /// Per suspect: the first suspicion of it that said what its host's ICMP did (when, and
    /// whether it answered).
    icmp: BTreeMap<String, (u64, bool)>,
    evidence: Evidence,
}

impl Tally {
    fn add(&mut self, e: &EventLine) {
        let node = self.nodes.of(&e.node);
        let ts = e.ts;
        match &*e.event {
            "started" if e.role == "peer" => {
                self.peer_id.insert(node, e.id.to_string());
            }
            "registered" => {
                self.admitted.entry(node).or_insert(ts);
                self.registration.push(e.latency_ms);
            }
            "gossip_received" => {
                let m = self.msgs.of(&e.id);
                self.receipts.push((m, node));
                *self.frames.entry(m).or_default() += 1;
                self.latencies.push(e.latency_ms);
            }
            "gossip_duplicate" => {
                let m = self.msgs.of(&e.id);
                *self.frames.entry(m).or_default() += 1;
                self.duplicates += 1;
            }
            "gossip_generated" => {
                let m = self.msgs.of(&e.id);
                self.generated.push((m, node, ts));
            }
            "gossip_stats" => {
                let last = self.relayed.entry(node).or_default();
                *last = (last.0.max(e.announced), last.1.max(e.requested));
            }
            "suspicion_started" => {
                if let Some(answered) = e.icmp {
                    let first = self
                        .icmp
                        .entry(e.peer.to_string())
                        .or_insert((ts, answered));
                    if ts < first.0 {
                        *first = (ts, answered);
                    }
                }
            }
            "removal_committed" => {
                (self.removals.entry(e.peer.to_string()).or_default()).push(ts);
                self.evidence.committed.insert(e.peer.to_string());
            }
            "registration_committed" => {
                self.evidence.committed.insert(e.peer.to_string());
            }
            "false_accusation" => {
                *(self.evidence.accusations)
                    .entry(e.reporter.to_string())
                    .or_default() += 1;
            }
            "protocol_error" if e.role == "seed" => {
                let rejected = e.reason.starts_with("certificate rejected");
                self.evidence.rejected_certificates += usize::from(rejected);
            }
            "protocol_error" => {
                let forged = e.reason.contains("origin signature does not hold");
                self.evidence.forged_dropped += usize::from(forged);
            }
            _ => {}
        }
    }
}

/// `total` spread over `n` (CPU, frames or ids per delivery or message): 0 over none.
fn per(total: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        total / n as f64
    }
}

/// Computes the summary from events (for tests and small runs; [`summarise_dir`] streams). `kills` maps each killed peer's id to when it was
/// killed (Unix ms).
pub fn summarise(
    events: &[EventLine],
    status: &StatusJson,
    seeds: usize,
    kills: &BTreeMap<String, u64>,
) -> Summary {
    let mut t = Tally::default();
    events.iter().for_each(|e| t.add(e));
    finish(t, status, seeds, kills)
}

/// [`summarise`] over the `*.jsonl` files of `dir`, read line by line.
pub fn summarise_dir(
    dir: &Path,
    status: &StatusJson,
    seeds: usize,
    kills: &BTreeMap<String, u64>,
) -> Summary {
    let mut t = Tally::default();
    each_event(dir, |e| t.add(e));
    finish(t, status, seeds, kills)
}

/// Hands `f` every event of the `*.jsonl` files of `dir` ([`event_files`]), read line by
/// line.
fn each_event(dir: &Path, mut f: impl FnMut(&EventLine)) {
    use std::io::BufRead;
    for path in event_files(dir) {
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
            if let Some(e) = EventLine::parse(&line) {
                f(&e);
            }
        }
    }
}

fn finish(
    mut t: Tally,
    status: &StatusJson,
    seeds: usize,
    kills: &BTreeMap<String, u64>,
) -> Summary {
    let generated: BTreeSet<u32> = t.generated.iter().map(|(m, _, _)| *m).collect();
    let mut evidence = std::mem::take(&mut t.evidence);
    evidence.unknown_deliveries = (t.receipts.iter())
        .filter(|(m, _)| !generated.contains(m))
        .count();
    evidence.removed = t.removals.keys().cloned().collect();
    evidence.started = t.peer_id.values().cloned().collect();
    let overlay = overlay(status);
    let power_law = crate::fit::fit(&overlay.degrees);
    let first_kill = kills.values().min().copied().unwrap_or(u64::MAX);
    let killed: BTreeSet<u32> = t
        .peer_id
        .iter()
        .filter(|(_, id)| kills.contains_key(*id))
        .map(|(n, _)| *n)
        .collect();
    let mut receivers: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (m, n) in &t.receipts {
        receivers.entry(*m).or_default().insert(*n);
    }
    let mut coverage = Vec::new();
    let (mut before_kills, mut full) = (0usize, 0usize);
    for (m, origin, born) in &t.generated {
        let eligible: Vec<u32> = t
            .admitted
            .iter()
            .filter(|(n, at)| {
                **at <= *born && *n != origin && !killed.contains(*n) && t.peer_id.contains_key(*n)
            })
            .map(|(n, _)| *n)
            .collect();
        let got = receivers.get(m);
        let reached = eligible
            .iter()
            .filter(|n| got.is_some_and(|r| r.contains(*n)))
            .count();
        coverage.push(if eligible.is_empty() {
            1.0
        } else {
            reached as f64 / eligible.len() as f64
        });
        if *born < first_kill {
            before_kills += 1;
            full += usize::from(reached == eligible.len());
        }
    }
    let (messages, receipts) = (coverage.len(), t.receipts.len());
    let gossip = GossipSummary {
        messages,
        full_coverage_share: if before_kills == 0 {
            1.0
        } else {
            full as f64 / before_kills as f64
        },
        coverage_min: coverage.iter().copied().fold(1.0, f64::min),
        coverage_mean: if messages == 0 {
            1.0
        } else {
            coverage.iter().sum::<f64>() / messages as f64
        },
        latency_ms: Spread::of(t.latencies.clone()),
        frames_per_message: per(t.frames.values().sum::<usize>() as f64, messages),
        links: overlay.links,
        duplicates: t.duplicates,
        announced_per_delivery: per(t.relayed.values().map(|r| r.0 as f64).sum(), receipts),
        requested_per_delivery: per(t.relayed.values().map(|r| r.1 as f64).sum(), receipts),
        latencies: t.latencies,
    };
    let mut detection = Vec::new();
    let mut lost = Vec::new();
    for (id, at) in kills {
        let removal_ms = (t.removals.get(id).filter(|ts| ts.len() >= seeds))
            .map(|ts| ts.iter().copied().max().unwrap_or(*at).saturating_sub(*at));
        detection.extend(removal_ms);
        lost.push(Lost {
            id: id.clone(),
            name: String::new(),
            how: None,
            icmp: t.icmp.get(id).map(|(_, answered)| *answered),
            removal_ms,
        });
    }
    let failures = FailureSummary {
        killed: kills.len(),
        removed: detection.len(),
        detection_to_removal_ms: Spread::of(detection),
        false_removals: t
            .removals
            .keys()
            .filter(|id| !kills.contains_key(*id))
            .count(),
        lost,
        removed_ids: t.removals.keys().cloned().collect(),
    };
    Summary {
        peers: t.peer_id.len(),
        seeds,
        registration_ms: Spread::of(t.registration),
        overlay,
        power_law,
        gossip,
        failures,
        cpu: None,
        attacks: None,
        evidence,
        partition: None,
    }
}

/// The summary as a table for the terminal.
pub fn table(s: &Summary) -> String {
    let o = &s.overlay;
    let g = &s.gossip;
    let f = &s.failures;
    let fit =
        match &s.power_law {
            Some(p) => {
                format!(
            "α = {:.2} for degrees ≥ {}, KS {:.3}, vs exponential R = {:.1} (p = {:.2}): {}",
            p.alpha,
            p.x_min,
            p.ks,
            p.llr,
            p.p_value,
            if p.favours_power_law() { "power law" } else { "exponential" }
        )
            }
            None => "too few peers to fit".to_string(),
        };
    let rows = [
        ("peers / seeds", format!("{} / {}", s.peers, s.seeds)),
        (
            "registration (start → certificate)",
            spread(&s.registration_ms),
        ),
        (
            "overlay links",
            format!(
                "{} ({})",
                o.links,
                if o.connected {
                    "connected"
                } else {
                    "NOT connected"
                }
            ),
        ),
        (
            "degree min / mean / max",
            format!("{} / {:.2} / {}", o.degree_min, o.degree_mean, o.degree_max),
        ),
        ("degree distribution", fit),
        ("gossip messages", g.messages.to_string()),
        (
            "coverage",
            format!(
            "{:.0}% of the messages sent before any kill reached every peer; min {:.3}, mean {:.3}",
            100.0 * g.full_coverage_share, g.coverage_min, g.coverage_mean
        ),
        ),
        ("generation → delivery", spread(&g.latency_ms)),
        (
            "frames per message",
            format!(
                "{:.1} (overlay links {}); duplicates dropped {}",
                g.frames_per_message, g.links, g.duplicates
            ),
        ),
        (
            "ids announced / requested",
            format!(
                "{:.2} / {:.2} per delivery",
                g.announced_per_delivery, g.requested_per_delivery
            ),
        ),
        (
            "peers killed / removed",
            format!("{} / {} by every seed", f.killed, f.removed),
        ),
        ("kill → removal", spread(&f.detection_to_removal_ms)),
        (
            "lost peers, one by one",
            (f.lost.iter())
                .filter_map(|l| {
                    let how = match l.how? {
                        Loss::ProcessKilled => "process killed",
                        Loss::HostCut => "host off the network",
                    };
                    let icmp = match l.icmp {
                        Some(true) => "its host answered ICMP",
                        Some(false) => "its host did not answer ICMP",
                        None => "ICMP not seen",
                    };
                    let removed = l
                        .removal_ms
                        .map_or("not removed by every seed".into(), |ms| {
                            format!("removed after {:.1} s", ms as f64 / 1000.0)
                        });
                    Some(format!("{} ({how}): {icmp}, {removed}", l.name))
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (
            "false removals",
            match &s.cpu {
                Some(c) if f.false_removals > 0 && c.saturated() => format!(
                    "{}: the CPU was the limit ({:.2} of {} cores busy while the messages spread), and peers too starved to answer probes in time were removed; fewer peers, a lower --speed or --in-process would not saturate it",
                    f.false_removals, c.spread_cores_busy, c.cores
                ),
                _ => f.false_removals.to_string(),
            },
        ),
        (
            "partition",
            s.partition.as_ref().map_or(String::new(), |p| {
                let settled = p.settled_ms.map_or("not within the wait".into(), |ms| {
                    format!("{:.1} s after healing", ms as f64 / 1000.0)
                });
                format!(
                    "{} peers cut off for {:.1} s: {} removed, {} back; Peer Lists the same and the overlay connected {settled}; {} messages after, min coverage {:.3}",
                    p.peers_cut,
                    p.window_ms as f64 / 1000.0,
                    p.removed,
                    p.back,
                    p.messages_after,
                    p.coverage_after_min
                )
            }),
        ),
        (
            "CPU (user + system)",
            match &s.cpu {
                Some(c) if c.cores > 0 => format!(
                    "{:.1} s, {:.1} µs per delivery ({:.1} µs while the messages spread); {:.2} of {} cores busy while the messages spread",
                    c.seconds, c.per_delivery_us, c.spread_per_delivery_us, c.spread_cores_busy, c.cores
                ),
                Some(c) => format!(
                    "{:.1} s, {:.1} µs per delivery",
                    c.seconds, c.per_delivery_us
                ),
                None => "not measured".into(),
            },
        ),
    ];
    let attacks = s.attacks.as_ref().map(|a| a.rows()).unwrap_or_default();
    let label = Col::left(2, 0);
    // Peers lost one by one only where the run said how (`--hosts`).
    let optional = ["lost peers, one by one", "partition"];
    let shown = |(k, v): &&(&str, String)| !optional.contains(k) || !v.is_empty();
    let rows = rows.iter().filter(shown).chain(&attacks);
    plain_table(&[label, label], rows.map(|(k, v)| [*k, v.as_str()]))
}

/// A column of a [`plain_table`].
#[derive(Clone, Copy, Debug)]
pub struct Col {
    /// Spaces before it: from the column before, or from the margin for the first.
    pub gap: u16,
    /// Its least width; longer content widens it.
    pub min: u16,
    /// Whether it is aligned right (numbers) rather than left.
    pub right: bool,
}

impl Col {
    /// A column aligned left.
    pub const fn left(gap: u16, min: u16) -> Col {
        Col {
            gap,
            min,
            right: false,
        }
    }

    /// A column aligned right.
    pub const fn right(gap: u16, min: u16) -> Col {
        Col {
            gap,
            min,
            right: true,
        }
    }
}

/// A table as the CLI prints them: no borders, no header line, each column as `cols` says,
/// one line a row, no spaces at the ends of lines, and nothing wrapped to the terminal.
pub fn plain_table<R: Into<comfy_table::Row>>(
    cols: &[Col],
    rows: impl IntoIterator<Item = R>,
) -> String {
    use comfy_table::{CellAlignment, ColumnConstraint, Width};
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING).add_rows(rows);
    for (c, col) in t.column_iter_mut().zip(cols) {
        c.set_padding((col.gap, 0));
        // The bound counts the padding.
        c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
            col.gap + col.min,
        )));
        if col.right {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = t.trim_fmt();
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn spread(s: &Spread) -> String {
    if s.n == 0 {
        return "none".into();
    }
    format!(
        "p50 {} ms, p99 {} ms, max {} ms (n = {})",
        s.p50, s.p99, s.max, s.n
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Issue 13: the progress line and the dashboard follow files that grow by megabytes a
    /// second; each whole line is handed over once, in order, read a chunk at a time into one
    /// buffer (a line cut by a chunk's end, or longer than a chunk, included), and a line still
    /// being written waits for the next call.
    #[test]
    fn a_tail_hands_over_each_whole_line_once_reading_a_chunk_at_a_time() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut lines: Vec<String> = (0..1000).map(|i| format!("line {i:04}")).collect();
        lines.insert(500, "x".repeat(100));
        for l in &lines {
            writeln!(file, "{l}").unwrap();
        }
        write!(file, "unfinis").unwrap();
        let mut tail = Tail::with_chunk(64);
        let mut got = Vec::new();
        tail.read_files(std::slice::from_ref(&path), |l| got.push(l.to_string()));
        assert_eq!(got, lines);
        // 11 KB read through one buffer of about a chunk (or the longest line), not the file.
        assert!(tail.buf.capacity() <= 4 * 100, "{}", tail.buf.capacity());

        writeln!(file, "hed\nlast").unwrap();
        got.clear();
        tail.read_files(std::slice::from_ref(&path), |l| got.push(l.to_string()));
        assert_eq!(got, ["unfinished", "last"]);
        got.clear();
        tail.read_files(std::slice::from_ref(&path), |l| got.push(l.to_string()));
        assert!(got.is_empty());
    }

    #[test]
    fn percentiles_are_taken_from_the_sorted_sample() {
        let s = Spread::of((1..=100).rev().collect());
        assert_eq!((s.n, s.p50, s.p99, s.max), (100, 51, 99, 100));
        assert_eq!(Spread::of(vec![]), Spread::default());
    }

    /// Issue 13: how busy the machine was while the messages spread, beside the CPU per
    /// delivery, so that a saturated run reads as one.
    #[test]
    fn the_cpu_row_says_how_many_cores_were_busy_while_the_messages_spread() {
        let cpu = Cpu::new(123.0, 2_495_000).spreading(98.0, std::time::Duration::from_secs(50), 2);
        assert_eq!(cpu.spread_cores_busy, 1.96);
        // 98 s over the same deliveries: what the network's start cost is left out.
        assert!((cpu.spread_per_delivery_us - 98e6 / 2_495_000.0).abs() < 1e-9);
        let s = Summary {
            cpu: Some(cpu),
            ..Summary::default()
        };
        let row = "\n  CPU (user + system)                 123.0 s, 49.3 µs per delivery (39.3 µs while the messages spread); 1.96 of 2 cores busy while the messages spread\n";
        assert!(table(&s).contains(row), "{}", table(&s));
    }

    /// Issue 13: false removals on a saturated machine say what removed the peers (the
    /// benchmark 5 run of 1,000 peer processes on 16 cores removed 18 live peers that way).
    #[test]
    fn false_removals_on_a_saturated_machine_say_the_cpu_was_the_limit() {
        let wall = std::time::Duration::from_secs(10);
        let busy = |seconds: f64| Some(Cpu::new(1.0, 1).spreading(seconds, wall, 16));
        let with = |false_removals, cpu| Summary {
            failures: FailureSummary {
                false_removals,
                ..FailureSummary::default()
            },
            cpu,
            ..Summary::default()
        };
        let row = |s: &Summary| {
            let text = table(s);
            let line = text.lines().find(|l| l.contains("false removals")).unwrap();
            line.trim_start_matches("  false removals")
                .trim()
                .to_string()
        };
        assert_eq!(
            row(&with(18, busy(152.1))),
            "18: the CPU was the limit (15.21 of 16 cores busy while the messages spread), \
             and peers too starved to answer probes in time were removed; fewer peers, a lower \
             --speed or --in-process would not saturate it"
        );
        // Not saturated (13.28 of 16: the 1,000 processes at the task's timings), none
        // removed, or not measured: the count alone.
        assert_eq!(row(&with(2, busy(132.8))), "2");
        assert_eq!(row(&with(0, busy(152.1))), "0");
        assert_eq!(row(&with(3, None)), "3");
        assert!(!Cpu::default().saturated());
    }

    #[test]
    fn the_table_aligns_the_values_two_spaces_after_the_longest_label() {
        let s = Summary {
            peers: 10,
            seeds: 3,
            cpu: Some(Cpu::new(1.5, 3)),
            ..Summary::default()
        };
        let text = table(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 14, "{text}");
        assert!(text.ends_with("µs per delivery\n"), "{text}");
        // The longest label, with an arrow that is one column wide.
        let width = "registration (start → certificate)".chars().count();
        for line in &lines {
            let label = line[2..].split("  ").next().unwrap_or_default();
            let value = line[2..].trim_start_matches(label).trim_start();
            assert_eq!(*line, format!("  {label:<width$}  {value}"), "{text}");
        }
        assert_eq!(lines[0], "  peers / seeds                       10 / 3");
        assert_eq!(lines[1], "  registration (start → certificate)  none");
        assert_eq!(
            lines[13],
            "  CPU (user + system)                 1.5 s, 500000.0 µs per delivery"
        );
    }

    #[test]
    fn the_overlay_counts_each_link_once_and_sees_a_split() {
        let st: StatusJson = serde_json::from_value(json!({"peers": [
            {"id": "a", "neighbors": ["b"]}, {"id": "b", "neighbors": ["a", "c"]},
            {"id": "c", "neighbors": []}, {"id": "d", "neighbors": ["gone"]}
        ]}))
        .unwrap();
        let o = overlay(&st);
        assert_eq!((o.peers, o.links, o.degree_min, o.degree_max), (4, 2, 0, 2));
        assert!(!o.connected, "d is cut off");
        assert_eq!(o.degrees, vec![1, 2, 1, 0]);
    }

    /// A link one end reports alone may be gone: it connects the overlay, but not both ways.
    #[test]
    fn connected_both_ways_counts_only_links_both_ends_report() {
        let st = |a_reports: &[&str]| -> StatusJson {
            serde_json::from_value(json!({"peers": [
                {"id": "a", "neighbors": a_reports},
                {"id": "b", "neighbors": ["c"]}, {"id": "c", "neighbors": ["a", "b"]}
            ]}))
            .unwrap()
        };
        assert!(overlay(&st(&[])).connected, "c reports c–a");
        assert!(!connected_both_ways(&st(&[])), "a does not");
        assert!(connected_both_ways(&st(&["c"])));
        assert!(!connected_both_ways(&st(&["b"])), "b does not report a–b");
    }

    /// Issue 13: what at most once per link costs, from the peers' `gossip_stats` lines.
    #[test]
    fn announcements_and_requests_per_delivery_come_from_each_peers_last_counters() {
        // Counters only grow: a peer's largest is its latest, whatever order its lines come
        // in, and its earlier ones add nothing. Lines without counters count as none.
        let lines = [
            r#"{"node":"A","role":"peer","event":"gossip_generated","id":"m1"}"#,
            r#"{"node":"B","role":"peer","event":"gossip_stats","announced":5,"requested":2}"#,
            r#"{"node":"B","role":"peer","event":"gossip_received","id":"m1"}"#,
            r#"{"node":"B","role":"peer","event":"gossip_stats","announced":3,"requested":1}"#,
            r#"{"node":"C","role":"peer","event":"gossip_received","id":"m1"}"#,
            r#"{"node":"C","role":"peer","event":"gossip_stats","announced":1,"requested":1}"#,
            r#"{"node":"D","role":"peer","event":"gossip_received","id":"m1"}"#,
            r#"{"node":"S","role":"seed","event":"registration_committed","peer":"b"}"#,
        ];
        let events: Vec<EventLine> = lines.iter().filter_map(|l| EventLine::parse(l)).collect();
        let s = summarise(&events, &StatusJson::default(), 1, &BTreeMap::new());
        // (5 + 1) ids announced and (2 + 1) requested for 3 deliveries.
        assert_eq!(s.gossip.announced_per_delivery, 2.0);
        assert_eq!(s.gossip.requested_per_delivery, 1.0);
        let table = table(&s);
        let row = "\n  ids announced / requested           2.00 / 1.00 per delivery\n";
        assert!(table.contains(row), "{table}");
        // No deliveries: no figure, not a division by zero.
        let none = summarise(&events[..2], &StatusJson::default(), 1, &BTreeMap::new());
        assert_eq!(none.gossip.announced_per_delivery, 0.0);
    }

    /// Issue 15: what `hearsay up`'s attack rows weigh, gathered from the honest events.
    #[test]
    fn the_evidence_of_attacks_is_counted_from_the_honest_nodes_events() {
        let lines = [
            r#"{"node":"A","role":"peer","event":"started","id":"a"}"#,
            r#"{"node":"A","role":"peer","event":"gossip_generated","id":"m1"}"#,
            r#"{"node":"B","role":"peer","event":"gossip_received","id":"m1"}"#,
            r#"{"node":"B","role":"peer","event":"gossip_received","id":"forged"}"#,
            r#"{"node":"B","role":"peer","event":"protocol_error","reason":"a gossip message whose origin signature does not hold"}"#,
            r#"{"node":"B","role":"peer","event":"protocol_error","reason":"certificate rejected: x"}"#,
            r#"{"node":"S","role":"seed","event":"protocol_error","reason":"certificate rejected: 1 of 2 signatures"}"#,
            r#"{"node":"S","role":"seed","event":"protocol_error","reason":"a gossip message whose origin signature does not hold"}"#,
            r#"{"node":"S","role":"seed","event":"false_accusation","reporter":"liar","peer":"a"}"#,
            r#"{"node":"T","role":"seed","event":"false_accusation","reporter":"liar","peer":"a"}"#,
            r#"{"node":"S","role":"seed","event":"registration_committed","peer":"made-up"}"#,
            r#"{"node":"S","role":"seed","event":"removal_committed","peer":"a"}"#,
        ];
        let events: Vec<EventLine> = lines.iter().filter_map(|l| EventLine::parse(l)).collect();
        assert_eq!(events.len(), lines.len());
        let e = summarise(&events, &StatusJson::default(), 2, &BTreeMap::new()).evidence;
        assert_eq!(e.accusations, BTreeMap::from([("liar".to_string(), 2)]));
        assert_eq!((e.rejected_certificates, e.forged_dropped), (1, 1));
        assert_eq!(
            e.unknown_deliveries, 1,
            "the copy of a message nobody generated"
        );
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(e.committed, set(&["made-up", "a"]));
        assert_eq!(e.removed, set(&["a"]));
        assert_eq!(e.started, set(&["a"]));
    }

    #[test]
    fn coverage_counts_only_peers_admitted_before_the_message_and_alive_after() {
        let ev = |node: &str, event: &str, extra: Value| {
            let mut v = json!({"node": node, "event": event, "role": "peer", "ts": 0});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let events = vec![
            ev("A", "started", json!({"id": "a"})),
            ev("B", "started", json!({"id": "b"})),
            ev("C", "started", json!({"id": "c"})),
            ev("D", "started", json!({"id": "d"})),
            ev("A", "registered", json!({"ts": 1, "latency_ms": 5})),
            ev("B", "registered", json!({"ts": 1, "latency_ms": 7})),
            ev("C", "registered", json!({"ts": 1, "latency_ms": 9})),
            ev("D", "registered", json!({"ts": 50, "latency_ms": 9})), // after the message
            ev("A", "gossip_generated", json!({"ts": 10, "id": "m1"})),
            ev("B", "gossip_received", json!({"id": "m1", "latency_ms": 3})),
        ];
        // C was killed: it does not count against coverage.
        let kills = BTreeMap::from([("c".to_string(), 100)]);
        let events: Vec<EventLine> = (events.iter())
            .map(|v| EventLine::deserialize(v).unwrap())
            .collect();
        let s = summarise(&events, &StatusJson::default(), 3, &kills);
        assert_eq!(s.gossip.messages, 1);
        assert_eq!(s.gossip.coverage_min, 1.0);
        assert_eq!(s.registration_ms.max, 9);
        assert_eq!(s.failures.killed, 1);
        assert_eq!(s.failures.removed, 0);
    }
}
