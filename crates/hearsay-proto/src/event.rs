//! Events: what nodes log (SPEC §7, PROTOCOL §10).
//!
//! Each event is a typed value (ids, addresses and durations as themselves). Its JSON form is
//! its serde form, tagged `event`, with ids as full hex, addresses as text and durations in
//! milliseconds, to which [`Event::json`] adds `ts`, `node` and `role`: the `--events` format
//! that the runtime's logs and the simulator's traces share. The human log line is the
//! runtime's (`hearsay_net::text`). The names are stable: tools and tests read them.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::cert::Op;
use crate::gossip::MsgId;
use crate::id::PeerId;

/// An event: what a node logs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A node is up and listening.
    Started {
        /// Its id.
        #[serde(serialize_with = "hex_id")]
        id: PeerId,
        /// Its advertised address.
        addr: SocketAddr,
    },
    /// A seed began coordinating a registration.
    RegistrationProposed {
        /// The peer.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its incarnation.
        incarnation: u64,
    },
    /// A seed voted on a change.
    Vote {
        /// `add` or `remove`.
        #[serde(serialize_with = "op_name")]
        op: Op,
        /// The peer concerned.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its incarnation.
        incarnation: u64,
        /// Yes or no.
        yes: bool,
        /// Why (empty for yes).
        reason: String,
    },
    /// A seed applied a certificate admitting a peer.
    RegistrationCommitted {
        /// The peer.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its incarnation.
        incarnation: u64,
        /// The seeds that signed.
        #[serde(serialize_with = "hex_ids")]
        signers: Vec<PeerId>,
    },
    /// A registration this seed coordinated failed.
    RegistrationAborted {
        /// The peer.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its incarnation.
        incarnation: u64,
        /// Why.
        reason: String,
    },
    /// A seed got a dead-node report from a peer.
    DeadNodeReportReceived {
        /// The `Dead Node:…` line as sent.
        line: String,
        /// The reporting peer.
        #[serde(serialize_with = "hex_id")]
        reporter: PeerId,
    },
    /// A seed began coordinating a removal.
    RemovalProposed {
        /// The accused.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its incarnation.
        incarnation: u64,
        /// Who reported it.
        #[serde(serialize_with = "hex_id")]
        reporter: PeerId,
        /// The `Dead Node:…` line.
        line: String,
    },
    /// A seed applied a certificate removing a peer.
    RemovalCommitted {
        /// The removed peer.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its incarnation.
        incarnation: u64,
        /// The seeds that signed.
        #[serde(serialize_with = "hex_ids")]
        signers: Vec<PeerId>,
    },
    /// A removal this seed coordinated failed.
    RemovalAborted {
        /// The accused.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its incarnation.
        incarnation: u64,
        /// Why.
        reason: String,
    },
    /// A seed's own probe found an accused peer alive.
    FalseAccusation {
        /// The accused.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Who accused it.
        #[serde(serialize_with = "hex_or_empty")]
        reporter: Option<PeerId>,
        /// What the seed saw.
        reason: String,
    },
    /// A member outside the overlay's main part (maybe dead with all its neighbours) is
    /// watched by a peer of the main part (PROTOCOL §12.6).
    OrphanWatched {
        /// The orphan.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// The peer asked to watch it.
        #[serde(serialize_with = "hex_id")]
        watcher: PeerId,
    },
    /// A peer's neighbour missed `suspect_after` liveness rounds.
    SuspicionStarted {
        /// The suspect.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Rounds missed.
        misses: u32,
        /// Whether its host answers ICMP echo (absent: unknown or not available).
        #[serde(skip_serializing_if = "Option::is_none")]
        icmp: Option<bool>,
    },
    /// The verdicts confirmed a suspicion.
    SuspicionConfirmed {
        /// The suspect.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Verdicts saying unresponsive (this peer's own included).
        dead: usize,
        /// Verdicts in all.
        verdicts: usize,
    },
    /// The verdicts did not confirm a suspicion.
    SuspicionCleared {
        /// The suspect.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Verdicts saying unresponsive (this peer's own included).
        dead: usize,
        /// Verdicts in all.
        verdicts: usize,
    },
    /// A peer sent a dead-node report to its seeds.
    DeadNodeReported {
        /// The `Dead Node:…` line.
        line: String,
        /// The dead peer.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Seeds it went to.
        seeds: usize,
    },
    /// A peer holds the certificate of its own admission.
    Registered {
        /// The incarnation admitted.
        incarnation: u64,
        /// The seeds that signed.
        #[serde(serialize_with = "hex_ids")]
        signers: Vec<PeerId>,
        /// From the node's start to the certificate.
        #[serde(rename = "latency_ms", serialize_with = "millis")]
        latency: Duration,
    },
    /// A peer got a peer list from a seed.
    PeerListReceived {
        /// The seed's address.
        seed: SocketAddr,
        /// The listed peers' addresses.
        peers: Vec<SocketAddr>,
    },
    /// A link to a neighbour is up.
    NeighborAdded {
        /// The neighbour.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Whether this node chose it (false: it chose this node).
        outbound: bool,
        /// This node's degree now.
        degree: usize,
    },
    /// A link to a neighbour is gone.
    NeighborRemoved {
        /// The neighbour.
        #[serde(serialize_with = "hex_id")]
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// This node's degree now.
        degree: usize,
    },
    /// A link to a seed is up.
    SeedConnected {
        /// The seed's address.
        addr: SocketAddr,
        /// The seed's id.
        #[serde(serialize_with = "hex_id")]
        id: PeerId,
    },
    /// A link to a seed is gone.
    SeedDisconnected {
        /// The seed's address.
        addr: SocketAddr,
    },
    /// A peer generated a gossip message.
    GossipGenerated {
        /// The message's identity (hex).
        #[serde(serialize_with = "hex_msg")]
        id: MsgId,
        /// Its Msg#.
        seq: u32,
        /// `<timestamp>:<IP>:<Msg#>`.
        text: String,
        /// Links it was sent on.
        forwarded: usize,
    },
    /// A peer received a gossip message for the first time.
    GossipReceived {
        /// The message's identity (hex).
        #[serde(serialize_with = "hex_msg")]
        id: MsgId,
        /// The generating peer.
        #[serde(serialize_with = "hex_id")]
        origin: PeerId,
        /// Its Msg#.
        seq: u32,
        /// `<timestamp>:<IP>:<Msg#>`.
        text: String,
        /// The neighbour it came from.
        from: SocketAddr,
        /// Links it crossed to get here.
        hops: u16,
        /// From its generation (its timestamp) to now.
        #[serde(rename = "latency_ms", serialize_with = "millis")]
        latency: Duration,
        /// Neighbours it was announced to.
        announced: usize,
    },
    /// A peer got a message it already had: counted and dropped.
    GossipDuplicate {
        /// The message's identity (hex).
        #[serde(serialize_with = "hex_msg")]
        id: MsgId,
        /// The neighbour it came from.
        from: SocketAddr,
    },
    /// An origin's gossip went over this peer's per-origin rate bound: its messages are
    /// dropped (and counted) until it slows down. Logged once per stretch of drops.
    OriginLimited {
        /// The origin.
        #[serde(serialize_with = "hex_id")]
        origin: PeerId,
        /// The neighbour the first dropped message came from.
        from: SocketAddr,
        /// Messages an origin may have relayed at once.
        burst: u32,
        /// Then one per this long.
        #[serde(rename = "every_ms", serialize_with = "millis")]
        every: Duration,
    },
    /// A peer's gossip counters, when they changed (at most once a second).
    GossipStats {
        /// The counters.
        #[serde(flatten)]
        counters: crate::gossip::Counters,
        /// Entries in the Message List.
        ml_size: usize,
    },
    /// Bad input from the network: dropped and logged; the link is closed unless the input
    /// was only a rejected certificate or a forged gossip message.
    ProtocolError {
        /// Where it came from.
        remote: String,
        /// What was wrong.
        reason: String,
    },
    /// A seed rebuilt its Peer List from its own store before serving (PROTOCOL §13).
    Restored {
        /// Certificates read.
        certificates: u64,
        /// Peers in the Peer List after it.
        peers: u64,
        /// Removed peers (tombstones) after it.
        removed: u64,
    },
    /// A seed found that another holds different certificates, and is exchanging the buckets
    /// that differ (PROTOCOL §13).
    CatchUp {
        /// The other seed's address.
        seed: String,
        /// How many of the 256 buckets differ.
        buckets: u32,
    },
    /// The node was asked to stop (Ctrl+C, SIGTERM) and did: its last event.
    Stopped {
        /// What asked it.
        reason: String,
    },
    /// A notice that fits no other event.
    Notice {
        /// The text.
        text: String,
    },
}

