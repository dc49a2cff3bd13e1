//! `hearsay`: tools around a network (SPEC §1). `hearsay up` runs a whole local network and
//! sums it up; `hearsay status --seed ADDR [--json]` asks a seed for its Peer List, topology
//! and recent decisions; `hearsay analyze` fits and plots a topology's degree distribution.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use hearsay_cli::sim::{SimArgs, SimJson};
use hearsay_cli::summary::{self, plain_table, status_json, Col};
use hearsay_cli::up::{self, Plan};
use hearsay_cli::{duration, exit_status, load_config, say, Failure};
use hearsay_proto::wire::Status;

/// Tools for a hearsay network.
#[derive(Parser, Debug)]
#[command(name = "hearsay", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a whole local network: seeds, peers, gossip, a crash; then a summary.
    Up(Plan),
    /// Simulate a network deterministically: the real protocol code in virtual time.
    Sim(SimArgs),
    /// A live page of a network: replay a finished run (RUN_DIR) or a simulator trace
    /// (--trace FILE), or attach to a network started by hand (its config's seeds).
    Dashboard(hearsay_cli::dashboard::DashboardArgs),
    /// Fit and plot the degree distribution of a topology (a `hearsay status --json` file).
    Analyze {
        /// The topology file (e.g. a run's topology.json).
        topology: Option<PathBuf>,
        /// Or ask this seed for it.
        #[arg(long)]
        seed: Option<SocketAddr>,
        /// Where the plots go.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Ask a seed for its Peer List, topology and recent decisions; without `--seed`, ask
    /// every seed of the config how many certificates it holds and when it last agreed
    /// with each other seed.
    Status {
        /// The seed's address.
        #[arg(long)]
        seed: Option<SocketAddr>,
        /// The config whose seeds to ask, without `--seed`.
        #[arg(long, default_value = "config.txt")]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Give up after this long.
        #[arg(long, default_value = "5s", value_parser = duration)]
        timeout: Duration,
    },
}

fn main() -> ExitCode {
    let command = Args::parse().command;
    hearsay_cli::init_diagnostics();
    let program = match &command {
        Command::Up(_) => "hearsay up",
        Command::Sim(_) => "hearsay sim",
        Command::Dashboard(_) => "hearsay dashboard",
        Command::Analyze { .. } => "hearsay analyze",
        Command::Status { .. } => "hearsay status",
    };
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => exit_status(program, runtime, run(command)),
        Err(e) => Failure::run(e).report(program),
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Up(plan) => {
            if plan.speed.is_nan() || plan.speed <= 0.0 {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--speed must be more than 0"
                )));
            }
            up::attack::check(&plan).map_err(Failure::usage)?;
            up::check_hosts(&plan).map_err(Failure::usage)?;
            up::check_open_files(&plan).map_err(Failure::usage)?;
            let cancel = hearsay_cli::shutdown_on_signals();
            let report = |summary: &summary::Summary| {
                say(&format!("\nsummary\n{}", summary::table(summary)));
                up::write_outputs(&plan, summary)
            };
            let summary = (up::up(plan.clone(), cancel, report).await).map_err(Failure::run)?;
            // An attack that got through is a failure of the run, as a violated invariant
            // is one of `hearsay sim`: scripts can rely on the exit status.
            let breaches = summary.attacks.map(|a| a.breaches()).unwrap_or_default();
            if !breaches.is_empty() {
                let what = format!("the defences did not hold: {}", breaches.join(", "));
                return Err(Failure::run(anyhow::anyhow!(what)));
            }
        }
        Command::Sim(args) => {
            let (m, wall) = hearsay_cli::sim::run(&args).map_err(Failure::usage)?;
            if args.json {
                let text = SimJson::new(&m, wall).to_pretty().unwrap_or_default();
                say(&format!("{text}\n"));
            } else {
                say(&hearsay_cli::sim::table(&m, wall));
            }
            if m.violation_count > 0 {
                let what = format!("{} invariant violations", m.violation_count);
                return Err(Failure::run(anyhow::anyhow!(what)));
            }
        }
        Command::Dashboard(args) => {
            let cancel = hearsay_cli::shutdown_on_signals();
            hearsay_cli::dashboard::run(args, cancel)
                .await
                .map_err(Failure::usage)?;
        }
        Command::Analyze {
            topology,
            seed,
            dir,
        } => analyze(topology, seed, &dir).await.map_err(Failure::run)?,
        Command::Status {
            seed: Some(seed),
            json,
            timeout,
            ..
        } => {
            let status = (hearsay_net::fetch_status(seed, timeout).await).map_err(Failure::run)?;
            if json {
                say(&format!("{}\n", to_json(&status_json(&status))));
            } else {
                say(&status_table(&status));
            }
        }
        Command::Status {
            seed: None,
            config,
            json,
            timeout,
        } => {
            let config = load_config(&config).map_err(Failure::usage)?;
            let asks = config.seeds.iter().map(|s| async move {
                let answer = hearsay_net::fetch_status(s.addr, timeout).await;
                (s.addr, answer.map_err(|e| e.to_string()))
            });
            let answers = futures::future::join_all(asks).await;
            if json {
                let rows: Vec<_> = answers.iter().map(|(a, r)| seed_json(*a, r)).collect();
                say(&format!("{}\n", to_json(&rows)));
            } else {
                say(&seeds_table(&answers));
            }
        }
    }
    Ok(())
}

