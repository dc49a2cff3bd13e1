//! `hearsay up --hosts --partition F` (issue 18): a share of the peers' hosts is cut off from
//! the seeds and the other peers for a window, then joined again. The seeds' quorum cannot
//! reach the peers cut off, so it may remove them; they come back at a higher incarnation once
//! the network heals. No peer the quorum can reach may be removed.

use std::time::{Duration, Instant};

use super::hosts::Hosts;

/// A partition's schedule and where it stands.
pub struct Partition {
    /// The peers cut off (their numbers in the run).
    pub peers: Vec<usize>,
    /// Their hosts.
    hosts: Vec<usize>,
    from: Instant,
    window: Duration,
    stage: Stage,
    /// When the network settled after healing (Unix ms too): every seed's Peer List the same,
    /// with every live peer, and the overlay connected; cleared if that stops holding while
    /// the gossip runs, so it is the last time it settled.
    settled: Option<(Instant, u64)>,
}

enum Stage {
    Before,
    Cut,
    /// Healed at this moment (Unix ms too).
    Healed(Instant, u64),
}

impl Partition {
    /// The last `fraction` of the peers (at least one, never all), whose hosts are
    /// `peer_hosts`, cut off from `from` for `window`.
    pub fn new(fraction: f64, peer_hosts: &[usize], from: Instant, window: Duration) -> Self {
        let n = peer_hosts.len();
        let cut = ((fraction * n as f64).round() as usize).clamp(1, n.saturating_sub(1).max(1));
        let peers: Vec<usize> = (n - cut.min(n)..n).collect();
        Partition {
            hosts: peers.iter().map(|&p| peer_hosts[p]).collect(),
            peers,
            from,
            window,
            stage: Stage::Before,
            settled: None,
        }
    }

    /// Cuts or heals when it is due; returns what it did, to narrate.
    pub fn step(&mut self, now: Instant, hosts: &mut Hosts) -> anyhow::Result<Option<String>> {
        match self.stage {
            Stage::Before if now >= self.from => {
                hosts.partition(&self.hosts)?;
                self.stage = Stage::Cut;
                Ok(Some(format!(
                    "cut {} peers off from the seeds and the other peers for {:?}",
                    self.peers.len(),
                    self.window
                )))
            }
            Stage::Cut if now >= self.from + self.window => {
                hosts.heal(&self.hosts)?;
                self.stage = Stage::Healed(now, hearsay_net::now().0);
                Ok(Some("the partition healed".into()))
            }
            _ => Ok(None),
        }
    }

    /// When it healed: the moment, and Unix ms.
    pub fn healed(&self) -> Option<(Instant, u64)> {
        match self.stage {
            Stage::Healed(at, ms) => Some((at, ms)),
            _ => None,
        }
    }

    /// The network has settled, now.
    pub fn settle(&mut self) {
        self.settled = Some((Instant::now(), hearsay_net::now().0));
    }

    /// What the seeds show now, once healed: settled (`Some(true)`), not (`Some(false)`), or
    /// unknown (`None`: a seed did not answer). Watched until the gossip ends: a change
    /// decided while cut off (a removal whose votes were cast then) may land after the
    /// network first looked settled, so a definite change clears the settling, and messages
    /// are counted from the last one. Returns what to narrate.
    pub fn observe(&mut self, now_settled: Option<bool>) -> Option<&'static str> {
        match (self.healed(), self.settled, now_settled) {
            (Some(_), None, Some(true)) => self.settle(),
            (Some(_), Some(_), Some(false)) => {
                self.settled = None;
                return Some("the Peer Lists or the overlay changed again after settling");
            }
            _ => {}
        }
        None
    }

    /// When the network settled after healing: the moment, and Unix ms.
    pub fn settled(&self) -> Option<(Instant, u64)> {
        self.settled
    }

    /// How long it lasted.
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last share of the peers is cut, at least one and never all.
    #[test]
    fn the_last_share_of_the_peers_is_cut_at_least_one_never_all() {
        let hosts: Vec<usize> = (3..13).collect();
        let at = Instant::now();
        let p = Partition::new(0.3, &hosts, at, Duration::from_secs(1));
        assert_eq!(
            (p.peers.clone(), p.hosts.clone()),
            (vec![7, 8, 9], vec![10, 11, 12])
        );
        assert_eq!(Partition::new(0.01, &hosts, at, Duration::ZERO).peers, [9]);
        assert_eq!(
            Partition::new(1.0, &hosts, at, Duration::ZERO).peers.len(),
            9
        );
    }

    /// Settling counts only once healed; a seed that does not answer changes nothing; a
    /// definite change after settling clears it (said once), and the next settling is the
    /// one that counts.
    #[test]
    fn a_change_after_settling_clears_it_and_the_last_settling_counts() {
        let mut p = Partition::new(0.3, &[1, 2, 3], Instant::now(), Duration::ZERO);
        assert_eq!(p.observe(Some(true)), None);
        assert_eq!(p.settled(), None, "not healed yet");
        p.stage = Stage::Healed(Instant::now(), 1);
        assert_eq!(p.observe(Some(false)), None);
        assert_eq!(p.settled(), None);
        assert_eq!(p.observe(Some(true)), None);
        let (first, _) = p.settled().unwrap();
        assert_eq!((p.observe(None), p.observe(Some(true))), (None, None));
        assert_eq!(p.settled().unwrap().0, first, "unchanged while it holds");
        assert_eq!(
            p.observe(Some(false)),
            Some("the Peer Lists or the overlay changed again after settling")
        );
        assert_eq!(p.settled(), None);
        assert_eq!(p.observe(Some(false)), None, "said once");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(p.observe(Some(true)), None);
        assert!(p.settled().unwrap().0 > first);
    }
}
