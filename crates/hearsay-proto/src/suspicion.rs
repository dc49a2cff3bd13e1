//! Verdicts and dead-node reports: the evidence of peer-level consensus (SPEC §6 Suspicion,
//! PROTOCOL §12).
//!
//! A witness that probed a suspect signs a [`Verdict`]. A peer whose suspicion is confirmed
//! sends the seeds a [`DeadReport`]: the exact line the task asks for, the verdicts, and its
//! own signature. Seeds check the evidence with [`DeadReport::check`] before they even probe.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::{Keypair, PeerId, Signature};
use crate::sig::{signed, Checks};
use crate::time::Time;

/// Most verdicts a report may carry.
pub const MAX_VERDICTS: usize = 16;

/// How old a verdict may be when a seed checks it.
pub const VERDICT_WINDOW: Duration = Duration::from_secs(300);

/// A witness's signed answer: is the suspect, at this address and incarnation, responsive?
/// It names what was probed, so that a verdict about some other address (a stranger may ask
/// a probe of any address) counts for nothing at the seeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Who probed.
    pub witness: PeerId,
    /// Whom.
    pub suspect: PeerId,
    /// The address probed.
    pub addr: SocketAddr,
    /// The suspect's incarnation the question was about.
    pub incarnation: u64,
    /// Whether the suspect answered.
    pub alive: bool,
    /// When (the witness's clock).
    pub at: Time,
    /// The witness's signature over the fields above.
    pub sig: Signature,
}

impl Verdict {
    /// A signed verdict on `suspect` probed at `addr`.
    pub fn new(
        key: &Keypair,
        (suspect, addr, incarnation): (PeerId, SocketAddr, u64),
        alive: bool,
        at: Time,
    ) -> Verdict {
        let witness = key.id();
        let sig = key.sign(&signed(
            b"hearsay-verdict-v2",
            &(witness, suspect, addr, incarnation, alive, at),
        ));
        Verdict {
            witness,
            suspect,
            addr,
            incarnation,
            alive,
            at,
            sig,
        }
    }

    /// Whether the witness's signature holds.
    pub fn verify(&self, checks: &Checks) -> bool {
        let bytes = signed(
            b"hearsay-verdict-v2",
            &(
                self.witness,
                self.suspect,
                self.addr,
                self.incarnation,
                self.alive,
                self.at,
            ),
        );
        checks.signature(&self.witness, &bytes, &self.sig)
    }
}

/// Whether verdicts confirm a death: at least two say unresponsive (the reporter and one
/// more), and they are a majority of the verdicts given.
pub fn confirmed(dead: usize, given: usize) -> bool {
    dead >= 2 && dead * 2 > given
}

/// `Dead Node:<DeadNode.IP>:<DeadNode.Port>:<self.timestamp>:<self.IP>`, the task's line.
pub fn dead_line(dead: SocketAddr, now: Time, me: SocketAddr) -> String {
    format!(
        "Dead Node:{}:{}:{}.{:03}:{}",
        dead.ip(),
        dead.port(),
        now.0 / 1000,
        now.0 % 1000,
        me.ip()
    )
}

/// Longest `Dead Node:` line a seed accepts: the task's line with IPv6 addresses in full.
pub const MAX_DEAD_LINE: usize = 128;

/// Whether `line` is the task's line about `dead` ([`dead_line`]'s form): bounded, printable
/// ASCII, and naming `dead`'s address and port.
pub fn is_dead_line(line: &str, dead: SocketAddr) -> bool {
    let prefix = format!("Dead Node:{}:{}:", dead.ip(), dead.port());
    line.len() <= MAX_DEAD_LINE
        && line.starts_with(&prefix)
        && line.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// A peer's report that a neighbour is dead, with the verdicts behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadReport {
    /// `Dead Node:<IP>:<Port>:<timestamp>:<reporter IP>`.
    pub line: String,
    /// The reporting peer.
    pub reporter: PeerId,
    /// The peer reported dead.
    pub suspect: PeerId,
    /// Its address.
    pub addr: SocketAddr,
    /// Its incarnation.
    pub incarnation: u64,
    /// The verdicts, the reporter's own included.
    pub verdicts: Vec<Verdict>,
    /// The reporter's signature over the fields above.
    pub sig: Signature,
}

