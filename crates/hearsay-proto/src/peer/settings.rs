//! A peer's tunables (SPEC §9).

use std::time::Duration;

/// A peer's tunables (SPEC §9). The defaults are the task's; tests shorten the times.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Neighbours chosen on joining (SPEC: `links`, default 3).
    pub links: usize,
    /// Most neighbours in all; links beyond it are refused. Must be at least `links`.
    pub max_links: usize,
    /// Give up joining (exit non-zero) when not registered after this long.
    pub join_timeout: Duration,
    /// First backoff for a failed seed dial or a refused registration; it doubles per failure.
    pub retry: Duration,
    /// How long to wait for every seed's peer list before choosing from those that came.
    pub peer_list_wait: Duration,
    /// How soon to look for more neighbours while the degree is below `links` (doubles up to
    /// 16 times this).
    pub refill: Duration,
    /// Wait after the neighbours are connected before the first message (SPEC: `gossip_delay`).
    pub gossip_delay: Duration,
    /// Between two generated messages (SPEC: `gossip_interval`). Must not be zero.
    pub gossip_interval: Duration,
    /// Messages to generate in all (SPEC: `gossip_count`; 0: none).
    pub gossip_count: u32,
    /// Most entries in the Message List. Must not be zero.
    pub ml_cap: usize,
    /// How long the Message List remembers a message; older messages are refused.
    pub ml_window: Duration,
    /// The least time to wait for a requested message before asking another neighbour that
    /// announced it; the wait grows with the measured round trip of requests, up to ten
    /// times this (PROTOCOL §11.3).
    pub want_patience: Duration,
    /// Between two liveness rounds (SPEC: `ping_interval`). Must not be zero.
    pub ping_interval: Duration,
    /// Missed rounds in a row that start a suspicion (SPEC: `suspect_after`). Must not be
    /// zero.
    pub suspect_after: u32,
    /// How long a suspicion waits for witnesses' verdicts before deciding on those that came.
    pub verdict_timeout: Duration,
    /// Neighbour reports go to the seeds at most this often: a change right after a report
    /// goes out with whatever else changed by the end of this wait (PROTOCOL §7). A peer
    /// that many others link to at once sends a few reports, not one per link.
    pub report_every: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            links: 3,
            max_links: 512,
            join_timeout: Duration::from_secs(30),
            retry: Duration::from_millis(250),
            peer_list_wait: Duration::from_secs(2),
            refill: Duration::from_secs(1),
            gossip_delay: Duration::ZERO,
            gossip_interval: Duration::from_secs(5),
            gossip_count: 10,
            ml_cap: 100_000,
            ml_window: Duration::from_secs(600),
            want_patience: Duration::from_secs(1),
            ping_interval: Duration::from_secs(13),
            suspect_after: 3,
            verdict_timeout: Duration::from_secs(5),
            report_every: Duration::from_millis(500),
        }
    }
}
