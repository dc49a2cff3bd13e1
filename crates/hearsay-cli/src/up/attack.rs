//! `hearsay up`'s attacks (issue 15): the simulator's adversaries
//! ([`hearsay_sim::adversary`]) run over real TCP beside the honest network, and what became
//! of each, for the summary. This is how a user sees the security analysis hold on a real
//! network rather than take it on trust.
//!
//! - `--liars K`: K colluding admitted peers; every second one of them sends its seeds a
//!   dead-node report about a live honest peer, with dead verdicts signed by all of them
//!   (PROTOCOL §12.3: the seeds' own probes must refuse it).
//! - `--forgers K`: admitted peers whose every gossip message is altered after signing
//!   (§11: nobody may deliver or relay one).
//! - `--lying-seeds K`: the last K seeds of the config run as lying seeds: yes to everything,
//!   and a forged certificate for a made-up peer every second (§5.3: q signatures needed).
//! - `--evict K`: K honest peers each get 1,100 idle links (a finished handshake, then
//!   nothing) from 127.0.0.2 and up, while two colluding peers accuse them (issue 15's
//!   slot-filling eviction: the seeds' probes must still get through).
//!
//! The adversaries log to their own events file ([`crate::summary::ADVERSARIES`]), so the
//! summary of the honest network counts only honest nodes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use hearsay_net::conn::{handshake, Channel, Identity};
use hearsay_proto::config::Config;
use hearsay_proto::event::Event;
use hearsay_proto::wire::Msg;
use hearsay_proto::{seed, Input, Keypair, LinkId, Machine, Output, PeerId, Role, Time};
use hearsay_sim::adversary::{false_report, Forger, LyingSeed};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Narrator, Network, Node, Plan, Timings};
use crate::summary::Evidence;

mod report;
pub use report::*;

/// The attacks `hearsay up` can run beside the honest network.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Attacks {
    /// Colluding peers (at least 2) that report a live honest peer dead every second, with
    /// dead verdicts signed by all of them.
    #[arg(long, default_value_t = 0)]
    pub liars: usize,
    /// Peers whose every gossip message is altered after it was signed.
    #[arg(long, default_value_t = 0)]
    pub forgers: usize,
    /// Seeds of the config (the last ones) run as lying seeds: yes to everything, and forged
    /// certificates. The honest seeds must still make a quorum.
    #[arg(long, default_value_t = 0)]
    pub lying_seeds: usize,
    /// Honest peers to try to evict: 1,100 idle links fill each one's connection slots while
    /// two colluding peers accuse it.
    #[arg(long, default_value_t = 0)]
    pub evict: usize,
}

/// Idle links opened to each eviction target: more than a node's 1,024 inbound slots.
pub const EVICT_LINKS: usize = 1_100;

/// Idle links from one source address: 1,100 come from 110 addresses (127.0.0.2 to
/// 127.0.0.111), as an attacker with many addresses would spread them past per-address caps.
const LINKS_PER_ADDRESS: usize = 10;

/// Idle links being opened at once.
const OPENING: usize = 64;

/// How long one idle link may take to connect and finish its handshake.
const OPEN_LIMIT: Duration = Duration::from_secs(3);

/// How often the colluding peers send a false report.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The shortest an attack runs, from its first report: a few reports whatever the speed.
const AT_LEAST: Duration = Duration::from_secs(5);

/// Colluding peers that accuse each eviction target.
const ACCUSERS: usize = 2;

impl Attacks {
    /// Whether any attack was asked for.
    pub fn any(&self) -> bool {
        self.liars + self.forgers + self.lying_seeds + self.evict > 0
    }

    /// Adversary peers this process starts: the liars, the forgers, and the eviction's
    /// accusers.
    pub fn peers(&self) -> usize {
        let accusers = if self.evict > 0 { ACCUSERS } else { 0 };
        self.liars + self.forgers + accusers
    }

