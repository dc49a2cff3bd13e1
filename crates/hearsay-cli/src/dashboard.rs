//! The dashboard (issue 17): a live page of a network, served by the binary itself.
//!
//! [`Board`] is what the page shows, built from two sources only: the nodes' event lines
//! (the `--events` format, PROTOCOL §10) and the seeds' status (the Peer List with each
//! peer's reported neighbours, what `hearsay status --json` prints). So the same board serves
//! a run of `hearsay up` (its run directory and seeds), a network started by hand (its
//! config's seeds and whatever events files it is pointed at), and a replay of a finished
//! run. Its counts are defined as the summary's: `peers` is the Peer List, `links` the
//! overlay's links ([`summary::adjacency`]), `removals` the peers some seed removed.
//!
//! [`serve`] answers `GET /` (one HTML page, its script and the vendored d3-force, all
//! embedded: it works offline), `GET /api/state` (the board as JSON, keys named as the
//! page's element ids), `GET /api/wave?id=MSG` (one message's spread) and `GET /ws`, a
//! WebSocket that pushes the board twice a second (the topology only when it changed, and
//! the event feed's new lines only).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::summary::{self, Agreed, StatusJson};

pub use replay::{Replay, ReplayState};
pub use server::{follow, lock, run, serve, App, DashboardArgs, MAX_PAGES};

mod replay;
mod server;

/// Lines of the event feed kept (the page shows the newest).
const FEED: usize = 2000;
/// Messages whose spread is kept.
const WAVES: usize = 32;
/// Lines of the feed a state answer carries.
const FEED_IN_STATE: usize = 200;
/// Latency histogram buckets: under 1 ms, then doubling up to about 65 s.
const LATENCY_BUCKETS: usize = 18;

/// The live counts, named as the page's element ids (`#false-accusations` for
/// `false_accusations`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Peers in the Peer List.
    pub peers: usize,
    /// Links of the overlay.
    pub links: usize,
    /// Gossip messages generated.
    pub messages: usize,
    /// First-time deliveries.
    pub deliveries: usize,
    /// Suspicions started.
    pub suspicions: usize,
    /// Peers some seed removed.
    pub removals: usize,
    /// Dead-node reports a seed found false.
    pub false_accusations: usize,
}

/// What a node is now, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// A seed.
    Seed,
    /// Started, not admitted yet.
    Joining,
    /// Admitted.
    Live,
    /// A neighbour suspects it.
    Suspected,
    /// Removed by a seed.
    Removed,
    /// Killed on purpose (`hearsay up --kill`).
    Killed,
}

/// A node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// Its address (what events name it by).
    pub addr: String,
    /// Its id (hex), once known.
    pub id: String,
    /// Its state.
    pub state: NodeState,
    /// Its overlay degree.
    pub degree: usize,
    /// The seeds (addresses) that signed its admission.
    pub signers: Vec<String>,
    /// The latest suspicion of it and its witnesses' verdicts, as the suspecting peer said
    /// (empty: none).
    pub suspicion: String,
}

/// The overlay as the page draws it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Topology {
    /// Bumped at every change, so that a client redraws only then.
    pub version: u64,
    /// Seeds first, then peers by address.
    pub nodes: Vec<Node>,
    /// Links as indices into `nodes`, lower first.
    pub links: Vec<[usize; 2]>,
}

/// A seed's panel.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Seed {
    /// Its address.
    pub addr: String,
    /// Its Peer List's size.
    pub peer_list: usize,
    /// Certificates it holds.
    pub certificates: u32,
    /// When it last agreed with each other seed, ms ago.
    pub agreed_ms_ago: Agreed,
    /// Its recent decisions (votes with their reasons, commits, aborts).
    pub recent: Vec<String>,
}

/// One message's spread so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Wave {
    /// The message (hex id).
    pub id: String,
    /// Its text, `<timestamp>:<IP>:<Msg#>`.
    pub text: String,
    /// Where it was generated.
    pub origin: String,
    /// Each first-time delivery: (receiving node, ms from generation, hops).
    pub receipts: Vec<(String, u64, u32)>,
}

/// A wave without its receipts, for the list the page offers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaveSummary {
    /// The message (hex id).
    pub id: String,
    /// Its text.
    pub text: String,
    /// Where it was generated.
    pub origin: String,
    /// Peers it reached.
    pub reached: usize,
    /// Most hops of any delivery.
    pub hops: u32,
    /// Generation to the last delivery so far, ms.
    pub last_ms: u64,
}