impl Event {
    /// The event's stable name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::RegistrationProposed { .. } => "registration_proposed",
            Event::Vote { .. } => "vote",
            Event::RegistrationCommitted { .. } => "registration_committed",
            Event::RegistrationAborted { .. } => "registration_aborted",
            Event::Registered { .. } => "registered",
            Event::DeadNodeReportReceived { .. } => "dead_node_report_received",
            Event::RemovalProposed { .. } => "removal_proposed",
            Event::RemovalCommitted { .. } => "removal_committed",
            Event::RemovalAborted { .. } => "removal_aborted",
            Event::FalseAccusation { .. } => "false_accusation",
            Event::OrphanWatched { .. } => "orphan_watched",
            Event::SuspicionStarted { .. } => "suspicion_started",
            Event::SuspicionConfirmed { .. } => "suspicion_confirmed",
            Event::SuspicionCleared { .. } => "suspicion_cleared",
            Event::DeadNodeReported { .. } => "dead_node_reported",
            Event::PeerListReceived { .. } => "peer_list_received",
            Event::NeighborAdded { .. } => "neighbor_added",
            Event::NeighborRemoved { .. } => "neighbor_removed",
            Event::SeedConnected { .. } => "seed_connected",
            Event::SeedDisconnected { .. } => "seed_disconnected",
            Event::GossipGenerated { .. } => "gossip_generated",
            Event::GossipReceived { .. } => "gossip_received",
            Event::GossipDuplicate { .. } => "gossip_duplicate",
            Event::OriginLimited { .. } => "origin_limited",
            Event::GossipStats { .. } => "gossip_stats",
            Event::ProtocolError { .. } => "protocol_error",
            Event::Restored { .. } => "restored",
            Event::CatchUp { .. } => "catch_up",
            Event::Stopped { .. } => "stopped",
            Event::Notice { .. } => "notice",
        }
    }

    /// The JSON line of the `--events` format: the event's fields, tagged `event`, plus
    /// `ts` (Unix ms), `node` and `role`. The runtime's logs and the simulator's traces share
    /// it, so the same tools read both.
    ///
    /// Written straight out, `ts`, `node` and `role` first, then the event's own object
    /// without its opening brace: no intermediate JSON value (the simulator writes millions).
    pub fn json(&self, now: crate::time::Time, node: &str, role: &str) -> String {
        let mut buf = Vec::with_capacity(256);
        self.write_json(now, node, role, &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// [`Event::json`], appended to `buf` (a logger gathers a turn's lines in one buffer).
    pub fn write_json(&self, now: crate::time::Time, node: &str, role: &str, buf: &mut Vec<u8>) {
        write_ts(now, buf);
        write_who(node, role, buf);
        self.write_fields(buf);
    }

    /// [`Event::write_json`] for a writer that keeps its [`json_who`] (a node's logger).
    pub fn write_json_as(&self, now: crate::time::Time, who: &[u8], buf: &mut Vec<u8>) {
        write_ts(now, buf);
        buf.extend_from_slice(who);
        self.write_fields(buf);
    }

    /// The event's own fields, and the line's end.
    fn write_fields(&self, buf: &mut Vec<u8>) {
        if let Event::GossipReceived { .. } = self {
            self.write_received(buf);
        } else {
            let body = buf.len();
            let _ = serde_json::to_writer(&mut *buf, self);
            // The event is an object (`{"event":…}`): its fields join the line's, its
            // opening brace becoming their separator.
            buf[body] = b',';
        }
        buf.push(b'\n');
    }

    /// The fields of `gossip_received`, the line logged once per delivery, written without
    /// serde's machinery: the same bytes as its serde form (a test compares them).
    fn write_received(&self, buf: &mut Vec<u8>) {
        let Event::GossipReceived {
            id,
            origin,
            seq,
            text,
            from,
            hops,
            latency,
            announced,
        } = self
        else {
            return;
        };
        buf.extend_from_slice(b",\"event\":\"gossip_received\",\"id\":\"");
        buf.extend_from_slice(&hex64(&id.0));
        buf.extend_from_slice(b"\",\"origin\":\"");
        buf.extend_from_slice(&hex64(&origin.0));
        let number = |buf: &mut Vec<u8>, name: &[u8], n: u64| {
            buf.extend_from_slice(name);
            buf.extend_from_slice(Digits::new(n).as_str().as_bytes());
        };
        number(buf, b"\",\"seq\":", (*seq).into());
        buf.extend_from_slice(b",\"text\":");
        let _ = serde_json::to_writer(&mut *buf, text);
        // An address's text needs no escaping.
        buf.extend_from_slice(b",\"from\":\"");
        buf.extend_from_slice(AddrText::new(from).as_str().as_bytes());
        number(buf, b"\",\"hops\":", (*hops).into());
        number(buf, b",\"latency_ms\":", crate::time::millis(*latency));
        number(buf, b",\"announced\":", *announced as u64);
        buf.push(b'}');
    }
}

/// The `node` and `role` fields of a JSON line (`,"node":…,"role":…`), escaped: the same for
/// every line of one node.
pub fn json_who(node: &str, role: &str) -> Vec<u8> {
    let mut who = Vec::new();
    write_who(node, role, &mut who);
    who
}

fn write_who(node: &str, role: &str, buf: &mut Vec<u8>) {
    buf.extend_from_slice(b",\"node\":");
    let _ = serde_json::to_writer(&mut *buf, node);
    buf.extend_from_slice(b",\"role\":");
    let _ = serde_json::to_writer(&mut *buf, role);
}

/// A JSON line's opening: `{"ts":…`.
fn write_ts(now: crate::time::Time, buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"{\"ts\":");
    buf.extend_from_slice(Digits::new(now.0).as_str().as_bytes());
}

