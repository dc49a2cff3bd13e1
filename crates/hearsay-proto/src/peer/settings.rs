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
    /// Messages one origin may have relayed by this peer at once (the bucket of the
    /// per-origin rate bound, PROTOCOL §11.5); more are dropped and counted. See
    /// [`origin_bound`] for the default.
    pub origin_burst: u32,
    /// After a burst, one more message per origin per this long. Must not be zero.
    pub origin_every: Duration,
    /// Most entries in the Message List. Must not be zero.
    pub ml_cap: usize,
    /// How long the Message List remembers a message; older messages are refused.
    pub ml_window: Duration,
    /// The least time to wait for a requested message before asking another neighbour that
    /// announced it; the wait grows with the measured round trip of requests, up to ten
    /// times this (PROTOCOL §11.3).
    pub want_patience: Duration,
    /// How long an announcement waits when its message came along the origin's tree (pushed
    /// by a neighbour asked to, PROTOCOL §11.7): the neighbours are likely to get it the same
    /// way meanwhile, and an announcement to one that has it by then is not sent.
    pub announce_hold: Duration,
    /// Push trees grow from an origin's first message here, else from its second (PROTOCOL
    /// §11.7). Set alike for the whole network: true where origins send more than one
    /// message each; where they send one, trees would be state for nothing. A peer also
    /// holds an announcement only for a neighbour that has its tree, counting on every peer
    /// growing trees the same way.
    pub trees_from_first: bool,
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
            origin_burst: 20,
            origin_every: Duration::from_secs(1),
            ml_cap: 100_000,
            ml_window: Duration::from_secs(600),
            want_patience: Duration::from_secs(1),
            announce_hold: Duration::from_millis(500),
            trees_from_first: true,
            ping_interval: Duration::from_secs(13),
            suspect_after: 3,
            verdict_timeout: Duration::from_secs(5),
            report_every: Duration::from_millis(500),
        }
    }
}

/// The default per-origin bound for a network whose peers generate `gossip_count` messages
/// `gossip_interval` apart: twice the whole output of an honest origin at once, at least 20,
/// then five times its rate (at the task's timings: 20 at once, then one a second). An
/// honest origin, however its messages bunch on the way, never reaches it.
pub fn origin_bound(gossip_count: u32, gossip_interval: Duration) -> (u32, Duration) {
    let burst = gossip_count.saturating_mul(2).max(20);
    let every = (gossip_interval / 5).max(Duration::from_millis(1));
    (burst, every)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults are the bound of the task's timings.
    #[test]
    fn the_default_origin_bound_is_the_task_timings_bound() {
        let s = Settings::default();
        assert_eq!(
            origin_bound(s.gossip_count, s.gossip_interval),
            (s.origin_burst, s.origin_every)
        );
        assert_eq!(
            origin_bound(100, Duration::from_millis(100)),
            (200, Duration::from_millis(20))
        );
        assert_eq!(
            origin_bound(0, Duration::ZERO),
            (20, Duration::from_millis(1))
        );
    }
}
