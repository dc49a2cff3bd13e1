//! Issue 16: what a live network's links show to someone reading the loopback interface.
//!
//! Needs CAP_NET_RAW (root, as CI runs) to read packets; without it the test says so and
//! checks nothing else.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hearsay_proto::handshake::PREAMBLE;
use hearsay_proto::wire;
use socket2::{Domain, Protocol, Socket, Type};

/// Every TCP payload seen on 127.0.0.0/8 while it runs (each twice: sent and received).
struct Capture {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Vec<u8>>>,
}

impl Capture {
    /// Starts reading every IP packet of every interface, or says why it cannot.
    fn start() -> Result<Capture, String> {
        const ETH_P_ALL: u16 = 0x0003;
        let protocol = Protocol::from(i32::from(ETH_P_ALL.to_be()));
        // Datagram packet sockets give the IP packet, without the link layer's header.
        let socket = Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol))
            .map_err(|e| format!("no packet socket ({e}): reading packets needs root"))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let _ = socket.set_recv_buffer_size(32 << 20);
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut socket = socket;
            let mut payloads = Vec::new();
            let mut packet = vec![0u8; 1 << 16];
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = socket.read(&mut packet) {
                    if let Some(p) = tcp_payload(&packet[..n]) {
                        payloads.push(p.to_vec());
                    }
                }
            }
            payloads
        });
        Ok(Capture { stop, thread })
    }

    fn finish(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("capture thread")
    }
}

/// The TCP payload of an IPv4 packet from 127.0.0.0/8, if it is one and has any.
fn tcp_payload(ip: &[u8]) -> Option<&[u8]> {
    let header = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if ip[0] >> 4 != 4 || *ip.get(9)? != 6 || *ip.get(12)? != 127 {
        return None;
    }
    let offset = usize::from(ip.get(header + 12)? >> 4) * 4;
    let payload = ip.get(header + offset..total.min(ip.len()))?;
    (!payload.is_empty()).then_some(payload)
}

/// What the control connection's bytes begin with.
const CONTROL: &[u8] = b"CONTROL:";

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Three seeds and four peers gossip (a message every 200 ms each, 10 each: a peer may
/// miss those generated before it joined), and a client
/// reads a seed's status (the Peer List); every TCP payload on the loopback interface is
/// read meanwhile. None holds a gossip text, a node's id (in hex or as its 32 bytes), or a
/// peer's address (as text or as the protocol encodes it). Controls: the links' plaintext
/// preambles are seen, and so is a gossip text the test itself sends in the clear.
#[test]
fn a_live_networks_loopback_traffic_shows_no_gossip_ids_or_addresses() {
    let capture = match Capture::start() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let mut net = Net::new("eavesdrop", 3);
    net.start_seeds();
    let names: Vec<String> = (0..4).map(|i| format!("peer{i}")).collect();
    for n in &names {
        net.start_peer(n, &[&FAST[..], &["--gossip-interval", "200ms"]].concat());
    }
    wait_for(
        "every peer has 20 of the others' 30 messages",
        Duration::from_secs(60),
        || {
            for n in &names {
                let got = net.events_named(n, "gossip_received").len();
                if got < 20 {
                    return Err(format!("{n} has {got}"));
                }
            }
            Ok(())
        },
    );
    let st = status(net.seeds[0]).expect("status");
    // The control: a gossip text written in the clear to a seed is seen.
    let text = net.events_named("peer0", "gossip_generated")[0]["text"]
        .as_str()
        .expect("text")
        .to_string();
    let control = [CONTROL, text.as_bytes()].concat();
    let mut clear = std::net::TcpStream::connect(net.seeds[0]).expect("connect");
    std::io::Write::write_all(&mut clear, &control).expect("write");
    std::thread::sleep(Duration::from_millis(500));
    let (controls, payloads): (Vec<_>, Vec<_>) = capture
        .finish()
        .into_iter()
        .partition(|p| holds(p, CONTROL));
    assert!(
        controls.iter().any(|p| holds(p, text.as_bytes())),
        "the capture missed a text sent in the clear"
    );

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for n in &names {
        for g in net.events_named(n, "gossip_generated") {
            let text = g["text"].as_str().expect("text").to_string();
            needles.push((format!("gossip text {text}"), text.into_bytes()));
        }
    }
    let nodes: Vec<String> = (0..3)
        .map(|i| format!("seed{i}"))
        .chain(names.clone())
        .collect();
    for n in &nodes {
        let id = net.id_of(n).expect("started");
        needles.push((format!("{n}'s id in hex"), id.clone().into_bytes()));
        let raw = hearsay_proto::PeerId::from_hex(&id).expect("an id");
        needles.push((format!("{n}'s id"), raw.0.to_vec()));
    }
    let peers = st["peers"].as_array().expect("peer list");
    assert_eq!(peers.len(), 4, "{st}");
    for p in peers {
        let addr: SocketAddr = p["addr"].as_str().expect("addr").parse().expect("address");
        needles.push((format!("the address {addr}"), addr.to_string().into_bytes()));
        needles.push((format!("the address {addr}, encoded"), wire::encode(&addr)));
    }
    assert!(needles.len() > 50, "{} needles", needles.len());

    let bytes: usize = payloads.iter().map(Vec::len).sum();
    let preambles = payloads.iter().filter(|p| holds(p, &PREAMBLE)).count();
    eprintln!(
        "{} payloads, {bytes} bytes, {preambles} with a preamble",
        payloads.len()
    );
    assert!(bytes > 100_000, "only {bytes} bytes captured");
    assert!(
        preambles >= 20,
        "only {preambles} preambles seen: the capture missed the links"
    );
    for (what, needle) in &needles {
        if let Some(p) = payloads.iter().find(|p| holds(p, needle)) {
            panic!("{what} is in the clear in a payload of {} bytes", p.len());
        }
    }
}
