//! Issue 6 acceptance: fixed-seed scenarios, one per kind of fault, each passing every
//! invariant (see `check.rs`). `SEED=<n>` in the environment reruns them with that seed; a
//! failure names the seed that made it.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hearsay_sim::{Faults, Metrics, Scenario, Sim};

/// The scenario's seed: `SEED` from the environment, else `default`.
fn seed_or(default: u64) -> u64 {
    std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// 20 peers gossiping a message a second for 40 s; faults from 8 s to 18 s unless given.
fn base(seed: u64, faults: Faults) -> Scenario {
    Scenario {
        peers: 20,
        seed: seed_or(seed),
        gossip_count: 40,
        faults: Faults {
            start: if faults.start.is_zero() {
                Duration::from_secs(8)
            } else {
                faults.start
            },
            stop: if faults.stop.is_zero() {
                Duration::from_secs(18)
            } else {
                faults.stop
            },
            ..faults
        },
        ..Scenario::default()
    }
}

/// Runs `s` and fails, naming the seed, if any invariant did not hold.
fn run(name: &str, s: Scenario) -> Metrics {
    let seed = s.seed;
    let m = Sim::new(s).run();
    eprintln!("{name}: {m:?}");
    assert!(
        m.violations.is_empty(),
        "{name}, seed {seed} (rerun with SEED={seed}): {} violations: {:#?}",
        m.violation_count,
        m.violations
    );
    m
}

#[test]
fn plain_gossip() {
    let m = run("plain gossip", base(11, Faults::default()));
    assert_eq!(m.admitted, 20);
    assert_eq!(m.messages, 800);
    assert_eq!(m.coverage, 1.0, "{m:?}");
}

#[test]
fn crashes_and_restarts() {
    let faults = Faults {
        crash: 0.2,
        restart: true,
        ..Faults::default()
    };
    let m = run("crashes", base(12, faults));
    assert_eq!(m.crashed, 4, "{m:?}");
    assert_eq!(m.removals, 4, "{m:?}");
    assert_eq!((m.false_removals, m.dead_in_pl), (0, 0), "{m:?}");
    assert!(
        m.detection_to_removal_ms.1 > 0,
        "the crashed were removed: {m:?}"
    );
}

#[test]
fn partition_and_heal() {
    // Long enough for the cut-off side to be removed, and to come back after the heal.
    let faults = Faults {
        partition: 0.3,
        stop: Duration::from_secs(30),
        ..Faults::default()
    };
    let s = Scenario {
        gossip_count: 60,
        ..base(13, faults)
    };
    let m = run("partition and heal", s);
    assert!(m.removals >= 3, "the cut-off side was removed: {m:?}");
    assert_eq!(m.false_removals, 0);
    assert!(m.seeds_agree_ms > 0, "and came back after the heal: {m:?}");
}

#[test]
fn churn() {
    let faults = Faults {
        churn_every: Some(Duration::from_secs(2)),
        ..Faults::default()
    };
    let m = run("churn", base(14, faults));
    assert_eq!(m.dead_in_pl, 0, "{m:?}");
    assert_eq!(
        m.crashed, 4,
        "one leaves every 2 s from 10 s to 16 s: {m:?}"
    );
}

#[test]
fn false_accusations_by_colluding_peers() {
    let faults = Faults {
        liars: 3,
        ..Faults::default()
    };
    let m = run("colluding liars", base(15, faults));
    assert!(
        m.false_reports >= 8,
        "the liars reported, one a second: {m:?}"
    );
    assert!(m.false_accusations >= 10, "the seeds caught them: {m:?}");
    assert_eq!(m.false_removals, 0);
}

#[test]
fn a_lying_seed_minority() {
    let faults = Faults {
        lying_seeds: 2,
        forgers: 2,
        ..Faults::default()
    };
    let s = Scenario {
        seeds: 5,
        ..base(16, faults)
    };
    let m = run("lying seeds and forgers", s);
    assert_eq!(m.coverage, 1.0, "{m:?}");
}

#[test]
fn five_percent_frame_loss() {
    let s = Scenario {
        loss: 0.05,
        ..base(17, Faults::default())
    };
    let m = run("5% loss", s);
    assert!(m.frames.1 > 0);
    assert_eq!(m.coverage, 1.0, "{m:?}");
}

/// Two partitions the random scenarios once left split in two, kept as fixed cases. In the
/// first, the cut-off peers are removed and come back: they must choose new neighbours from
/// the whole Peer List. In the second, nobody is removed: the links the partition cut must
/// be dialled again once the witnesses clear them.
///
/// Whether a cut-off peer is removed before the partition heals depends on every random
/// draw before it (which frames the 3% loss takes, each latency), so any change to what the
/// peers send moves it. The first case was seed 120 until first messages went along a
/// neighbour's tree (PROTOCOL §11.7, point 8): with them, seed 120 removes 2 of the 4
/// cut-off peers before the heal. Seeds 100–124 remove 3.64 on average with them, 3.72
/// without, so the case moved to seed 121, which removes all 4.
#[test]
fn partitions_heal_into_one_overlay() {
    let removed_and_back = Scenario {
        peers: 10,
        loss: 0.0327,
        gossip_count: 23,
        gossip_interval: Duration::from_secs(2),
        ..base(
            121,
            Faults {
                partition: 0.396,
                start: Duration::from_secs(6),
                stop: Duration::from_secs(16),
                ..Faults::default()
            },
        )
    };
    let m = run("partition: removed and back", removed_and_back);
    assert!(m.removals >= 3, "{m:?}");
    let short = Scenario {
        peers: 10,
        seeds: 5,
        loss: 0.0317,
        gossip_count: 21,
        gossip_interval: Duration::from_secs(2),
        ..base(
            159,
            Faults {
                partition: 0.365,
                forgers: 1,
                start: Duration::from_secs(6),
                stop: Duration::from_secs(12),
                ..Faults::default()
            },
        )
    };
    let m = run("partition: nobody removed", short);
    assert_eq!(m.removals, 0, "{m:?}");
}
