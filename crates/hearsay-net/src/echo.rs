//! The system-level ping behind `Output::Echo` (SPEC §6 Liveness): ICMP echoes through an
//! unprivileged ICMP socket where the system allows it, else a raw one.
//!
//! One prober serves the whole process: one socket per address family, made on first use
//! and shared by every node of the process (a raw socket receives a copy of every ICMP
//! packet on the host, so one per node would cost O(N²) with N nodes on a host). A host is
//! echoed at most once per `reuse` window: asks while an echo is in flight wait for its
//! answer, and a fresh enough answer is given again. If the system allows neither kind of
//! socket, every echo answers "not available", and the peer says so once in its log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use surge_ping::{Client, Config, PingIdentifier, PingSequence, ICMP};
use tokio::sync::{mpsc, oneshot};

/// How long an echo waits for its reply.
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(1);

/// Most hosts remembered; answers are forgotten past this.
const MAX_HOSTS: usize = 4096;

/// What the prober knows of one host.
#[derive(Default)]
struct Host {
    /// Set while an echo is on its way: those waiting for its answer.
    asking: Option<Vec<oneshot::Sender<Option<bool>>>>,
    /// The last answer, and when its echo was sent.
    last: Option<(Instant, bool)>,
    /// Echoes sent to it.
    echoes: u64,
}

/// What the prober is asked.
enum Ask {
    Echo {
        ip: IpAddr,
        reuse: Duration,
        reply: oneshot::Sender<Option<bool>>,
    },
    Count {
        ip: IpAddr,
        reply: oneshot::Sender<u64>,
    },
}

/// The process's prober: a thread of its own with its own small runtime, so that its
/// sockets outlive any one runtime of the process (tests run many).
fn prober() -> Option<&'static mpsc::UnboundedSender<Ask>> {
    static PROBER: OnceLock<Option<mpsc::UnboundedSender<Ask>>> = OnceLock::new();
    PROBER
        .get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            std::thread::Builder::new()
                .name("hearsay-icmp".into())
                .spawn(move || rt.block_on(serve(rx)))
                .ok()?;
            Some(tx)
        })
        .as_ref()
}

/// Whether `ip` answers an ICMP echo within [`ECHO_TIMEOUT`]; `None` when this system lets
/// the process send none. An answer to an echo sent less than `reuse` ago is given again
/// instead of a new echo, and an echo in flight is joined.
pub async fn echo(ip: IpAddr, reuse: Duration) -> Option<bool> {
    let (reply, rx) = oneshot::channel();
    prober()?.send(Ask::Echo { ip, reuse, reply }).ok()?;
    rx.await.ok().flatten()
}

/// Echoes this process has sent to `ip` (while it is remembered).
pub async fn echoes_sent(ip: IpAddr) -> u64 {
    let (reply, rx) = oneshot::channel();
    let Some(Ok(())) = prober().map(|p| p.send(Ask::Count { ip, reply })) else {
        return 0;
    };
    rx.await.unwrap_or(0)
}

/// The prober's loop: answers asks, starts echoes, hands out their answers.
async fn serve(mut asks: mpsc::UnboundedReceiver<Ask>) {
    let mut clients: HashMap<bool, Option<Client>> = HashMap::new();
    let mut hosts: HashMap<IpAddr, Host> = HashMap::new();
    let (done_tx, mut done) = mpsc::unbounded_channel::<(IpAddr, Instant, bool)>();
    loop {
        tokio::select! {
            ask = asks.recv() => match ask {
                None => return,
                Some(Ask::Count { ip, reply }) => {
                    let _ = reply.send(hosts.get(&ip).map_or(0, |h| h.echoes));
                }
                Some(Ask::Echo { ip, reuse, reply }) => {
                    let kind = if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 };
                    let client = clients
                        .entry(ip.is_ipv6())
                        .or_insert_with(|| Client::new(&Config::builder().kind(kind).build()).ok());
                    let Some(client) = client.clone() else {
                        let _ = reply.send(None);
                        continue;
                    };
                    if hosts.len() >= MAX_HOSTS && !hosts.contains_key(&ip) {
                        hosts.retain(|_, h| h.asking.is_some());
                    }
                    let host = hosts.entry(ip).or_default();
                    match (&mut host.asking, host.last) {
                        (Some(waiting), _) => waiting.push(reply),
                        (None, Some((sent, up))) if sent.elapsed() < reuse => {
                            let _ = reply.send(Some(up));
                        }
                        (None, _) => {
                            host.asking = Some(vec![reply]);
                            host.echoes += 1;
                            let done = done_tx.clone();
                            tokio::spawn(async move {
                                let sent = Instant::now();
                                let up = send(client, ip).await;
                                let _ = done.send((ip, sent, up));
                            });
                        }
                    }
                }
            },
            Some((ip, sent, up)) = done.recv() => {
                let host = hosts.entry(ip).or_default();
                host.last = Some((sent, up));
                for w in host.asking.take().unwrap_or_default() {
                    let _ = w.send(Some(up));
                }
            }
        }
    }
}

/// Sends one echo to `ip` and says whether a reply came within [`ECHO_TIMEOUT`].
async fn send(client: Client, ip: IpAddr) -> bool {
    let mut pinger = client.pinger(ip, PingIdentifier(rand::random())).await;
    pinger.timeout(ECHO_TIMEOUT);
    static SEQ: AtomicU16 = AtomicU16::new(0);
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
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        match echo(ip, Duration::ZERO).await {
            Some(up) => assert!(up, "127.0.0.1 did not answer an ICMP echo"),
            None => assert_eq!(echo(ip, Duration::ZERO).await, None, "unavailable stays so"),
        }
    }

    /// Many nodes of one process asking about one host at once cost one echo: they wait for
    /// the one in flight, and a fresh answer is given again within the reuse window.
    #[tokio::test]
    async fn asks_about_one_host_share_one_echo() {
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        if echo("127.0.0.1".parse().unwrap(), Duration::ZERO)
            .await
            .is_none()
        {
            return; // No ICMP here: the test above checks that.
        }
        let before = echoes_sent(ip).await;
        let asks: Vec<_> = (0..50)
            .map(|_| tokio::spawn(echo(ip, Duration::from_secs(60))))
            .collect();
        for a in asks {
            assert_eq!(a.await.unwrap(), Some(true));
        }
        assert_eq!(echo(ip, Duration::from_secs(60)).await, Some(true));
        assert_eq!(echoes_sent(ip).await - before, 1, "one echo sent");
        // Past the window (here: none), the host is echoed again.
        assert_eq!(echo(ip, Duration::ZERO).await, Some(true));
        assert_eq!(echoes_sent(ip).await - before, 2);
    }
}