/// `hearsay analyze`: the overlay's degrees, the power-law fit, and the plots.
async fn analyze(
    topology: Option<PathBuf>,
    seed: Option<SocketAddr>,
    dir: &Path,
) -> anyhow::Result<()> {
    let status = match (topology, seed) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a topology (JSON)", path.display()))?
        }
        (None, Some(seed)) => {
            let st = hearsay_net::fetch_status(seed, Duration::from_secs(10))
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            status_json(&st)
        }
        _ => anyhow::bail!("give a topology file or --seed ADDR, one of the two"),
    };
    let o = summary::overlay(&status);
    let fit = hearsay_cli::fit::fit(&o.degrees);
    let mut out = format!(
        "peers {}, links {}, degree min / mean / max {} / {:.2} / {}, {}\n",
        o.peers,
        o.links,
        o.degree_min,
        o.degree_mean,
        o.degree_max,
        if o.connected {
            "connected"
        } else {
            "NOT connected"
        }
    );
    match &fit {
        Some(f) => out += &format!(
            "power law: α = {:.3}, x_min = {}, KS distance {:.4} over {} peers; against an exponential R = {:.2} (p = {:.3}): {}\n",
            f.alpha, f.x_min, f.ks, f.n_tail, f.llr, f.p_value,
            if f.favours_power_law() { "the power law fits better" } else { "the exponential fits better" }
        ),
        None => out += "too few peers to fit a power law\n",
    }
    for p in up::degree_plots(dir, &o.degrees, fit.as_ref())? {
        out += &format!("wrote {}\n", p.display());
    }
    say(&out);
    Ok(())
}

/// "12.3 s ago", or "never".
fn ago(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "never".into(),
        |ms| format!("{:.1} s ago", ms as f64 / 1000.0),
    )
}

/// JSON on one line.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One seed's entry in `hearsay status --json` without `--seed`: its Peer List size,
/// certificates and agreements, or why it did not answer. Keys in alphabetical order, as
/// they have always been written.
#[derive(serde::Serialize)]
struct SeedJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    agreed_ms_ago: Option<summary::Agreed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificates: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peers: Option<u32>,
    reachable: bool,
    seed: String,
}

fn seed_json(addr: SocketAddr, answer: &Result<Status, String>) -> SeedJson {
    match answer {
        Ok(s) => SeedJson {
            agreed_ms_ago: Some(summary::agreed_json(s)),
            certificates: Some(s.certificates),
            error: None,
            peers: Some(s.total),
            reachable: true,
            seed: addr.to_string(),
        },
        Err(e) => SeedJson {
            agreed_ms_ago: None,
            certificates: None,
            error: Some(e.clone()),
            peers: None,
            reachable: false,
            seed: addr.to_string(),
        },
    }
}

/// Every seed of the config: its Peer List size, certificates, and last agreement with each
/// other seed.
fn seeds_table(answers: &[(SocketAddr, Result<Status, String>)]) -> String {
    let head = ["seed", "peers", "certificates", "last agreed with"].map(String::from);
    let rows = answers.iter().map(|(addr, answer)| match answer {
        Ok(s) => {
            let agreed: Vec<String> = (s.agreed.iter())
                .map(|(a, ms)| format!("{a} {}", ago(*ms)))
                .collect();
            [
                addr.to_string(),
                s.total.to_string(),
                s.certificates.to_string(),
                agreed.join(", "),
            ]
        }
        Err(e) => [
            addr.to_string(),
            String::new(),
            String::new(),
            format!("unreachable: {e}"),
        ],
    });
    let cols = [
        Col::left(0, 22),
        Col::right(1, 6),
        Col::right(1, 12),
        Col::left(2, 0),
    ];
    plain_table(&cols, std::iter::once(head).chain(rows))
}

fn status_table(s: &Status) -> String {
    let mut out = format!(
        "seed {} (id {})  quorum {} of {}  peers {}  certificates {}\n",
        s.seed, s.id, s.quorum, s.seeds, s.total, s.certificates
    );
    for (a, ms) in &s.agreed {
        out += &format!("last agreed with seed {a}: {}\n", ago(*ms));
    }
    let head = ["id", "addr", "inc", "degree", "neighbours"].map(String::from);
    let rows = s.peers.iter().map(|p| {
        let ns: Vec<String> = p.neighbors.iter().map(|n| n.short()).collect();
        [
            p.id.short(),
            p.addr.to_string(),
            p.incarnation.to_string(),
            p.neighbors.len().to_string(),
            ns.join(" "),
        ]
    });
    let cols = [
        Col::left(0, 10),
        Col::left(1, 22),
        Col::right(1, 4),
        Col::right(1, 6),
        Col::left(2, 0),
    ];
    out += &plain_table(&cols, std::iter::once(head).chain(rows));
    if !s.recent.is_empty() {
        out += "recent decisions:\n";
        for r in &s.recent {
            out += &format!("  {r}\n");
        }
    }
    out
}