/// A removal and the seeds that signed its certificate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Removal {
    /// The removed peer (hex id).
    pub peer: String,
    /// Its address.
    pub addr: String,
    /// The signers (hex ids), as the first seed to log it said.
    pub signers: Vec<String>,
}

/// The fields of an event line the board reads (the others are skipped; a missing one is
/// empty).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Line {
    node: String,
    role: String,
    event: String,
    id: String,
    peer: String,
    addr: String,
    text: String,
    hops: u32,
    latency_ms: u64,
    incarnation: u64,
    signers: Vec<String>,
    op: String,
    yes: bool,
    reason: String,
    dead: u64,
    verdicts: u64,
}

/// Decisions a seed's panel lists.
const RECENT: usize = 32;

/// Per peer (id): the newest commit's incarnation, and whether it admitted.
type Commits = BTreeMap<String, (u64, bool)>;

/// Takes a commit of `peer` at `incarnation` into `commits`: a later incarnation wins, and at
/// one incarnation a removal wins over an admission. `true`: it changed something.
fn commit(commits: &mut Commits, peer: &str, incarnation: u64, admitted: bool) -> bool {
    let newer =
        |(inc, was): (u64, bool)| incarnation > inc || (incarnation == inc && was && !admitted);
    let changes = commits.get(peer).copied().is_none_or(newer);
    if changes {
        commits.insert(peer.to_string(), (incarnation, admitted));
    }
    changes
}

/// What the events say of membership and links, for a board with no seed to ask (a replay):
/// the Peer List from the seeds' commits, and each peer's neighbours as it logged them.
#[derive(Debug, Default)]
struct Heard {
    /// The seeds' commits, all seeds together.
    latest: Commits,
    /// Per holder (address): its neighbours' ids.
    neighbors: BTreeMap<String, BTreeSet<String>>,
    /// Per seed (address): its panel as its own lines tell it (its Peer List from its own
    /// commits, and its latest decisions).
    seeds: BTreeMap<String, (Commits, VecDeque<String>)>,
    /// Changed since the board last looked.
    dirty: bool,
}

impl Heard {
    /// A seed's commit ([`commit`]).
    fn commit(&mut self, peer: &str, incarnation: u64, admitted: bool) {
        self.dirty |= commit(&mut self.latest, peer, incarnation, admitted);
    }

    /// A seed's own line: its panel's Peer List, certificates and latest decisions.
    fn decision(&mut self, e: &Line) {
        let short = |id: &str| id.chars().take(8).collect::<String>();
        let (list, recent) = self.seeds.entry(e.node.clone()).or_default();
        let line = match e.event.as_str() {
            "vote" => {
                let yes = if e.yes { "yes" } else { "no" };
                let why = if e.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", e.reason)
                };
                format!("voted {yes} on the {} of {}{why}", e.op, short(&e.peer))
            }
            "registration_committed" | "removal_committed" => {
                let added = e.event == "registration_committed";
                commit(list, &e.peer, e.incarnation, added);
                let what = if added { "admitted" } else { "removed" };
                format!(
                    "{what} {} at {} (incarnation {})",
                    short(&e.peer),
                    e.addr,
                    e.incarnation
                )
            }
            "registration_aborted" | "removal_aborted" => {
                format!(
                    "aborted the {} of {}: {}",
                    e.event.trim_end_matches("_aborted"),
                    short(&e.peer),
                    e.reason
                )
            }
            _ => return,
        };
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(line);
        self.dirty = true;
    }

    /// The seeds' panels as their own lines tell them.
    fn panels(&self) -> Vec<Seed> {
        (self.seeds.iter())
            .map(|(addr, (list, recent))| Seed {
                addr: addr.clone(),
                peer_list: list.values().filter(|(_, added)| *added).count(),
                // The newest certificate of each peer it committed: admissions and removals.
                certificates: list.len() as u32,
                agreed_ms_ago: Agreed::default(),
                recent: recent.iter().cloned().collect(),
            })
            .collect()
    }

    /// The overlay's links among members, as [`summary::adjacency`] gives them from a
    /// status; `id_of` names each holder.
    fn adjacency(
        &self,
        id_of: impl Fn(&str) -> Option<String>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let member = |id: &str| self.latest.get(id).is_some_and(|(_, added)| *added);
        let mut adj: BTreeMap<String, BTreeSet<String>> = (self.latest.iter())
            .filter(|(_, (_, added))| *added)
            .map(|(id, _)| (id.clone(), BTreeSet::new()))
            .collect();
        for (holder, ns) in &self.neighbors {
            let Some(a) = id_of(holder).filter(|a| member(a)) else {
                continue;
            };
            for b in ns.iter().filter(|b| member(b)) {
                adj.entry(a.clone()).or_default().insert(b.clone());
                adj.entry(b.clone()).or_default().insert(a.clone());
            }
        }
        adj
    }
}