    /// Open files the attacks take in this process, with `n` honest peers and `seeds` seeds
    /// of quorum `q`: each adversary peer's listener, links and seed links, each lying seed's
    /// links to every peer and seed, and every idle link.
    pub fn open_files(&self, n: u64, q: u64, seeds: u64) -> u64 {
        let links = hearsay_proto::peer::Settings::default().links as u64;
        let peers = self.peers() as u64 * (1 + 2 * links + q);
        let lying = self.lying_seeds as u64 * (n + self.peers() as u64 + seeds + 16);
        peers + lying + (self.evict * EVICT_LINKS) as u64
    }
}

/// Refuses, with one sentence, attacks that cannot run as asked (exit 2, before anything
/// starts): a lone liar, lying seeds that would leave the honest ones short of a quorum, or
/// too few honest peers to accuse.
pub fn check(plan: &Plan) -> anyhow::Result<()> {
    let a = &plan.attacks;
    if a.liars == 1 {
        bail!("--liars needs at least 2: a false report carries the dead verdicts of two or more colluding peers, and one verdict alone never counts");
    }
    let live = plan.peers.saturating_sub(plan.kill);
    if (a.liars > 0 || a.evict > 0) && live == 0 {
        bail!(
            "--liars and --evict need a live honest peer to accuse: start more peers than --kill"
        );
    }
    if a.evict > live {
        bail!("--evict {} needs {} honest peers that are not killed, but --peers {} --kill {} leaves {live}", a.evict, a.evict, plan.peers, plan.kill);
    }
    if a.lying_seeds == 0 {
        return Ok(());
    }
    let k = a.lying_seeds;
    let (n, pinned) = match plan.seeds {
        Some(n) => (n.max(1), None),
        None => {
            let config = crate::load_config(&plan.config)?;
            let n = config.seeds.len();
            let lying = &config.seeds[n.saturating_sub(k)..];
            (n, lying.iter().find(|s| s.key.is_some()).map(|s| s.addr))
        }
    };
    let q = hearsay_proto::quorum::quorum(n);
    if k > n - q {
        bail!(
            "--lying-seeds {k} of {n} seeds would leave {} honest seeds, fewer than the quorum of {q}, so the liars could block or outvote them: at most {} of {n} may lie (lying seeds need at least 3 seeds)",
            n.saturating_sub(k),
            n - q
        );
    }
    if let Some(addr) = pinned {
        bail!(
            "--lying-seeds runs the last seeds of the config with keys of their own, but {addr} has its key pinned in {}: remove the key or use --seeds N",
            plan.config.display()
        );
    }
    Ok(())
}

/// The seeds of `config` that run as lying seeds: the last `--lying-seeds` of them.
pub fn lying_seeds(plan: &Plan, config: &Config) -> Vec<SocketAddr> {
    let n = config.seeds.len();
    let k = plan.attacks.lying_seeds.min(n);
    config.seeds[n - k..].iter().map(|s| s.addr).collect()
}

/// Starts the lying seeds at their config addresses, as tasks of this process: real seeds
/// (they admit, vote and keep a Peer List) wrapped to vote yes to everything and to send the
/// other seeds a forged certificate every second, signed by the lying seeds alone.
pub(super) async fn start_lying_seeds(
    plan: &Plan,
    config: &Config,
    lying: &[SocketAddr],
    net: &mut Network,
) -> anyhow::Result<()> {
    if lying.is_empty() {
        return Ok(());
    }
    let keys: Vec<Keypair> = lying
        .iter()
        .map(|_| hearsay_net::identity::ephemeral_key())
        .collect();
    let log = super::logger(&plan.dir, crate::summary::ADVERSARIES)?;
    for (addr, key) in lying.iter().zip(&keys) {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for a lying seed"))?;
        let settings = seed::Settings {
            rate_burst: super::rate_burst(plan) as u32,
            registrations_per_network: super::rate_burst(plan),
            ..seed::Settings::default()
        };
        let now = hearsay_net::now();
        let rng = hearsay_net::random();
        let inner = seed::State::new(now, key.clone(), *addr, config.clone(), settings, rng)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let machine = LyingSeed::new(inner, key.clone(), keys.clone(), now);
        let opts = hearsay_net::Options {
            max_connections: super::seed_slots(plan),
            ..hearsay_net::Options::default()
        };
        let me = Identity::new(key.clone(), Role::Seed, *addr);
        let log = log.for_node(addr.to_string(), "seed");
        net.adversaries
            .push(spawn(machine, listener, me, opts, log));
    }
    Ok(())
}