/// A number in decimal, on the stack: written without `fmt`, whose machinery costs more
/// than the digits (the delivery lines have several numbers each).
pub struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    /// `n`'s digits.
    pub fn new(mut n: u64) -> Digits {
        let (mut buf, mut start) = ([0; 20], 20);
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return Digits { buf, start };
            }
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Digits are ASCII.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or_default()
    }
}

/// An address as its `Display` writes it, on the stack; an IPv4 one without `fmt` (a
/// delivery's human and JSON lines each name the address it came from).
pub struct AddrText {
    buf: [u8; 80],
    len: usize,
}

impl AddrText {
    /// `addr`'s text.
    pub fn new(addr: &SocketAddr) -> AddrText {
        let mut t = AddrText {
            buf: [0; 80],
            len: 0,
        };
        match addr {
            SocketAddr::V4(a) => {
                for (i, octet) in a.ip().octets().into_iter().enumerate() {
                    if i > 0 {
                        t.push(b".");
                    }
                    t.push(Digits::new(octet.into()).as_str().as_bytes());
                }
                t.push(b":");
                t.push(Digits::new(a.port().into()).as_str().as_bytes());
            }
            SocketAddr::V6(_) => {
                use std::io::Write as _;
                let mut rest = &mut t.buf[..];
                // At most 64 bytes (`[`, 45 of address, `%`, 10 of scope, `]:`, 5 of port).
                let _ = write!(rest, "{addr}");
                t.len = 80 - rest.len();
            }
        }
        t
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Written from ASCII digits and punctuation, or by `Display`.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// 32 bytes as 64 hex digits, without a `String` (every gossip line has one or two).
fn hex32<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    // Hex digits are ASCII.
    s.serialize_str(std::str::from_utf8(&hex64(bytes)).unwrap_or_default())
}

/// 32 bytes as 64 hex digits, on the stack.
fn hex64(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0; 64];
    // The sizes match: it cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out);
    out
}

