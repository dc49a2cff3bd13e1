//! `peer`: runs one hearsay peer (SPEC §1, §6).
//!
//! It registers through a quorum of the config's seeds, then joins the overlay by
//! preferential attachment. Exits non-zero with one sentence when it cannot register.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use hearsay_cli::{
    duration, echo_reuse, exit_status, load_config, logger, node_dir, serve_metrics,
    shutdown_on_signals, stop_with_stdin, Common, Failure,
};
use hearsay_net::conn::Identity;
use hearsay_proto::config::Config;
use hearsay_proto::{peer, Role};
use tokio::net::TcpListener;

/// Runs one hearsay peer.
#[derive(Parser, Debug)]
#[command(name = "peer", version)]
struct Args {
    /// Where to listen (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    #[command(flatten)]
    common: Common,
    /// Neighbours to choose on joining.
    #[arg(long, default_value_t = 3)]
    links: usize,
    /// Most neighbours in all; more are refused.
    #[arg(long, default_value_t = 512)]
    max_links: usize,
    /// Give up (exit 1) if not registered within this.
    #[arg(long, default_value = "30s", value_parser = duration)]
    join_timeout: Duration,
    /// Wait this long after the neighbours are connected before the first gossip message.
    #[arg(long, default_value = "0s", value_parser = duration)]
    gossip_delay: Duration,
    /// Between two gossip messages.
    #[arg(long, default_value = "5s", value_parser = duration)]
    gossip_interval: Duration,
    /// Gossip messages to generate (0: none).
    #[arg(long, default_value_t = 10)]
    gossip_count: u32,
    /// Between two liveness rounds (a ping to every neighbour, and an ICMP echo to its host).
    #[arg(long, default_value = "13s", value_parser = duration)]
    ping_interval: Duration,
    /// Missed rounds in a row that start a suspicion.
    #[arg(long, default_value_t = 3)]
    suspect_after: u32,
    /// Gossip messages one origin may have relayed by this peer at once; more are dropped
    /// and counted [default: twice --gossip-count, at least 20].
    #[arg(long)]
    origin_burst: Option<u32>,
    /// After the burst, one more message per origin per this long [default: a fifth of
    /// --gossip-interval].
    #[arg(long, value_parser = duration)]
    origin_every: Option<Duration>,
    /// How long a suspicion waits for the witnesses' verdicts.
    #[arg(long, default_value = "5s", value_parser = duration)]
    verdict_timeout: Duration,
    /// How long announcements of messages pushed along their origin's tree wait, to go out
    /// together at a tick (PROTOCOL §11.7; 0: at once).
    #[arg(long, default_value = "500ms", value_parser = duration)]
    announce_hold: Duration,
    /// Grow push trees from an origin's second message, not its first: for a network whose
    /// origins send one message each (PROTOCOL §11.7; set alike on every peer) [default: on
    /// with --gossip-count 1].
    #[arg(long)]
    trees_from_second: bool,
    /// Fault injection, for tests and figures: drop this share (0 to 1) of this peer's
    /// liveness pings.
    #[arg(long, default_value_t = 0.0, hide = true)]
    fault_drop_pings: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    hearsay_cli::init_diagnostics();
    // Every link is an open file: take what the system allows.
    hearsay_cli::os::raise_open_files();
    // One state machine needs no worker pool: a single thread, and no wake-ups between
    // workers for every frame (the log writer and the ICMP prober have threads of their own).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => exit_status("peer", runtime, run(args)),
        Err(e) => Failure::run(e).report("peer"),
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    let config = load_config(&args.common.config).map_err(Failure::usage)?;
    if args.links == 0 || args.max_links < args.links {
        let what = "--links must be at least 1 and at most --max-links";
        return Err(Failure::usage(anyhow!(what)));
    }
    let (origin_burst, origin_every) = origin_bound(&args);
    if args.gossip_interval.is_zero()
        || args.ping_interval.is_zero()
        || args.suspect_after == 0
        || origin_burst == 0
        || origin_every.is_zero()
    {
        let what = "--gossip-interval, --ping-interval, --suspect-after, --origin-burst and --origin-every must be more than zero";
        return Err(Failure::usage(anyhow!(what)));
    }
    serve(args, config).await.map_err(Failure::run)
}

/// The per-origin gossip bound: the flags, or the default for this peer's gossip timings.
fn origin_bound(args: &Args) -> (u32, Duration) {
    let (burst, every) = peer::origin_bound(args.gossip_count, args.gossip_interval);
    (
        args.origin_burst.unwrap_or(burst),
        args.origin_every.unwrap_or(every),
    )
}

/// Listens, joins and serves until stopped.
async fn serve(args: Args, config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let advertise = match args.common.advertise {
        Some(a) => a,
        None => listener.local_addr()?,
    };
    if advertise.ip().is_unspecified() {
        bail!(
            "listening on {advertise}: pass --advertise with the address other nodes should dial"
        );
    }
    // A peer on a port of its choosing keeps its identity; one on port 0 gets a new port,
    // so it is a new node at every start and writes nothing.
    let (key, incarnation) = if args.addr.port() == 0 {
        (hearsay_net::identity::ephemeral_key(), 1)
    } else {
        let dir = node_dir(&args.common.data_dir, "peer", advertise);
        let key = hearsay_net::load_or_create_key(&dir)?;
        (key, hearsay_net::next_incarnation(&dir)?)
    };
    let (origin_burst, origin_every) = origin_bound(&args);
    let settings = peer::Settings {
        links: args.links,
        max_links: args.max_links,
        join_timeout: args.join_timeout,
        gossip_delay: args.gossip_delay,
        gossip_interval: args.gossip_interval,
        gossip_count: args.gossip_count,
        ping_interval: args.ping_interval,
        suspect_after: args.suspect_after,
        verdict_timeout: args.verdict_timeout,
        announce_hold: args.announce_hold,
        trees_from_first: !(args.trees_from_second || args.gossip_count == 1),
        origin_burst,
        origin_every,
        ..peer::Settings::default()
    };
    let me = Identity::new(key.clone(), Role::Peer, advertise);
    let now = hearsay_net::now();
    let machine = peer::State::new(
        now,
        key,
        advertise,
        incarnation,
        config,
        settings,
        hearsay_net::random(),
    );
    let cancel = shutdown_on_signals();
    stop_with_stdin(&args.common, &cancel)?;
    let metrics = serve_metrics(&args.common, &cancel).await?;
    // One node's few lines a turn: written by its own thread where nothing can make it wait
    // (a file another writer is at goes to the writer thread).
    let log = logger(&args.common, advertise, "peer")?
        .with_metrics(metrics)
        .inline();
    let opts = hearsay_net::Options {
        drop_pings: args.fault_drop_pings,
        echo_reuse: echo_reuse(args.ping_interval),
        // Commands when a person is at the terminal (`peers`, `messages`, `help`), and stdin
        // is not watched for the end of the process that started this one.
        commands: !args.common.stop_with_stdin
            && std::io::IsTerminal::is_terminal(&std::io::stdin()),
        ..hearsay_net::Options::default()
    };
    Ok(hearsay_net::run(machine, listener, me, opts, log, cancel, None).await?)
}
