//! `hearsay up`: one command runs, narrates and sums up a whole local network (issue 5).
//!
//! It starts the config's seeds (one child process of the `seed` binary beside this one) and
//! `--peers` peers (child processes of the `peer` binary, or with `--in-process` tasks of
//! this runtime), shows
//! progress, lets gossip run, kills `--kill` peers and follows them until every seed has
//! removed them, then prints the summary and stops everything. Ctrl+C at any moment stops
//! every child. With `--liars`, `--forgers`, `--lying-seeds` or `--evict` it runs attacks
//! beside the honest network ([`attack`]) and sums up what became of each.

pub mod attack;
pub mod hosts;
mod narrator;
mod partition;

use narrator::Narrator;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hearsay_net::conn::Identity;
use hearsay_proto::config::Config;
use hearsay_proto::sig::{Checks, HashKeys};
use hearsay_proto::{peer, Role};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::dashboard;
use crate::summary::{self, EventLine, Summary};

/// What `hearsay up` was asked for (its flags).
#[derive(clap::Args, Clone, Debug)]
pub struct Plan {
    /// Peers to start.
    #[arg(long, default_value_t = 10)]
    pub peers: usize,
    /// Seeds on fresh local ports (default: the config's seeds).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Peers to crash on purpose after the gossip rounds.
    #[arg(long, default_value_t = 1)]
    pub kill: usize,
    /// Divide every interval by this (20: a 5 s gossip interval becomes 250 ms).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Gossip messages each originating peer generates.
    #[arg(long, default_value_t = 10)]
    pub gossip_count: u32,
    /// Only the first N peers generate gossip (default: every peer).
    #[arg(long)]
    pub originators: Option<usize>,
    /// Run every node as a task of this process (for thousands of peers).
    #[arg(long)]
    pub in_process: bool,
    /// With --in-process: the threads the peers are dealt to, each running its peers alone
    /// [default: one per core]. One thread costs the least CPU per delivery; more deliver
    /// sooner under load, each link between two threads costing a wake-up.
    #[arg(long, requires = "in_process", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Every seed and every peer on a host of its own: a network namespace with its own
    /// address on a private bridge (Linux, as root).
    #[arg(long)]
    pub hosts: bool,
    /// With --hosts: peers whose host is taken off the network after the gossip rounds (no
    /// TCP, no ICMP), besides the --kill peers whose process dies on a host that stays up.
    #[arg(long, default_value_t = 0, requires = "hosts")]
    pub kill_hosts: usize,
    /// With --hosts: this share of the peers (between 0 and 1) is cut off from the seeds and
    /// the other peers, from two gossip intervals into the gossip, for --partition-for; then
    /// the network heals.
    #[arg(long, requires = "hosts")]
    pub partition: Option<f64>,
    /// How long the partition lasts [default: ten ping intervals, long enough for the seeds
    /// to remove the peers they cannot reach].
    #[arg(long, value_parser = crate::duration, requires = "partition")]
    pub partition_for: Option<Duration>,
    /// Stay up after the summary until Ctrl+C.
    #[arg(long)]
    pub keep: bool,
    /// Serve a live page of the run here (port 0: a free one) and print its URL; with --keep
    /// it stays up after the summary [default: 127.0.0.1:8080].
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub dashboard: Option<SocketAddr>,
    /// Serve the whole run's Prometheus metrics at http://ADDR/metrics (every seed's and
    /// peer's, each sample labelled with its node; port 0: a free one).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Also write the summary as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where the run's files go (default: a fresh runs/<time>/).
    #[arg(long, default_value_os_t = run_dir(), hide_default_value = true)]
    pub dir: PathBuf,
    /// The seed list (ignored with --seeds).
    #[arg(long, default_value = "config.txt")]
    pub config: PathBuf,
    /// Attacks to run beside the honest network.
    #[command(flatten)]
    pub attacks: attack::Attacks,
}

/// `runs/<UTC time>`, fresh for every run.
fn run_dir() -> PathBuf {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    PathBuf::from("runs").join(t.replace(':', "-"))
}

/// The shortest announcement hold `--speed` makes: a hold waits for a message's tree to
/// deliver it (PROTOCOL §11.7, point 5), which takes the host's time, not the protocol's.
/// Shorter, announcements go before the tree has delivered, and the requests they draw
/// bring duplicates (docs/PERFORMANCE.md, issue 13's twenty-fourth session).
const MIN_HOLD: Duration = Duration::from_millis(50);

/// The task's timings (SPEC §9), divided by `speed`; the announcement hold no shorter than
/// [`MIN_HOLD`].
struct Timings {
    gossip_delay: Duration,
    gossip_interval: Duration,
    gossip_count: u32,
    ping_interval: Duration,
    verdict_timeout: Duration,
    announce_hold: Duration,
}

impl Timings {
    /// The run's per-origin gossip bound, for every peer, whatever it generates itself.
    fn origin_bound(&self) -> (u32, Duration) {
        peer::origin_bound(self.gossip_count, self.gossip_interval)
    }

    /// Whether every peer grows push trees from an origin's first message: where the run's
    /// origins send more than one (PROTOCOL §11.7), whatever a peer generates itself.
    fn trees_from_first(&self) -> bool {
        self.gossip_count > 1
    }

    fn new(plan: &Plan) -> Timings {
        let scaled = |d: Duration| d.div_f64(plan.speed.max(0.01));
        Timings {
            // Long enough for every peer to join first, so that coverage means something.
            gossip_delay: Duration::from_secs(2) + Duration::from_millis(20 * plan.peers as u64),
            gossip_interval: scaled(Duration::from_secs(5)),
            gossip_count: plan.gossip_count,
            ping_interval: scaled(Duration::from_secs(13)),
            verdict_timeout: scaled(Duration::from_secs(5)).max(Duration::from_millis(500)),
            announce_hold: scaled(peer::Settings::default().announce_hold).max(MIN_HOLD),
        }
    }
}

