//! Issue 15 over real processes: nobody can stall, evict or bloat a node by holding its
//! connection slots or by sending half a frame (PROTOCOL §3.1, README "Security").
//!
//! The attacker is this test process: fresh ed25519 keys, real handshakes, links from the
//! source addresses 127.0.0.2 … (each socket bound before it connects), then nothing sent, or
//! a 1 MiB length prefix and one byte every 250 ms.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hearsay_net::conn::{handshake, Channel, Identity};
use hearsay_proto::cert::{NeighborReport, Registration};
use hearsay_proto::suspicion::{dead_line, DeadReport, Verdict};
use hearsay_proto::wire::Msg;
use hearsay_proto::{peer, Keypair, Output, PeerId, Role};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

/// Links the attacker holds at once: past the default inbound budget of 1,024.
const LINKS: usize = 1100;
/// Source addresses the attacker spreads its links over (127.0.0.2 …).
const SOURCES: usize = 50;
/// Handshakes the attacker runs at once.
const AT_ONCE: usize = 64;
/// How long a new peer may take to be admitted by every seed while one seed is flooded: its
/// key-learning dial, registration, dial-backs by three seeds and the votes (issue 15: 1 s;
/// measured 0.23-0.34 s on a loaded two-core machine).
const REGISTER: Duration = Duration::from_secs(1);
/// The most resident memory a flooded node may hold. An idle node holds about 7 MiB; each
/// link held costs its socket buffers in the kernel, not here, plus a task and a read buffer
/// of at most 16 KiB.
const RSS_MIB: u64 = 96;

/// How the attacker holds a link once its handshake is done.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Sends nothing.
    Idle,
    /// Announces a 1 MiB frame, then sends one byte of it every 250 ms.
    SlowFrame,
}

/// What the attacker saw.
#[derive(Default)]
struct Tally {
    /// Handshakes completed.
    opened: AtomicUsize,
    /// Links open now.
    open: AtomicUsize,
    /// Links the node closed.
    closed: AtomicUsize,
}

/// An attack under way; it stops when dropped.
struct Flood {
    tally: Arc<Tally>,
    stop: CancellationToken,
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Flood {
    fn opened(&self) -> usize {
        self.tally.opened.load(Ordering::Relaxed)
    }
    fn open(&self) -> usize {
        self.tally.open.load(Ordering::Relaxed)
    }
    fn closed(&self) -> usize {
        self.tally.closed.load(Ordering::Relaxed)
    }
}

/// Runs `attack` on a runtime of its own, on a thread of its own.
fn in_background(attack: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(attack);
    });
}

/// Opens [`LINKS`] authenticated links to `target`, each held as `hold`; with `reopen`, a link
/// the node closes is opened again at once, so the pressure never lets up.
fn flood(target: SocketAddr, hold: Hold, reopen: bool) -> Flood {
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let (t, s) = (tally.clone(), stop.clone());
    in_background(async move {
        let gate = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
        let mut tasks = Vec::new();
        for i in 0..LINKS {
            let ip = Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCES) as u8);
            let ctx = (gate.clone(), t.clone(), s.clone());
            tasks.push(tokio::spawn(attacker(target, ip, hold, reopen, ctx)));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    Flood { tally, stop }
}

type Ctx = (Arc<tokio::sync::Semaphore>, Arc<Tally>, CancellationToken);

/// One of the attacker's links, opened (again) until `stop`.
async fn attacker(
    target: SocketAddr,
    ip: Ipv4Addr,
    hold: Hold,
    reopen: bool,
    (gate, tally, stop): Ctx,
) {
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = gate.acquire() => p.unwrap(),
        };
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            s = open(target, ip) => s,
        };
        drop(permit);
        let Some(stream) = opened else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        tally.opened.fetch_add(1, Ordering::Relaxed);
        tally.open.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = keep(stream, hold) => {}
        }
        tally.open.fetch_sub(1, Ordering::Relaxed);
        tally.closed.fetch_add(1, Ordering::Relaxed);
        if !reopen {
            return;
        }
    }
}

/// A handshaked link from `ip` with a fresh key, or `None` if the node would not have it.
async fn open(target: SocketAddr, ip: Ipv4Addr) -> Option<Channel> {
    let key = Keypair::from_secret(rand::random());
    handshaked(target, ip, key, SocketAddr::new(ip.into(), 9)).await
}

