//! The system-level ping behind `Output::Echo` (SPEC §6 Liveness): one ICMP echo per request,
//! through an unprivileged ICMP socket where the system allows it, else a raw one.
//!
//! A client per address family is made on first use. If the system allows neither kind of
//! socket, every echo answers "not available", and the peer says so once in its log.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, ICMP};

/// How long an echo waits for its reply.
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(1);

/// The node's ICMP clients.
#[derive(Default)]
pub struct Echo {
    v4: Option<Option<Client>>,
    v6: Option<Option<Client>>,
}

static SEQ: AtomicU16 = AtomicU16::new(0);

impl Echo {
    /// The client for `ip`'s family, made on first use; `None` when the system refuses.
    pub fn client(&mut self, ip: IpAddr) -> Option<Client> {
        let (slot, kind) = match ip {
            IpAddr::V4(_) => (&mut self.v4, ICMP::V4),
            IpAddr::V6(_) => (&mut self.v6, ICMP::V6),
        };
        slot.get_or_insert_with(|| Client::new(&Config::builder().kind(kind).build()).ok())
            .clone()
    }
}

/// Sends one echo to `ip` and says whether a reply came within [`ECHO_TIMEOUT`].
pub async fn echo(client: Client, ip: IpAddr) -> bool {
    let mut pinger = client.pinger(ip, PingIdentifier(rand::random())).await;
    pinger.timeout(ECHO_TIMEOUT);
    let seq = PingSequence(SEQ.fetch_add(1, Ordering::Relaxed));
    pinger.ping(seq, b"hearsay").await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this machine lets the test send ICMP at all; if not, the runtime says "not
    /// available" and the test checks that instead.
    #[tokio::test]
    async fn the_loopback_host_answers_an_echo_where_icmp_is_allowed() {
        let mut e = Echo::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        match e.client(ip) {
            Some(c) => assert!(echo(c, ip).await, "127.0.0.1 did not answer an ICMP echo"),
            None => assert!(e.client(ip).is_none(), "unavailable stays unavailable"),
        }
    }
}