/// Runs `machine` as a task of this process until the returned node is killed.
fn spawn<M: Machine + Send + 'static>(
    machine: M,
    listener: TcpListener,
    me: Identity,
    opts: hearsay_net::Options,
    log: hearsay_net::Logger,
) -> Node {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        // An adversary that stops early (say, one the seeds refused) only weakens its
        // attack; what it did is in its events.
        let _ = hearsay_net::run(machine, listener, me, opts, log, stop, None).await;
    });
    Node::Task(cancel)
}

/// A peer as an accusation names it: id, address, incarnation.
type Suspect = (PeerId, SocketAddr, u64);

/// The reporter of a gang of colluding peers: a real peer that, once admitted, sends every
/// seed it is linked to a false dead-node report every second, about the next of its
/// targets in turn, with dead verdicts signed by every member of the gang (the simulator's
/// [`false_report`]). The other members are plain peers: only their keys take part.
struct Liar {
    inner: hearsay_proto::peer::State,
    gang: Vec<(Keypair, SocketAddr)>,
    targets: watch::Receiver<Vec<Suspect>>,
    seed_links: BTreeSet<LinkId>,
    admitted: bool,
    next: Time,
    turn: usize,
    extra: VecDeque<Output>,
    sent: Arc<AtomicU64>,
}

impl Liar {
    fn report(&mut self, now: Time) {
        let targets = self.targets.borrow().clone();
        if !self.admitted || targets.is_empty() || self.seed_links.is_empty() {
            return;
        }
        let suspect = targets[self.turn % targets.len()];
        self.turn += 1;
        let keys: Vec<(&Keypair, SocketAddr)> = self.gang.iter().map(|(k, a)| (k, *a)).collect();
        let report = false_report(&keys, suspect, now);
        for &link in &self.seed_links {
            let msg = Msg::DeadReport(Box::new(report.clone()));
            self.extra.push_back(Output::Send { link, msg });
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
    }
}

impl Machine for Liar {
    fn handle(&mut self, now: Time, input: Input) {
        match &input {
            Input::LinkUp { link, remote, .. } if remote.role == Role::Seed => {
                self.seed_links.insert(*link);
            }
            Input::LinkDown { link } => {
                self.seed_links.remove(link);
            }
            Input::Timeout if now >= self.next => {
                self.next = now + REPORT_EVERY;
                self.report(now);
            }
            _ => {}
        }
        self.inner.handle(now, input);
    }

    fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.extra.pop_front() {
            return Some(o);
        }
        let out = self.inner.poll_output()?;
        if let Output::Event(Event::Registered { .. }) = &out {
            self.admitted = true;
        }
        Some(out)
    }

    fn poll_timeout(&self) -> Option<Time> {
        let next = self.next;
        Some(self.inner.poll_timeout().map_or(next, |t| t.min(next)))
    }

    fn link_use(&self, link: LinkId) -> hearsay_proto::LinkUse {
        self.inner.link_use(link)
    }
}

/// Adversary peers of one kind, started.
struct Gang {
    ids: Vec<String>,
    /// The targets of its reports (none for forgers).
    targets: Option<watch::Sender<Vec<Suspect>>>,
    /// Reports sent.
    sent: Arc<AtomicU64>,
}

/// What the idle links of the eviction came to, counted as they go.
#[derive(Default)]
struct Links {
    opened: AtomicU64,
    failed: AtomicU64,
    closed: AtomicU64,
    /// When every link was tried and the accusers were given their targets.
    accusing: OnceLock<Instant>,
}

/// The attacks of a run, started.
pub(super) struct War {
    attacks: Attacks,
    honest_seeds: Vec<SocketAddr>,
    liars: Option<Gang>,
    forgers: Option<Gang>,
    accusers: Option<Gang>,
    /// The eviction targets' ids (hex).
    evict_targets: Vec<String>,
    links: Arc<Links>,
    began: Instant,
}

