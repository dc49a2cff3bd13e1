//! A seed's tunables (SPEC §9).

use std::time::Duration;

/// A seed's tunables. The defaults suit a real network; tests shorten them.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a coordinator waits for a quorum before aborting. Must not be zero.
    pub proposal_timeout: Duration,
    /// How long to wait before dialling a lost seed again.
    pub seed_retry: Duration,
    /// Registrations one source IP may start at once (token bucket size).
    pub rate_burst: u32,
    /// One more registration token per source IP every this long.
    pub rate_refill: Duration,
    /// Most entries in one peer list sent to a peer (at most [`crate::wire::MAX_LIST`]).
    pub peer_list_max: usize,
    /// Most proposals coordinated and most validations in flight, each.
    pub max_pending: usize,
    /// Most registrations under validation at once from one source network (a /24 or a
    /// /64): more are voted down at once, to be tried again, so that registrations whose
    /// dial-back hangs, from one network, cannot take every dial-back slot (PROTOCOL §6.3).
    pub registrations_per_network: usize,
    /// Most source IPs tracked by the rate limit.
    pub max_sources: usize,
    /// Yes votes are remembered this long, so a repeated proposal gets the same answer.
    pub vote_memory: Duration,
    /// How often a seed compares the certificates it holds with every other seed's
    /// (PROTOCOL §13); it also does whenever its link to one comes up.
    pub sync_interval: Duration,
    /// A member with no mutual link to another member for this long is an orphan: a peer
    /// is asked to watch it (PROTOCOL §12.6). The Peer List is looked over every half of it
    /// (at most every 100 ms).
    pub orphan_after: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            proposal_timeout: Duration::from_secs(5),
            seed_retry: Duration::from_millis(500),
            rate_burst: 64,
            rate_refill: Duration::from_millis(100),
            peer_list_max: 1000,
            max_pending: 1024,
            registrations_per_network: 32,
            max_sources: 4096,
            vote_memory: Duration::from_secs(600),
            sync_interval: Duration::from_secs(2),
            orphan_after: Duration::from_secs(10),
        }
    }
}

impl Settings {
    /// How long a vote is given again to a repeated proposal: a yes for `vote_memory`, a no
    /// only for one proposal timeout, so that a refused peer may try again (PROTOCOL §5.2).
    pub(super) fn memory_of(&self, vote: &crate::cert::Vote) -> Duration {
        if vote.yes {
            self.vote_memory
        } else {
            self.proposal_timeout
        }
    }
}
