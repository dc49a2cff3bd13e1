//! Issue 18: `hearsay up --hosts`, every seed and every peer on a host of its own (a Linux
//! network namespace with its own address on a private bridge). These tests need root and
//! network namespaces; where those are truly unavailable each says why and checks nothing
//! else (CI runs as root, so it runs them).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use hearsay_cli::up::hosts;
use serde_json::Value;

/// One test on hosts at a time: each checks that no namespace of this program is left, and
/// a run's hosts take the machine's two cores anyway.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether namespaces can be made here (prints why not); and, if so, this test's turn.
fn hosts_available(test: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    match hosts::unavailable() {
        None => Some(ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())),
        Some(why) => {
            eprintln!("{test}: not run here: {why}");
            None
        }
    }
}

/// The namespaces this program made that still exist.
fn namespaces_left() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("hearsay-"))
        .map(str::to_string)
        .collect()
}

/// The run's `topology.json`: the addresses of the peers in the overlay at the end, and of
/// every peer's host.
fn peer_addresses(dir: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(dir.join("run/topology.json")).unwrap();
    let topology: Value = serde_json::from_str(&text).unwrap();
    let addrs = |list: &Value| -> Vec<String> {
        (list.as_array().unwrap().iter())
            .filter(|p| p.get("role").is_none_or(|r| r == "peer"))
            .map(|p| p["addr"].as_str().unwrap().to_string())
            .collect()
    };
    (addrs(&topology["peers"]), addrs(&topology["hosts"]))
}

/// The addresses the peers started on (their `started` events).
fn started_addresses(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0.. {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("run/peer{i}.jsonl"))) else {
            break;
        };
        let started = text
            .lines()
            .find(|l| l.contains(r#""event":"started""#))
            .unwrap();
        let e: Value = serde_json::from_str(started).unwrap();
        out.push(e["addr"].as_str().unwrap().to_string());
    }
    out
}

/// Issue 18: 3 seeds and 8 peers, each on a host of its own; one peer's process is killed.
/// Every message reaches every peer, the killed peer is removed by every seed and nobody
/// else is, the peers listen on 8 distinct addresses off 127.0.0.1, its neighbours saw its
/// host still answer ICMP, and no namespace is left behind.
#[test]
fn eight_peers_on_hosts_of_their_own_and_a_killed_process() {
    let Some(_turn) = hosts_available("eight_peers_on_hosts_of_their_own_and_a_killed_process")
    else {
        return;
    };
    let dir = workdir("hosts-kill");
    let args = ["--hosts", "--seeds", "3", "--peers", "8", "--kill", "1"];
    let (out, s) = run_up(&dir, &[&args[..], &["--speed", "20"]].concat());
    assert_eq!(s["gossip"]["full_coverage_share"], 1.0, "{s}");
    assert_eq!(s["failures"]["killed"], 1, "{s}");
    assert_eq!(s["failures"]["removed"], 1, "{s}");
    assert_eq!(s["failures"]["false_removals"], 0, "{s}");
    let lost = &s["failures"]["lost"][0];
    assert_eq!(lost["how"], "process_killed", "{s}");
    assert_eq!(lost["icmp"], true, "the host stays up: {s}");
    let ips = |addrs: &[String]| -> BTreeSet<String> {
        (addrs.iter())
            .map(|a| a.rsplit_once(':').unwrap().0.to_string())
            .collect()
    };
    let (live, hosts) = peer_addresses(&dir);
    assert_eq!(ips(&live).len(), 7, "the 7 live peers' hosts: {live:?}");
    assert_eq!(ips(&hosts).len(), 8, "every peer's host: {hosts:?}");
    assert_eq!(hosts, started_addresses(&dir), "where each started");
    assert!(hosts.iter().all(|a| a.starts_with("10.")), "{hosts:?}");
    assert!(out.contains("process killed"), "{out}");
    assert!(namespaces_left().is_empty(), "{:?}", namespaces_left());
}

/// Issue 18: a host taken off the network (its link down: no TCP, no ICMP) is removed, and
/// its neighbours' suspicion says its host did not answer ICMP.
#[test]
fn a_host_taken_off_the_network_is_removed_and_did_not_answer_icmp() {
    let Some(_turn) =
        hosts_available("a_host_taken_off_the_network_is_removed_and_did_not_answer_icmp")
    else {
        return;
    };
    let dir = workdir("hosts-cut");
    let args = ["--hosts", "--seeds", "3", "--peers", "8", "--kill", "0"];
    let (out, s) = run_up(
        &dir,
        &[&args[..], &["--kill-hosts", "1", "--speed", "20"]].concat(),
    );
    assert_eq!(s["failures"]["removed"], 1, "{s}");
    assert_eq!(s["failures"]["false_removals"], 0, "{s}");
    let lost = &s["failures"]["lost"][0];
    assert_eq!(lost["how"], "host_cut", "{s}");
    assert_eq!(lost["icmp"], false, "{s}");
    assert!(out.contains("host off the network"), "{out}");
    assert!(namespaces_left().is_empty(), "{:?}", namespaces_left());
}

