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
    /// with every live peer, and the overlay connected.
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
}
