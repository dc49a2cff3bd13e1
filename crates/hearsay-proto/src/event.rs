//! Events: what nodes log (SPEC §7, PROTOCOL §10).
//!
//! Each event is one human log line ([`Event::text`]) and one JSON object (its serde form,
//! tagged `event`, to which the driver adds `ts`, `node` and `role`). The names are stable:
//! tools and tests read them.

use std::fmt::Write;

use serde::Serialize;

/// An event, with ids as full hex strings and addresses as text.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A node is up and listening.
    Started {
        /// Its id.
        id: String,
        /// Its advertised address.
        addr: String,
    },
    /// A seed began coordinating a registration.
    RegistrationProposed {
        /// The peer.
        peer: String,
        /// Its address.
        addr: String,
        /// Its incarnation.
        incarnation: u64,
    },
    /// A seed voted on a change.
    Vote {
        /// `add` or `remove`.
        op: &'static str,
        /// The peer concerned.
        peer: String,
        /// Its address.
        addr: String,
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
        peer: String,
        /// Its address.
        addr: String,
        /// Its incarnation.
        incarnation: u64,
        /// The seeds that signed.
        signers: Vec<String>,
    },
    /// A registration this seed coordinated failed.
    RegistrationAborted {
        /// The peer.
        peer: String,
        /// Its address.
        addr: String,
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
        reporter: String,
    },
    /// A seed began coordinating a removal.
    RemovalProposed {
        /// The accused.
        peer: String,
        /// Its address.
        addr: String,
        /// Its incarnation.
        incarnation: u64,
        /// Who reported it.
        reporter: String,
        /// The `Dead Node:…` line.
        line: String,
    },
    /// A seed applied a certificate removing a peer.
    RemovalCommitted {
        /// The removed peer.
        peer: String,
        /// Its address.
        addr: String,
        /// Its incarnation.
        incarnation: u64,
        /// The seeds that signed.
        signers: Vec<String>,
    },
    /// A removal this seed coordinated failed.
    RemovalAborted {
        /// The accused.
        peer: String,
        /// Its address.
        addr: String,
        /// Its incarnation.
        incarnation: u64,
        /// Why.
        reason: String,
    },
    /// A seed's own probe found an accused peer alive.
    FalseAccusation {
        /// The accused.
        peer: String,
        /// Its address.
        addr: String,
        /// Who accused it.
        reporter: String,
        /// What the seed saw.
        reason: String,
    },
    /// A peer's neighbour missed `suspect_after` liveness rounds.
    SuspicionStarted {
        /// The suspect.
        peer: String,
        /// Its address.
        addr: String,
        /// Rounds missed.
        misses: u32,
        /// Whether its host answers ICMP echo (absent: unknown or not available).
        #[serde(skip_serializing_if = "Option::is_none")]
        icmp: Option<bool>,
    },
    /// The verdicts confirmed a suspicion.
    SuspicionConfirmed {
        /// The suspect.
        peer: String,
        /// Its address.
        addr: String,
        /// Verdicts saying unresponsive (this peer's own included).
        dead: usize,
        /// Verdicts in all.
        verdicts: usize,
    },
    /// The verdicts did not confirm a suspicion.
    SuspicionCleared {
        /// The suspect.
        peer: String,
        /// Its address.
        addr: String,
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
        peer: String,
        /// Seeds it went to.
        seeds: usize,
    },
    /// A peer holds the certificate of its own admission.
    Registered {
        /// The incarnation admitted.
        incarnation: u64,
        /// The seeds that signed.
        signers: Vec<String>,
        /// From the node's start to the certificate.
        latency_ms: u64,
    },
    /// A peer got a peer list from a seed.
    PeerListReceived {
        /// The seed's address.
        seed: String,
        /// The listed peers' addresses.
        peers: Vec<String>,
    },
    /// A link to a neighbour is up.
    NeighborAdded {
        /// The neighbour.
        peer: String,
        /// Its address.
        addr: String,
        /// Whether this node chose it (false: it chose this node).
        outbound: bool,
        /// This node's degree now.
        degree: usize,
    },
    /// A link to a neighbour is gone.
    NeighborRemoved {
        /// The neighbour.
        peer: String,
        /// Its address.
        addr: String,
        /// This node's degree now.
        degree: usize,
    },
    /// A link to a seed is up.
    SeedConnected {
        /// The seed's address.
        addr: String,
        /// The seed's id.
        id: String,
    },
    /// A link to a seed is gone.
    SeedDisconnected {
        /// The seed's address.
        addr: String,
    },
    /// A peer generated a gossip message.
    GossipGenerated {
        /// The message's identity (hex).
        id: String,
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
        id: String,
        /// The generating peer.
        origin: String,
        /// Its Msg#.
        seq: u32,
        /// `<timestamp>:<IP>:<Msg#>`.
        text: String,
        /// The neighbour it came from.
        from: String,
        /// Links it crossed to get here.
        hops: u16,
        /// From its generation (its timestamp) to now.
        latency_ms: u64,
        /// Neighbours it was announced to.
        announced: usize,
    },
    /// A peer got a message it already had: counted and dropped.
    GossipDuplicate {
        /// The message's identity (hex).
        id: String,
        /// The neighbour it came from.
        from: String,
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
        buf.extend_from_slice(b"{\"ts\":");
        buf.extend_from_slice(now.0.to_string().as_bytes());
        for (key, value) in [("node", node), ("role", role)] {
            buf.extend_from_slice(format!(",\"{key}\":").as_bytes());
            // Serializing a string into memory cannot fail.
            let _ = serde_json::to_writer(&mut buf, value);
        }
        buf.push(b',');
        let body = buf.len();
        let _ = serde_json::to_writer(&mut buf, self);
        // The event is an object (`{"event":…}`): its fields join the line's.
        buf.remove(body);
        buf.push(b'\n');
        String::from_utf8(buf).unwrap_or_default()
    }

    /// The human log line (without time and node, which the driver adds).
    pub fn text(&self) -> String {
        let short = |id: &str| id.get(..8).unwrap_or(id).to_string();
        let mut s = String::new();
        let _ = match self {
            Event::Started { id, addr } => write!(s, "started at {addr}, id {id}"),
            Event::RegistrationProposed {
                peer,
                addr,
                incarnation,
            } => write!(
                s,
                "registration proposed: peer {} at {addr} (incarnation {incarnation})",
                short(peer)
            ),
            Event::Vote {
                op,
                peer,
                addr,
                yes,
                reason,
                ..
            } => {
                let verdict = if *yes { "yes".to_string() } else { format!("no ({reason})") };
                write!(s, "vote {verdict} on {op} of peer {} at {addr}", short(peer))
            }
            Event::RegistrationCommitted {
                peer,
                addr,
                incarnation,
                signers,
            } => write!(
                s,
                "registration committed: peer {} at {addr} (incarnation {incarnation}), signed by {} seeds",
                short(peer),
                signers.len()
            ),
            Event::RegistrationAborted {
                peer, addr, reason, ..
            } => write!(
                s,
                "registration aborted: peer {} at {addr}: {reason}",
                short(peer)
            ),
            Event::DeadNodeReportReceived { line, reporter } => {
                write!(s, "dead-node report from peer {}: {line}", short(reporter))
            }
            Event::RemovalProposed { peer, addr, reporter, .. } => write!(
                s,
                "removal proposed: peer {} at {addr}, reported by {}",
                short(peer),
                short(reporter)
            ),
            Event::RemovalCommitted { peer, addr, signers, .. } => write!(
                s,
                "removal committed: peer {} at {addr} is removed, signed by {} seeds",
                short(peer),
                signers.len()
            ),
            Event::RemovalAborted { peer, addr, reason, .. } => {
                write!(s, "removal aborted: peer {} at {addr}: {reason}", short(peer))
            }
            Event::FalseAccusation { peer, addr, reporter, reason } => write!(
                s,
                "false accusation: peer {} reported peer {} at {addr} dead, but {reason}",
                short(reporter),
                short(peer)
            ),
            Event::SuspicionStarted { peer, addr, misses, icmp } => {
                let host = match icmp {
                    Some(true) => "; its host answers ICMP echo",
                    Some(false) => "; its host does not answer ICMP echo either",
                    None => "",
                };
                write!(s, "suspicion started: neighbour {} at {addr} missed {misses} rounds{host}", short(peer))
            }
            Event::SuspicionConfirmed { peer, addr, dead, verdicts } => write!(
                s,
                "suspicion confirmed: {dead} of {verdicts} verdicts say {} at {addr} is unresponsive",
                short(peer)
            ),
            Event::SuspicionCleared { peer, addr, dead, verdicts } => write!(
                s,
                "suspicion cleared: only {dead} of {verdicts} verdicts say {} at {addr} is unresponsive",
                short(peer)
            ),
            Event::DeadNodeReported { line, seeds, .. } => {
                write!(s, "reported to {seeds} seeds: {line}")
            }
            Event::Registered {
                incarnation,
                signers,
                latency_ms,
            } => write!(
                s,
                "registered (incarnation {incarnation}) by a certificate of {} seeds, {latency_ms} ms after start",
                signers.len()
            ),
            Event::PeerListReceived { seed, peers } => {
                write!(s, "peer list from seed {seed}: {} peers [{}]", peers.len(), peers.join(", "))
            }
            Event::NeighborAdded {
                peer,
                addr,
                outbound,
                degree,
            } => {
                let how = if *outbound { "chose" } else { "was chosen by" };
                write!(s, "neighbour added: {how} {} at {addr}, degree {degree}", short(peer))
            }
            Event::NeighborRemoved { peer, addr, degree } => {
                write!(s, "neighbour removed: {} at {addr}, degree {degree}", short(peer))
            }
            Event::SeedConnected { addr, id } => {
                write!(s, "connected to seed {addr} (id {})", short(id))
            }
            Event::SeedDisconnected { addr } => write!(s, "lost the link to seed {addr}"),
            Event::GossipGenerated { text, forwarded, .. } => {
                write!(s, "gossip generated {text}, sent to {forwarded} neighbours")
            }
            Event::GossipReceived {
                text,
                from,
                origin,
                hops,
                latency_ms,
                ..
            } => write!(
                s,
                "gossip {text} from {from} (origin {}, {hops} hops, {latency_ms} ms)",
                short(origin)
            ),
            Event::GossipDuplicate { id, from } => {
                write!(s, "gossip {} from {from} again: duplicate dropped", short(id))
            }
            Event::GossipStats { counters: c, ml_size } => write!(
                s,
                "gossip counters: generated {}, received {}, duplicates {}, sent {}, dropped {}, announced {}, requested {}; message list {ml_size}",
                c.generated, c.received, c.duplicates, c.forwarded, c.dropped, c.announced, c.requested
            ),
            Event::ProtocolError { remote, reason } => {
                write!(s, "protocol error from {remote}: {reason}")
            }
            Event::Restored {
                certificates,
                peers,
                removed,
            } => write!(
                s,
                "restored {certificates} certificates from the store: {peers} peers, {removed} removed"
            ),
            Event::CatchUp { seed, buckets } => {
                write!(s, "catching up with seed {seed}: {buckets} of 256 buckets differ")
            }
            Event::Stopped { reason } => write!(s, "stopped: {reason}"),
            Event::Notice { text } => write!(s, "{text}"),
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    #[test]
    fn the_json_form_is_tagged_with_the_stable_name() {
        let e = Event::RegistrationAborted {
            peer: "ab".repeat(32),
            addr: "127.0.0.1:7000".into(),
            incarnation: 2,
            reason: "timed out".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "registration_aborted");
        assert_eq!(json["incarnation"], 2);
        assert_eq!(e.name(), "registration_aborted");
        assert_eq!(
            e.text(),
            "registration aborted: peer abababab at 127.0.0.1:7000: timed out"
        );
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