/// Everything the page shows.
#[derive(Debug, Default)]
pub struct Board {
    counts: Counts,
    /// Nodes by address, from events and status.
    nodes: BTreeMap<String, NodeInfo>,
    /// Addresses by id.
    by_id: BTreeMap<String, String>,
    removed: BTreeMap<String, Removal>,
    /// The Peer List and links, from the last status.
    members: BTreeMap<String, BTreeSet<String>>,
    /// The power-law fit of the members' degrees, fitted again only when the links change.
    power_law: Option<crate::fit::PowerLawFit>,
    seeds: BTreeMap<String, Seed>,
    topology_version: u64,
    waves: VecDeque<Wave>,
    latency: [u64; LATENCY_BUCKETS],
    feed: VecDeque<(u64, String)>,
    feed_seq: u64,
    /// The run's summary, once there is one.
    summary: Option<serde_json::Value>,
    /// Membership and links from the events, used until a seed's status comes.
    heard: Heard,
    /// Whether a seed's status came: it then says who is a member and who is linked.
    asked: bool,
    /// Where the replay feeding this board stands, if one does.
    replay: Option<ReplayState>,
}

#[derive(Clone, Debug, Default)]
struct NodeInfo {
    id: String,
    seed: bool,
    registered: bool,
    suspected: bool,
    removed: bool,
    killed: bool,
    signers: Vec<String>,
    suspicion: String,
}

impl NodeInfo {
    fn state(&self) -> NodeState {
        match self {
            n if n.seed => NodeState::Seed,
            n if n.killed => NodeState::Killed,
            n if n.removed => NodeState::Removed,
            n if n.suspected => NodeState::Suspected,
            n if n.registered => NodeState::Live,
            _ => NodeState::Joining,
        }
    }
}

/// The board as `GET /api/state` answers it.
#[derive(Clone, Debug, Serialize)]
pub struct ApiState {
    /// The counts, flattened: `peers`, `links`, ….
    #[serde(flatten)]
    pub counts: Counts,
    /// The graph (over the WebSocket, `null` when it did not change since the last push).
    pub topology: Option<Topology>,
    /// A panel per seed.
    pub seeds: Vec<Seed>,
    /// The latest messages' spread, newest last.
    pub waves: Vec<WaveSummary>,
    /// Removals and their signers.
    pub removed: Vec<Removal>,
    /// First-time deliveries by latency: bucket 0 under 1 ms, bucket k in [2^(k-1), 2^k) ms.
    pub latency_histogram: Vec<u64>,
    /// The power-law fit of the degrees, when there are enough.
    pub power_law: Option<crate::fit::PowerLawFit>,
    /// The newest lines of the event feed, with their sequence numbers.
    pub feed: Vec<(u64, String)>,
    /// The run's summary, once it is over.
    pub summary: Option<serde_json::Value>,
    /// Where a replay stands (absent live).
    pub replay: Option<ReplayState>,
}

impl Board {
    /// An empty board.
    pub fn new() -> Board {
        Board::default()
    }

