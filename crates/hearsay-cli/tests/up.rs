//! Issue 5 acceptance: `hearsay up` runs, narrates and sums up a whole local network.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (reader.info().width, reader.info().height)
}

/// `hearsay up --peers 12 --speed 20 --kill 2 --json out.json` exits 0; every message
/// generated while all were alive reached everyone; both killed peers are removed by every
/// seed; no live peer is; the overlay is connected; the plots decode and parse.
#[test]
fn up_runs_a_network_and_sums_it_up() {
    let dir = workdir("up12");
    let (stdout, s) = run_up(&dir, &["--peers", "12", "--speed", "20", "--kill", "2"]);
    assert!(
        stdout.contains("summary") && stdout.contains("false removals"),
        "{stdout}"
    );
    assert_eq!(s["peers"], 12);
    assert_eq!(s["gossip"]["messages"], 120, "{s}");
    assert_eq!(s["gossip"]["full_coverage_share"], 1.0, "{s}");
    assert_eq!(s["failures"]["killed"], 2);
    assert_eq!(s["failures"]["removed"], 2, "{s}");
    assert_eq!(s["failures"]["false_removals"], 0);
    assert_eq!(s["overlay"]["connected"], true);
    // Issue 13: the CPU the run used (children included), per delivery too.
    let (cpu, per) = (&s["cpu"]["seconds"], &s["cpu"]["per_delivery_us"]);
    assert!(cpu.as_f64().unwrap() > 0.0, "{s}");
    let deliveries = s["gossip"]["latency_ms"]["n"].as_f64().unwrap();
    let expected = cpu.as_f64().unwrap() * 1e6 / deliveries;
    assert!(
        (per.as_f64().unwrap() - expected).abs() < 1e-6 * expected,
        "{s}"
    );
    assert!(stdout.contains("CPU (user + system)"), "{stdout}");
    // How busy the machine was while the messages spread: some, and at most every core.
    let cores = s["cpu"]["cores"].as_f64().unwrap();
    let busy = s["cpu"]["spread_cores_busy"].as_f64().unwrap();
    assert!(cores >= 1.0 && 0.0 < busy && busy <= cores * 1.05, "{s}");
    // The spread is part of the run: its CPU per delivery is some of the whole run's.
    let spread = s["cpu"]["spread_per_delivery_us"].as_f64().unwrap();
    assert!(0.0 < spread && spread <= per.as_f64().unwrap(), "{s}");
    assert!(
        stdout.contains("cores busy while the messages spread"),
        "{stdout}"
    );
    // What at most once per link costs: every request answers an announcement, and beyond
    // the origins' neighbours every delivery needed one.
    let (announced, requested) = (
        s["gossip"]["announced_per_delivery"].as_f64().unwrap(),
        s["gossip"]["requested_per_delivery"].as_f64().unwrap(),
    );
    assert!(0.0 < requested && requested <= announced, "{s}");
    assert!(stdout.contains("ids announced / requested"), "{stdout}");
    assert_eq!(
        s["overlay"]["peers"], 10,
        "the 2 killed are gone from the PL"
    );
    let run = dir.join("run");
    for f in ["outputfile.txt", "topology.json", "summary.json"] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    for stem in ["degree-histogram", "degree-ccdf", "latency-cdf"] {
        assert_eq!(png_size(&run.join(format!("{stem}.png"))), (800, 600));
        let svg = std::fs::read_to_string(run.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}.svg"
        );
    }
    // `hearsay analyze` reads the run's topology back: the same overlay, fitted and plotted.
    let out = Command::new(HEARSAY)
        .current_dir(&dir)
        .args(["analyze", "run/topology.json", "--dir", "analysis"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links = s["overlay"]["links"].as_u64().unwrap();
    assert!(
        text.starts_with(&format!("peers 10, links {links},")),
        "{text}"
    );
    assert!(
        text.contains("power law: α = ") && text.contains("KS distance"),
        "{text}"
    );
    for stem in ["degree-histogram", "degree-ccdf"] {
        assert_eq!(
            png_size(&dir.join("analysis").join(format!("{stem}.png"))),
            (800, 600)
        );
    }
    let bad = Command::new(HEARSAY)
        .args(["analyze", "/nonexistent.json"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent.json"));
}

fn running(pid: u32) -> bool {
    // A zombie has exited: only its parent's wait is missing.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// SIGINT to `hearsay up` mid-run: every child process is gone within 5 s.
#[test]
fn ctrl_c_stops_every_child() {
    let dir = workdir("upint");
    let mut up = Command::new(HEARSAY)
        .current_dir(&dir)
        .args(["up", "--peers", "6", "--speed", "2", "--dir", "run"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let run = dir.join("run");
    wait_for("six peers admitted", Duration::from_secs(30), || {
        let n = std::fs::read_dir(&run)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("peer"))
                    .count()
            })
            .unwrap_or(0);
        if n == 6 {
            Ok(())
        } else {
            Err(format!("{n} peers"))
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let kids = children(up.id());
    assert_eq!(kids.len(), 7, "the seed process and 6 peers: {kids:?}");
    signal(up.id(), "INT");
    let start = Instant::now();
    loop {
        let alive: Vec<u32> = kids.iter().copied().filter(|k| running(*k)).collect();
        let done = up.try_wait().unwrap().is_some();
        if alive.is_empty() && done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still running after 5 s: {alive:?}, hearsay exited: {done}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The newcomer's path: the README's main command (`hearsay up`, no arguments, beside the
/// repo's config.txt) runs the task's timings to the end and prints the summary.
#[test]
fn the_main_command_with_no_arguments_ends_with_the_summary() {
    let dir = workdir("upmain");
    let repo_config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.txt");
    std::fs::copy(repo_config, dir.join("config.txt")).unwrap();
    let out = Command::new(HEARSAY)
        .current_dir(&dir)
        .arg("up")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.split("summary").nth(1).unwrap_or_default();
    assert!(
        summary.contains("peers / seeds                       10 / 3"),
        "{stdout}"
    );
    assert!(
        summary.contains("peers killed / removed              1 / 1 by every seed"),
        "{stdout}"
    );
    assert!(
        summary.contains("false removals                      0"),
        "{stdout}"
    );
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1, "one fresh runs/<time>/ directory");
}

/// Issue 13: with too low a limit on open files, `hearsay up --in-process --peers 500` exits 2
/// with one sentence naming the need, the limit and `ulimit -n`, and starts nothing: no run
/// directory, no seed listening.
#[test]
fn up_refuses_a_network_the_open_file_limit_cannot_hold() {
    let dir = workdir("up-nofile");
    let hearsay = HEARSAY;
    let out = Command::new("sh")
        .current_dir(&dir)
        .args([
            "-c",
            &format!(
                "ulimit -n 256 && exec {hearsay} up --in-process --peers 500 --seeds 3 --dir run"
            ),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("hearsay up: 500 peers in one process need about ")
            && stderr.contains(" open files, but the limit here is 256: raise it with `ulimit -n ")
            && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );
    assert!(!dir.join("run").exists(), "a run directory was made");
}

/// Issue 13: `--gossip-count` and `--originators` make a light run: only the first peers
/// generate, each as many messages as asked, and every one reaches every other peer.
#[test]
fn up_takes_the_simulators_gossip_count_and_originators() {
    let dir = workdir("up-light");
    let (_, s) = run_up(
        &dir,
        &[
            "--in-process",
            "--peers",
            "20",
            "--speed",
            "20",
            "--kill",
            "0",
            "--gossip-count",
            "2",
            "--originators",
            "5",
        ],
    );
    assert_eq!(s["gossip"]["messages"], 10, "{s}");
    assert_eq!(s["gossip"]["latency_ms"]["n"], 10 * 19, "{s}");
    assert_eq!(s["gossip"]["full_coverage_share"], 1.0, "{s}");
    let run = dir.join("run");
    assert!(
        run.join("peers.jsonl").exists(),
        "in-process peers share one events file"
    );
    assert!(!run.join("peer0.jsonl").exists());
}

/// Issue 13: in-process peers run on the threads `--threads` asks for (named
/// `hearsay-shard-N`), the network works across them, and they stay up with `--keep`; a
/// thread count of zero, or one without `--in-process`, is refused before anything starts.
#[test]
fn in_process_peers_run_on_the_threads_asked_for() {
    let dir = workdir("up-threads");
    let (mut up, _) = up_kept(
        &dir,
        &[
            "--in-process",
            "--threads",
            "3",
            "--peers",
            "12",
            "--speed",
            "20",
            "--kill",
            "1",
            "--gossip-count",
            "2",
        ],
    );
    let tasks = std::fs::read_dir(format!("/proc/{}/task", up.id())).unwrap();
    let mut shards: Vec<String> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("hearsay-shard-"))
        .collect();
    shards.sort();
    let _ = up.kill();
    let _ = up.wait();
    assert_eq!(
        shards,
        ["hearsay-shard-0", "hearsay-shard-1", "hearsay-shard-2"]
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    assert_eq!(s["gossip"]["messages"], 24, "{s}");
    assert_eq!(s["gossip"]["full_coverage_share"], 1.0, "{s}");
    assert_eq!(s["failures"]["false_removals"], 0, "{s}");
    for args in [
        &["up", "--in-process", "--threads", "0"][..],
        &["up", "--threads", "2"],
    ] {
        let out = Command::new(HEARSAY)
            .current_dir(&dir)
            .args(args)
            .args(["--dir", "refused"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!dir.join("refused").exists(), "{args:?} started a run");
    }
}

/// A reader that stops early (`hearsay up | head -1`) costs `hearsay up` nothing: it runs to
/// its end and exits 0, with no panic on the closed pipe.
#[test]
fn up_piped_into_a_reader_that_stops_early_still_ends_cleanly() {
    use std::io::BufRead;
    let dir = workdir("up-pipe");
    let mut up = Command::new(HEARSAY)
        .current_dir(&dir)
        .args([
            "up", "--peers", "3", "--speed", "20", "--kill", "0", "--dir", "run",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let stdout = up.stdout.take().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty(), "a first line");
    // The reader is gone (its end of the pipe closed): `up` must still end on its own.
    let out = wait_exit(up, "hearsay up", Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit status {}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        dir.join("run/summary.json").exists(),
        "it ran to the summary"
    );
}

/// The processes `hearsay up` starts (the seeds' and each peer's) go with it however it ends:
/// killed with SIGKILL, which it cannot catch, it leaves no seed or peer running, and each
/// node stopped as on SIGTERM (its last line, `stopped`, is written).
#[test]
fn up_killed_with_sigkill_leaves_no_node_running() {
    let dir = workdir("up-sigkill");
    let (mut up, _) = up_kept(
        &dir,
        &[
            "--peers",
            "3",
            "--speed",
            "20",
            "--kill",
            "0",
            "--gossip-count",
            "1",
        ],
    );
    let children = children(up.id());
    let name = |pid: &u32| {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        comm.trim().to_string()
    };
    let names: Vec<String> = children.iter().map(name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["peer", "peer", "peer", "seed"], "{children:?}");
    up.kill().unwrap(); // SIGKILL
    let _ = up.wait();
    let start = Instant::now();
    // Still the same program (not a new process given a freed pid) and not exited.
    let left = || {
        (children.iter().zip(&names))
            .filter(|(pid, was)| running(**pid) && name(pid) == **was)
            .map(|(pid, _)| *pid)
            .collect()
    };
    let mut still: Vec<u32> = left();
    while !still.is_empty() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
        still = left();
    }
    for pid in &still {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(
        still.is_empty(),
        "running 15 s after hearsay up died: {still:?}"
    );
    let mut stopped = 0;
    for entry in std::fs::read_dir(dir.join("run")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            stopped += text.matches(r#""event":"stopped""#).count();
        }
    }
    assert_eq!(
        stopped,
        3 + 3,
        "each of the 3 seeds and 3 peers logs that it stopped"
    );
}
