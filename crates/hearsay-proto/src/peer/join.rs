//! A peer's registration attempt (SPEC §6 Joining, PROTOCOL §6): when it began, when it
//! registers again after a refusal (backing off), an admission held while a signer's key is
//! learned, and what went wrong, for the one sentence the peer gives up with when the join
//! timeout passes.

use std::time::Duration;

use super::seeds;
use crate::cert::Certificate;
use crate::link::LinkId;
use crate::time::Time;

/// One incarnation's attempt to be admitted.
#[derive(Debug)]
pub(super) struct Join {
    started: Time,
    retry: Duration,
    timeout: Duration,
    /// When to register again, after a refusal.
    again: Option<Time>,
    refusals: u32,
    /// Why the last registration failed.
    last_refusal: Option<String>,
    /// Why a seed could not be used last (a key that does not match the config's, a
    /// handshake that failed).
    seed_problem: Option<String>,
    /// An admission certificate with a signer whose key is not known yet, kept while the
    /// key is learned (and the link it came on).
    unverified: Option<(Certificate, LinkId)>,
}

impl Join {
    /// An attempt begun at `now`: refusals back off from `retry`, and the peer gives up
    /// `timeout` after `now`.
    pub(super) fn new(now: Time, retry: Duration, timeout: Duration) -> Join {
        Join {
            started: now,
            retry,
            timeout,
            again: None,
            refusals: 0,
            last_refusal: None,
            seed_problem: None,
            unverified: None,
        }
    }

    /// A new incarnation begins at `now`, with the whole join timeout before it.
    pub(super) fn restart(&mut self, now: Time) {
        self.started = now;
    }

    /// How long the attempt has taken by `now`.
    pub(super) fn took(&self, now: Time) -> Duration {
        now.since(self.started)
    }

    /// When the peer gives up, while it is not admitted.
    pub(super) fn deadline(&self, admitted: bool) -> Option<Time> {
        (!admitted).then(|| self.started + self.timeout)
    }

    /// When to register again after a refusal.
    pub(super) fn again(&self) -> Option<Time> {
        self.again
    }

    /// Registering again now, or admitted: no later try is due.
    pub(super) fn no_retry(&mut self) {
        self.again = None;
    }

    /// A seed refused the registration at `now`: the next try waits longer after each
    /// refusal (one wait at a time: refusals of the same round count once).
    pub(super) fn refused(&mut self, now: Time, reason: &str) {
        self.last_refusal = Some(format!("the seeds refused ({reason})"));
        if self.again.is_none() {
            self.refusals += 1;
            self.again = Some(now + seeds::backoff(self.retry, self.refusals));
        }
    }

    /// The admission that came back did not verify.
    pub(super) fn rejected(&mut self, reason: String) {
        self.last_refusal = Some(reason);
    }

    /// A seed could not be used, for `reason`.
    pub(super) fn seed_problem(&mut self, reason: String) {
        self.seed_problem = Some(reason);
    }

    /// Holds an admission (that came on `link`) until a signer's key is learned.
    pub(super) fn hold(&mut self, cert: Certificate, link: LinkId) {
        self.unverified = Some((cert, link));
    }

    /// The admission held, if any.
    pub(super) fn take_held(&mut self) -> Option<(Certificate, LinkId)> {
        self.unverified.take()
    }

    /// Why the peer gives up at `now`, having reached `up` of `n` seeds where a quorum is
    /// `q`.
    pub(super) fn why(&self, now: Time, (n, q, up): (usize, usize, usize)) -> String {
        let waited = humanize(self.took(now));
        match &self.last_refusal {
            _ if up < q => {
                let problem =
                    (self.seed_problem.as_ref()).map_or(String::new(), |p| format!(": {p}"));
                format!(
                    "could not register: reached {up} of {n} seeds in {waited}, and a quorum needs {q}{problem}"
                )
            }
            Some(r) => format!("could not register within {waited}: {r}"),
            None => format!("could not register within {waited}: no certificate came back"),
        }
    }
}

/// "1.5s", "30s": for messages.
fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests;
