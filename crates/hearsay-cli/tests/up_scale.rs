//! Issue 5 acceptance at scale, in its own test binary so that its CPU load does not share
//! the machine with the timing-sensitive tests of `up.rs` (test binaries run one at a time).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// `hearsay up --in-process --peers 300 --speed 50` reaches coverage 1.0.
#[test]
fn three_hundred_peers_in_one_process_reach_full_coverage() {
    let dir = workdir("up300");
    let (_, s) = run_up(&dir, &["--in-process", "--peers", "300", "--speed", "50"]);
    assert_eq!(s["peers"], 300);
    assert_eq!(s["gossip"]["messages"], 3000, "{s}");
    assert_eq!(s["gossip"]["full_coverage_share"], 1.0, "{s}");
    assert_eq!(s["failures"]["false_removals"], 0, "{s}");
}
