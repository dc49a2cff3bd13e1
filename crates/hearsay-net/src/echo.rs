//! The system-level ping behind `Output::Echo` (SPEC §6 Liveness): ICMP echoes through an
//! unprivileged ICMP socket where the system allows it, else a raw one.
//!
//! One prober serves the whole process: one socket per address family, made on first use
//! and shared by every node of the process. A host is echoed at most once per `reuse`
//! window: asks while an echo is in flight wait for its answer, and a fresh enough answer is
//! given again. If the system allows neither kind of socket, every echo answers "not
//! available", and the peer says so once in its log.
//!
//! A raw socket is handed a copy of every ICMP packet that reaches the host: other
//! processes' echoes, their replies, our own requests coming back over loopback. With N
//! processes on one host each of them would wake for every one of the others' echoes, O(N²)
//! in all. So a raw socket carries a socket filter (classic BPF, run by the kernel before
//! the packet is queued) that lets through only echo replies carrying this process's
//! identifier: the prober wakes for its own answers alone. An unprivileged socket needs no
//! filter: the kernel hands it only the replies to its own echoes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use tokio::net::UdpSocket;
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
    let mut sockets: HashMap<bool, Option<Arc<Icmp>>> = HashMap::new();
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
                    let icmp = sockets
                        .entry(ip.is_ipv6())
                        .or_insert_with(|| Icmp::open(ip.is_ipv6()));
                    let Some(icmp) = icmp.clone() else {
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
                                let up = icmp.echo(ip).await;
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

/// One ICMP socket of the process, for one address family, and the echoes awaiting replies.
struct Icmp {
    socket: UdpSocket,
    v6: bool,
    /// A raw socket (else an unprivileged one, whose identifier the kernel sets and checks).
    raw: bool,
    /// Echoes sent and not answered yet: their sequence number, host and waiter.
    waiting: Mutex<HashMap<u16, (IpAddr, oneshot::Sender<()>)>>,
}

/// ICMP types: echo request and echo reply, for IPv4 and IPv6.
const ECHO_REQUEST: (u8, u8) = (8, 128);
const ECHO_REPLY: (u8, u8) = (0, 129);

/// Packets the process's ICMP sockets received that were not replies to its echoes: others'
/// traffic, which a filtered socket never receives.
static FOREIGN: AtomicU64 = AtomicU64::new(0);

/// The identifier of this process's echoes, chosen once.
fn ident() -> u16 {
    static IDENT: OnceLock<u16> = OnceLock::new();
    *IDENT.get_or_init(rand::random)
}

impl Icmp {
    /// The family's socket: unprivileged where the system allows, else raw and filtered.
    /// Must run inside a runtime.
    fn open(v6: bool) -> Option<Arc<Icmp>> {
        let (domain, protocol) = match v6 {
            false => (Domain::IPV4, Protocol::ICMPV4),
            true => (Domain::IPV6, Protocol::ICMPV6),
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(socket) => (socket, false),
            Err(_) => {
                let socket = Socket::new(domain, Type::RAW, Some(protocol)).ok()?;
                // Unfiltered, the prober still works: it only wakes for more packets.
                let _ = socket.attach_filter(&echo_replies(v6, ident()));
                (socket, true)
            }
        };
        socket.set_nonblocking(true).ok()?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket)).ok()?;
        let icmp = Arc::new(Icmp {
            socket,
            v6,
            raw,
            waiting: Mutex::new(HashMap::new()),
        });
        tokio::spawn(receive(icmp.clone()));
        Some(icmp)
    }

    /// Sends one echo to `ip` and says whether a reply came within [`ECHO_TIMEOUT`].
    async fn echo(&self, ip: IpAddr) -> bool {
        static SEQ: AtomicU16 = AtomicU16::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting().insert(seq, (ip, tx));
        let request = echo_request(self.v6, ident(), seq);
        let sent = self.socket.send_to(&request, SocketAddr::new(ip, 0)).await;
        // Answered: the receiver sent on the channel (not dropped it).
        let up = sent.is_ok() && matches!(tokio::time::timeout(ECHO_TIMEOUT, rx).await, Ok(Ok(())));
        self.waiting().remove(&seq);
        up
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u16, (IpAddr, oneshot::Sender<()>)>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sequence number of `packet` if it is a reply to one of this process's echoes.
    fn reply_seq(&self, packet: &[u8]) -> Option<u16> {
        // A raw IPv4 socket's packets start with the IP header; the others' with ICMP.
        let start = match (self.raw, self.v6) {
            (true, false) => usize::from(packet.first()? & 0x0f) * 4,
            _ => 0,
        };
        let icmp = packet.get(start..start + 8)?;
        let reply = if self.v6 { ECHO_REPLY.1 } else { ECHO_REPLY.0 };
        let ours = u16::from_be_bytes([icmp[4], icmp[5]]) == ident();
        (icmp[0] == reply && (ours || !self.raw)).then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
    }
}

