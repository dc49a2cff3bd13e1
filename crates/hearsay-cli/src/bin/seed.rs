//! `seed`: runs hearsay seed nodes (SPEC §1, §5).
//!
//! `seed --addr 127.0.0.1:6000` runs that seed of the config; without `--addr` it runs every
//! seed of the config whose address is local to this machine, in one process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use hearsay_cli::{
    duration, exit_status, load_config, logger, node_dir, serve_metrics, shutdown_on_signals,
    stop_with_stdin, Common, Failure,
};
use hearsay_net::conn::Identity;
use hearsay_net::metrics::{Gauge, Metrics};
use hearsay_net::random;
use hearsay_net::store::{Loaded, Store};
use hearsay_proto::config::Config;
use hearsay_proto::{seed, Input, LinkId, LinkUse, Machine, Output, Role, Time};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs hearsay seed nodes: the membership authority that admits peers by signed quorum.
#[derive(Parser, Debug)]
#[command(name = "seed", version)]
struct Args {
    /// Run only the seed listening here (default: every local seed of the config).
    #[arg(long)]
    addr: Option<SocketAddr>,
    #[command(flatten)]
    common: Common,
    /// How long a registration may wait for a quorum of votes.
    #[arg(long, default_value = "5s", value_parser = duration)]
    proposal_timeout: Duration,
    /// Registrations one source IP may start in a burst.
    #[arg(long, default_value_t = 64)]
    rate_burst: u32,
    /// One more registration per source IP every this long.
    #[arg(long, default_value = "100ms", value_parser = duration)]
    rate_refill: Duration,
    /// Registrations from one source network (a /24 or a /64) this seed validates at once;
    /// more are voted down at once, to be tried again.
    #[arg(long, default_value_t = 32)]
    registrations_per_network: usize,
    /// How often to compare certificates with the other seeds (anti-entropy).
    #[arg(long, default_value = "2s", value_parser = duration)]
    sync_interval: Duration,
    /// A member outside the overlay's main part this long (say, one that died with all its
    /// neighbours) is watched by a peer of the main part, so that it is removed if dead.
    #[arg(long, default_value = "10s", value_parser = duration)]
    orphan_after: Duration,
    /// Most inbound links each seed holds at once after their handshake (every peer keeps
    /// one to a quorum of seeds). When full, a stranger's link is evicted for a newcomer;
    /// the other seeds', admitted peers' and registering peers' links never are.
    #[arg(long, default_value_t = hearsay_net::Options::default().max_connections)]
    max_connections: usize,
    /// If the store cannot be read, move it aside and start empty: the other seeds send
    /// every certificate back, each verified on arrival. A readable store is kept.
    #[arg(long)]
    rebuild: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    hearsay_cli::init_diagnostics();
    // Every link is an open file: take what the system allows.
    hearsay_cli::os::raise_open_files();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => exit_status("seed", runtime, run(args)),
        Err(e) => Failure::run(e).report("seed"),
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    let config = load_config(&args.common.config).map_err(Failure::usage)?;
    let listeners = bind(&args, &config).await.map_err(Failure::usage)?;
    let cancel = shutdown_on_signals();
    stop_with_stdin(&args.common, &cancel).map_err(Failure::run)?;
    let metrics = serve_metrics(&args.common, &cancel)
        .await
        .map_err(Failure::usage)?;
    let mut tasks = Vec::new();
    for (listener, advertise) in listeners {
        let at = (listener, advertise, metrics.clone());
        let task = start(&args, &config, at, cancel.clone());
        tasks.push(task.map_err(Failure::usage)?);
    }
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::run(e)),
            Err(e) => return Err(Failure::run(anyhow!("a seed task failed: {e}"))),
        }
    }
    Ok(())
}