impl War {
    /// Starts the adversary peers, waits until the seeds admitted everyone, sets the liars on
    /// the honest peers and opens the eviction's idle links (in the background: the accusers
    /// start once every link was tried).
    pub(super) async fn start(
        plan: &Plan,
        config: &Config,
        t: &Timings,
        net: &mut Network,
        say: &mut Narrator,
    ) -> anyhow::Result<War> {
        let a = plan.attacks.clone();
        let log = super::logger(&plan.dir, crate::summary::ADVERSARIES)?;
        let lying = lying_seeds(plan, config);
        let honest_seeds: Vec<SocketAddr> = (net.seeds.iter())
            .filter(|s| !lying.contains(s))
            .copied()
            .collect();
        let gang = |n: usize, gossip: u32, reports: bool| Recruit {
            config,
            t,
            log: &log,
            n,
            gossip,
            reports,
        };
        let liars = gang(a.liars, 0, true).start(net).await?;
        let forgers = gang(a.forgers, t.gossip_count, false).start(net).await?;
        let accusers = gang(if a.evict > 0 { ACCUSERS } else { 0 }, 0, true)
            .start(net)
            .await?;
        let mut war = War {
            attacks: a.clone(),
            honest_seeds,
            liars,
            forgers,
            accusers,
            evict_targets: Vec::new(),
            links: Arc::new(Links::default()),
            began: Instant::now(),
        };
        let adversaries = war.adversary_ids();
        // Everyone admitted (or 30 s): then the honest peers are known, with their addresses
        // and incarnations, from the first honest seed's Peer List.
        let everyone = plan.peers + a.peers();
        let first = war.honest_seeds[0];
        let mut members = Vec::new();
        let start = Instant::now();
        while members.len() < everyone && start.elapsed() < Duration::from_secs(30) {
            if let Ok(st) = hearsay_net::fetch_status(first, Duration::from_secs(2)).await {
                members = st.peers;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let honest: Vec<Suspect> = (members.iter())
            .filter(|p| !adversaries.contains(&p.id.to_hex()))
            .map(|p| (p.id, p.addr, p.incarnation))
            .collect();
        if let Some(g) = &war.liars {
            say.line(&format!(
                "attack: {} liars report one of {} live honest peers dead every second",
                a.liars,
                honest.len()
            ));
            g.aim(honest.clone());
        }
        if a.forgers > 0 {
            say.line(&format!(
                "attack: {}, every gossip message altered after signing",
                count(a.forgers, "forger")
            ));
        }
        if a.lying_seeds > 0 {
            say.line(&format!(
                "attack: {} of {} seeds lying (yes to everything, a forged certificate every second)",
                a.lying_seeds,
                net.seeds.len()
            ));
        }
        if a.evict > 0 {
            war.evict(plan, &honest, net, say)?;
        }
        war.began = Instant::now();
        Ok(war)
    }

    /// Every adversary peer's id (hex).
    fn adversary_ids(&self) -> BTreeSet<String> {
        [&self.liars, &self.forgers, &self.accusers]
            .into_iter()
            .flatten()
            .flat_map(|g| g.ids.iter().cloned())
            .collect()
    }

    /// Opens the idle links to the eviction targets (honest peers that will not be killed),
    /// in the background; the accusers turn on the targets once every link was tried.
    fn evict(
        &mut self,
        plan: &Plan,
        honest: &[Suspect],
        net: &mut Network,
        say: &mut Narrator,
    ) -> anyhow::Result<()> {
        let n = plan.peers;
        let doomed: BTreeSet<usize> = (0..plan.kill.min(n))
            .map(|k| super::kill_index(k, plan.kill, n))
            .collect();
        let ids = super::peer_ids(&plan.dir);
        let targets: Vec<Suspect> = (0..n)
            .filter(|i| !doomed.contains(i))
            .filter_map(|i| {
                let p = &net.peers[i];
                let id = p.id.clone().or_else(|| ids.get(&p.name).cloned())?;
                honest.iter().find(|s| s.0.to_hex() == id).copied()
            })
            .take(plan.attacks.evict)
            .collect();
        if targets.len() < plan.attacks.evict {
            bail!(
                "only {} of the {} peers to evict are in the Peer List: the network did not come up",
                targets.len(),
                plan.attacks.evict
            );
        }
        self.evict_targets = targets.iter().map(|s| s.0.to_hex()).collect();
        say.line(&format!(
            "attack: {EVICT_LINKS} idle links to each of {} ({}), while {ACCUSERS} colluding peers accuse them",
            count(targets.len(), "peer"),
            (targets.iter()).map(|s| s.1.to_string()).collect::<Vec<_>>().join(", ")
        ));
        let stop = CancellationToken::new();
        net.adversaries.push(Node::Task(stop.clone()));
        let links = self.links.clone();
        let aim = self.accusers.as_ref().and_then(|g| g.targets.clone());
        tokio::spawn(async move {
            for s in &targets {
                open_idle_links(s.1, &links, &stop).await;
            }
            if let Some(tx) = aim {
                let _ = tx.send(targets);
            }
            let _ = links.accusing.set(Instant::now());
        });
        Ok(())
    }

    /// No liar may accuse these peers (hex ids) any more: they are about to be killed, and
    /// a report about a dead peer would be no lie.
    pub(super) fn spare(&mut self, doomed: &[String]) {
        if let Some(tx) = self.liars.as_ref().and_then(|g| g.targets.as_ref()) {
            tx.send_modify(|ts| ts.retain(|s| !doomed.contains(&s.0.to_hex())));
        }
    }

    /// Waits until the attacks have run a few reports' worth ([`AT_LEAST`]), the eviction's
    /// from when its accusers started (at most 60 s more).
    pub(super) async fn last_long_enough(&self, say: &mut Narrator) {
        let evict = self.attacks.evict > 0;
        let long_enough = || {
            let accused = self.links.accusing.get();
            self.began.elapsed() >= AT_LEAST
                && (!evict || accused.is_some_and(|t| t.elapsed() >= AT_LEAST))
        };
        if !long_enough() {
            say.progress("attacks still running");
        }
        let limit = AT_LEAST + Duration::from_secs(60);
        super::wait_until(limit, || async { long_enough() }).await;
        say.done();
    }

    /// What became of each attack, from the honest nodes' events and the honest seeds' Peer
    /// Lists now.
    pub(super) async fn report(self, e: &Evidence, kills: &BTreeMap<String, u64>) -> Report {
        let adversaries = self.adversary_ids();
        let mut listed = BTreeSet::new();
        for s in &self.honest_seeds {
            if let Ok(st) = hearsay_net::fetch_status(*s, Duration::from_secs(5)).await {
                listed.extend(st.peers.iter().map(|p| p.id.to_hex()));
            }
        }
        let known = |id: &String| e.started.contains(id) || adversaries.contains(id);
        let accusations = |g: &Option<Gang>| {
            (g.iter().flat_map(|g| &g.ids))
                .map(|id| e.accusations.get(id).copied().unwrap_or(0))
                .sum()
        };
        let a = &self.attacks;
        let links = &self.links;
        Report {
            false_removals: (e.removed.iter())
                .filter(|id| e.started.contains(*id) && !kills.contains_key(*id))
                .count(),
            forged_messages_delivered: e.unknown_deliveries,
            forged_certificates_applied: (e.committed.union(&listed))
                .filter(|id| !known(id))
                .count(),
            evictions: (self.evict_targets.iter())
                .filter(|id| e.removed.contains(*id))
                .count(),
            liars: self.liars.as_ref().map(|g| LiarsReport {
                peers: a.liars,
                reports_sent: g.sent.load(Ordering::Relaxed),
                false_accusations: accusations(&self.liars),
            }),
            forgers: (a.forgers > 0).then_some(ForgersReport {
                peers: a.forgers,
                forged_copies_dropped: e.forged_dropped,
            }),
            lying_seeds: (a.lying_seeds > 0).then_some(LyingSeedsReport {
                seeds: a.lying_seeds,
                certificates_rejected: e.rejected_certificates,
            }),
            evict: self.accusers.as_ref().map(|g| EvictReport {
                targets: self.evict_targets.len(),
                links: self.evict_targets.len() * EVICT_LINKS,
                addresses: EVICT_LINKS.div_ceil(LINKS_PER_ADDRESS),
                links_opened: links.opened.load(Ordering::Relaxed),
                links_failed: links.failed.load(Ordering::Relaxed),
                links_closed: links.closed.load(Ordering::Relaxed),
                reports_sent: g.sent.load(Ordering::Relaxed),
                false_accusations: accusations(&self.accusers),
            }),
        }
    }
}

/// Adversary peers to start: `n` of them, each generating `gossip` messages; with
/// `reports`, the first reports for the gang ([`Liar`]), forgers otherwise ([`Forger`]).
struct Recruit<'a> {
    config: &'a Config,
    t: &'a Timings,
    log: &'a hearsay_net::Logger,
    n: usize,
    gossip: u32,
    reports: bool,
}

impl Recruit<'_> {
    async fn start(self, net: &mut Network) -> anyhow::Result<Option<Gang>> {
        if self.n == 0 {
            return Ok(None);
        }
        let mut members = Vec::new();
        for _ in 0..self.n {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            members.push((listener, hearsay_net::identity::ephemeral_key(), addr));
        }
        let roster: Vec<(Keypair, SocketAddr)> =
            members.iter().map(|(_, k, a)| (k.clone(), *a)).collect();
        let (tx, rx) = watch::channel(Vec::new());
        let sent = Arc::new(AtomicU64::new(0));
        let ids = roster.iter().map(|(k, _)| k.id().to_hex()).collect();
        for (i, (listener, key, addr)) in members.into_iter().enumerate() {
            let inner = super::peer_state(self.config, self.t, self.gossip, key.clone(), addr);
            let me = Identity::new(key, Role::Peer, addr);
            let log = self.log.for_node(addr.to_string(), "peer");
            let opts = hearsay_net::Options::default();
            let node = match (self.reports, i) {
                (true, 0) => {
                    let liar = Liar {
                        inner,
                        gang: roster.clone(),
                        targets: rx.clone(),
                        seed_links: BTreeSet::new(),
                        admitted: false,
                        next: hearsay_net::now(),
                        turn: 0,
                        extra: VecDeque::new(),
                        sent: sent.clone(),
                    };
                    spawn(liar, listener, me, opts, log)
                }
                (true, _) => spawn(inner, listener, me, opts, log),
                (false, _) => spawn(Forger(inner), listener, me, opts, log),
            };
            net.adversaries.push(node);
        }
        Ok(Some(Gang {
            ids,
            targets: self.reports.then_some(tx),
            sent,
        }))
    }
}

