//! Tests of the connection budget (PROTOCOL §3.1): one decision, the exact answer.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hearsay_proto::{LinkId, LinkUse};

use super::{network, Admit, Handshakes, Inbound, Start};

/// An address in a network (/24) of its own per `n`.
fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, n, 1))
}

/// Every link a stranger's but those in `kept`.
fn uses(kept: &[u64]) -> impl Fn(LinkId) -> LinkUse + '_ {
    move |l| {
        if kept.contains(&l.0) {
            LinkUse::Protected
        } else {
            LinkUse::Stranger
        }
    }
}

#[test]
fn handshakes_are_bounded_per_source_ip_and_a_full_pool_drops_its_oldest() {
    let mut h = Handshakes::new(3, 2);
    assert_eq!(h.start(ip(2)), Start::In(0));
    assert_eq!(h.start(ip(2)), Start::In(1));
    assert_eq!(h.start(ip(2)), Start::Refuse, "a third from one IP");
    assert_eq!(h.start(ip(3)), Start::In(2));
    // Full: the oldest (0, from .2) makes room for a newcomer from anywhere.
    assert_eq!(h.start(ip(4)), Start::Evict { id: 3, evict: 0 });
    assert_eq!(h.len(), 3);
    // .2 holds one place now, so it may start another, pushing out 1 (its own).
    assert_eq!(h.start(ip(2)), Start::Evict { id: 4, evict: 1 });
    h.finish(2);
    assert_eq!(h.start(ip(5)), Start::In(5), "a place came free");
    // Giving back what is gone already (evicted, or never taken) changes nothing.
    h.finish(0);
    h.finish(99);
    assert_eq!(h.len(), 3);
    assert_eq!(h.start(ip(3)), Start::Evict { id: 6, evict: 3 });
}

#[test]
fn links_take_free_slots_without_asking_what_they_are_for() {
    let now = Instant::now();
    let mut b = Inbound::new(2);
    let never = |_: LinkId| -> LinkUse { panic!("asked with slots free") };
    assert_eq!(b.admit(LinkId(1), ip(2), now, never), Admit::In);
    assert_eq!(b.admit(LinkId(2), ip(2), now, never), Admit::In);
    assert_eq!(b.len(), 2);
}

#[test]
fn when_full_the_source_ip_with_most_strangers_loses_its_quietest_link() {
    let t0 = Instant::now();
    let mut b = Inbound::new(4);
    // 127.0.0.2 holds two links, 127.0.0.3 and 127.0.0.4 one each (link 1 quiet longest).
    b.admit(LinkId(1), ip(3), t0, uses(&[]));
    b.admit(LinkId(2), ip(2), t0 + Duration::from_secs(1), uses(&[]));
    b.admit(LinkId(3), ip(2), t0 + Duration::from_secs(2), uses(&[]));
    b.admit(LinkId(4), ip(4), t0 + Duration::from_secs(3), uses(&[]));
    let now = t0 + Duration::from_secs(4);
    assert_eq!(
        b.admit(LinkId(5), ip(9), now, uses(&[])),
        Admit::Evict(LinkId(2))
    );
    assert!(!b.holds(LinkId(2)) && b.holds(LinkId(5)));
    // A frame heard makes a link the least quiet of its IP.
    let mut b = Inbound::new(2);
    b.admit(LinkId(1), ip(2), t0, uses(&[]));
    b.admit(LinkId(2), ip(2), t0 + Duration::from_secs(1), uses(&[]));
    b.heard(LinkId(1), t0 + Duration::from_secs(2));
    assert_eq!(
        b.admit(LinkId(3), ip(9), now, uses(&[])),
        Admit::Evict(LinkId(2))
    );
}

