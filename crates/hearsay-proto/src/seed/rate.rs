//! Rate limits per source IP (SPEC §5, PROTOCOL §6): a token bucket for each address that
//! starts registrations or dead-node reports, so that one host cannot flood the seeds with
//! proposals. The number of addresses tracked is bounded too.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::time::Time;

/// Token buckets by source IP: `burst` tokens each, one more every `refill`, at most
/// `max_sources` addresses tracked (full buckets are forgotten first: they hold nothing).
#[derive(Debug)]
pub(super) struct RateLimit {
    burst: f64,
    /// Seconds per token.
    refill: f64,
    max_sources: usize,
    buckets: BTreeMap<IpAddr, Bucket>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Time,
}

impl RateLimit {
    pub(super) fn new(burst: u32, refill: Duration, max_sources: usize) -> RateLimit {
        RateLimit {
            burst: f64::from(burst),
            refill: refill.as_secs_f64().max(1e-6),
            max_sources,
            buckets: BTreeMap::new(),
        }
    }

    /// Takes one of `ip`'s tokens at `now`, if it has one. An address not tracked yet, when
    /// `max_sources` are tracked and none of them is full again, gets none.
    pub(super) fn take(&mut self, now: Time, ip: IpAddr) -> bool {
        let (burst, refill) = (self.burst, self.refill);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            self.buckets
                .retain(|_, b| b.tokens + now.since(b.at).as_secs_f64() / refill < burst);
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.since(b.at).as_secs_f64() / refill).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests;
