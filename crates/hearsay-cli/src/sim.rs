//! `hearsay sim` (issue 6): the command line of the deterministic simulator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use hearsay_sim::{Faults, Metrics, Scenario, Sim};

use crate::duration;

/// Simulate a network deterministically: the real protocol code in virtual time, with faults
/// and attackers, every invariant checked.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Read the scenario from this TOML file (its keys are the flags below, with `_` for `-`,
    /// and the fault flags under `[faults]`); the scenario flags are then ignored.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Peers that join at the start.
    #[arg(long, default_value_t = 100)]
    pub peers: usize,
    /// Seeds.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// The seed of every random choice: the same seed, the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of frames lost on the wire (each loss delays its link by a retransmission).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// One-way latency, drawn uniformly between these (ms).
    #[arg(long, num_args = 2, default_values_t = [1u64, 20])]
    pub latency_ms: Vec<u64>,
    /// Gossip messages per generating peer.
    #[arg(long, default_value_t = 3)]
    pub gossip_count: u32,
    /// Only the first N peers generate gossip (default: every peer).
    #[arg(long)]
    pub originators: Option<usize>,
    /// Between two of a peer's messages.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub gossip_interval: Duration,
    /// Between two peers' starts.
    #[arg(long, default_value = "50ms", value_parser = duration)]
    pub join_every: Duration,
    /// Peers' liveness round.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub ping_interval: Duration,
    /// Virtual time to run (default: until every peer has joined and generated, the
    /// faults are over and healed, and the gossip has settled).
    #[arg(long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// When the faults begin and end (virtual time from the start).
    #[arg(long, num_args = 2, value_parser = duration, default_values = ["10s", "20s"])]
    pub faults: Vec<Duration>,
    /// Share of the peers killed when the faults begin.
    #[arg(long, default_value_t = 0.0)]
    pub crash: f64,
    /// Killed peers start again when the faults end, at their next incarnation.
    #[arg(long)]
    pub restart: bool,
    /// Share of the peers cut off, with a minority of the seeds, until the faults end.
    #[arg(long, default_value_t = 0.0)]
    pub partition: f64,
    /// While the faults last, one peer leaves and one joins every this long.
    #[arg(long, value_parser = duration)]
    pub churn_every: Option<Duration>,
    /// Colluding peers that report live peers dead (one report a second; 2 or more).
    #[arg(long, default_value_t = 0)]
    pub liars: usize,
    /// Peers whose gossip is forged.
    #[arg(long, default_value_t = 0)]
    pub forgers: usize,
    /// Seeds that vote yes to everything and forge certificates (keep them a minority).
    #[arg(long, default_value_t = 0)]
    pub lying_seeds: usize,
    /// Write every event as a JSON line (the `--events` format) to this file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Write the plots here: degree distribution with the fit, latency CDF, coverage over
    /// time (SVG and PNG).
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Most peers in one seed's peer list (a uniform sample of its Peer List).
    #[arg(long, default_value_t = hearsay_sim::PEER_LIST)]
    pub peer_list: usize,
    /// Skip the invariant checks (saves memory at very large N).
    #[arg(long)]
    pub no_checks: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl SimArgs {
    /// The scenario these flags describe.
    pub fn scenario(&self) -> Scenario {
        Scenario {
            peers: self.peers,
            seeds: self.seeds,
            seed: self.seed,
            loss: self.loss,
            latency_ms: (self.latency_ms[0], self.latency_ms[1]),
            gossip_count: self.gossip_count,
            originators: self.originators,
            gossip_interval: self.gossip_interval,
            join_every: self.join_every,
            ping_interval: self.ping_interval,
            duration: self.duration,
            faults: Faults {
                start: self.faults[0],
                stop: self.faults[1],
                crash: self.crash,
                restart: self.restart,
                partition: self.partition,
                churn_every: self.churn_every,
                liars: self.liars,
                forgers: self.forgers,
                lying_seeds: self.lying_seeds,
            },
            peer_list: self.peer_list,
            check: !self.no_checks,
        }
    }
}