/// A link from `ip` to `target`, its handshake done as the peer `key` listening at `addr`,
/// or `None` if the node would not have it.
async fn handshaked(
    target: SocketAddr,
    ip: Ipv4Addr,
    key: Keypair,
    addr: SocketAddr,
) -> Option<Channel> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(ip.into(), 0)).ok()?;
    let connect = tokio::time::timeout(Duration::from_secs(5), socket.connect(target));
    let stream = connect.await.ok()?.ok()?;
    let role = Role::Peer;
    let me = Identity::new(key, role, addr);
    let (wire, _) = handshake(stream, &me, Duration::from_secs(5)).await.ok()?;
    Some(wire)
}

/// Holds a link as `hold` says until the node closes it.
async fn keep(mut link: Channel, hold: Hold) {
    match hold {
        Hold::Idle => while let Ok(Some(_)) = link.recv().await {},
        // Each byte sealed on its own: the frame, not the cipher, is what comes slowly.
        Hold::SlowFrame => {
            if link.send_plain(&(1u32 << 20).to_be_bytes()).await.is_err() {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if link.send_plain(&[0]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The attacker and the nodes each hold a descriptor per link: more than a default soft
/// limit of 1,024 allows. The nodes inherit the raised limit.
fn raise_open_files() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(limit >= 4096, "cannot open enough files: limit {limit}");
}

/// The budget's log lines of node `name`: what it evicted and closed.
fn budget_notices(net: &Net, name: &str) -> Vec<String> {
    net.events_named(name, "notice")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .filter(|t| t.starts_with("connection budget"))
        .map(str::to_string)
        .collect()
}

/// Waits until the node has closed every link of `f` (at least 1,000 opened): `what` they are.
fn wait_all_closed(f: &Flood, what: &str) {
    wait_for(
        &format!("the seed closing every {what} link"),
        Duration::from_secs(40),
        || {
            let (opened, closed) = (f.opened(), f.closed());
            (opened >= 1000 && closed == opened)
                .then_some(())
                .ok_or(format!("{opened} opened, {closed} closed"))
        },
    );
}

fn wait_flooded(f: &Flood) {
    wait_for(
        "the attacker holding 1,000 links",
        Duration::from_secs(40),
        || {
            let open = f.open();
            (open >= 1000).then_some(()).ok_or(format!("{open} open"))
        },
    );
}

/// Issue 15: ~1,100 idle authenticated links held on one seed (fresh keys, 50 source
/// addresses, each closed link opened again at once) neither stop its status from answering
/// nor keep a new peer out: it is admitted by every seed within [`REGISTER`], and the seed's
/// memory stays under [`RSS_MIB`].
#[test]
fn idle_links_held_on_a_seed_stall_neither_its_status_nor_a_registration() {
    raise_open_files();
    let mut net = Net::new("hostile-seed", 3);
    net.start_seeds();
    let f = flood(net.seeds[0], Hold::Idle, true);
    wait_flooded(&f);
    for _ in 0..3 {
        if let Err(e) = status(net.seeds[0]) {
            panic!("seed0's status does not answer while flooded: {e}");
        }
    }
    let start = Instant::now();
    net.start_peer("late", &["--gossip-count", "0"]);
    let seeds = net.seeds.clone();
    wait_for("the new peer admitted by every seed", REGISTER, || {
        let id = net.id_of("late").ok_or("not started")?;
        for s in &seeds {
            if !peer_ids(&status(*s)?).contains(&id) {
                return Err(format!("{s} has not admitted it"));
            }
        }
        Ok(())
    });
    let took = start.elapsed();
    let rss = rss_mib(net.seed_pid(0));
    eprintln!(
        "admitted in {took:?} under the flood; seed0 {rss} MiB; attacker opened {} links, {} closed by the seed, {} open",
        f.opened(),
        f.closed(),
        f.open()
    );
    assert!(rss < RSS_MIB, "seed0 holds {rss} MiB");
    // The budget did the work: the seed evicted links to make room (each link the attacker
    // opens again takes the slot of its quietest), and said so in one line per 10 s.
    assert!(
        f.closed() > 0,
        "the seed closed none of the attacker's links"
    );
    wait_for("the budget's log line", Duration::from_secs(15), || {
        let lines = budget_notices(&net, "seed0");
        let evicted = lines.iter().any(|l| l.contains("evicted"));
        evicted.then_some(()).ok_or(format!("{lines:?}"))
    });
}

/// Registrations the attacker keeps under way at once, all from one network (127.0.2.0/24).
const REGISTERING: usize = 400;

/// Issue 15's registrations whose dial-back lands on a silent listener: 400 registrations
/// kept under way from 50 addresses of one network, each with a fresh key advertising a
/// listener that accepts and never speaks, so every seed's dial-back hangs until it times out.
/// A peer from another network is still admitted by every seed within 1 s, and nothing the
/// attacker registered is admitted.
#[test]
fn registrations_whose_dial_back_hangs_do_not_keep_other_networks_out() {
    raise_open_files();
    let mut net = Net::new("hostile-dialback", 3);
    net.start_seeds();
    for i in 0..3 {
        net.wait_seed_listening(i);
    }
    let (seeds, stop) = (net.seeds.clone(), CancellationToken::new());
    let (sent, s) = (Arc::new(AtomicUsize::new(0)), stop.clone());
    let count = sent.clone();
    in_background(async move {
        let silent = tokio::net::TcpListener::bind("127.0.2.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        tokio::spawn(hold_silently(silent));
        for i in 0..REGISTERING {
            let ip = Ipv4Addr::new(127, 0, 2, 2 + (i % SOURCES) as u8);
            let seed = seeds[i % seeds.len()];
            tokio::spawn(register_again_and_again(
                seed,
                ip,
                addr,
                count.clone(),
                s.clone(),
            ));
        }
        s.cancelled().await;
    });
    wait_for("the attack under way", Duration::from_secs(20), || {
        let n = sent.load(Ordering::Relaxed);
        (n >= REGISTERING)
            .then_some(())
            .ok_or(format!("{n} registrations sent"))
    });
    let start = Instant::now();
    net.start_peer("late", &["--gossip-count", "0"]);
    wait_for(
        "the new peer admitted by every seed",
        Duration::from_secs(30),
        || {
            let id = net.id_of("late").ok_or("not started")?;
            for s in &net.seeds {
                if !peer_ids(&status(*s)?).contains(&id) {
                    return Err(format!("{s} has not admitted it"));
                }
            }
            Ok(())
        },
    );
    let took = start.elapsed();
    let rss: Vec<u64> = (0..3).map(|i| rss_mib(net.seed_pid(i))).collect();
    eprintln!(
        "admitted in {took:?} while {} registrations were sent; seeds {rss:?} MiB",
        sent.load(Ordering::Relaxed)
    );
    assert!(took < REGISTER, "admitted after {took:?}");
    for (i, r) in rss.iter().enumerate() {
        assert!(*r < RSS_MIB, "seed{i} holds {r} MiB");
    }
    let members = peer_ids(&status(net.seeds[0]).unwrap());
    assert_eq!(members.len(), 1, "only the honest peer: {members:?}");
    stop.cancel();
}

/// Accepts every connection and never says a word, until the other side gives up.
async fn hold_silently(listener: tokio::net::TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(1..) = stream.read(&mut buf).await {}
        });
    }
}

/// Registers a fresh key advertising `addr` at `seed` from `ip`, waits for the answer (the
/// seed's dial-back times out first), and does it again, until `stop`.
async fn register_again_and_again(
    seed: SocketAddr,
    ip: Ipv4Addr,
    addr: SocketAddr,
    sent: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let key = Keypair::from_secret(rand::random());
        let attempt = async {
            let mut link = handshaked(seed, ip, key.clone(), addr).await?;
            let reg = Registration::new(&key, addr, 1);
            link.send(&Msg::Register(Box::new(reg))).await.ok()?;
            sent.fetch_add(1, Ordering::Relaxed);
            tokio::time::timeout(Duration::from_secs(10), link.recv())
                .await
                .ok()
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = attempt => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Idle strangers' links are closed: ~1,100 links that finish their handshake and then send
/// nothing, never opened again, are all closed by the seed (those past the budget evicted,
/// the rest after 10 s of silence), which logs the idle closes in one line per 10 s.
#[test]
fn silent_strangers_links_are_closed_after_the_idle_timeout() {
    raise_open_files();
    let mut net = Net::new("hostile-idle", 3);
    net.start_seeds();
    let f = flood(net.seeds[0], Hold::Idle, false);
    wait_all_closed(&f, "silent");
    wait_for("the budget's log line", Duration::from_secs(15), || {
        let lines = budget_notices(&net, "seed0");
        let idle = lines.iter().any(|l| l.contains("closed idle"));
        idle.then_some(()).ok_or(format!("{lines:?}"))
    });
    // Its log holds a few budget lines, not one per link.
    let lines = budget_notices(&net, "seed0");
    assert!(lines.len() <= 5, "{lines:#?}");
    status(net.seeds[0]).expect("seed0 still answers");
}

/// Issue 15's eviction of a live peer: two admitted rogue peers sign "unresponsive" verdicts
/// about live peer P while ~1,100 idle links press on P's inbound slots. Each seed's own
/// probe still reaches P, so no seed removes it: every seed logs the false accusation, P stays
/// in every Peer List, and P keeps receiving gossip throughout.
#[test]
fn idle_links_on_a_peer_do_not_let_forged_verdicts_remove_it() {
    raise_open_files();
    let mut net = Net::new("hostile-peer", 3);
    net.start_seeds();
    let names: Vec<String> = (0..4).map(|i| format!("peer{i}")).collect();
    for n in &names {
        let mut args: Vec<&str> = FAST.to_vec();
        args.extend(["--gossip-interval", "200ms", "--gossip-count", "1000"]);
        net.start_peer(n, &args);
    }
    let settings = peer::Settings {
        gossip_count: 0,
        ping_interval: Duration::from_millis(200),
        ..peer::Settings::default()
    };
    let (k1, k2) = (
        Keypair::from_secret([41; 32]),
        Keypair::from_secret([42; 32]),
    );
    let accuse = Arc::new(AtomicBool::new(false));
    let victim: Arc<Mutex<Option<(PeerId, SocketAddr, u64)>>> = Arc::default();
    let liar = k1.id();
    let rewrite = {
        let (accuse, victim, k1, k2) = (accuse.clone(), victim.clone(), k1.clone(), k2.clone());
        let mut seed_links = Vec::new();
        let mut sent = false;
        move |out: Output| {
            // Whatever goes to a seed shows which links are the seeds'.
            if let Output::Send { link, msg } = &out {
                let to_seed = matches!(msg, Msg::Register(_) | Msg::GetPeers | Msg::Neighbors(_));
                if to_seed && !seed_links.contains(link) {
                    seed_links.push(*link);
                }
            }
            let mut outs = vec![out];
            let target = *victim.lock().unwrap();
            if let (Some(v), false, true) = (target, sent, accuse.load(Ordering::Relaxed)) {
                sent = true;
                let now = hearsay_net::now();
                let me: SocketAddr = "127.0.0.1:9".parse().unwrap();
                let line = dead_line(v.1, now, me);
                let verdicts = vec![
                    Verdict::new(&k1, v, false, now),
                    Verdict::new(&k2, v, false, now),
                ];
                let report = DeadReport::new(&k1, line, v, verdicts);
                for link in &seed_links {
                    let msg = Msg::DeadReport(Box::new(report.clone()));
                    outs.push(Output::Send { link: *link, msg });
                }
            }
            outs
        }
    };
    let stop1 = start_rogue(&net, "rogue1", k1, settings.clone(), rewrite);
    let stop2 = start_rogue(&net, "rogue2", k2, settings, |out| vec![out]);
    let seeds = net.seeds.clone();
    wait_for(
        "four peers and two rogues admitted everywhere",
        Duration::from_secs(60),
        || {
            for s in &seeds {
                let n = peer_ids(&status(*s)?).len();
                if n != 6 {
                    return Err(format!("{s} holds {n}"));
                }
            }
            Ok(())
        },
    );
    let id = net.id_of("peer0").unwrap();
    let accused = member(&status(net.seeds[0]).unwrap(), &id);
    let addr = accused.1;
    *victim.lock().unwrap() = Some(accused);

    let f = flood(addr, Hold::Idle, true);
    wait_flooded(&f);
    let gossip_before = net.events_named("peer0", "gossip_received").len();
    accuse.store(true, Ordering::Relaxed);
    wait_false_accusation(&net, 3, liar, accused.0);
    // The flood goes on a while longer: nothing changes.
    std::thread::sleep(Duration::from_secs(3));
    for s in &net.seeds {
        let ids = peer_ids(&status(*s).unwrap());
        assert!(ids.contains(&id), "{s} removed the accused");
    }
    for s in 0..3 {
        let removals: Vec<Value> = net.events_named(&format!("seed{s}"), "removal_committed");
        assert!(removals.is_empty(), "seed{s} removed {removals:?}");
    }
    let gossip_after = net.events_named("peer0", "gossip_received").len();
    let rss = rss_mib(net.pid_of("peer0"));
    eprintln!(
        "peer0 received {} gossip messages under the flood, holds {rss} MiB; attacker opened {} links, {} closed by peer0",
        gossip_after - gossip_before,
        f.opened(),
        f.closed()
    );
    assert!(
        gossip_after > gossip_before + 10,
        "peer0 stopped receiving gossip: {gossip_before} before, {gossip_after} after"
    );
    assert!(rss < RSS_MIB, "peer0 holds {rss} MiB");
    stop1.cancel();
    stop2.cancel();
}

/// Issue 15's half-sent frames: after a handshake, a 1 MiB length prefix and then one byte
/// every 250 ms, on ~1,100 links to a seed. The seed closes every one of them (a stranger's
/// frame may be 64 KiB at most, and a frame must be whole within 10 s) and its memory stays
/// under [`RSS_MIB`].
#[test]
fn half_sent_frames_are_cut_off_and_cost_no_memory() {
    raise_open_files();
    let mut net = Net::new("hostile-frames", 3);
    net.start_seeds();
    let f = flood(net.seeds[0], Hold::SlowFrame, false);
    wait_all_closed(&f, "slow");
    let rss = rss_mib(net.seed_pid(0));
    eprintln!(
        "seed0 {rss} MiB after {} slow links, all closed",
        f.opened()
    );
    assert!(rss < RSS_MIB, "seed0 holds {rss} MiB");
    status(net.seeds[0]).expect("seed0 still answers");
}

/// Issue 15: 600 connections that never say a word (no handshake at all), from 8 source
/// addresses, fill a seed's pool of 512 handshakes under way. A full pool drops its oldest
/// handshake for a newcomer, so the seed's status still answers every time: were newcomers
/// dropped instead, those connections would lock out every client, and a seed's probe of a
/// peer under the same attack would fail as if the peer were dead.
#[test]
fn connections_that_never_handshake_do_not_lock_newcomers_out() {
    raise_open_files();
    let mut net = Net::new("hostile-mute", 3);
    net.start_seeds();
    let target = net.seeds[0];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mute: Vec<TcpStream> = rt.block_on(async {
        let mut held = Vec::new();
        for i in 0..600 {
            let ip = Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8);
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(ip.into(), 0)).unwrap();
            held.push(socket.connect(target).await.unwrap());
        }
        held
    });
    for k in 0..5 {
        if let Err(e) = status(target) {
            panic!("status {k} while 600 mute connections are held: {e}");
        }
    }
    // The seed dropped mute handshakes to make room, and said so in one line.
    wait_for("the budget's log line", Duration::from_secs(15), || {
        let lines = budget_notices(&net, "seed0");
        let dropped = lines.iter().any(|l| l.contains("handshakes dropped"));
        dropped.then_some(()).ok_or(format!("{lines:?}"))
    });
    drop(mute);
}

/// Issue 15: a flood of bad handshakes (a port scanner, an old node, 60 connections that send
/// an HTTP request) writes a few log lines, not one per connection: the first 10 of each 10 s
/// as `protocol_error`, the rest counted in the budget's line.
#[test]
fn a_flood_of_bad_handshakes_is_logged_a_few_lines_at_a_time() {
    use std::io::Write;
    let mut net = Net::new("hostile-scan", 3);
    net.start_seeds();
    for _ in 0..60 {
        let mut s = std::net::TcpStream::connect(net.seeds[0]).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
    }
    let failed = |net: &Net| -> u64 {
        (budget_notices(net, "seed0").iter())
            .filter_map(|l| l.split(" handshakes failed").next()?.rsplit(' ').next())
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    };
    // The budget's lines count every failure, those logged one by one included.
    wait_for("the budget's line", Duration::from_secs(20), || {
        let n = failed(&net);
        (n >= 60).then_some(()).ok_or(format!("{n} of 60 counted"))
    });
    let logged = net.events_named("seed0", "protocol_error").len();
    assert!(logged <= 20, "{logged} protocol errors logged one by one");
}

/// Issue 15: bulky input is checked before it costs a seed log or memory. An admitted rogue
/// sends its seeds dead-node reports whose line is 900 KB (before, each was logged whole, and
/// escaped control characters grew it further): the seed logs one protocol error quoting the
/// line's length and closes that link. 1,000 strangers (fresh keys) send a neighbour report
/// of 1,500 made-up neighbours each, 48 MB in all (before, a seed held up to 1,024 of them
/// and forwarded each to the other seeds): none is held or forwarded, and no seed grows by
/// more than 16 MiB.
#[test]
fn bulky_reports_cost_a_seed_neither_log_nor_memory() {
    raise_open_files();
    let mut net = Net::new("hostile-bulk", 3);
    net.start_seeds();
    let rss_before: Vec<u64> = (0..3).map(|i| rss_mib(net.seed_pid(i))).collect();
    let key = Keypair::from_secret([51; 32]);
    let settings = peer::Settings {
        gossip_count: 0,
        ..peer::Settings::default()
    };
    let me = key.clone();
    let mut sent = false;
    let stop = start_rogue(&net, "bulky", key, settings, move |out| match out {
        // Once admitted (it asks its seeds for peer lists), 20 reports with a 900 KB line
        // each go along.
        Output::Send {
            link,
            msg: Msg::GetPeers,
        } if !sent => {
            sent = true;
            let now = hearsay_net::now();
            let suspect = (me.id(), "127.0.0.1:9".parse().unwrap(), 1);
            let line = format!("Dead Node:{}", "\u{1b}".repeat(900_000));
            let own = Verdict::new(&me, suspect, false, now);
            let bulky = DeadReport::new(&me, line, suspect, vec![own]);
            let mut outs = vec![Output::Send {
                link,
                msg: Msg::GetPeers,
            }];
            for _ in 0..20 {
                let msg = Msg::DeadReport(Box::new(bulky.clone()));
                outs.push(Output::Send { link, msg });
            }
            outs
        }
        other => vec![other],
    });
    wait_for(
        "a seed refusing the bulky line",
        Duration::from_secs(30),
        || {
            let found = (0..3).any(|s| {
                (net.events_named(&format!("seed{s}"), "protocol_error")
                    .iter())
                .any(|e| {
                    let reason = e["reason"].as_str().unwrap_or("");
                    reason.contains("whose line (900010 bytes) is not `Dead Node:")
                })
            });
            found.then_some(()).ok_or("not yet".to_string())
        },
    );
    stop.cancel();

    // Strangers' neighbour reports, each from the link's own key (a key may only report
    // itself): 1,000 links from 50 addresses, one report each.
    let target = net.seeds[0];
    let made_up: Vec<PeerId> = (0..1500u32)
        .map(|n| {
            let mut secret = [0u8; 32];
            secret[..4].copy_from_slice(&n.to_le_bytes());
            Keypair::from_secret(secret).id()
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for l in 0..1000u32 {
            let ip = Ipv4Addr::new(127, 0, 0, 2 + (l % 50) as u8);
            let mut secret = [0xa5; 32];
            secret[..4].copy_from_slice(&l.to_le_bytes());
            let key = Keypair::from_secret(secret);
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(ip.into(), 0)).unwrap();
            let stream = socket.connect(target).await.unwrap();
            let id = Identity::new(key.clone(), Role::Peer, SocketAddr::new(ip.into(), 9));
            let (mut link, _) = handshake(stream, &id, Duration::from_secs(5))
                .await
                .unwrap();
            let report = NeighborReport::new(&key, 1, made_up.clone());
            let _ = link.send(&Msg::Neighbors(Box::new(report))).await;
        }
    });
    // Time to take them all in.
    std::thread::sleep(Duration::from_secs(3));
    for (i, before) in rss_before.iter().enumerate() {
        let after = rss_mib(net.seed_pid(i));
        assert!(
            after < before + 16,
            "seed{i}: {before} MiB before, {after} MiB after"
        );
    }
    // The human log holds no bulky line: a few KB for everything above.
    let log = std::fs::metadata(net.dir.join("outputfile.txt"))
        .unwrap()
        .len();
    assert!(log < 200_000, "outputfile.txt is {log} bytes");
}