#[test]
fn addresses_of_one_network_count_together() {
    let t0 = Instant::now();
    let mut b = Inbound::new(3);
    // Three addresses of 10.0.7.0/24, one link each, against two links of one address
    // elsewhere: the /24 holds most, and loses its quietest.
    let in_7 = |last| IpAddr::V4(Ipv4Addr::new(10, 0, 7, last));
    b.admit(LinkId(1), ip(2), t0, uses(&[]));
    b.admit(LinkId(2), in_7(1), t0 + Duration::from_secs(1), uses(&[]));
    b.admit(LinkId(3), in_7(2), t0 + Duration::from_secs(2), uses(&[]));
    let now = t0 + Duration::from_secs(3);
    assert_eq!(
        b.admit(LinkId(4), in_7(3), now, uses(&[])),
        Admit::Evict(LinkId(2))
    );
    assert_eq!(network(in_7(200)), IpAddr::V4(Ipv4Addr::new(10, 0, 7, 0)));
    let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
    assert_eq!(network(v6), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
}

#[test]
fn ties_between_source_ips_go_to_the_quietest_link() {
    let t0 = Instant::now();
    let mut b = Inbound::new(3);
    b.admit(LinkId(1), ip(2), t0 + Duration::from_secs(2), uses(&[]));
    b.admit(LinkId(2), ip(3), t0, uses(&[]));
    b.admit(LinkId(3), ip(4), t0 + Duration::from_secs(1), uses(&[]));
    let now = t0 + Duration::from_secs(3);
    assert_eq!(
        b.admit(LinkId(4), ip(5), now, uses(&[])),
        Admit::Evict(LinkId(2))
    );
}

#[test]
fn protected_links_are_never_evicted_and_a_stranger_finding_only_them_is_refused() {
    let t0 = Instant::now();
    let mut b = Inbound::new(2);
    b.admit(LinkId(1), ip(2), t0, uses(&[]));
    b.admit(LinkId(2), ip(2), t0, uses(&[]));
    // Both became protected (a neighbour, an admitted peer) after they came up.
    let now = t0 + Duration::from_secs(60);
    assert_eq!(b.admit(LinkId(3), ip(9), now, uses(&[1, 2])), Admit::Refuse);
    assert!(!b.holds(LinkId(3)));
    assert_eq!(b.len(), 2);
}

#[test]
fn a_stranger_from_the_busiest_source_makes_room_from_its_own_source() {
    let t0 = Instant::now();
    let mut b = Inbound::new(3);
    b.admit(LinkId(1), ip(2), t0, uses(&[]));
    b.admit(LinkId(2), ip(2), t0 + Duration::from_secs(1), uses(&[]));
    b.admit(LinkId(3), ip(3), t0, uses(&[]));
    // The newcomer from 127.0.0.2 counts with its source: that source loses its oldest.
    let now = t0 + Duration::from_secs(2);
    assert_eq!(
        b.admit(LinkId(4), ip(2), now, uses(&[])),
        Admit::Evict(LinkId(1))
    );
    // The only stranger left is the newcomer itself: it goes.
    let mut b = Inbound::new(1);
    b.admit(LinkId(1), ip(2), t0, uses(&[]));
    assert_eq!(b.admit(LinkId(2), ip(3), now, uses(&[1])), Admit::Refuse);
}

#[test]
fn a_configured_seed_always_gets_in() {
    let t0 = Instant::now();
    let mut b = Inbound::new(2);
    b.admit(LinkId(1), ip(2), t0, uses(&[]));
    b.admit(LinkId(2), ip(3), t0, uses(&[]));
    // A seed (protected from its first moment) evicts a stranger...
    let seed = uses(&[10, 11]);
    assert_eq!(
        b.admit(LinkId(10), ip(1), t0, &seed),
        Admit::Evict(LinkId(1))
    );
    // ...and with only protected links left, takes a slot beyond the budget.
    assert_eq!(
        b.admit(LinkId(11), ip(1), t0, uses(&[2, 10, 11])),
        Admit::In
    );
    assert_eq!(b.len(), 3);
}

#[test]
fn only_strangers_silent_for_the_idle_timeout_are_idle() {
    let t0 = Instant::now();
    let mut b = Inbound::new(8);
    b.admit(LinkId(1), ip(2), t0, uses(&[]));
    b.admit(LinkId(2), ip(2), t0, uses(&[]));
    b.admit(LinkId(3), ip(2), t0 + Duration::from_secs(5), uses(&[]));
    b.admit(LinkId(4), ip(2), t0, uses(&[]));
    b.heard(LinkId(4), t0 + Duration::from_secs(8));
    let now = t0 + Duration::from_secs(10);
    // Link 2 is protected however quiet; link 3 came late, link 4 spoke late.
    let idle = b.idle(now, Duration::from_secs(10), uses(&[2]));
    assert_eq!(idle, [LinkId(1)]);
    let later = b.idle(
        now + Duration::from_secs(10),
        Duration::from_secs(10),
        uses(&[2]),
    );
    assert_eq!(
        later.into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([LinkId(1), LinkId(3), LinkId(4)])
    );
    assert!(b.remove(LinkId(1)));
    assert!(!b.remove(LinkId(1)));
}

/// PROTOCOL §3.1: everything a stranger legitimately sends fits a stranger's frame, with room
/// to spare: a registration, a link request carrying an admission certificate of 64 seeds, a
/// probe request, a dead-node report with the most verdicts, a neighbour report of a peer
/// at its most neighbours (one admitted a moment ago, before this seed applied the
/// certificate), and the requests for peers, neighbours and status.
#[test]
fn every_message_a_stranger_sends_fits_a_strangers_frame() {
    use hearsay_proto::cert::{Certificate, Change, NeighborReport, Op, Registration, Vote};
    use hearsay_proto::suspicion::{dead_line, DeadReport, Verdict, MAX_VERDICTS};
    use hearsay_proto::wire::{self, Msg, ProbeRequest};
    use hearsay_proto::{peer, Keypair, Time};

    let key = |n: u64| {
        let mut secret = [7u8; 32];
        secret[..8].copy_from_slice(&n.to_be_bytes());
        Keypair::from_secret(secret)
    };
    let me = key(0);
    let addr: std::net::SocketAddr = "[2001:db8::1]:65535".parse().unwrap();
    let change = Change {
        op: Op::Add,
        peer: me.id(),
        addr,
        incarnation: u64::MAX,
    };
    let votes: Vec<Vote> = (1..=64)
        .map(|n| Vote::new(&key(n), change, true, ""))
        .collect();
    let cert = Certificate::from_votes(change, &votes);
    let now = Time(u64::MAX / 2);
    let verdicts = (0..MAX_VERDICTS as u64)
        .map(|n| Verdict::new(&key(100 + n), (key(99).id(), addr, u64::MAX), false, now))
        .collect();
    let line = dead_line(addr, now, addr);
    let report = DeadReport::new(&me, line, (key(99).id(), addr, u64::MAX), verdicts);
    let max_links = peer::Settings::default().max_links as u64;
    let neighbors = (0..max_links).map(|n| key(1000 + n).id()).collect();
    let msgs = [
        Msg::Register(Box::new(Registration::new(&me, addr, u64::MAX))),
        Msg::Link(Box::new(cert.clone())),
        Msg::Admission(Box::new(cert)),
        Msg::ProbeRequest(Box::new(ProbeRequest {
            suspect: key(99).id(),
            addr,
            incarnation: u64::MAX,
        })),
        Msg::DeadReport(Box::new(report)),
        Msg::Neighbors(Box::new(NeighborReport::new(&me, u64::MAX, neighbors))),
        Msg::GetPeers,
        Msg::GetNeighbors(key(99).id()),
        Msg::StatusRequest { offset: u32::MAX },
    ];
    for msg in msgs {
        let len = wire::encode(&msg).len();
        assert!(
            len * 2 <= crate::conn::STRANGER_FRAME,
            "{} takes {len} bytes",
            msg.name()
        );
    }
}