/// A scenario file: every key optional, the defaults those of the flags.
#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    peers: Option<usize>,
    seeds: Option<usize>,
    seed: Option<u64>,
    loss: Option<f64>,
    latency_ms: Option<(u64, u64)>,
    gossip_count: Option<u32>,
    originators: Option<usize>,
    gossip_interval: Option<String>,
    join_every: Option<String>,
    ping_interval: Option<String>,
    duration: Option<String>,
    peer_list: Option<usize>,
    #[serde(default)]
    faults: FaultsFile,
}

#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FaultsFile {
    start: Option<String>,
    stop: Option<String>,
    crash: Option<f64>,
    restart: Option<bool>,
    partition: Option<f64>,
    churn_every: Option<String>,
    liars: Option<usize>,
    forgers: Option<usize>,
    lying_seeds: Option<usize>,
}

/// Reads a scenario file over the flags' defaults. Errors name the file, and the line.
pub fn read_scenario(path: &std::path::Path) -> anyhow::Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the scenario {}", path.display()))?;
    let f: ScenarioFile = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    let time = |key: &str, v: &Option<String>, default: Duration| -> anyhow::Result<Duration> {
        v.as_deref().map_or(Ok(default), |t| {
            duration(t).map_err(|e| anyhow::anyhow!("{}: {key}: {e}", path.display()))
        })
    };
    // The flags' defaults, as the command line would give them.
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        args: SimArgs,
    }
    let flags = <Defaults as clap::Parser>::parse_from(["sim"])
        .args
        .scenario();
    let ff = &f.faults;
    let faults = Faults {
        start: time("faults.start", &ff.start, flags.faults.start)?,
        stop: time("faults.stop", &ff.stop, flags.faults.stop)?,
        crash: ff.crash.unwrap_or_default(),
        restart: ff.restart.unwrap_or_default(),
        partition: ff.partition.unwrap_or_default(),
        churn_every: match &ff.churn_every {
            Some(_) => Some(time("faults.churn_every", &ff.churn_every, Duration::ZERO)?),
            None => None,
        },
        liars: ff.liars.unwrap_or_default(),
        forgers: ff.forgers.unwrap_or_default(),
        lying_seeds: ff.lying_seeds.unwrap_or_default(),
    };
    Ok(Scenario {
        peers: f.peers.unwrap_or(flags.peers),
        seeds: f.seeds.unwrap_or(flags.seeds),
        seed: f.seed.unwrap_or(flags.seed),
        loss: f.loss.unwrap_or(flags.loss),
        latency_ms: f.latency_ms.unwrap_or(flags.latency_ms),
        gossip_count: f.gossip_count.unwrap_or(flags.gossip_count),
        originators: f.originators.or(flags.originators),
        gossip_interval: time("gossip_interval", &f.gossip_interval, flags.gossip_interval)?,
        join_every: time("join_every", &f.join_every, flags.join_every)?,
        ping_interval: time("ping_interval", &f.ping_interval, flags.ping_interval)?,
        duration: match &f.duration {
            Some(_) => Some(time("duration", &f.duration, Duration::ZERO)?),
            None => None,
        },
        faults,
        peer_list: f.peer_list.unwrap_or(flags.peer_list),
        check: flags.check,
    })
}