/// Issue 18: Ctrl+C in the middle of a run on hosts stops every node and removes every
/// namespace and the bridge; and a namespace left by a run that was killed (its process is
/// gone) is removed, and said so, at the next start.
#[test]
fn ctrl_c_leaves_no_host_behind_and_a_killed_runs_hosts_are_removed_at_the_next_start() {
    let test = "ctrl_c_leaves_no_host_behind_and_a_killed_runs_hosts_are_removed_at_the_next_start";
    let Some(_turn) = hosts_available(test) else {
        return;
    };
    // A pid no process can have: one past the largest the kernel hands out.
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stale = format!("hearsay-{}-0", max + 1);
    let made = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(made.success());
    let dir = workdir("hosts-interrupt");
    let child = Command::new(HEARSAY)
        .current_dir(&dir)
        .args([
            "up", "--hosts", "--seeds", "3", "--peers", "4", "--kill", "0",
        ])
        .args(["--speed", "20", "--dir", "run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mine = move || -> Vec<String> {
        (namespaces_left().into_iter())
            .filter(|n| n.starts_with(&format!("hearsay-{pid}-")))
            .collect()
    };
    wait_for(
        "the run's hosts",
        std::time::Duration::from_secs(30),
        || {
            let n = mine().len();
            (n >= 7).then_some(()).ok_or(format!("{n} hosts"))
        },
    );
    assert!(
        !namespaces_left().contains(&stale),
        "the stale namespace removed"
    );
    signal(pid, "INT");
    let out = wait_exit(child, "hearsay up", std::time::Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "removed the namespace {stale}, left by an earlier run"
        )),
        "{stdout}"
    );
    assert!(!out.status.success(), "interrupted: {stdout}");
    assert_eq!(mine(), Vec::<String>::new());
    let bridges = Command::new("ip")
        .args(["-o", "link", "show", "type", "bridge"])
        .output();
    let bridges = String::from_utf8_lossy(&bridges.unwrap().stdout).into_owned();
    assert!(!bridges.contains(&format!("hsb{pid:x}:")), "{bridges}");
}

