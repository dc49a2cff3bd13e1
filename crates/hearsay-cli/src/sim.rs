//! `hearsay sim` (issue 6): the command line of the deterministic simulator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use hearsay_sim::{Faults, Metrics, Scenario, Sim};
use serde::Serialize;

use crate::duration;

/// Simulate a network deterministically: the real protocol code in virtual time, with faults
/// and attackers, every invariant checked.
// Every default is `Scenario::default()`'s, as a scenario file's are.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Read the scenario from this TOML file (its keys are the flags below, with `_` for `-`,
    /// and the fault flags under `[faults]`, `--faults` as `start` and `stop`); the scenario
    /// flags are then ignored.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Peers that join at the start.
    #[arg(long, default_value_t = Scenario::default().peers)]
    pub peers: usize,
    /// Seeds.
    #[arg(long, default_value_t = Scenario::default().seeds)]
    pub seeds: usize,
    /// The seed of every random choice: the same seed, the same run.
    #[arg(long, default_value_t = Scenario::default().seed)]
    pub seed: u64,
    /// Share of frames lost on the wire (each loss delays its link by a retransmission).
    #[arg(long, default_value_t = Scenario::default().loss)]
    pub loss: f64,
    /// One-way latency, drawn uniformly between these (ms).
    #[arg(long, num_args = 2, default_values_t = <[u64; 2]>::from(Scenario::default().latency_ms))]
    pub latency_ms: Vec<u64>,
    /// Gossip messages per generating peer.
    #[arg(long, default_value_t = Scenario::default().gossip_count)]
    pub gossip_count: u32,
    /// Only the first N peers generate gossip (default: every peer).
    #[arg(long)]
    pub originators: Option<usize>,
    /// Between two of a peer's messages.
    #[arg(long, default_value_t = Scenario::default().gossip_interval.into(), value_parser = time)]
    pub gossip_interval: Time,
    /// Between two peers' starts.
    #[arg(long, default_value_t = Scenario::default().join_every.into(), value_parser = time)]
    pub join_every: Time,
    /// Peers' liveness round.
    #[arg(long, default_value_t = Scenario::default().ping_interval.into(), value_parser = time)]
    pub ping_interval: Time,
    /// Virtual time to run (default: until every peer has joined and generated, the
    /// faults are over and healed, and the gossip has settled).
    #[arg(long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// When the faults begin and end (virtual time from the start).
    #[arg(long, num_args = 2, value_parser = time, default_values_t = fault_window())]
    pub faults: Vec<Time>,
    /// Share of the peers killed when the faults begin.
    #[arg(long, default_value_t = Scenario::default().faults.crash)]
    pub crash: f64,
    /// Killed peers die by neighbourhoods: a peer and its neighbours together, so that some
    /// die with no live neighbour to notice them.
    #[arg(long)]
    pub correlated: bool,
    /// Killed peers start again when the faults end, at their next incarnation.
    #[arg(long)]
    pub restart: bool,
    /// Share of the peers cut off, with a minority of the seeds, until the faults end.
    #[arg(long, default_value_t = Scenario::default().faults.partition)]
    pub partition: f64,
    /// While the faults last, one peer leaves and one joins every this long.
    #[arg(long, value_parser = duration)]
    pub churn_every: Option<Duration>,
    /// Colluding peers that report live peers dead (one report a second; 2 or more).
    #[arg(long, default_value_t = Scenario::default().faults.liars)]
    pub liars: usize,
    /// Peers whose gossip is forged.
    #[arg(long, default_value_t = Scenario::default().faults.forgers)]
    pub forgers: usize,
    /// Seeds that vote yes to everything and forge certificates (keep them a minority).
    #[arg(long, default_value_t = Scenario::default().faults.lying_seeds)]
    pub lying_seeds: usize,
    /// Write every event as a JSON line (the `--events` format) to this file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Write the plots here: degree distribution with the fit, latency CDF, coverage over
    /// time (SVG and PNG).
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Most peers in one seed's peer list (a uniform sample of its Peer List).
    #[arg(long, default_value_t = Scenario::default().peer_list)]
    pub peer_list: usize,
    /// Skip the invariant checks (saves memory at very large N).
    #[arg(long)]
    pub no_checks: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A duration flag with a default: `humantime`'s, which prints its default as it is written
/// (`1s`, `50ms`) in `--help`.
type Time = humantime::Duration;