/// Runs the simulation; returns what it measured and how long it took on the wall clock.
pub fn run(args: &SimArgs) -> anyhow::Result<(Metrics, Duration)> {
    let mut scenario = match &args.scenario {
        Some(path) => read_scenario(path)?,
        None => args.scenario(),
    };
    scenario.check = !args.no_checks;
    let (lying, seeds) = (scenario.faults.lying_seeds, scenario.seeds);
    if lying * 2 >= seeds {
        anyhow::bail!(
            "{lying} lying seeds of {seeds} are not a minority: no protocol can hold then"
        );
    }
    let f = &scenario.faults;
    let window = (f.any()).then_some((f.start.as_millis() as u64, f.stop.as_millis() as u64));
    let mut sim = Sim::new(scenario);
    if let Some(path) = &args.trace {
        let f = std::fs::File::create(path)
            .with_context(|| format!("cannot create the trace {}", path.display()))?;
        sim = sim.with_trace(Box::new(std::io::BufWriter::new(f)));
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if terminal {
        sim = sim.with_progress(Box::new(|done, total| {
            let share = done.as_secs_f64() / total.as_secs_f64().max(1e-9);
            eprint!(
                "\rsimulating: {:>3.0}% ({:.0} s of {:.0} s virtual)",
                share * 100.0,
                done.as_secs_f64(),
                total.as_secs_f64()
            );
        }));
    }
    let started = std::time::Instant::now();
    let m = sim.run();
    let wall = started.elapsed();
    if terminal {
        eprint!("\r\x1b[K");
    }
    if let Some(dir) = &args.plots {
        let degrees: Vec<u64> = m.degrees.iter().map(|&d| d as u64).collect();
        let fit = crate::fit::fit(&degrees);
        crate::up::degree_plots(dir, &degrees, fit.as_ref())?;
        crate::plots::latency_cdf(dir, &m.latencies)?;
        crate::plots::coverage_over_time(dir, &m.per_message, window)?;
    }
    Ok((m, wall))
}

/// The power-law fit of the final overlay's degrees, as JSON (`null` with too few peers).
pub fn fit_json(m: &Metrics) -> serde_json::Value {
    let degrees: Vec<u64> = m.degrees.iter().map(|&d| d as u64).collect();
    match crate::fit::fit(&degrees) {
        Some(f) => serde_json::json!({
            "alpha": f.alpha,
            "x_min": f.x_min,
            "ks": f.ks,
            "n_tail": f.n_tail,
            "llr_vs_exponential": f.llr,
            "p_value": f.p_value,
            "favours_power_law": f.favours_power_law(),
        }),
        None => serde_json::Value::Null,
    }
}

/// The table of `hearsay sim`.
pub fn table(m: &Metrics, wall: Duration) -> String {
    let mut out = format!(
        "peers admitted {}, messages {}, deliveries {}, coverage {:.4}\n\
         latency p50 {} ms, p99 {} ms, max {} ms (virtual); hops of the last delivery p50 {}, max {}\n\
         frames carrying a message per message {:.1} (relative redundancy {:.3}); frames {} ({} lost and sent again)\n\
         registration p50 {} ms, p99 {} ms\n\
         crashed {}, removed {}, crash to removal p50 {} ms, max {} ms; false removals {}; false reports {}, accusations caught {}; dead peers left in the Peer List {}\n\
         seeds agree {} ms after the faults end; {} steps in {:.1} s ({:.0} a second)\n\
         trace digest {}\n",
        m.admitted,
        m.messages,
        m.deliveries,
        m.coverage,
        m.latency_ms.0,
        m.latency_ms.1,
        m.latency_ms.2,
        m.hops_last.0,
        m.hops_last.1,
        m.frames_per_message,
        m.rmr,
        m.frames.0,
        m.frames.1,
        m.registration_ms.0,
        m.registration_ms.1,
        m.crashed,
        m.removals,
        m.detection_to_removal_ms.0,
        m.detection_to_removal_ms.1,
        m.false_removals,
        m.false_reports,
        m.false_accusations,
        m.dead_in_pl,
        m.seeds_agree_ms,
        m.steps,
        wall.as_secs_f64(),
        m.steps as f64 / wall.as_secs_f64().max(1e-9),
        m.trace_digest
    );
    let fit = fit_json(m);
    if !fit.is_null() {
        out += &format!(
            "overlay of {} peers: power law α = {:.3} (x_min {}), KS {:.4}, against an exponential R = {:.2} (p = {:.3})\n",
            m.degrees.len(),
            fit["alpha"].as_f64().unwrap_or_default(),
            fit["x_min"],
            fit["ks"].as_f64().unwrap_or_default(),
            fit["llr_vs_exponential"].as_f64().unwrap_or_default(),
            fit["p_value"].as_f64().unwrap_or_default(),
        );
    }
    if m.violation_count == 0 {
        out += "every invariant held\n";
    } else {
        out += &format!("{} INVARIANT VIOLATIONS:\n", m.violation_count);
        for v in &m.violations {
            out += &format!("  {v}\n");
        }
    }
    out
}