    /// Takes one event line in; other lines are ignored.
    pub fn event(&mut self, raw: &str) {
        let Ok(e) = serde_json::from_str::<Line>(raw) else {
            return;
        };
        self.feed_seq += 1;
        if self.feed.len() == FEED {
            self.feed.pop_front();
        }
        self.feed.push_back((self.feed_seq, raw.to_string()));
        if e.role == "seed" && !self.nodes.get(&e.node).is_some_and(|n| n.seed) {
            self.nodes.entry(e.node.clone()).or_default().seed = true;
            self.topology_version += 1;
        }
        if e.role == "seed" {
            self.heard.decision(&e);
        }
        match e.event.as_str() {
            "started" => {
                let node = self.nodes.entry(e.node.clone()).or_default();
                node.id = e.id.clone();
                node.seed = e.role == "seed";
                self.by_id.insert(e.id, e.node);
            }
            "registered" => self.nodes.entry(e.node).or_default().registered = true,
            "gossip_generated" => {
                self.counts.messages += 1;
                if self.waves.len() == WAVES {
                    self.waves.pop_front();
                }
                self.waves.push_back(Wave {
                    id: e.id,
                    text: e.text,
                    origin: e.node,
                    receipts: Vec::new(),
                });
                return;
            }
            "gossip_received" => {
                self.counts.deliveries += 1;
                let bucket = (u64::BITS - e.latency_ms.leading_zeros()) as usize;
                self.latency[bucket.min(LATENCY_BUCKETS - 1)] += 1;
                if let Some(w) = self.waves.iter_mut().rev().find(|w| w.id == e.id) {
                    w.receipts.push((e.node, e.latency_ms, e.hops));
                }
                return;
            }
            "suspicion_started" => {
                self.counts.suspicions += 1;
                let by = format!("suspected by {}, witnesses asked", e.node);
                self.about(&e.peer, |n| (n.suspected, n.suspicion) = (true, by));
            }
            "suspicion_confirmed" | "suspicion_cleared" => {
                let confirmed = e.event == "suspicion_confirmed";
                let what = if confirmed { "confirmed" } else { "cleared" };
                let said = format!(
                    "{what} by {}: {} of {} verdicts say unresponsive",
                    e.node, e.dead, e.verdicts
                );
                self.about(&e.peer, |n| (n.suspected, n.suspicion) = (confirmed, said));
            }
            "removal_committed" => {
                self.heard.commit(&e.peer, e.incarnation, false);
                self.about(&e.peer, |n| n.removed = true);
                let removal = Removal {
                    peer: e.peer.clone(),
                    addr: e.addr,
                    signers: e.signers,
                };
                self.removed.entry(e.peer).or_insert(removal);
                self.counts.removals = self.removed.len();
            }
            "registration_committed" => {
                self.heard.commit(&e.peer, e.incarnation, true);
                // Admitted again (a new incarnation): not removed any more.
                let removed = self
                    .heard
                    .latest
                    .get(&e.peer)
                    .is_some_and(|(_, added)| !added);
                self.about(&e.peer, |n| n.removed = removed);
            }
            "neighbor_added" | "neighbor_removed" => {
                let ns = self.heard.neighbors.entry(e.node).or_default();
                match e.event == "neighbor_added" {
                    true => ns.insert(e.peer),
                    false => ns.remove(&e.peer),
                };
                self.heard.dirty = true;
                return;
            }
            "false_accusation" => {
                self.counts.false_accusations += 1;
                return;
            }
            _ => return,
        }
        // A node's state may have changed: the graph is sent again.
        self.topology_version += 1;
    }

    /// Brings the Peer List and links up to date with the events taken in, when no seed's
    /// status says them (a replay). Call after a batch of [`Board::event`]s.
    pub fn settle(&mut self) {
        if self.asked || !std::mem::take(&mut self.heard.dirty) {
            return;
        }
        let nodes = &self.nodes;
        let members = (self.heard).adjacency(|addr| nodes.get(addr).map(|n| n.id.clone()));
        for id in members.keys() {
            // A member is admitted, whether or not its own `registered` line is here.
            self.about(id, |n| n.registered = true);
        }
        self.set_members(members);
    }

    fn set_members(&mut self, members: BTreeMap<String, BTreeSet<String>>) {
        if members != self.members {
            self.members = members;
            self.topology_version += 1;
            let degrees: Vec<u64> = self.members.values().map(|ns| ns.len() as u64).collect();
            self.power_law = crate::fit::fit(&degrees);
        }
        self.counts.peers = self.members.len();
        self.counts.links = self.members.values().map(BTreeSet::len).sum::<usize>() / 2;
    }

    fn about(&mut self, id: &str, f: impl FnOnce(&mut NodeInfo)) {
        if let Some(addr) = self.by_id.get(id) {
            f(self.nodes.entry(addr.clone()).or_default());
        }
    }

    /// Marks the peer `id` as killed on purpose.
    pub fn killed(&mut self, id: &str) {
        self.about(id, |n| n.killed = true);
        self.topology_version += 1;
    }