/// Parses a [`Time`] as every duration flag does.
fn time(text: &str) -> Result<Time, String> {
    duration(text).map(Time::from)
}

/// The default `--faults` window.
fn fault_window() -> Vec<Time> {
    let f = Scenario::default().faults;
    vec![f.start.into(), f.stop.into()]
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
            gossip_interval: *self.gossip_interval,
            join_every: *self.join_every,
            ping_interval: *self.ping_interval,
            duration: self.duration,
            faults: Faults {
                start: *self.faults[0],
                stop: *self.faults[1],
                crash: self.crash,
                correlated: self.correlated,
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

/// Reads a scenario file: its keys over [`Scenario::default`]. Errors name the file, and
/// the line and key.
pub fn read_scenario(path: &std::path::Path) -> anyhow::Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the scenario {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))
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
    // Progress on stderr, only when it is a terminal: logs and pipes get none.
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(progress_bar);
    if let Some(bar) = &bar {
        let bar = bar.clone();
        sim = sim.with_progress(Box::new(move |done, total| {
            bar.set_message(format!(
                "{:.0} s of {:.0} s virtual",
                done.as_secs_f64(),
                total.as_secs_f64()
            ));
            bar.set_length(total.as_millis() as u64);
            bar.set_position(done.as_millis() as u64);
        }));
    }
    let started = std::time::Instant::now();
    let m = sim.run();
    let wall = started.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
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

/// The progress line of a run, on stderr, in virtual ms.
fn progress_bar() -> indicatif::ProgressBar {
    let style = indicatif::ProgressStyle::with_template(
        "simulating: {percent:>3}% ({msg}) {bar:30} eta {eta}",
    )
    .expect("a valid template");
    indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        .with_style(style)
}

/// `hearsay sim --json`: what the run measured, the power-law fit of its final overlay, and
/// the wall clock.
#[derive(Debug, Serialize)]
pub struct SimJson<'a> {
    /// What the run measured.
    #[serde(flatten)]
    pub metrics: &'a Metrics,
    /// The fit (`null` with too few peers).
    pub degree_fit: Option<DegreeFit>,
    /// Wall-clock time of the run (ms).
    pub wall_ms: u64,
    /// Steps handled per second of wall-clock time, rounded.
    pub steps_per_second: f64,
}

impl SimJson<'_> {
    /// The JSON of a run that measured `m` in `wall`.
    pub fn new(m: &Metrics, wall: Duration) -> SimJson<'_> {
        SimJson {
            metrics: m,
            degree_fit: degree_fit(m),
            wall_ms: wall.as_millis() as u64,
            steps_per_second: (m.steps as f64 / wall.as_secs_f64()).round(),
        }
    }

    /// Pretty JSON with its keys in alphabetical order, as `--json` has always printed them
    /// (a `serde_json::Value` sorts them; the metrics' own order is the struct's).
    pub fn to_pretty(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(&serde_json::to_value(self)?)
    }
}

/// The power-law fit of a simulated overlay's degrees, as `hearsay sim --json` names it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DegreeFit {
    /// The fitted exponent.
    pub alpha: f64,
    /// The smallest degree the power law describes.
    pub x_min: u64,
    /// Kolmogorov–Smirnov distance of the tail from the fit.
    pub ks: f64,
    /// Peers in the tail.
    pub n_tail: usize,
    /// Log-likelihood ratio against an exponential (positive favours the power law).
    pub llr_vs_exponential: f64,
    /// Two-sided p-value of that ratio.
    pub p_value: f64,
    /// Whether the ratio favours the power law.
    pub favours_power_law: bool,
}

/// The power-law fit of the final overlay's degrees (`None` with too few peers).
pub fn degree_fit(m: &Metrics) -> Option<DegreeFit> {
    let degrees: Vec<u64> = m.degrees.iter().map(|&d| d as u64).collect();
    crate::fit::fit(&degrees).map(|f| DegreeFit {
        alpha: f.alpha,
        x_min: f.x_min,
        ks: f.ks,
        n_tail: f.n_tail,
        llr_vs_exponential: f.llr,
        p_value: f.p_value,
        favours_power_law: f.favours_power_law(),
    })
}

