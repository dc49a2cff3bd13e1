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

/// Whether namespaces can be made here; prints why not.
fn hosts_available(test: &str) -> bool {
    match hosts::unavailable() {
        None => true,
        Some(why) => {
            eprintln!("{test}: not run here: {why}");
            false
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

/// The peers' addresses in the run's `topology.json`.
fn peer_addresses(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("run/topology.json")).unwrap();
    let topology: Value = serde_json::from_str(&text).unwrap();
    (topology["peers"].as_array().unwrap().iter())
        .map(|p| p["addr"].as_str().unwrap().to_string())
        .collect()
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
    if !hosts_available("eight_peers_on_hosts_of_their_own_and_a_killed_process") {
        return;
    }
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
    let live = peer_addresses(&dir);
    assert_eq!(ips(&live).len(), 7, "the 7 live peers' hosts: {live:?}");
    let started = started_addresses(&dir);
    assert_eq!(ips(&started).len(), 8, "every peer's host: {started:?}");
    assert!(started.iter().all(|a| a.starts_with("10.")), "{started:?}");
    assert!(out.contains("process killed"), "{out}");
    assert!(namespaces_left().is_empty(), "{:?}", namespaces_left());
}

/// Issue 18: a host taken off the network (its link down: no TCP, no ICMP) is removed, and
/// its neighbours' suspicion says its host did not answer ICMP.
#[test]
fn a_host_taken_off_the_network_is_removed_and_did_not_answer_icmp() {
    if !hosts_available("a_host_taken_off_the_network_is_removed_and_did_not_answer_icmp") {
        return;
    }
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