    /// Takes a seed's status in: its panel, and (from the first seed asked, `primary`) the
    /// Peer List and the overlay.
    pub fn status(&mut self, status: &StatusJson, primary: bool) {
        let seed = Seed {
            addr: status.seed.clone(),
            peer_list: status.peers.len(),
            certificates: status.certificates,
            agreed_ms_ago: status.agreed_ms_ago.clone(),
            recent: status.recent.clone(),
        };
        let node = self.nodes.entry(status.seed.clone()).or_default();
        node.seed = true;
        node.id = status.id.clone();
        self.by_id.insert(status.id.clone(), status.seed.clone());
        self.seeds.insert(status.seed.clone(), seed);
        if !primary {
            return;
        }
        let seed_addr = |id: &String| self.by_id.get(id).cloned().unwrap_or_else(|| id.clone());
        let signers: Vec<(String, Vec<String>)> = (status.peers.iter())
            .map(|p| (p.id.clone(), p.signers.iter().map(seed_addr).collect()))
            .collect();
        for (p, (id, signed)) in status.peers.iter().zip(signers) {
            self.by_id.insert(id.clone(), p.addr.clone());
            let node = self.nodes.entry(p.addr.clone()).or_default();
            node.id = id;
            node.registered = true;
            node.signers = signed;
        }
        self.asked = true;
        self.set_members(summary::adjacency(status));
    }

    /// The run is over: its summary, to show beside the live counts.
    pub fn finished(&mut self, summary: serde_json::Value) {
        self.summary = Some(summary);
    }

    /// The counts now.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The graph: seeds, then every node with an address, links among members.
    pub fn topology(&self) -> Topology {
        let mut order: Vec<(&String, &NodeInfo)> = self.nodes.iter().collect();
        order.sort_by_key(|(addr, n)| (!n.seed, (*addr).clone()));
        let index: BTreeMap<&str, usize> = (order.iter().enumerate())
            .map(|(i, (_, n))| (n.id.as_str(), i))
            .filter(|(id, _)| !id.is_empty())
            .collect();
        let nodes = (order.iter())
            .map(|(addr, n)| Node {
                addr: (*addr).clone(),
                id: n.id.clone(),
                state: n.state(),
                degree: self.members.get(&n.id).map_or(0, BTreeSet::len),
                signers: n.signers.clone(),
                suspicion: n.suspicion.clone(),
            })
            .collect();
        let mut links = Vec::new();
        for (a, ns) in &self.members {
            for b in ns.iter().filter(|b| a < *b) {
                if let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) {
                    links.push([i.min(j), i.max(j)]);
                }
            }
        }
        Topology {
            version: self.topology_version,
            nodes,
            links,
        }
    }

    /// The spread of message `id`, if it is one of the latest.
    pub fn wave(&self, id: &str) -> Option<&Wave> {
        self.waves.iter().find(|w| w.id == id)
    }

    /// The board as JSON for `GET /api/state`.
    pub fn state(&self) -> ApiState {
        self.snapshot(true, 0)
    }

    /// The board as a page needs it: the topology only if `topology`, and the feed's lines
    /// after `seq` (at most `FEED_IN_STATE`, the newest).
    pub(crate) fn snapshot(&self, topology: bool, seq: u64) -> ApiState {
        ApiState {
            counts: self.counts.clone(),
            topology: topology.then(|| self.topology()),
            seeds: match self.asked {
                true => self.seeds.values().cloned().collect(),
                false => self.heard.panels(),
            },
            waves: (self.waves.iter())
                .map(|w| WaveSummary {
                    id: w.id.clone(),
                    text: w.text.clone(),
                    origin: w.origin.clone(),
                    reached: w.receipts.len(),
                    hops: w.receipts.iter().map(|r| r.2).max().unwrap_or(0),
                    last_ms: w.receipts.iter().map(|r| r.1).max().unwrap_or(0),
                })
                .collect(),
            removed: self.removed.values().cloned().collect(),
            latency_histogram: self.latency.to_vec(),
            power_law: self.power_law.clone(),
            feed: self.feed_after(seq),
            summary: self.summary.clone(),
            replay: self.replay.clone(),
        }
    }

    /// Feed lines after `seq`, at most `FEED_IN_STATE`.
    fn feed_after(&self, seq: u64) -> Vec<(u64, String)> {
        let new = self.feed.iter().filter(|(s, _)| *s > seq).count();
        let skip = self.feed.len() - new.min(FEED_IN_STATE);
        self.feed.iter().skip(skip).cloned().collect()
    }
}

/// A board shared by the server and whatever feeds it.
pub type Shared = Arc<Mutex<Board>>;

#[cfg(test)]
mod tests;