/// A running node, whichever way it runs.
enum Node {
    Process(Child),
    Task(CancellationToken),
}

impl Node {
    /// Kills it; returns the CPU seconds a child process had used.
    async fn kill(&mut self) -> f64 {
        let used = self.cpu();
        match self {
            Node::Process(c) => {
                let _ = c.kill().await;
            }
            Node::Task(t) => t.cancel(),
        }
        used
    }

    /// CPU seconds used so far by a live child process (a task's count in this process's).
    fn cpu(&self) -> f64 {
        match self {
            Node::Process(c) => c.id().map_or(0.0, crate::os::cpu_of),
            Node::Task(_) => 0.0,
        }
    }
}

/// A started peer: its name (`peerN`), how it runs, its id when known at start, and its
/// host with `--hosts`.
struct Started {
    name: String,
    node: Node,
    id: Option<String>,
    host: Option<usize>,
}

/// Everything started, stopped when dropped (child processes are killed on drop too).
struct Network {
    seeds: Vec<SocketAddr>,
    seed_nodes: Vec<Node>,
    peers: Vec<Started>,
    /// The attacks' nodes and links (tasks of this process).
    adversaries: Vec<Node>,
    /// CPU seconds of child processes already killed.
    cpu_of_killed: f64,
    /// With `--hosts`, every node's host; removed when dropped, after the nodes stopped.
    hosts: Option<hosts::Hosts>,
    /// With `--dashboard`, what its page shows.
    board: Option<dashboard::Shared>,
    /// With `--metrics`, this process's metrics (in-process peers) and where each child
    /// process serves its own.
    metrics: Option<RunMetrics>,
    /// With `--in-process`, what the peers share and the threads they run on, until the
    /// network is dropped.
    in_process: Option<InProcess>,
}

/// The whole run's metrics: this process's, and its children's, scraped on each request.
#[derive(Clone)]
struct RunMetrics {
    own: Arc<hearsay_net::metrics::Metrics>,
    children: Arc<std::sync::Mutex<Vec<SocketAddr>>>,
}

impl RunMetrics {
    /// A free local address for a child's `--metrics`, which this run then scrapes.
    fn child(&self) -> anyhow::Result<SocketAddr> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        (self.children.lock().unwrap_or_else(|e| e.into_inner())).push(addr);
        Ok(addr)
    }

    /// Every process's exposition, merged.
    async fn text(&self) -> String {
        let children = self
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut texts = vec![self.own.encode()];
        for addr in children {
            if let Ok(text) = scrape(addr).await {
                texts.push(text);
            }
        }
        hearsay_net::metrics::merge(&texts)
    }
}

/// `GET /metrics` of a child process, within 2 s.
async fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let get = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(get.as_bytes()).await?;
        let mut text = String::new();
        s.take(16 << 20).read_to_string(&mut text).await?;
        anyhow::Ok(text)
    };
    let text = tokio::time::timeout(Duration::from_secs(2), ask).await??;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => bail!("{addr} answered no metrics"),
    }
}

/// Serves the whole run's metrics at `addr` until `stop`, and says where.
async fn start_metrics(
    addr: SocketAddr,
    stop: &CancellationToken,
    say: &mut Narrator,
) -> anyhow::Result<RunMetrics> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics at {addr}"))?;
    let bound = listener.local_addr()?;
    let run = RunMetrics {
        own: hearsay_net::metrics::Metrics::new(),
        children: Arc::default(),
    };
    let served = run.clone();
    let page = move || {
        let run = served.clone();
        async move {
            let kind = [(
                axum::http::header::CONTENT_TYPE,
                hearsay_net::metrics::CONTENT_TYPE,
            )];
            (kind, run.text().await)
        }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(page));
    let stop = stop.clone();
    tokio::spawn(async move {
        let quit = async move { stop.cancelled().await };
        axum::serve(listener, app)
            .with_graceful_shutdown(quit)
            .await
    });
    say.line(&format!("metrics: http://{bound}/metrics"));
    Ok(run)
}

impl Network {
    async fn stop(&mut self) {
        for p in &mut self.peers {
            p.node.kill().await;
        }
        for s in &mut self.seed_nodes {
            s.kill().await;
        }
        for a in &mut self.adversaries {
            a.kill().await;
        }
    }

    /// CPU seconds used by the whole network so far: this process and every child.
    fn cpu(&self) -> f64 {
        crate::os::cpu_of(std::process::id())
            + self.cpu_of_killed
            + self.seed_nodes.iter().map(Node::cpu).sum::<f64>()
            + self.peers.iter().map(|p| p.node.cpu()).sum::<f64>()
    }
}

/// Open files the busiest process of `plan`'s network needs, given `seeds` seeds: in-process
/// peers each hold a listener, both ends of their overlay links (`links` dialled each) and
/// their end of `q` seed links; the seed process holds the other end of every seed link; a
/// peer process holds at most `max_links` links. Dial-backs, probes and status queries in
/// flight add a sixteenth, and every process needs a few dozen of its own.
pub fn open_files_needed(plan: &Plan, seeds: usize) -> u64 {
    let s = peer::Settings::default();
    let (n, q) = (
        plan.peers as u64,
        hearsay_proto::quorum::quorum(seeds) as u64,
    );
    let in_flight = n / 16;
    let seed_process = 64 + q * n + in_flight;
    let attacks = plan.attacks.open_files(n, q, seeds as u64);
    let busiest = if plan.in_process {
        64 + n * (1 + 2 * s.links as u64 + q) + in_flight + attacks
    } else {
        // This process holds a handle per child and the attacks' links; a peer process, its
        // links.
        (64 + n + attacks).max(64 + s.max_links as u64 + q)
    };
    busiest.max(seed_process)
}