/// Hands each reply to the echo waiting for it (same host, same sequence number).
async fn receive(icmp: Arc<Icmp>) {
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = match icmp.socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(_) => {
                // Nothing here fails for good; do not spin if something does.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(seq) = icmp.reply_seq(&buf[..n]) else {
            FOREIGN.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        // A reply from another host than the echo's, or too late, answers nothing.
        let mut waiting = icmp.waiting();
        if waiting.get(&seq).is_some_and(|(ip, _)| *ip == from.ip()) {
            if let Some((_, tx)) = waiting.remove(&seq) {
                let _ = tx.send(());
            }
        }
    }
}

/// An echo request: type, code, checksum, identifier, sequence number, payload. (The kernel
/// fills in an ICMPv6 checksum, and an unprivileged socket's identifier.)
fn echo_request(v6: bool, ident: u16, seq: u16) -> Vec<u8> {
    let kind = if v6 { ECHO_REQUEST.1 } else { ECHO_REQUEST.0 };
    let mut p = vec![kind, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"hearsay");
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of
/// the 16-bit words.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A socket filter (classic BPF) that passes only echo replies carrying `ident`. A raw
/// IPv4 socket's packets start with the IP header, whose length is in its first byte; a raw
/// IPv6 socket's with the ICMPv6 header.
fn echo_replies(v6: bool, ident: u16) -> Vec<SockFilter> {
    // Opcodes (linux/filter.h): X = the IP header's length, or X = k; loads of a byte or a
    // half-word at X + k; a jump if A equals k; a return of k bytes (0: drop).
    const LDXB_MSH: u16 = 0xb1;
    const LDX_IMM: u16 = 0x01;
    const LDB_IND: u16 = 0x50;
    const LDH_IND: u16 = 0x48;
    const JEQ: u16 = 0x15;
    const RET: u16 = 0x06;
    // X = where the ICMP header starts.
    let (start, reply) = match v6 {
        false => (LDXB_MSH, ECHO_REPLY.0),
        true => (LDX_IMM, ECHO_REPLY.1),
    };
    vec![
        SockFilter::new(start, 0, 0, 0),
        SockFilter::new(LDB_IND, 0, 0, 0),
        SockFilter::new(JEQ, 0, 3, u32::from(reply)),
        SockFilter::new(LDH_IND, 0, 0, 4),
        SockFilter::new(JEQ, 0, 1, u32::from(ident)),
        SockFilter::new(RET, 0, 0, 0x0004_0000),
        SockFilter::new(RET, 0, 0, 0),
    ]
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

    /// IPv6 goes through its own socket (and, raw, its own filter, which reads the ICMPv6
    /// header from the packet's first byte): the loopback host answers there too.
    #[tokio::test]
    async fn the_ipv6_loopback_host_answers_where_it_exists() {
        if std::net::UdpSocket::bind("[::1]:0").is_err() {
            return; // No IPv6 loopback on this machine.
        }
        let v4 = echo("127.0.0.1".parse().unwrap(), Duration::ZERO).await;
        let v6 = echo("::1".parse().unwrap(), Duration::ZERO).await;
        match v4 {
            Some(_) => assert_eq!(v6, Some(true), "::1 did not answer an ICMPv6 echo"),
            None => assert_eq!(v6, None, "ICMPv6 allowed where ICMP is not"),
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

    /// Other programs' ICMP on the host (their echoes, the host's replies to them) never
    /// reaches this process's socket: a raw socket's filter drops it in the kernel, and an
    /// unprivileged socket is only ever handed its own replies. Without the filter, every
    /// raw socket on a host wakes for every other process's echo.
    #[tokio::test]
    async fn other_programs_icmp_does_not_reach_the_prober() {
        use std::io::Read;
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        if echo(lo, Duration::ZERO).await.is_none() {
            return; // No ICMP here: the first test checks that.
        }
        // Another program pinging the host, with an identifier of its own.
        let (other, raw) = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
            Ok(s) => (s, true),
            Err(_) => match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
                Ok(s) => (s, false),
                Err(_) => panic!("the prober has an ICMP socket, so the test can have one"),
            },
        };
        other
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let theirs = ident() ^ 0x8000;
        let before = FOREIGN.load(Ordering::Relaxed);
        let to = SocketAddr::new(lo, 0).into();
        for seq in 0..20 {
            other
                .send_to(&echo_request(false, theirs, seq), &to)
                .unwrap();
        }
        // Every echo is answered: the replies are on the host.
        let mut replies = 0;
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(10);
        while replies < 20 && Instant::now() < deadline {
            let Ok(n) = (&other).read(&mut buf) else {
                continue;
            };
            let start = if raw {
                usize::from(buf[0] & 0x0f) * 4
            } else {
                0
            };
            let icmp = &buf[start..n];
            replies += usize::from(icmp.len() >= 8 && icmp[0] == ECHO_REPLY.0);
        }
        assert!(replies >= 20, "the host answered {replies} of 20 echoes");
        // Let the prober read whatever it was handed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(echo(lo, Duration::ZERO).await, Some(true));
        assert_eq!(
            FOREIGN.load(Ordering::Relaxed) - before,
            0,
            "the prober was handed other programs' ICMP"
        );
    }
}