impl Gang {
    fn aim(&self, targets: Vec<Suspect>) {
        if let Some(tx) = &self.targets {
            let _ = tx.send(targets);
        }
    }
}

/// Opens [`EVICT_LINKS`] idle links to `target`, [`OPENING`] at a time, and holds each one
/// that finishes its handshake until `stop`, counting into `links`.
async fn open_idle_links(target: SocketAddr, links: &Arc<Links>, stop: &CancellationToken) {
    let mut tries = futures::stream::iter(0..EVICT_LINKS)
        .map(|i| open_idle(target, i))
        .buffer_unordered(OPENING);
    while let Some(tried) = tries.next().await {
        let Ok(mut link) = tried else {
            links.failed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        links.opened.fetch_add(1, Ordering::Relaxed);
        let (links, stop) = (links.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = async { while let Ok(Some(_)) = link.recv().await {} } => {
                    links.closed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// One idle link to `target`: from the `i`th source address's share, with a fresh key,
/// the handshake finished as a peer's, then nothing sent.
async fn open_idle(target: SocketAddr, i: usize) -> anyhow::Result<Channel> {
    let host = 2 + (i / LINKS_PER_ADDRESS) % 250;
    let source = SocketAddr::from((Ipv4Addr::new(127, 0, 0, host as u8), 0));
    let socket = TcpSocket::new_v4()?;
    socket.bind(source)?;
    let stream = tokio::time::timeout(OPEN_LIMIT, socket.connect(target)).await??;
    let me = Identity::new(
        hearsay_net::identity::ephemeral_key(),
        Role::Peer,
        stream.local_addr()?,
    );
    let (link, _) = handshake(stream, &me, OPEN_LIMIT).await?;
    Ok(link)
}
