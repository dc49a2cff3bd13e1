//! Events as human log lines (SPEC §7): what the console and `outputfile.txt` show. The
//! events themselves are typed values from `hearsay-proto`; their JSON form (the `--events`
//! format) is their serde form, shared with the simulator's traces.

use std::fmt::Write;
use std::net::SocketAddr;

use hearsay_proto::event::{AddrText, Digits, Event};

/// An event's human log line (without time and node, which the logger adds): ids short,
/// addresses as written.
pub fn text(e: &Event) -> String {
    let mut s = String::new();
    write(e, &mut s);
    s
}

/// [`text`], appended to `s` (the logger writes it straight into its line).
pub fn write(e: &Event, s: &mut String) {
    let _ = match e {
        Event::Started { id, addr } => write!(s, "started at {addr}, id {}", id.to_hex()),
        Event::RegistrationProposed {
            peer,
            addr,
            incarnation,
        } => write!(
            s,
            "registration proposed: peer {} at {addr} (incarnation {incarnation})",
            peer.short()
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
            write!(s, "vote {verdict} on {} of peer {} at {addr}", op.name(), peer.short())
        }
        Event::RegistrationCommitted {
            peer,
            addr,
            incarnation,
            signers,
        } => write!(
            s,
            "registration committed: peer {} at {addr} (incarnation {incarnation}), signed by {} seeds",
            peer.short(),
            signers.len()
        ),
        Event::RegistrationAborted {
            peer, addr, reason, ..
        } => write!(
            s,
            "registration aborted: peer {} at {addr}: {reason}",
            peer.short()
        ),
        Event::DeadNodeReportReceived { line, reporter } => {
            write!(s, "dead-node report from peer {}: {line}", reporter.short())
        }
        Event::RemovalProposed { peer, addr, reporter, .. } => write!(
            s,
            "removal proposed: peer {} at {addr}, reported by {}",
            peer.short(),
            reporter.short()
        ),
        Event::RemovalCommitted { peer, addr, signers, .. } => write!(
            s,
            "removal committed: peer {} at {addr} is removed, signed by {} seeds",
            peer.short(),
            signers.len()
        ),
        Event::RemovalAborted { peer, addr, reason, .. } => {
            write!(s, "removal aborted: peer {} at {addr}: {reason}", peer.short())
        }
        Event::FalseAccusation { peer, addr, reporter, reason } => write!(
            s,
            "false accusation: peer {} reported peer {} at {addr} dead, but {reason}",
            reporter.map(|r| r.short()).unwrap_or_default(),
            peer.short()
        ),
        Event::OrphanWatched { peer, addr, watcher } => write!(
            s,
            "orphan watched: peer {} at {addr} has no link to the overlay; peer {} watches it",
            peer.short(),
            watcher.short()
        ),
        Event::SuspicionStarted { peer, addr, misses, icmp } => {
            let host = match icmp {
                Some(true) => "; its host answers ICMP echo",
                Some(false) => "; its host does not answer ICMP echo either",
                None => "",
            };
            write!(s, "suspicion started: neighbour {} at {addr} missed {misses} rounds{host}", peer.short())
        }
        Event::SuspicionConfirmed { peer, addr, dead, verdicts } => write!(
            s,
            "suspicion confirmed: {dead} of {verdicts} verdicts say {} at {addr} is unresponsive",
            peer.short()
        ),
        Event::SuspicionCleared { peer, addr, dead, verdicts } => write!(
            s,
            "suspicion cleared: only {dead} of {verdicts} verdicts say {} at {addr} is unresponsive",
            peer.short()
        ),
        Event::DeadNodeReported { line, seeds, .. } => {
            write!(s, "reported to {seeds} seeds: {line}")
        }
        Event::Registered {
            incarnation,
            signers,
            latency,
        } => write!(
            s,
            "registered (incarnation {incarnation}) by a certificate of {} seeds, {} ms after start",
            signers.len(),
            latency.as_millis()
        ),
        Event::PeerListReceived { seed, peers } => {
            let list: Vec<String> = peers.iter().map(SocketAddr::to_string).collect();
            write!(s, "peer list from seed {seed}: {} peers [{}]", peers.len(), list.join(", "))
        }
        Event::NeighborAdded {
            peer,
            addr,
            outbound,
            degree,
        } => {
            let how = if *outbound { "chose" } else { "was chosen by" };
            write!(s, "neighbour added: {how} {} at {addr}, degree {degree}", peer.short())
        }
        Event::NeighborRemoved { peer, addr, degree } => {
            write!(s, "neighbour removed: {} at {addr}, degree {degree}", peer.short())
        }
        Event::SeedConnected { addr, id } => {
            write!(s, "connected to seed {addr} (id {})", id.short())
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
            latency,
            ..
        } => {
            // The line of every delivery, written without `fmt` (which costs more than the
            // text): "gossip {text} from {from} (origin {short id}, {hops} hops, {ms} ms)".
            s.push_str("gossip ");
            s.push_str(text);
            s.push_str(" from ");
            s.push_str(AddrText::new(from).as_str());
            s.push_str(" (origin ");
            let mut short = [0; 8];
            // The sizes match: it cannot fail; hex digits are ASCII.
            let _ = hex::encode_to_slice(&origin.0[..4], &mut short);
            s.push_str(std::str::from_utf8(&short).unwrap_or_default());
            s.push_str(", ");
            s.push_str(Digits::new((*hops).into()).as_str());
            s.push_str(" hops, ");
            s.push_str(Digits::new(latency.as_millis() as u64).as_str());
            s.push_str(" ms)");
            Ok(())
        }
        Event::GossipDuplicate { id, from } => {
            write!(s, "gossip {id} from {from} again: duplicate dropped")
        }
        Event::OriginLimited {
            origin,
            from,
            burst,
            every,
        } => write!(
            s,
            "gossip of origin {} over its rate bound ({burst} at once, then one per {} ms), first from {from}: dropped until it slows down",
            origin.short(),
            every.as_millis()
        ),
        Event::GossipStats { counters: c, ml_size } => write!(
            s,
            "gossip counters: generated {}, received {}, duplicates {}, sent {}, dropped {}, over the origin bound {}, announced {}, requested {}; message list {ml_size}",
            c.generated, c.received, c.duplicates, c.forwarded, c.dropped, c.limited, c.announced, c.requested
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearsay_proto::PeerId;

    #[test]
    fn a_line_names_peers_by_their_short_id_and_addresses_as_written() {
        let e = Event::RegistrationAborted {
            peer: PeerId([0xab; 32]),
            addr: "127.0.0.1:7000".parse().unwrap(),
            incarnation: 2,
            reason: "timed out".into(),
        };
        assert_eq!(
            text(&e),
            "registration aborted: peer abababab at 127.0.0.1:7000: timed out"
        );
        let started = Event::Started {
            id: PeerId([1; 32]),
            addr: "[::1]:7000".parse().unwrap(),
        };
        assert_eq!(
            text(&started),
            format!("started at [::1]:7000, id {}", "01".repeat(32))
        );
    }

    /// The delivery line, written by hand, reads as its format says.
    #[test]
    fn the_delivery_line_reads_as_its_format_says() {
        for (from, hops, ms) in [
            ("127.0.0.1:7000", 1, 0),
            ("255.255.255.255:65535", u16::MAX, 123_456_789),
            ("[fe80::1%7]:9", 0, 5),
        ] {
            let origin = PeerId(
                [0x0f, 0xa0, 0x5c, 0xe9, 1, 2, 3, 4]
                    .repeat(4)
                    .try_into()
                    .unwrap(),
            );
            let e = Event::GossipReceived {
                id: hearsay_proto::gossip::MsgId([1; 32]),
                origin,
                seq: 3,
                text: "1700000000.123:10.0.0.1:3".into(),
                from: from.parse().unwrap(),
                hops,
                latency: std::time::Duration::from_millis(ms),
                announced: 2,
            };
            assert_eq!(
                text(&e),
                format!(
                    "gossip 1700000000.123:10.0.0.1:3 from {from} (origin 0fa05ce9, {hops} hops, {ms} ms)"
                )
            );
        }
    }
}