/// The listeners to serve, each with the config address it stands for.
async fn bind(args: &Args, config: &Config) -> anyhow::Result<Vec<(TcpListener, SocketAddr)>> {
    let file = args.common.config.display();
    if let Some(addr) = args.addr {
        let advertise = args.common.advertise.unwrap_or(addr);
        if config.position(advertise).is_none() {
            bail!("{advertise} is not a seed in {file}: pass --addr (or --advertise) with an address the config lists");
        }
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        return Ok(vec![(l, advertise)]);
    }
    if args.common.advertise.is_some() {
        bail!("--advertise needs --addr: it names the address of one seed");
    }
    let mut out = Vec::new();
    for s in &config.seeds {
        match TcpListener::bind(s.addr).await {
            Ok(l) => out.push((l, s.addr)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {}
            Err(e) => bail!("cannot listen on {} (a seed of {file}): {e}", s.addr),
        }
    }
    if out.is_empty() {
        bail!(
            "none of the {} seeds in {file} has an address on this machine: pass --addr",
            config.seeds.len()
        );
    }
    Ok(out)
}

/// A listener, the config address it stands for, and the process's metrics if served.
type At = (TcpListener, SocketAddr, Option<Arc<Metrics>>);

fn start(
    args: &Args,
    config: &Config,
    (listener, advertise, metrics): At,
    cancel: CancellationToken,
) -> anyhow::Result<JoinHandle<Result<(), hearsay_net::node::RunError>>> {
    let dir = node_dir(&args.common.data_dir, "seed", advertise);
    let key = hearsay_net::load_or_create_key(&dir)?;
    let (store, loaded, rebuilt) = open_store(&dir, args.rebuild)?;
    let settings = seed::Settings {
        proposal_timeout: args.proposal_timeout,
        rate_burst: args.rate_burst,
        rate_refill: args.rate_refill,
        registrations_per_network: args.registrations_per_network,
        sync_interval: args.sync_interval,
        orphan_after: args.orphan_after,
        ..seed::Settings::default()
    };
    let me = Identity::new(key.clone(), Role::Seed, advertise);
    let now = hearsay_net::now();
    let mut machine = seed::State::new(now, key, advertise, config.clone(), settings, random())
        .map_err(|e| anyhow!("{e}"))?;
    // The Peer List is rebuilt before the node serves anything.
    machine.restore(loaded.keys, loaded.certs);
    if rebuilt {
        machine.rebuild();
    }
    // A seed's few lines are written as they come, in order with its decisions.
    let log = logger(&args.common, advertise, "seed")?
        .direct()
        .with_metrics(metrics.clone());
    let opts = hearsay_net::Options {
        max_connections: args.max_connections,
        ..hearsay_net::Options::default()
    };
    let size = metrics.map(|m| m.peer_list_size(&advertise.to_string()));
    let machine = Gauged::new(machine, size);
    let run = hearsay_net::run(machine, listener, me, opts, log, cancel, Some(store));
    Ok(tokio::spawn(run))
}

/// A seed whose Peer List's size is a gauge of the process's metrics
/// (`hearsay_peer_list_size`, with `--metrics`), set after every input.
struct Gauged {
    seed: seed::State,
    size: Option<Gauge>,
}

impl Gauged {
    fn new(seed: seed::State, size: Option<Gauge>) -> Gauged {
        let g = Gauged { seed, size };
        g.measure();
        g
    }

    fn measure(&self) {
        if let Some(size) = &self.size {
            size.set(self.seed.peer_list().len() as i64);
        }
    }
}

impl Machine for Gauged {
    fn handle(&mut self, now: Time, input: Input) {
        self.seed.handle(now, input);
        self.measure();
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.seed.poll_output()
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.seed.poll_timeout()
    }

    fn link_use(&self, link: LinkId) -> LinkUse {
        self.seed.link_use(link)
    }
}

/// Opens the seed's store. One that cannot be read stops the seed, unless `rebuild` says
/// to move it aside and start empty (the third value: whether it did).
fn open_store(dir: &std::path::Path, rebuild: bool) -> anyhow::Result<(Store, Loaded, bool)> {
    let e = match Store::open(dir) {
        Ok((store, loaded)) => return Ok((store, loaded, false)),
        Err(e) => e,
    };
    if !rebuild {
        bail!(
            "the store cannot be read: {e}\n(start with --rebuild to move it aside and rebuild it from the other seeds)"
        );
    }
    let aside = Store::move_aside(dir)
        .with_context(|| format!("cannot move the store {} aside", e.path.display()))?;
    if let Some(to) = aside {
        eprintln!(
            "seed: {e}\nseed: moved it to {}; starting empty, to rebuild from the other seeds",
            to.display()
        );
    }
    let (store, loaded) = Store::open(dir)?;
    Ok((store, loaded, true))
}