impl DeadReport {
    /// A signed report.
    pub fn new(
        key: &Keypair,
        line: String,
        suspect: (PeerId, SocketAddr, u64),
        verdicts: Vec<Verdict>,
    ) -> DeadReport {
        let reporter = key.id();
        let (suspect, addr, incarnation) = suspect;
        let sig = key.sign(&signed(
            b"hearsay-dead-report-v1",
            &(&line, reporter, suspect, addr, incarnation, &verdicts),
        ));
        DeadReport {
            line,
            reporter,
            suspect,
            addr,
            incarnation,
            verdicts,
            sig,
        }
    }

    /// Checks the evidence at `now`: the reporter's signature; at most [`MAX_VERDICTS`]
    /// verdicts, each signed, recent, about this suspect and incarnation, from distinct
    /// admitted peers (`member`) other than the suspect; the reporter's own among them; and
    /// [`confirmed`] by them. `Err` says what is wrong.
    pub fn check(
        &self,
        now: Time,
        member: impl Fn(&PeerId) -> bool,
        checks: &Checks,
    ) -> Result<(), String> {
        let bytes = signed(
            b"hearsay-dead-report-v1",
            &(
                &self.line,
                self.reporter,
                self.suspect,
                self.addr,
                self.incarnation,
                &self.verdicts,
            ),
        );
        if !checks.signature(&self.reporter, &bytes, &self.sig) {
            return Err("the reporter's signature does not hold".into());
        }
        if self.verdicts.len() > MAX_VERDICTS {
            return Err(format!(
                "{} verdicts, more than {MAX_VERDICTS}",
                self.verdicts.len()
            ));
        }
        let mut witnesses = BTreeSet::new();
        let mut dead = 0;
        for v in &self.verdicts {
            if !v.verify(checks) {
                return Err(format!("the verdict of {} does not verify", v.witness));
            }
            if (v.suspect, v.incarnation) != (self.suspect, self.incarnation) {
                return Err(format!(
                    "the verdict of {} is about another peer or incarnation",
                    v.witness
                ));
            }
            if v.addr != self.addr {
                return Err(format!(
                    "the verdict of {} is about another address ({})",
                    v.witness, v.addr
                ));
            }
            if v.witness == self.suspect || !member(&v.witness) {
                return Err(format!("{} is not an admitted witness", v.witness));
            }
            if !witnesses.insert(v.witness) {
                return Err(format!("{} gave two verdicts", v.witness));
            }
            if v.at + VERDICT_WINDOW < now || v.at > now + VERDICT_WINDOW {
                return Err(format!("the verdict of {} is stale", v.witness));
            }
            dead += usize::from(!v.alive);
        }
        if !witnesses.contains(&self.reporter) {
            return Err("the reporter's own verdict is missing".into());
        }
        if !confirmed(dead, self.verdicts.len()) {
            return Err(format!(
                "only {dead} of {} verdicts say unresponsive (a majority, and at least 2, needed)",
                self.verdicts.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Keypair {
        Keypair::from_secret([n; 32])
    }

    const NOW: Time = Time(1_700_000_000_000);

    /// The suspect's address.
    fn at() -> SocketAddr {
        "127.0.0.1:7009".parse().unwrap()
    }

    fn report(verdicts: Vec<Verdict>) -> DeadReport {
        let at = at();
        let me: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        DeadReport::new(
            &key(1),
            dead_line(at, NOW, me),
            (key(9).id(), at, 3),
            verdicts,
        )
    }

    fn verdict(w: u8, alive: bool) -> Verdict {
        Verdict::new(&key(w), (key(9).id(), at(), 3), alive, NOW)
    }

    #[test]
    fn the_dead_node_line_is_the_tasks_format() {
        let dead = "10.0.0.7:7009".parse().unwrap();
        let me = "10.0.0.1:7001".parse().unwrap();
        assert_eq!(
            dead_line(dead, Time(1_700_000_000_042), me),
            "Dead Node:10.0.0.7:7009:1700000000.042:10.0.0.1"
        );
    }

    #[test]
    fn only_a_short_printable_line_about_the_accused_is_a_dead_line() {
        let dead: SocketAddr = "10.0.0.7:7009".parse().unwrap();
        let me = "10.0.0.1:7001".parse().unwrap();
        assert!(is_dead_line(&dead_line(dead, NOW, me), dead));
        let v6: SocketAddr = "[2001:db8::1:2:3:4]:65535".parse().unwrap();
        let v6_me = "[2001:db8::ffff:ffff:ffff:ffff]:1".parse().unwrap();
        assert!(is_dead_line(&dead_line(v6, NOW, v6_me), v6));
        let other: SocketAddr = "10.0.0.8:7009".parse().unwrap();
        assert!(!is_dead_line(&dead_line(other, NOW, me), dead));
        let long = format!("{}{}", dead_line(dead, NOW, me), "x".repeat(MAX_DEAD_LINE));
        assert!(!is_dead_line(&long, dead));
        let escape = format!("{}\u{1b}[2J", dead_line(dead, NOW, me));
        assert!(!is_dead_line(&escape, dead));
        assert!(!is_dead_line(
            &format!("{}\n", dead_line(dead, NOW, me)),
            dead
        ));
    }

    #[test]
    fn a_majority_of_at_least_two_confirms() {
        assert!(!confirmed(1, 1), "the reporter alone is not enough");
        assert!(confirmed(2, 3));
        assert!(!confirmed(2, 4));
        assert!(confirmed(3, 4));
    }

    #[test]
    fn a_report_with_a_majority_of_signed_verdicts_holds() {
        let r = report(vec![verdict(1, false), verdict(2, false), verdict(3, true)]);
        assert_eq!(r.check(NOW, |_| true, &Checks::default()), Ok(()));
    }

    #[test]
    fn a_report_without_valid_evidence_is_refused() {
        let all = |_: &PeerId| true;
        // Missing verdicts: the reporter alone.
        let e = report(vec![verdict(1, false)])
            .check(NOW, all, &Checks::default())
            .unwrap_err();
        assert!(e.contains("only 1 of 1"), "{e}");
        // A witness majority says alive.
        let r = report(vec![verdict(1, false), verdict(2, true), verdict(3, true)]);
        assert!(r
            .check(NOW, all, &Checks::default())
            .unwrap_err()
            .contains("only 1 of 3"));
        // A forged verdict: witness 2's name, someone else's signature.
        let mut forged = verdict(2, false);
        forged.sig = verdict(4, false).sig;
        let e = report(vec![verdict(1, false), forged])
            .check(NOW, all, &Checks::default())
            .unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // The reporter's own verdict missing; a witness twice; a stale verdict.
        assert!(report(vec![verdict(2, false), verdict(3, false)])
            .check(NOW, all, &Checks::default())
            .unwrap_err()
            .contains("own verdict"));
        assert!(report(vec![
            verdict(1, false),
            verdict(2, false),
            verdict(2, false)
        ])
        .check(NOW, all, &Checks::default())
        .unwrap_err()
        .contains("two verdicts"));
        let old = Verdict::new(
            &key(2),
            (key(9).id(), at(), 3),
            false,
            NOW - VERDICT_WINDOW - Duration::from_secs(1),
        );
        assert!(report(vec![verdict(1, false), old])
            .check(NOW, all, &Checks::default())
            .unwrap_err()
            .contains("stale"));
        // A witness that is not an admitted peer.
        let e = report(vec![verdict(1, false), verdict(2, false)])
            .check(NOW, |p| *p != key(2).id(), &Checks::default())
            .unwrap_err();
        assert!(e.contains("not an admitted witness"), "{e}");
    }

    #[test]
    fn a_verdict_about_an_older_incarnation_is_refused() {
        let stale = Verdict::new(&key(2), (key(9).id(), at(), 2), false, NOW);
        let e = report(vec![verdict(1, false), stale])
            .check(NOW, |_| true, &Checks::default())
            .unwrap_err();
        assert!(e.contains("another peer or incarnation"), "{e}");
        // A verdict on a probe of some other address counts for nothing.
        let elsewhere = "127.0.0.1:9".parse().unwrap();
        let v = Verdict::new(&key(2), (key(9).id(), elsewhere, 3), false, NOW);
        let e = report(vec![verdict(1, false), v])
            .check(NOW, |_| true, &Checks::default())
            .unwrap_err();
        assert!(e.contains("another address (127.0.0.1:9)"), "{e}");
    }

    #[test]
    fn an_altered_report_does_not_verify() {
        let mut r = report(vec![verdict(1, false), verdict(2, false)]);
        r.addr = "127.0.0.1:7010".parse().unwrap();
        assert!(r
            .check(NOW, |_| true, &Checks::default())
            .unwrap_err()
            .contains("reporter's signature"));
    }
}
