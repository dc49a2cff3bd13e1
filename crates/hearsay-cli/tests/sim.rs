//! Issue 6, first slice: `hearsay sim` runs the real protocol code deterministically.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn sim(args: &[&str]) -> Value {
    let out = Command::new(HEARSAY)
        .arg("sim")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The same seed gives the same run, to the trace digest; another seed another trace; and
/// plain gossip reaches every peer.
#[test]
fn hearsay_sim_is_deterministic_and_gossip_covers_everyone() {
    let a = sim(&["--peers", "30", "--seed", "9"]);
    let b = sim(&["--peers", "30", "--seed", "9"]);
    let c = sim(&["--peers", "30", "--seed", "10"]);
    assert_eq!(a, b);
    assert_ne!(a["trace_digest"], c["trace_digest"]);
    assert_eq!(a["admitted"], 30);
    assert_eq!(a["messages"], 90);
    assert_eq!(a["coverage"], 1.0, "{a}");
    let lossy = sim(&["--peers", "30", "--seed", "9", "--loss", "0.05"]);
    assert!(lossy["frames"][1].as_u64().unwrap() > 0, "{lossy}");
    assert_eq!(lossy["coverage"], 1.0, "{lossy}");
}