/// Raises the open-file limit as far as allowed; refuses, with one sentence naming the need,
/// the limit and `ulimit -n`, a network that would not fit. Starts and writes nothing.
pub fn check_open_files(plan: &Plan) -> anyhow::Result<()> {
    let seeds = match plan.seeds {
        Some(n) => n.max(1),
        None => crate::load_config(&plan.config)?.seeds.len(),
    };
    let need = open_files_needed(plan, seeds);
    let limit = crate::os::raise_open_files();
    if need > limit {
        let how = if plan.in_process {
            " in one process"
        } else {
            ""
        };
        bail!(
            "{} peers{how} need about {need} open files, but the limit here is {limit}: raise it with `ulimit -n {need}` or start fewer peers",
            plan.peers
        );
    }
    Ok(())
}

/// Refuses, with one sentence, `--hosts` where it cannot run: with `--in-process` or
/// attacks, or without root or network namespaces.
pub fn check_hosts(plan: &Plan) -> anyhow::Result<()> {
    if !plan.hosts {
        return Ok(());
    }
    if plan.in_process {
        bail!("--hosts runs every node as a process on a host of its own: leave out --in-process");
    }
    if plan.metrics.is_some() {
        bail!("--metrics does not reach nodes on hosts of their own yet: leave out --metrics or --hosts");
    }
    if plan.attacks.any() {
        bail!("--hosts does not run attacks yet: leave out --liars, --forgers, --lying-seeds and --evict");
    }
    if plan
        .partition
        .is_some_and(|f| !(f > 0.0 && f < 1.0) || plan.peers < 2)
    {
        bail!("--partition takes a share of the peers between 0 and 1, of at least 2 peers");
    }
    match hosts::unavailable() {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

/// Runs the whole thing; returns the summary.
/// Runs the network of `plan` to its summary, hands the summary to `report` (to print and
/// write out), and with `--keep` stays up until `cancel`.
pub async fn up(
    plan: Plan,
    cancel: CancellationToken,
    report: impl FnOnce(&Summary) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(&plan.dir)
        .with_context(|| format!("cannot make the run directory {}", plan.dir.display()))?;
    let mut say = Narrator::new();
    let mut hosts = match plan.hosts {
        true => {
            for what in hosts::remove_stale() {
                say.line(&format!("removed the {what}, left by an earlier run"));
            }
            Some(hosts::Hosts::new()?)
        }
        false => None,
    };
    let config = write_config(&plan, hosts.as_mut())?;
    let timings = Timings::new(&plan);
    say.line(&format!(
        "hearsay up: {} seeds, {} peers, gossip every {:?}, pings every {:?}; files in {}",
        config.seeds.len(),
        plan.peers,
        timings.gossip_interval,
        timings.ping_interval,
        plan.dir.display()
    ));
    let seeds: Vec<SocketAddr> = config.seeds.iter().map(|s| s.addr).collect();
    let pages = CancellationToken::new();
    let board = match plan.dashboard {
        Some(addr) => Some(start_dashboard(addr, &plan.dir, &seeds, &pages, &mut say).await?),
        None => None,
    };
    let metrics = match plan.metrics {
        Some(addr) => Some(start_metrics(addr, &pages, &mut say).await?),
        None => None,
    };
    let mut net = Network {
        seeds,
        seed_nodes: Vec::new(),
        peers: Vec::new(),
        adversaries: Vec::new(),
        cpu_of_killed: 0.0,
        hosts,
        board,
        metrics,
        in_process: None,
    };
    let result = tokio::select! {
        r = run(&plan, &config, &timings, &mut net, &mut say) => r,
        _ = cancel.cancelled() => Err(anyhow::anyhow!("interrupted: every node stopped")),
    };
    let result = result.and_then(|summary| report(&summary).map(|()| summary));
    if let (Ok(summary), Some(board)) = (&result, &net.board) {
        let json = serde_json::to_value(summary).unwrap_or_default();
        dashboard::lock(board).finished(json);
    }
    if let (Ok(_), true) = (&result, plan.keep) {
        say.line("staying up: Ctrl+C to stop");
        cancel.cancelled().await;
    }
    pages.cancel();
    net.stop().await;
    result
}

/// Serves the run's dashboard at `addr`, fed from `dir`'s events and the `seeds`' status
/// until `stop`, and says where.
async fn start_dashboard(
    addr: SocketAddr,
    dir: &Path,
    seeds: &[SocketAddr],
    stop: &CancellationToken,
    say: &mut Narrator,
) -> anyhow::Result<dashboard::Shared> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve the dashboard at {addr}"))?;
    let bound = listener.local_addr()?;
    let board = dashboard::Shared::default();
    let app = dashboard::App::new(board.clone(), None);
    tokio::spawn(dashboard::serve(listener, app, stop.clone()));
    let feed = dashboard::follow(
        board.clone(),
        vec![dir.into()],
        seeds.to_vec(),
        stop.clone(),
    );
    tokio::spawn(feed);
    say.line(&format!("dashboard: http://{bound}/"));
    Ok(board)
}

async fn run(
    plan: &Plan,
    config: &Config,
    t: &Timings,
    net: &mut Network,
    say: &mut Narrator,
) -> anyhow::Result<Summary> {
    let cfg_path = plan.dir.join("config.txt");
    let lying = attack::lying_seeds(plan, config);
    start_seeds(plan, &cfg_path, &lying, net)?;
    attack::start_lying_seeds(plan, config, &lying, net).await?;
    wait_until(Duration::from_secs(15), || async {
        for s in &net.seeds {
            if hearsay_net::fetch_status(*s, Duration::from_secs(1))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    })
    .await
    .then_some(())
    .context("the seeds did not come up within 15 s")?;
    say.line(&format!(
        "seeds up: {}/{}",
        net.seeds.len(),
        net.seeds.len()
    ));

    // In-process peers trust each other's signature checks: one check per message, not one
    // per message and peer (process mode checks in every process, as a real network does).
    // They share one events file, so that a thousand peers need no thousand open files.
    let n = plan.peers;
    if plan.in_process {
        net.in_process = Some(InProcess {
            checks: Checks::shared(1_000_000, HashKeys::from_seed(hearsay_net::random())),
            log: logger(&plan.dir, "peers.jsonl")?
                .with_metrics(net.metrics.as_ref().map(|m| m.own.clone())),
            shards: Shards::start(plan.threads, n)?,
        });
    }
    let originators = plan.originators.unwrap_or(n).min(n);
    for i in 0..n {
        let count = if i < originators { t.gossip_count } else { 0 };
        let (node, id, host) = match &mut net.in_process {
            Some(s) => {
                let (node, id) = start_task(config, t, count, s).await?;
                (node, Some(id), None)
            }
            None => start_process(plan, &cfg_path, t, (i, count), net)?,
        };
        let name = format!("peer{i}");
        net.peers.push(Started {
            name,
            node,
            id,
            host,
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut war = match plan.attacks.any() {
        true => Some(attack::War::start(plan, config, t, net, say).await?),
        false => None,
    };

    // Gossip: wait for every message to reach every peer, within a bound.
    let expected = originators * n.saturating_sub(1) * t.gossip_count as usize;
    // Every delivery in, or none for 5 s once the last message was due (or 10 minutes).
    let due = t.gossip_delay + t.gossip_interval * t.gossip_count + Duration::from_secs(2);
    let start = Instant::now();
    let mut split = plan.partition.map(|f| {
        let peer_hosts: Vec<usize> = net.peers.iter().filter_map(|p| p.host).collect();
        let from = start + t.gossip_delay + 2 * t.gossip_interval;
        let window = plan.partition_for.unwrap_or(10 * t.ping_interval);
        partition::Partition::new(f, &peer_hosts, from, window)
    });
    let mut p = Progress::default();
    let (mut last, mut last_change) = (0, Instant::now());
    // The CPU used while the messages spread, to tell a saturated machine: sampled at most
    // once a second (a process each, with --processes), up to the last new delivery.
    let cpu_before = net.cpu();
    let (mut spread, mut sampled) = ((0.0, Duration::ZERO), start);
    loop {
        if let (Some(split), Some(hosts)) = (&mut split, &mut net.hosts) {
            if let Some(what) = split.step(Instant::now(), hosts)? {
                say.line(&what);
            }
            if split.healed().is_some() {
                if let Some(what) = split.observe(settled(&net.seeds, n).await) {
                    say.line(what);
                }
            }
        }
        p.update(&plan.dir);
        say.progress(&format!(
            "peers admitted {}/{n}   deliveries {}/{expected}   suspicions {}   removals {}",
            p.admitted,
            p.deliveries,
            p.suspicions,
            p.removed.len()
        ));
        if p.deliveries != last {
            (last, last_change) = (p.deliveries, Instant::now());
            if sampled.elapsed() >= Duration::from_secs(1) || p.deliveries >= expected {
                sampled = Instant::now();
                spread = (net.cpu() - cpu_before, start.elapsed());
            }
        }
        let stalled = start.elapsed() > due && last_change.elapsed() > Duration::from_secs(5);
        let healed = split.as_ref().is_none_or(|s| s.healed().is_some());
        let over = (p.deliveries >= expected || stalled) && healed;
        if over || start.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    say.done();
    let split = match split {
        Some(s) => Some(after_partition(plan, net, s, say).await?),
        None => None,
    };

    // Crash some peers on purpose (their process, or with --kill-hosts their whole host) and
    // follow them until every seed has removed them.
    let mut kills = BTreeMap::new();
    let mut lost = Vec::new();
    let doomed = (plan.kill + plan.kill_hosts).min(n);
    // Child processes' ids are in their events files (read only when needed: they are large).
    let ids = if plan.in_process || doomed == 0 {
        BTreeMap::new()
    } else {
        peer_ids(&plan.dir)
    };
    if let Some(w) = &mut war {
        // Nobody may accuse a peer about to be killed: its removal would be no lie.
        let ids = (0..doomed).filter_map(|k| {
            let p = &net.peers[kill_index(k, doomed, n)];
            p.id.clone().or_else(|| ids.get(&p.name).cloned())
        });
        w.spare(&ids.collect::<Vec<_>>());
    }
    for k in 0..doomed {
        let p = &mut net.peers[kill_index(k, doomed, n)];
        let how = match (k < plan.kill, &net.hosts, p.host) {
            (false, Some(hosts), Some(host)) => {
                hosts.cut(host)?;
                summary::Loss::HostCut
            }
            _ => {
                net.cpu_of_killed += p.node.kill().await;
                summary::Loss::ProcessKilled
            }
        };
        if let Some(id) = p.id.as_ref().or_else(|| ids.get(p.name.as_str())) {
            kills.insert(id.clone(), hearsay_net::now().0);
            if let Some(board) = &net.board {
                dashboard::lock(board).killed(id);
            }
            let what = match how {
                summary::Loss::HostCut => "took the host of",
                summary::Loss::ProcessKilled => "killed",
            };
            say.line(&format!("{what} {} ({:.8})", p.name, id));
            lost.push((p.name.clone(), id.clone(), how));
        }
    }
    if !kills.is_empty() {
        let bound = t.ping_interval * 4 + t.verdict_timeout + Duration::from_secs(20);
        let removed = wait_until(bound, || async {
            for s in &net.seeds {
                let Ok(st) = hearsay_net::fetch_status(*s, Duration::from_secs(2)).await else {
                    return false;
                };
                if st.peers.iter().any(|p| kills.contains_key(&p.id.to_hex())) {
                    return false;
                }
            }
            true
        })
        .await;
        p.update(&plan.dir);
        say.line(&format!(
            "suspicions {}, removals {}: {}",
            p.suspicions,
            p.removed.len(),
            if removed {
                "every seed removed the killed peers"
            } else {
                "not every seed removed them in time"
            }
        ));
    }
    if let Some(w) = &war {
        w.last_long_enough(say).await;
    }
    // Let the last events and counters land.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = hearsay_net::fetch_status(net.seeds[0], Duration::from_secs(5))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let status = summary::status_json(&status);
    let mut topology = serde_json::to_value(&status)?;
    if let (Some(hosts), Some(map)) = (&net.hosts, topology.as_object_mut()) {
        // Every node's host, the lost ones too: the overlay above holds only the live.
        let seeds = (net.seeds.iter()).map(|a| serde_json::json!({"role": "seed", "addr": a}));
        let peers = (net.peers.iter()).filter_map(|p| {
            let addr = SocketAddr::new(hosts.address_of(p.host?), PEER_PORT);
            Some(serde_json::json!({"role": "peer", "name": p.name, "addr": addr}))
        });
        map.insert("hosts".into(), seeds.chain(peers).collect());
    }
    std::fs::write(
        plan.dir.join("topology.json"),
        serde_json::to_string_pretty(&topology)?,
    )?;
    let cpu = net.cpu();
    // A removal counts once every honest seed logged it: lying seeds log apart.
    let honest = net.seeds.len() - lying.len();
    let mut summary = summary::summarise_dir(&plan.dir, &status, honest, &kills);
    for l in &mut summary.failures.lost {
        if let Some((name, _, how)) = lost.iter().find(|(_, id, _)| *id == l.id) {
            l.name = name.clone();
            // How each was lost is told one by one where it makes a difference: on hosts.
            l.how = net.hosts.is_some().then_some(*how);
        }
    }
    if let Some((mut part, cut, settled_at)) = split {
        // The peers cut off were out of the quorum's reach: their removal is no false one.
        let f = &mut summary.failures;
        f.false_removals = (f.removed_ids.iter())
            .filter(|id| !kills.contains_key(*id) && !cut.contains(*id))
            .count();
        part.removed = f.removed_ids.intersection(&cut).count();
        let listed: BTreeSet<&String> = status.peers.iter().map(|p| &p.id).collect();
        part.back = cut.iter().filter(|id| listed.contains(id)).count();
        if let Some(since) = settled_at {
            let live = status.peers.iter().map(|p| p.addr.clone()).collect();
            (part.messages_after, part.coverage_after_min) =
                summary::coverage_since(&plan.dir, since, &live);
        }
        summary.partition = Some(part);
    }
    summary.seeds = net.seeds.len();
    let cpu = summary::Cpu::new(cpu, summary.gossip.latency_ms.n);
    summary.cpu = Some(cpu.spreading(spread.0, spread.1, crate::os::cores()));
    if let Some(w) = war {
        summary.attacks = Some(w.report(&summary.evidence, &kills).await);
    }
    Ok(summary)
}

/// Whether the network has settled: every seed's Peer List holds the same `n` peers (so,
/// before any kill, every one), and the overlay each reports is connected by links both ends
/// report (a returning peer's old neighbours may still report links it dropped). `None`: a
/// seed did not answer, so it cannot tell.
async fn settled(seeds: &[SocketAddr], n: usize) -> Option<bool> {
    let mut first = None;
    for s in seeds {
        let st = hearsay_net::fetch_status(*s, Duration::from_secs(1))
            .await
            .ok()?;
        let ids: BTreeSet<_> = st.peers.iter().map(|p| p.id).collect();
        if ids.len() != n || first.get_or_insert_with(|| ids.clone()) != &ids {
            return Some(false);
        }
        if !summary::connected_both_ways(&summary::status_json(&st)) {
            return Some(false);
        }
    }
    Some(true)
}

/// After the gossip: heals the partition if the gossip ended first, and waits (30 s at most)
/// until the network settles if it did not yet. Returns the partition's summary so far, the
/// ids of the peers it cut off, and when the network settled (Unix ms).
async fn after_partition(
    plan: &Plan,
    net: &mut Network,
    mut split: partition::Partition,
    say: &mut Narrator,
) -> anyhow::Result<(summary::PartitionSummary, BTreeSet<String>, Option<u64>)> {
    if let Some(hosts) = &mut net.hosts {
        while split.healed().is_none() {
            if let Some(what) = split.step(Instant::now(), hosts)? {
                say.line(&what);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if split.settled().is_none() {
        let n = plan.peers;
        let now_settled = || async { settled(&net.seeds, n).await == Some(true) };
        if wait_until(Duration::from_secs(30), now_settled).await {
            split.settle();
        }
    }
    let healed = split.healed().map(|(at, _)| at);
    let settled_at = split.settled();
    let settled_ms = (healed.zip(settled_at))
        .map(|(h, (a, _))| a.saturating_duration_since(h).as_millis() as u64);
    say.line(&match settled_ms {
        Some(ms) => format!(
            "every seed's Peer List agrees again and the overlay is connected, {ms} ms after healing"
        ),
        None => "the network did not settle within 30 s of healing".into(),
    });
    let ids = peer_ids(&plan.dir);
    let cut = (split.peers.iter())
        .filter_map(|i| ids.get(&format!("peer{i}")).cloned())
        .collect();
    let part = summary::PartitionSummary {
        peers_cut: split.peers.len(),
        window_ms: split.window().as_millis() as u64,
        settled_ms,
        ..Default::default()
    };
    Ok((part, cut, settled_at.map(|(_, ms)| ms)))
}

/// The `k`th of `kill` peers to crash, of `n`: spread over the peers, old and young.
fn kill_index(k: usize, kill: usize, n: usize) -> usize {
    (2 * k + 1) * n / (2 * kill.min(n))
}

/// The port every seed listens on with `--hosts` (each has a host of its own).
const SEED_PORT: u16 = 6000;
/// The port every peer listens on with `--hosts`.
const PEER_PORT: u16 = 7000;

/// Writes the run's config: the given one, or `seeds` fresh local ports; with `hosts`, as
/// many seeds (`--seeds`, or the config's count), each on a new host of its own (hosts 0 to
/// seeds - 1).
fn write_config(plan: &Plan, hosts: Option<&mut hosts::Hosts>) -> anyhow::Result<Config> {
    let on_hosts = hosts.is_some();
    let text = match (plan.seeds, hosts) {
        (seeds, Some(hosts)) => {
            let n = match seeds {
                Some(n) => n.max(1),
                None => crate::load_config(&plan.config)?.seeds.len(),
            };
            let mut text = String::from("# written by hearsay up --hosts: a host per seed\n");
            for _ in 0..n {
                let (_, ip) = hosts.add()?;
                text += &format!("{}\n", SocketAddr::new(ip, SEED_PORT));
            }
            text
        }
        (Some(n), None) => {
            let listeners: Vec<std::net::TcpListener> = (0..n.max(1))
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
                .collect::<Result<_, _>>()?;
            let mut text = String::from("# written by hearsay up\n");
            for l in &listeners {
                text += &format!("{}\n", l.local_addr()?);
            }
            text
        }
        (None, None) => std::fs::read_to_string(&plan.config)
            .with_context(|| format!("cannot read the config {}", plan.config.display()))?,
    };
    let path = plan.dir.join("config.txt");
    std::fs::write(&path, &text)?;
    let config = crate::load_config(&path)?;
    let local = plan.seeds.is_some() || on_hosts;
    if !local && config.seeds.iter().any(|s| !s.addr.ip().is_loopback()) {
        bail!(
            "{} lists seeds that are not on 127.0.0.1: pass --seeds N for a local network",
            plan.config.display()
        );
    }
    Ok(config)
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name(name);
    if !path.exists() {
        bail!(
            "cannot find the `{name}` program beside {}: build it with `cargo build --release`",
            me.display()
        );
    }
    Ok(path)
}

fn common_args(dir: &Path, cfg: &Path, events: &str) -> Vec<String> {
    vec![
        "--config".into(),
        cfg.display().to_string(),
        "--out".into(),
        dir.join("outputfile.txt").display().to_string(),
        "--events".into(),
        dir.join(events).display().to_string(),
        "--data-dir".into(),
        dir.join("data").display().to_string(),
        "--quiet".into(),
    ]
}

/// Every peer of a local network comes from 127.0.0.1: the per-source rate limit, and the
/// share of registrations from one network, must let them all (the attacks' peers too)
/// register at once.
fn rate_burst(plan: &Plan) -> usize {
    64 + 2 * (plan.peers + plan.attacks.peers())
}

/// Inbound slots of a seed: any seed may be one of every peer's quorum, with dial-backs and
/// probes besides.
fn seed_slots(plan: &Plan) -> usize {
    let n = plan.peers + plan.attacks.peers();
    hearsay_net::Options::default()
        .max_connections
        .max(n + n / 16 + 64)
}

/// Starts the seeds: one `seed` process serving every seed of the config, in either mode
/// (in-process peers too), so that their connections count against its own open-file limit.
/// The seeds in `lying` are left out (they run as lying seeds in this process); the others
/// then run one process each.
fn start_seeds(
    plan: &Plan,
    cfg: &Path,
    lying: &[SocketAddr],
    net: &mut Network,
) -> anyhow::Result<()> {
    let (burst, slots) = (rate_burst(plan).to_string(), seed_slots(plan).to_string());
    // One process for every seed of the config, unless some seeds run apart: lying ones
    // here, or each on its own host.
    let only: Vec<(Option<usize>, Option<SocketAddr>)> = match (lying.is_empty(), &net.hosts) {
        (_, Some(_)) => (net.seeds.iter().enumerate())
            .map(|(host, s)| (Some(host), Some(*s)))
            .collect(),
        (true, None) => vec![(None, None)],
        (false, None) => (net.seeds.iter())
            .filter(|s| !lying.contains(s))
            .map(|s| (None, Some(*s)))
            .collect(),
    };
    for (host, addr) in only {
        let child = program(net, host, "seed")?
            .args(common_args(&plan.dir, cfg, "seeds.jsonl"))
            .args(["--rate-burst", &burst, "--max-connections", &slots])
            .args(["--registrations-per-network", &burst])
            .args(addr.map(|a| format!("--addr={a}")))
            .args(metrics_args(net)?)
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("cannot start the seeds")?;
        net.seed_nodes.push(Node::Process(child));
    }
    Ok(())
}

/// A peer's state machine at `addr` with `key` and the run's timings, generating
/// `gossip_count` messages.
fn peer_state(
    config: &Config,
    t: &Timings,
    gossip_count: u32,
    key: hearsay_proto::Keypair,
    addr: SocketAddr,
) -> peer::State {
    let (origin_burst, origin_every) = t.origin_bound();
    let settings = peer::Settings {
        origin_burst,
        origin_every,
        gossip_delay: t.gossip_delay,
        gossip_interval: t.gossip_interval,
        gossip_count,
        ping_interval: t.ping_interval,
        verdict_timeout: t.verdict_timeout,
        announce_hold: t.announce_hold,
        trees_from_first: t.trees_from_first(),
        ..peer::Settings::default()
    };
    let now = hearsay_net::now();
    peer::State::new(
        now,
        key,
        addr,
        1,
        config.clone(),
        settings,
        hearsay_net::random(),
    )
}

/// What in-process peers share.
struct InProcess {
    checks: Checks,
    log: hearsay_net::Logger,
    /// The threads they are dealt to.
    shards: Shards,
}

/// Single-threaded runtimes (one per core, or `--threads`) that in-process peers are dealt to
/// in turn: a node's tasks (its links' readers and writers) wake each other on one thread,
/// with no worker pool handing work across cores, and the cores still share the peers.
struct Shards {
    handles: Vec<tokio::runtime::Handle>,
    /// Dealt the last peer.
    last: usize,
    /// Dropped, it stops the shards' threads.
    _stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Shards {
    /// `threads` of them (one per core if `None`), but no more than `peers`.
    fn start(threads: Option<u16>, peers: usize) -> anyhow::Result<Shards> {
        let n = threads
            .map_or_else(crate::os::cores, usize::from)
            .min(peers.max(1));
        let (mut handles, mut stops) = (Vec::new(), Vec::new());
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            handles.push(rt.handle().clone());
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("hearsay-shard-{i}"))
                .spawn(move || {
                    let _ = rt.block_on(stopped);
                })?;
        }
        Ok(Shards {
            handles,
            last: 0,
            _stop: stops,
        })
    }

    /// The shard for the next peer.
    fn next(&mut self) -> &tokio::runtime::Handle {
        self.last = (self.last + 1) % self.handles.len();
        &self.handles[self.last]
    }
}

/// Starts peer `i` as a child process, generating `gossip_count` messages.
/// Peer `i` as a child process; with `--hosts`, on a new host of its own, whose number it
/// returns.
fn start_process(
    plan: &Plan,
    cfg: &Path,
    t: &Timings,
    (i, gossip_count): (usize, u32),
    net: &mut Network,
) -> anyhow::Result<(Node, Option<String>, Option<usize>)> {
    let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
    let (origin_burst, origin_every) = t.origin_bound();
    let host = match &mut net.hosts {
        Some(hosts) => Some(hosts.add()?),
        None => None,
    };
    let listen = host.map(|(_, ip)| format!("--addr={}", SocketAddr::new(ip, PEER_PORT)));
    let child = program(net, host.map(|(n, _)| n), "peer")?
        .args(common_args(&plan.dir, cfg, &format!("peer{i}.jsonl")))
        .args(listen)
        .args([
            "--gossip-delay",
            &ms(t.gossip_delay),
            "--gossip-interval",
            &ms(t.gossip_interval),
        ])
        .args(["--gossip-count", &gossip_count.to_string()])
        .args([
            "--origin-burst",
            &origin_burst.to_string(),
            "--origin-every",
            &ms(origin_every),
            "--ping-interval",
            &ms(t.ping_interval),
            "--verdict-timeout",
            &ms(t.verdict_timeout),
            "--announce-hold",
            &ms(t.announce_hold),
        ])
        .args((!t.trees_from_first()).then_some("--trees-from-second"))
        .args(metrics_args(net)?)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start a peer")?;
    Ok((Node::Process(child), None, host.map(|(n, _)| n)))
}

/// With `--metrics`: a child's `--metrics` flag, at an address this run scrapes.
fn metrics_args(net: &Network) -> anyhow::Result<Vec<String>> {
    Ok(match &net.metrics {
        Some(m) => vec!["--metrics".into(), m.child()?.to_string()],
        None => Vec::new(),
    })
}

/// A command that runs the program `name` beside this one: here, or on host `host`. It
/// stops when this process ends, however that happens: its stdin is a pipe whose other end
/// only this process holds (`--stop-with-stdin`), and it is killed if its handle is dropped.
fn program(net: &Network, host: Option<usize>, name: &str) -> anyhow::Result<Command> {
    let path = sibling(name)?;
    let mut command = match (&net.hosts, host) {
        (Some(hosts), Some(n)) => Command::from(hosts.command(n, &path)),
        _ => Command::new(path),
    };
    command
        .arg("--stop-with-stdin")
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true);
    Ok(command)
}

/// Starts a peer as a task of this process, generating `gossip_count` messages; returns it
/// with its id.
async fn start_task(
    config: &Config,
    t: &Timings,
    gossip_count: u32,
    shared: &mut InProcess,
) -> anyhow::Result<(Node, String)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let key = hearsay_net::identity::ephemeral_key();
    let mut machine = peer_state(config, t, gossip_count, key.clone(), addr);
    machine.share_checks(shared.checks.clone());
    let id = key.id().to_hex();
    let me = Identity::new(key, Role::Peer, addr);
    let log = shared.log.for_node(addr.to_string(), "peer");
    let cancel = CancellationToken::new();
    let opts = hearsay_net::Options {
        echo_reuse: crate::echo_reuse(t.ping_interval),
        // Hundreds of peers share the process and its busy threads: no descriptor each.
        own_timer: false,
        ..hearsay_net::Options::default()
    };
    // In-process peers have ephemeral keys and nothing to restore: no store. A peer that
    // gives up (it could not register) says why in the log, as a peer process would on its
    // stderr.
    let stop = cancel.clone();
    shared.shards.next().spawn(async move {
        let said = log.clone();
        // Registered with the shard's own reactor, where the node runs.
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let text = format!("cannot listen: {e}");
                return said.log(
                    hearsay_net::now(),
                    &hearsay_proto::event::Event::Notice { text },
                );
            }
        };
        if let Err(e) = hearsay_net::run(machine, listener, me, opts, log, stop, None).await {
            let text = e.to_string();
            said.log(
                hearsay_net::now(),
                &hearsay_proto::event::Event::Notice { text },
            );
        }
    });
    Ok((Node::Task(cancel), id))
}

fn logger(dir: &Path, events: &str) -> anyhow::Result<hearsay_net::Logger> {
    let out = hearsay_net::log::open_append(&dir.join("outputfile.txt"))?;
    let ev = hearsay_net::log::open_append(&dir.join(events))?;
    Ok(hearsay_net::Logger::new(
        String::new(),
        "peer",
        false,
        Some(out),
        Some(ev),
    ))
}

async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Counts for the progress line, read incrementally from the events files.
#[derive(Default)]
struct Progress {
    tail: summary::Tail,
    admitted: usize,
    deliveries: usize,
    suspicions: usize,
    removed: std::collections::BTreeSet<String>,
}

impl Progress {
    fn update(&mut self, dir: &Path) {
        let mut tail = std::mem::take(&mut self.tail);
        tail.read(dir, |line| self.count(line));
        self.tail = tail;
    }

    fn count(&mut self, line: &str) {
        match EventLine::name(line) {
            Some("gossip_received") => self.deliveries += 1,
            Some("registered") => self.admitted += 1,
            Some("suspicion_started") => self.suspicions += 1,
            Some("removal_committed") => {
                if let Some(e) = EventLine::parse(line) {
                    self.removed.insert(e.peer.into_owned());
                }
            }
            _ => {}
        }
    }
}

/// Each peer's id by its name (`peerN`, from its events file).
fn peer_ids(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| s.starts_with("peer"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let started = (text.lines())
            .filter_map(EventLine::parse)
            .find(|e| e.event == "started");
        if let Some(e) = started {
            out.insert(name.to_string(), e.id.into_owned());
        }
    }
    out
}

/// Writes the summary as JSON (when asked) and the plots into the run directory.
pub fn write_outputs(plan: &Plan, summary: &Summary) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    std::fs::write(plan.dir.join("summary.json"), &text)?;
    if let Some(path) = &plan.json {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let fit = summary.power_law.as_ref();
    let mut written = degree_plots(&plan.dir, &summary.overlay.degrees, fit)?;
    written.extend(crate::plots::latency_cdf(
        &plan.dir,
        &summary.gossip.latencies,
    )?);
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    crate::say(&format!(
        "files in {}: outputfile.txt, topology.json, summary.json, {}\n",
        plan.dir.display(),
        names.join(", ")
    ));
    Ok(())
}

/// The degree plots, with the fitted power law drawn on the CCDF.
pub fn degree_plots(
    dir: &Path,
    degrees: &[u64],
    fit: Option<&crate::fit::PowerLawFit>,
) -> anyhow::Result<Vec<PathBuf>> {
    let line = fit.map(|f| {
        let max = degrees.iter().copied().max().unwrap_or(f.x_min);
        let points = (f.x_min..=max.max(f.x_min))
            .map(|x| (x, crate::fit::model_ccdf(f, degrees, x)))
            .collect();
        crate::plots::FitLine {
            alpha: f.alpha,
            x_min: f.x_min,
            points,
        }
    });
    crate::plots::degree_plots(dir, degrees, line.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::BTreeSet;

    use hearsay_proto::event::Event;
    use hearsay_proto::{PeerId, Time};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        plan: Plan,
    }

    /// The gossip interval, ping interval, verdict timeout and announcement hold of
    /// `hearsay up ARGS`, in ms.
    fn timings(args: &[&str]) -> [u128; 4] {
        let plan = Cli::parse_from(std::iter::once("up").chain(args.iter().copied())).plan;
        let t = Timings::new(&plan);
        [
            t.gossip_interval,
            t.ping_interval,
            t.verdict_timeout,
            t.announce_hold,
        ]
        .map(|d| d.as_millis())
    }

    #[test]
    fn speed_divides_every_interval_but_holds_no_announcement_under_50_ms() {
        assert_eq!(timings(&[]), [5000, 13_000, 5000, 500]);
        assert_eq!(timings(&["--speed", "5"]), [1000, 2600, 1000, 100]);
        assert_eq!(timings(&["--speed", "50"]), [100, 260, 500, 50]);
    }

    fn line(e: Event) -> String {
        e.json(Time(5), "127.0.0.1:7000", "peer")
    }

    #[test]
    fn progress_counts_events_by_their_name_and_each_removed_peer_once() {
        let (p, q) = (PeerId([1; 32]), PeerId([2; 32]));
        let at: std::net::SocketAddr = "127.0.0.1:7001".parse().unwrap();
        let removal = |peer: PeerId| Event::RemovalCommitted {
            peer,
            addr: at,
            incarnation: 1,
            signers: vec![],
        };
        let mut progress = Progress::default();
        for l in [
            line(Event::Registered {
                incarnation: 1,
                signers: vec![PeerId([3; 32])],
                latency: std::time::Duration::from_millis(9),
            }),
            // A name that only starts like a counted one, and a sentence that quotes one.
            line(Event::RegistrationProposed {
                peer: p,
                addr: at,
                incarnation: 1,
            }),
            line(Event::Notice {
                text: r#"{"event":"registered"}"#.into(),
            }),
            line(Event::SuspicionStarted {
                peer: p,
                addr: at,
                misses: 3,
                icmp: None,
            }),
            line(removal(p)),
            line(removal(p)),
            line(removal(q)),
            "not an event".into(),
            r#"{"ts":1,"node":"n","role":"peer","event":"gossip_received","id":"m"}"#.into(),
        ] {
            progress.count(l.trim_end());
        }
        let c = &progress;
        assert_eq!((c.admitted, c.deliveries, c.suspicions), (1, 1, 1));
        assert_eq!(c.removed, BTreeSet::from([p.to_hex(), q.to_hex()]));
    }
}
