//! What became of `hearsay up`'s attacks ([`super`]): the four outcomes and each attack's
//! signs that it happened, as the summary shows them (its rows and its JSON).

use serde::Serialize;

/// `n` things, in words: "1 peer", "2 peers".
pub(super) fn count(n: usize, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

/// What became of the attacks: the four outcomes (each 0 when the defences hold), and for
/// each attack run, the signs that it really happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Honest live peers (not killed on purpose) that some honest seed removed.
    pub false_removals: usize,
    /// First-time deliveries, at honest peers, of messages no honest peer generated.
    pub forged_messages_delivered: usize,
    /// Peers that never started, admitted or removed by an honest seed (a forged
    /// certificate applied) or in an honest seed's Peer List at the end.
    pub forged_certificates_applied: usize,
    /// Eviction targets that some honest seed removed while they were alive.
    pub evictions: usize,
    /// `--liars`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liars: Option<LiarsReport>,
    /// `--forgers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgers: Option<ForgersReport>,
    /// `--lying-seeds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lying_seeds: Option<LyingSeedsReport>,
    /// `--evict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evict: Option<EvictReport>,
}

/// The liars' attack.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiarsReport {
    /// Colluding peers.
    pub peers: usize,
    /// False reports sent (each to every seed the reporter is linked to).
    pub reports_sent: u64,
    /// `false_accusation` lines the honest seeds logged against the reporter.
    pub false_accusations: usize,
}

/// The forgers' attack.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ForgersReport {
    /// Forging peers.
    pub peers: usize,
    /// Gossip copies honest peers dropped because the origin's signature did not hold.
    pub forged_copies_dropped: usize,
}

/// The lying seeds' attack.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LyingSeedsReport {
    /// Lying seeds.
    pub seeds: usize,
    /// Certificates the honest seeds rejected.
    pub certificates_rejected: usize,
}

/// The eviction attack.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EvictReport {
    /// Honest peers attacked.
    pub targets: usize,
    /// Idle links tried.
    pub links: usize,
    /// Source addresses they came from.
    pub addresses: usize,
    /// Links whose handshake finished.
    pub links_opened: u64,
    /// Links that did not connect or finish the handshake in time.
    pub links_failed: u64,
    /// Opened links the target closed before the end.
    pub links_closed: u64,
    /// False reports about the targets sent by the accusers.
    pub reports_sent: u64,
    /// `false_accusation` lines the honest seeds logged against the accusers.
    pub false_accusations: usize,
}

impl Report {
    /// The outcomes that are not 0, as sentences (none when every defence held).
    pub fn breaches(&self) -> Vec<String> {
        [
            (self.false_removals, "honest live peer", " removed"),
            (
                self.forged_messages_delivered,
                "forged message",
                " delivered",
            ),
            (
                self.forged_certificates_applied,
                "forged certificate",
                " applied",
            ),
            (self.evictions, "live peer", " evicted"),
        ]
        .into_iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, what, done)| count(n, what) + done)
        .collect()
    }

    /// The summary table's rows: each attack run, then the four outcomes.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = Vec::new();
        if let Some(l) = &self.liars {
            rows.push((
                "attack: liars",
                format!(
                    "{}, {} false reports, {} false accusations logged by seeds",
                    count(l.peers, "peer"),
                    l.reports_sent,
                    l.false_accusations
                ),
            ));
        }
        if let Some(f) = &self.forgers {
            rows.push((
                "attack: forgers",
                format!(
                    "{}, {} forged copies dropped",
                    count(f.peers, "peer"),
                    f.forged_copies_dropped
                ),
            ));
        }
        if let Some(s) = &self.lying_seeds {
            rows.push((
                "attack: lying seeds",
                format!(
                    "{}, {} forged certificates rejected",
                    count(s.seeds, "seed"),
                    s.certificates_rejected
                ),
            ));
        }
        if let Some(e) = &self.evict {
            rows.push((
                "attack: eviction",
                format!(
                    "{}, {} of {} idle links opened from {} addresses ({} closed by the target), {} false reports, {} false accusations logged by seeds",
                    count(e.targets, "target"), e.links_opened, e.links, e.addresses, e.links_closed, e.reports_sent, e.false_accusations
                ),
            ));
        }
        rows.extend([
            (
                "honest peers falsely removed",
                self.false_removals.to_string(),
            ),
            (
                "forged messages delivered",
                self.forged_messages_delivered.to_string(),
            ),
            (
                "forged certificates applied",
                self.forged_certificates_applied.to_string(),
            ),
            ("live peers evicted", self.evictions.to_string()),
        ]);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcomes_that_are_not_zero_are_said_in_words_and_the_table_shows_all_four() {
        assert!(Report::default().breaches().is_empty());
        let r = Report {
            false_removals: 1,
            evictions: 2,
            forgers: Some(ForgersReport {
                peers: 1,
                forged_copies_dropped: 7,
            }),
            ..Report::default()
        };
        assert_eq!(
            r.breaches(),
            ["1 honest live peer removed", "2 live peers evicted"]
        );
        let rows = r.rows();
        let labels: Vec<&str> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            labels,
            [
                "attack: forgers",
                "honest peers falsely removed",
                "forged messages delivered",
                "forged certificates applied",
                "live peers evicted"
            ]
        );
        assert_eq!(rows[0].1, "1 peer, 7 forged copies dropped");
        assert_eq!(rows[4].1, "2");
    }
}