/// An id as its full hex.
fn hex_id<S: Serializer>(id: &PeerId, s: S) -> Result<S::Ok, S::Error> {
    hex32(&id.0, s)
}

/// An id as its full hex, or nothing as an empty string.
fn hex_or_empty<S: Serializer>(id: &Option<PeerId>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.map(|id| id.to_hex()).unwrap_or_default())
}

/// Ids as their full hex.
fn hex_ids<S: Serializer>(ids: &[PeerId], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ids.iter().map(PeerId::to_hex))
}

/// A message id as its full hex.
fn hex_msg<S: Serializer>(id: &MsgId, s: S) -> Result<S::Ok, S::Error> {
    hex32(&id.0, s)
}

/// A duration in whole milliseconds.
fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(crate::time::millis(*d))
}

/// `add` or `remove`.
fn op_name<S: Serializer>(op: &Op, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(op.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    /// Numbers and addresses written by hand read as `Display` writes them.
    #[test]
    fn digits_and_addresses_are_written_as_display_writes_them() {
        for n in [0, 7, 10, 99, 100, 65_535, 4_000_000_000, u64::MAX] {
            assert_eq!(Digits::new(n).as_str(), n.to_string());
        }
        for a in [
            "0.0.0.0:0",
            "127.0.0.1:7000",
            "10.20.30.40:9",
            "255.255.255.255:65535",
            "[::1]:9",
            "[fe80::1%4294967295]:65535",
            "[::ffff:255.255.255.255%4294967295]:65535",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(AddrText::new(&addr).as_str(), addr.to_string());
        }
    }

    /// `gossip_received` is written by hand: byte for byte its serde form, whatever its text
    /// and address hold.
    #[test]
    fn the_hand_written_delivery_line_is_its_serde_form() {
        for (text, from) in [
            ("1700000000.123:10.0.0.1:7", "10.0.0.1:7000"),
            (
                "quote \" backslash \\ tab \t nul \u{0} é ✓ \u{85}",
                "[::1]:9",
            ),
            ("", "255.255.255.255:65535"),
        ] {
            let e = Event::GossipReceived {
                id: MsgId([0x5a; 32]),
                origin: PeerId([0xc3; 32]),
                seq: 4_000_000_000,
                text: text.into(),
                from: from.parse().unwrap(),
                hops: u16::MAX,
                latency: Duration::from_millis(123_456),
                announced: 7,
            };
            let mut serde = br#"{"ts":9,"node":"n\"1","role":"peer""#.to_vec();
            let body = serde.len();
            serde_json::to_writer(&mut serde, &e).unwrap();
            serde[body] = b',';
            serde.push(b'\n');
            let line = e.json(Time(9), "n\"1", "peer");
            assert_eq!(line, String::from_utf8(serde).unwrap());
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(
                (v["text"].as_str(), v["from"].as_str()),
                (Some(text), Some(from))
            );
        }
    }

    #[test]
    fn the_json_form_is_tagged_with_the_stable_name() {
        let e = Event::RegistrationAborted {
            peer: PeerId([0xab; 32]),
            addr: "127.0.0.1:7000".parse().unwrap(),
            incarnation: 2,
            reason: "timed out".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "registration_aborted");
        assert_eq!(json["incarnation"], 2);
        assert_eq!(json["peer"], "ab".repeat(32));
        assert_eq!(json["addr"], "127.0.0.1:7000");
        assert_eq!(e.name(), "registration_aborted");
    }

    /// Typed fields keep the `--events` format: ids as full hex, addresses as text (IPv6
    /// in brackets), durations in whole milliseconds, operations as `add`/`remove`.
    #[test]
    fn typed_fields_are_written_as_the_events_format_says() {
        let (a, b) = (PeerId([1; 32]), PeerId([2; 32]));
        let line = |e: &Event| e.json(Time(7), "n", "peer");
        assert_eq!(
            line(&Event::GossipReceived {
                id: MsgId([0xcd; 32]),
                origin: a,
                seq: 3,
                text: "1.000:::1:3".into(),
                from: "[::1]:7001".parse().unwrap(),
                hops: 2,
                latency: Duration::from_micros(41_999),
                announced: 1,
            }),
            format!(
                "{{\"ts\":7,\"node\":\"n\",\"role\":\"peer\",\"event\":\"gossip_received\",\
                 \"id\":\"{}\",\"origin\":\"{}\",\"seq\":3,\"text\":\"1.000:::1:3\",\
                 \"from\":\"[::1]:7001\",\"hops\":2,\"latency_ms\":41,\"announced\":1}}\n",
                "cd".repeat(32),
                "01".repeat(32)
            )
        );
        let vote = serde_json::to_value(Event::Vote {
            op: Op::Remove,
            peer: a,
            addr: "10.0.0.1:7000".parse().unwrap(),
            incarnation: 1,
            yes: true,
            reason: String::new(),
        })
        .unwrap();
        assert_eq!(vote["op"], "remove");
        let committed = serde_json::to_value(Event::RemovalCommitted {
            peer: a,
            addr: "10.0.0.1:7000".parse().unwrap(),
            incarnation: 1,
            signers: vec![a, b],
        })
        .unwrap();
        assert_eq!(
            committed["signers"],
            serde_json::json!(["01".repeat(32), "02".repeat(32)])
        );
        let unknown = serde_json::to_value(Event::FalseAccusation {
            peer: a,
            addr: "10.0.0.1:7000".parse().unwrap(),
            reporter: None,
            reason: "r".into(),
        })
        .unwrap();
        assert_eq!(unknown["reporter"], "");
    }

    #[test]
    fn the_json_line_is_one_object_with_ts_node_and_role_first() {
        let e = Event::Notice {
            text: "a \"quoted\"\nline".into(),
        };
        assert_eq!(
            e.json(Time(1_700_000_000_123), "10.0.0.1:6000", "seed"),
            "{\"ts\":1700000000123,\"node\":\"10.0.0.1:6000\",\"role\":\"seed\",\
             \"event\":\"notice\",\"text\":\"a \\\"quoted\\\"\\nline\"}\n"
        );
        // Flattened fields (the gossip counters) join the same object.
        let stats = Event::GossipStats {
            counters: crate::gossip::Counters::default(),
            ml_size: 3,
        };
        let line = stats.json(Time(5), "n", "peer");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["event"].as_str(), v["ml_size"].as_u64()),
            (Some("gossip_stats"), Some(3))
        );
        assert_eq!(v["ts"], 5);
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
    }
}
