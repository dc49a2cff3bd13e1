//! Quorum arithmetic (SPEC §2, §5): with n seeds a decision needs q = ⌊n/2⌋+1 of them.
//!
//! [`Tally`] counts the yes and no votes of distinct voters and says whether a proposal is
//! [`Outcome::Won`], [`Outcome::Lost`] or still [`Outcome::Pending`]. Pure arithmetic, no I/O
//! (after raft-rs `quorum.rs`).

use std::collections::BTreeMap;

/// The number of votes out of `n` that make a majority: ⌊n/2⌋+1 (SPEC §2).
///
/// `quorum(0)` is 1, so with no voters nothing can win.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// Where a vote stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Neither a quorum of yes votes nor enough no votes to rule one out, yet.
    Pending,
    /// At least a quorum of voters said yes.
    Won,
    /// So many voters said no that a quorum of yes votes can no longer be reached.
    Lost,
}

/// Counts yes/no votes of distinct voters out of `n`.
///
/// A voter's first vote counts and a repeat is ignored, so one voter can never be counted
/// twice. At most `n` voters are recorded: the caller must only record votes of the `n`
/// eligible voters, and anything beyond `n` distinct voters is ignored, which also bounds the
/// table.
#[derive(Debug, Clone)]
pub struct Tally<V: Ord> {
    n: usize,
    votes: BTreeMap<V, bool>,
}

impl<V: Ord> Tally<V> {
    /// An empty tally for a vote among `n` voters.
    pub fn new(n: usize) -> Self {
        Tally {
            n,
            votes: BTreeMap::new(),
        }
    }

    /// Records a vote; a voter's first vote counts, a repeat is ignored. Returns true if
    /// counted.
    ///
    /// A new voter once `n` voters have been recorded is ignored too (returns false).
    pub fn record(&mut self, voter: V, yes: bool) -> bool {
        if self.votes.contains_key(&voter) || self.votes.len() >= self.n {
            return false;
        }
        self.votes.insert(voter, yes);
        true
    }

    /// The number of yes votes counted.
    pub fn yes(&self) -> usize {
        self.votes.values().filter(|&&yes| yes).count()
    }

    /// The number of no votes counted.
    pub fn no(&self) -> usize {
        self.votes.values().filter(|&&yes| !yes).count()
    }

    /// Won once yes >= q; Lost once no > n - q (q can no longer be reached); else Pending.
    ///
    /// With `n = 0` nothing can win, so the outcome is Lost from the start.
    pub fn outcome(&self) -> Outcome {
        let q = quorum(self.n);
        if self.yes() >= q {
            Outcome::Won
        } else if self.n.saturating_sub(self.no()) < q {
            // The voters who have not said no are too few to make q.
            Outcome::Lost
        } else {
            Outcome::Pending
        }
    }

    /// The voters who said yes, in order.
    pub fn yes_voters(&self) -> impl Iterator<Item = &V> {
        self.votes
            .iter()
            .filter(|(_, &yes)| yes)
            .map(|(voter, _)| voter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_strict_majority_of_n_seeds() {
        // SPEC §2: q = ⌊n/2⌋+1.
        let table = [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)];
        for (n, q) in table {
            assert_eq!(quorum(n), q, "quorum({n})");
        }
    }

    #[test]
    fn quorum_of_zero_voters_is_one_so_nothing_can_win() {
        assert_eq!(quorum(0), 1);
        let tally: Tally<u32> = Tally::new(0);
        assert_eq!(tally.outcome(), Outcome::Lost);
    }

    /// Feeds `votes` ('y' or 'n', one distinct voter each) into a tally of `n` and returns the
    /// outcome after each vote as 'P', 'W' or 'L'.
    fn outcomes(n: usize, votes: &str) -> String {
        let mut tally = Tally::new(n);
        votes
            .chars()
            .enumerate()
            .map(|(voter, vote)| {
                assert!(
                    tally.record(voter, vote == 'y'),
                    "voter {voter} not counted"
                );
                match tally.outcome() {
                    Outcome::Pending => 'P',
                    Outcome::Won => 'W',
                    Outcome::Lost => 'L',
                }
            })
            .collect()
    }

    #[test]
    fn a_vote_is_won_by_q_yes_and_lost_once_q_is_out_of_reach() {
        // (n, votes in order, outcome after each vote)
        let table = [
            (1, "y", "W"),
            (1, "n", "L"),
            (2, "yy", "PW"),
            (2, "n", "L"),
            (2, "yn", "PL"),
            (3, "yy", "PW"),
            (3, "nn", "PL"),
            (3, "yn", "PP"),
            (3, "yny", "PPW"),
            (3, "nyn", "PPL"),
            (3, "yyn", "PWW"),
            (3, "nny", "PLL"),
            (4, "yyy", "PPW"),
            (4, "nn", "PL"),
            (4, "yyny", "PPPW"),
            (4, "ynyn", "PPPL"),
            (5, "yyy", "PPW"),
            (5, "nnn", "PPL"),
            (5, "yynny", "PPPPW"),
            (5, "yynnn", "PPPPL"),
            (6, "yyyy", "PPPW"),
            (6, "nnn", "PPL"),
            (6, "yyynny", "PPPPPW"),
            (6, "yyynnn", "PPPPPL"),
            (7, "yyyy", "PPPW"),
            (7, "nnnn", "PPPL"),
            (7, "yyynnny", "PPPPPPW"),
            (7, "yyynnnn", "PPPPPPL"),
        ];
        for (n, votes, expected) in table {
            assert_eq!(outcomes(n, votes), expected, "n = {n}, votes {votes}");
        }
    }

    #[test]
    fn a_repeated_voter_is_counted_once() {
        let mut tally = Tally::new(3);
        assert!(tally.record("a", true));
        assert!(!tally.record("a", true));
        assert_eq!(tally.yes(), 1);
        assert_eq!(tally.outcome(), Outcome::Pending);
        assert!(tally.record("b", true));
        assert_eq!(tally.outcome(), Outcome::Won);
    }

    #[test]
    fn a_voter_cannot_change_its_vote() {
        let mut tally = Tally::new(3);
        assert!(tally.record("a", true));
        assert!(!tally.record("a", false));
        assert_eq!((tally.yes(), tally.no()), (1, 0));
    }

    #[test]
    fn votes_beyond_n_distinct_voters_are_ignored() {
        let mut tally = Tally::new(3);
        assert!(tally.record(1, false));
        assert!(tally.record(2, true));
        assert!(tally.record(3, false));
        assert!(!tally.record(4, true));
        assert!(!tally.record(5, true));
        assert_eq!((tally.yes(), tally.no()), (1, 2));
        assert_eq!(tally.outcome(), Outcome::Lost);
    }

    #[test]
    fn yes_voters_lists_exactly_the_voters_who_said_yes_in_order() {
        let mut tally = Tally::new(5);
        tally.record("c", true);
        tally.record("a", true);
        tally.record("b", false);
        tally.record("d", true);
        let yes: Vec<_> = tally.yes_voters().copied().collect();
        assert_eq!(yes, ["a", "c", "d"]);
    }
}