/// The table of `hearsay sim`.
pub fn table(m: &Metrics, wall: Duration) -> String {
    let mut out = format!(
        "peers admitted {}, messages {}, deliveries {}, coverage {:.4}\n\
         latency p50 {} ms, p99 {} ms, max {} ms (virtual); hops of the last delivery p50 {}, max {}\n\
         frames carrying a message per message {:.1} (relative redundancy {:.3}); frames {} ({} lost and sent again)\n\
         peer wake-ups {} ({} by a timer), {:.2} a delivery\n\
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
        m.wakeups.0,
        m.wakeups.1,
        m.wakeups.0 as f64 / m.deliveries.max(1) as f64,
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
    if let Some(fit) = degree_fit(m) {
        out += &format!(
            "overlay of {} peers: power law α = {:.3} (x_min {}), KS {:.4}, against an exponential R = {:.2} (p = {:.3})\n",
            m.degrees.len(),
            fit.alpha,
            fit.x_min,
            fit.ks,
            fit.llr_vs_exponential,
            fit.p_value,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimArgs,
    }

    /// The scenario of `hearsay sim ARGS`.
    fn flags(args: &[&str]) -> Scenario {
        Cli::parse_from(std::iter::once("sim").chain(args.iter().copied()))
            .args
            .scenario()
    }

    /// `text` written to a file named `name`, read as a scenario.
    fn file(name: &str, text: &str) -> anyhow::Result<Scenario> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_scenario(&path)
    }

    #[test]
    fn the_flags_default_to_the_default_scenario() {
        assert_eq!(flags(&[]), Scenario::default());
        let s = Scenario::default();
        assert_eq!((s.peers, s.latency_ms), (100, (1, 20)));
        assert_eq!(s.join_every, Duration::from_millis(50));
        let f = &s.faults;
        assert_eq!(
            (f.start, f.stop),
            (Duration::from_secs(10), Duration::from_secs(20))
        );
    }

    #[test]
    fn a_scenario_file_reads_as_its_flags_would() {
        let every_key = r#"
            peers = 20
            seeds = 5
            seed = 14
            loss = 0.05
            latency_ms = [2, 30]
            gossip_count = 40
            originators = 7
            gossip_interval = "2s"
            join_every = "20ms"
            ping_interval = "500ms"
            duration = "1m"
            peer_list = 50

            [faults]
            start = "8s"
            stop = "18s"
            crash = 0.2
            restart = true
            partition = 0.1
            churn_every = "2s"
            liars = 3
            forgers = 1
            lying_seeds = 2
        "#;
        let same = flags(&[
            "--peers",
            "20",
            "--seeds",
            "5",
            "--seed",
            "14",
            "--loss",
            "0.05",
            "--latency-ms",
            "2",
            "30",
            "--gossip-count",
            "40",
            "--originators",
            "7",
            "--gossip-interval",
            "2s",
            "--join-every",
            "20ms",
            "--ping-interval",
            "500ms",
            "--duration",
            "1m",
            "--peer-list",
            "50",
            "--faults",
            "8s",
            "18s",
            "--crash",
            "0.2",
            "--restart",
            "--partition",
            "0.1",
            "--churn-every",
            "2s",
            "--liars",
            "3",
            "--forgers",
            "1",
            "--lying-seeds",
            "2",
        ]);
        assert_eq!(file("every.toml", every_key).unwrap(), same);
        // Missing keys, in the `[faults]` table too, are the flags' defaults.
        assert_eq!(file("empty.toml", "").unwrap(), flags(&[]));
        assert_eq!(
            file("crash.toml", "peers = 20\n[faults]\ncrash = 0.2\n").unwrap(),
            flags(&["--peers", "20", "--crash", "0.2"])
        );
    }

    #[test]
    fn a_bad_scenario_file_is_an_error_naming_the_file_the_line_and_the_key() {
        let err = file("key.toml", "peers = 20\n[faults]\nstrat = \"8s\"\n").unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("key.toml") && err.contains("line 3") && err.contains("strat"),
            "{err}"
        );
        let err = file("time.toml", "[faults]\nstart = \"8 parsecs\"\n").unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("time.toml") && err.contains("line 2") && err.contains("parsecs"),
            "{err}"
        );
        let err = file("type.toml", "seed = 1\npeers = \"many\"\n").unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("type.toml") && err.contains("line 2"), "{err}");
        // The invariant checks are the command line's to turn off, not a file's.
        let err = file("check.toml", "check = false\n").unwrap_err();
        assert!(format!("{err:#}").contains("check"), "{err:#}");
        let err = read_scenario(std::path::Path::new("/nonexistent/s.toml")).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/s.toml"),
            "{err:#}"
        );
    }
}