/// Issue 18, SPEC §5: across hosts, a peer that advertises an address on another host (one
/// where an honest peer runs, on a port where nothing listens) is refused by every seed's
/// dial-back to that host; the honest peer alone is admitted.
#[test]
fn an_address_on_another_host_is_refused_by_dial_back_across_hosts() {
    let Some(_turn) =
        hosts_available("an_address_on_another_host_is_refused_by_dial_back_across_hosts")
    else {
        return;
    };
    let dir = workdir("hosts-dialback");
    let mut hosts = hosts::Hosts::new().unwrap();
    let seeds: Vec<std::net::IpAddr> = (0..3).map(|_| hosts.add().unwrap().1).collect();
    let config: String = seeds.iter().map(|ip| format!("{ip}:6000\n")).collect();
    std::fs::write(dir.join("config.txt"), config).unwrap();
    let (honest, liar) = (hosts.add().unwrap(), hosts.add().unwrap());
    let at = |ip: std::net::IpAddr| format!("{ip}:7000");
    let seed_at = |ip: std::net::IpAddr| format!("{ip}:6000");
    // Each node keeps its keys apart, as on machines of their own.
    let common = |name: &str| {
        let (c, o) = ("config.txt", "outputfile.txt");
        let (e, d) = (format!("{name}.jsonl"), format!("data-{name}"));
        [
            "--config",
            c,
            "--out",
            o,
            "--events",
            &e,
            "--data-dir",
            &d,
            "--quiet",
        ]
        .map(str::to_string)
    };
    let mut children = Children(Vec::new());
    for (n, ip) in seeds.iter().enumerate() {
        let mut c = hosts.command(n, Path::new(SEED));
        c.current_dir(&dir)
            .args(common("seeds"))
            .arg(format!("--addr={}", seed_at(*ip)));
        children.0.push(c.spawn().unwrap());
    }
    let mut c = hosts.command(honest.0, Path::new(PEER));
    c.current_dir(&dir)
        .args(common("honest"))
        .arg(format!("--addr={}", at(honest.1)));
    children.0.push(c.spawn().unwrap());
    let seed0: std::net::SocketAddr = seed_at(seeds[0]).parse().unwrap();
    wait_for(
        "the honest peer admitted",
        std::time::Duration::from_secs(20),
        || {
            let n = peer_ids(&status(seed0)?).len();
            (n == 1).then_some(()).ok_or(format!("{n} peers"))
        },
    );
    let mut c = hosts.command(liar.0, Path::new(PEER));
    c.current_dir(&dir)
        .args(common("liar"))
        .arg(format!("--addr={}", at(liar.1)))
        .arg(format!("--advertise={}:7001", honest.1));
    children.0.push(c.spawn().unwrap());
    let refused = format!("dial-back to {}:7001 failed: connection refused", honest.1);
    let votes = || {
        let text = std::fs::read_to_string(dir.join("seeds.jsonl")).unwrap_or_default();
        (text.lines())
            .filter(|l| l.contains(r#""event":"vote""#) && l.contains(&refused))
            .count()
    };
    wait_for(
        "every seed's dial-back refused on the other host",
        std::time::Duration::from_secs(20),
        || {
            let n = votes();
            (n >= 3).then_some(()).ok_or(format!("{n} such votes"))
        },
    );
    for ip in &seeds {
        let st = status(seed_at(*ip).parse().unwrap()).unwrap();
        assert_eq!(peer_ids(&st).len(), 1, "only the honest peer at {ip}");
    }
}

/// Child processes, killed when dropped (a failed assertion included).
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Issue 18: `--hosts` with what it cannot do is refused with one sentence, before anything
/// starts; `--kill-hosts` and `--partition` need `--hosts`.
#[test]
fn hosts_with_what_they_cannot_do_are_refused_with_one_sentence() {
    let dir = workdir("hosts-refused");
    let refused = |args: &[&str]| -> String {
        let out = Command::new(HEARSAY)
            .current_dir(&dir)
            .arg("up")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = refused(&["--hosts", "--in-process", "--seeds", "3"]);
    assert!(e.contains("leave out --in-process"), "{e}");
    let e = refused(&["--hosts", "--liars", "2", "--seeds", "3"]);
    assert!(e.contains("does not run attacks yet"), "{e}");
    let e = refused(&["--kill-hosts", "1", "--seeds", "3"]);
    assert!(e.contains("--hosts"), "{e}");
    let e = refused(&["--partition", "0.3", "--seeds", "3"]);
    assert!(e.contains("--hosts"), "{e}");
    let e = refused(&["--hosts", "--partition", "1.5", "--seeds", "3"]);
    assert!(e.contains("between 0 and 1"), "{e}");
    assert!(!dir.join("runs").exists(), "nothing started");
}

/// Issue 18: three of ten peers' hosts cut off from the seeds and the other peers for 15 s,
/// then joined again. The seeds remove peers they cannot reach, and nobody they could reach;
/// the peers cut off are back in every seed's Peer List, the lists agree, the overlay of the
/// live peers is connected, and every message generated once it is reaches every peer.
#[test]
fn a_partition_between_hosts_removes_nobody_the_seeds_reach_and_heals() {
    let Some(_turn) =
        hosts_available("a_partition_between_hosts_removes_nobody_the_seeds_reach_and_heals")
    else {
        return;
    };
    let dir = workdir("hosts-partition");
    let args = [
        "--hosts", "--seeds", "3", "--peers", "10", "--kill", "0", "--speed", "20",
    ];
    let (out, s) = run_up(
        &dir,
        &[
            &args[..],
            &[
                "--gossip-count",
                "120",
                "--partition",
                "0.3",
                "--partition-for",
                "15s",
            ],
        ]
        .concat(),
    );
    assert_eq!(s["failures"]["false_removals"], 0, "{s}");
    let p = &s["partition"];
    assert_eq!(p["peers_cut"], 3, "{s}");
    assert!(
        p["removed"].as_u64().unwrap() >= 1,
        "the quorum could not reach them: {s}"
    );
    assert_eq!(p["back"], 3, "{s}");
    assert!(p["settled_ms"].is_u64(), "{s}");
    assert!(p["messages_after"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(p["coverage_after_min"], 1.0, "{s}");
    assert_eq!(s["overlay"]["connected"], true, "{s}");
    assert!(out.contains("partition healed"), "{out}");
    assert!(namespaces_left().is_empty(), "{:?}", namespaces_left());
}
