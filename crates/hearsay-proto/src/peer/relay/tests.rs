//! Tests of the gossip relay (SPEC §6 Gossip, PROTOCOL §11): each message crosses each link
//! at most once; announcements, requests and their batching; forged and stale messages.

use super::Relay;
use crate::node::Outbox;
use crate::peer::Settings;
use crate::testkit::*;

// ---- the relay alone: one input, the exact outputs --------------------------------------

const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A peer with three neighbours in a network whose origins send one message each: its trees
/// grow from an origin's second message (PROTOCOL §11.7), so an origin's first message asks
/// nobody to push it.
fn peer_with_trees_from_second() -> (Net, std::net::SocketAddr, [LinkId; 3]) {
    peer_with_three_neighbours_with(Settings {
        trees_from_first: false,
        ..peer_settings()
    })
}

fn message(origin: usize, seq: u32) -> Gossip {
    gossip_of(origin, T0, seq)
}

/// What the peer hands its relay to check signatures: `checks`, and the seeds' signatures
/// on a certificate by the testkit's seeds.
fn checking(checks: &Checks) -> (&Checks, impl FnOnce(&Certificate) -> Option<bool> + '_) {
    (checks, move |c: &Certificate| {
        Some(c.verify_known(&seed_set(), checks))
    })
}

/// Every output waiting in `io`, as (link, frame name) for sends and the event's name.
fn drained(io: &mut Outbox<()>) -> Vec<String> {
    std::iter::from_fn(|| io.pop())
        .map(|o| match o {
            Output::Send { link, msg } => format!("{} to {}", msg.name(), link.0),
            Output::Event(e) => e.name().to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// A first receipt is logged and announced (when the outputs are drained) to every
/// neighbour but the one it came from; the same message again is only counted.
#[test]
fn the_relay_announces_a_first_receipt_to_the_other_neighbours_and_counts_a_duplicate() {
    let mut relay = Relay::new(
        &Settings::default(),
        HashKeys::from_seed(1),
        peer_key(0).id(),
    );
    let mut io = Outbox::<()>::default();
    let links = [LinkId(1), LinkId(2), LinkId(3)];
    let checks = Checks::default();
    let (g, from) = (message(9, 1), peer_addr(9));
    let now = T0 + Duration::from_millis(5);
    relay
        .on_gossip(
            now,
            (links[0], from),
            g.clone(),
            links.into_iter(),
            checking(&checks),
            &mut io,
        )
        .unwrap();
    assert_eq!(drained(&mut io), ["gossip_received"]);
    assert!(relay.batched(&mut io));
    assert_eq!(drained(&mut io), ["Have to 2", "Have to 3"]);
    assert!(!relay.batched(&mut io), "handed out once");

    relay
        .on_gossip(
            now,
            (links[1], from),
            g,
            links.into_iter(),
            checking(&checks),
            &mut io,
        )
        .unwrap();
    assert_eq!(drained(&mut io), ["gossip_duplicate"]);
    let c = relay.counters();
    assert_eq!((c.received, c.duplicates, c.announced), (1, 1, 2));
    // The counters go out at the first tick of `announce_hold` (500 ms) a second after they
    // changed, with the announcements held for that tick, not at a moment of their own.
    assert_eq!(
        relay.deadline(),
        Some(T0 + Duration::from_millis(1_500)),
        "stats due on the tick"
    );
}

/// A request is served once per link, never back where the message came from, and a frame
/// of more ids than the bound is refused whole.
#[test]
fn the_relay_serves_a_request_once_per_link_and_refuses_an_oversize_frame_whole() {
    let mut relay = Relay::new(
        &Settings::default(),
        HashKeys::from_seed(1),
        peer_key(0).id(),
    );
    let mut io = Outbox::<()>::default();
    let links = [LinkId(1), LinkId(2)];
    let g = message(9, 1);
    let id = g.id();
    relay
        .on_gossip(
            T0,
            (links[0], peer_addr(9)),
            g,
            links.into_iter(),
            checking(&Checks::default()),
            &mut io,
        )
        .unwrap();
    relay.batched(&mut io);
    drained(&mut io);

    assert_eq!(relay.on_wants(T0, links[1], &[id, id], &mut io), Ok(()));
    assert_eq!(drained(&mut io), ["Gossip to 2"]);
    assert_eq!(relay.on_wants(T0, links[0], &[id], &mut io), Ok(()));
    assert_eq!(
        drained(&mut io),
        Vec::<String>::new(),
        "not back where it came from"
    );

    let other = message(8, 1).id();
    let too_many = vec![other; crate::wire::MAX_IDS + 1];
    let refused = relay.on_haves(T0, LinkId(3), &too_many);
    assert_eq!(
        refused,
        Err("1025 ids in one frame (at most 1024)".to_string())
    );
    assert!(!relay.batched(&mut io), "nothing of it was asked for");
    assert_eq!(relay.on_haves(T0, LinkId(3), &[other, id]), Ok(()));
    relay.batched(&mut io);
    assert_eq!(
        drained(&mut io),
        ["Want to 3"],
        "asks only for what it lacks"
    );
}

/// Once started, the relay generates `gossip_count` messages, `gossip_interval` apart, each
/// sent straight to every neighbour.
#[test]
fn the_relay_generates_its_messages_at_the_interval_once_started() {
    let settings = Settings {
        gossip_count: 2,
        gossip_delay: Duration::from_millis(100),
        ..Settings::default()
    };
    let mut relay = Relay::new(&settings, HashKeys::from_seed(1), peer_key(0).id());
    let mut io = Outbox::<()>::default();
    let key = peer_key(0);
    let admission = std::sync::Arc::new(cert(add(0, peer_addr(0)), &[0, 1, 2]));
    let links = [LinkId(4), LinkId(7)];
    assert_eq!(relay.deadline(), None, "not started");
    relay.admitted(admission);
    relay.start(T0);
    let first = T0 + Duration::from_millis(100);
    assert_eq!(relay.deadline(), Some(first));
    relay.on_timeout(first, (&key, LOCAL), links.into_iter(), &mut io);
    assert_eq!(
        drained(&mut io),
        ["gossip_generated", "Gossip to 4", "Gossip to 7"]
    );
    let second = first + settings.gossip_interval;
    // The counters changed at T0 + 100 ms: reported at the first tick of `announce_hold`
    // (500 ms) a second later, T0 + 1.5 s, and not a second after the change.
    let stats = T0 + Duration::from_millis(1_500);
    assert_eq!(relay.deadline(), Some(stats), "stats first, on the tick");
    let (a_second_on, me) = (first + Duration::from_secs(1), (&key, LOCAL));
    relay.on_timeout(a_second_on, me, links.into_iter(), &mut io);
    assert_eq!(drained(&mut io), Vec::<String>::new(), "not off the tick");
    relay.on_timeout(stats, me, links.into_iter(), &mut io);
    assert_eq!(drained(&mut io), ["gossip_stats"]);
    assert_eq!(relay.deadline(), Some(second));
    relay.on_timeout(second, (&key, LOCAL), links.into_iter(), &mut io);
    assert_eq!(
        drained(&mut io),
        ["gossip_generated", "Gossip to 4", "Gossip to 7"]
    );
    relay.start(second);
    assert_eq!(relay.counters().generated, 2);
    assert_eq!(
        relay.deadline(),
        Some(T0 + Duration::from_millis(6_500)),
        "done: stats only, on the tick a second after the second message (T0 + 5.1 s)"
    );
}

/// PROTOCOL §11.5: an admitted origin may have `origin_burst` messages relayed at once, then
/// one per `origin_every`; the rest are dropped and counted, the first drop of a stretch is
/// logged, and an announcement of a dropped message is not answered with a request.
#[test]
fn an_origin_over_its_rate_bound_is_dropped_counted_and_not_asked_for_again() {
    let settings = Settings {
        origin_burst: 3,
        origin_every: Duration::from_millis(500),
        ..Settings::default()
    };
    let mut relay = Relay::new(&settings, HashKeys::from_seed(1), peer_key(0).id());
    let mut io = Outbox::<()>::default();
    let links = [LinkId(1), LinkId(2)];
    let checks = Checks::default();
    let from = peer_addr(9);
    let mut deliver = |relay: &mut Relay, now: Time, seq: u32| {
        let g = gossip_of(9, T0, seq);
        relay
            .on_gossip(
                now,
                (links[0], from),
                g,
                links.into_iter(),
                checking(&checks),
                &mut io,
            )
            .unwrap();
        drained(&mut io)
    };
    for seq in 1..=3 {
        assert_eq!(deliver(&mut relay, T0, seq), ["gossip_received"], "{seq}");
    }
    assert_eq!(deliver(&mut relay, T0, 4), ["origin_limited"]);
    assert_eq!(
        deliver(&mut relay, T0, 5),
        Vec::<String>::new(),
        "logged once"
    );
    let half = T0 + Duration::from_millis(499);
    assert_eq!(
        deliver(&mut relay, half, 6),
        Vec::<String>::new(),
        "not yet"
    );
    let later = T0 + Duration::from_millis(500);
    assert_eq!(deliver(&mut relay, later, 7), ["gossip_received"]);
    assert_eq!(
        deliver(&mut relay, later, 8),
        ["origin_limited"],
        "a new stretch"
    );
    let c = relay.counters();
    assert_eq!((c.received, c.limited, c.dropped), (4, 4, 0));
    // Another origin has its own bucket.
    let other = gossip_of(8, T0, 1);
    relay
        .on_gossip(
            later,
            (links[0], peer_addr(8)),
            other,
            links.into_iter(),
            checking(&checks),
            &mut io,
        )
        .unwrap();
    assert_eq!(drained(&mut io), ["gossip_received"]);

    relay.batched(&mut io);
    drained(&mut io);
    let dropped = gossip_of(9, T0, 4).id();
    let fresh = gossip_of(9, T0, 100).id();
    assert_eq!(relay.on_haves(later, links[1], &[dropped, fresh]), Ok(()));
    relay.batched(&mut io);
    assert_eq!(
        drained(&mut io),
        ["Want to 2"],
        "only the message not dropped"
    );
}

/// PROTOCOL §11.5: a message is relayed only if it carries its origin's admission by a
/// quorum of the seeds at the IP its text names; otherwise it is dropped as bad and, if it
/// answered a request, the next announcer is asked.
#[test]
fn a_message_without_its_origins_admission_at_its_ip_is_dropped() {
    let mut relay = Relay::new(
        &Settings::default(),
        HashKeys::from_seed(1),
        peer_key(0).id(),
    );
    let mut io = Outbox::<()>::default();
    let links = [LinkId(1), LinkId(2)];
    let checks = Checks::default();
    let real = gossip_of(9, T0, 1);
    let with = |cert: Certificate| Gossip {
        cert: std::sync::Arc::new(cert),
        ..real.clone()
    };
    let elsewhere = SocketAddr::from(([10, 0, 0, 9], 7009));
    let other_ip = Gossip::new(
        &peer_key(9),
        gossip::text(T0, elsewhere.ip(), 1),
        std::sync::Arc::clone(&real.cert),
    );
    let bad = [
        with(cert(add(8, peer_addr(8)), &[0, 1, 2])),
        with(cert(add(9, peer_addr(9)), &[0])),
        with(cert(add(9, elsewhere), &[0, 1, 2])),
        with(cert(removal(9, peer_addr(9), 1), &[0, 1, 2])),
        other_ip,
    ];
    let id = real.id();
    assert_eq!(relay.on_haves(T0, links[0], &[id]), Ok(()));
    assert_eq!(relay.on_haves(T0, links[1], &[id]), Ok(()));
    relay.batched(&mut io);
    assert_eq!(drained(&mut io), ["Want to 1"]);
    for (i, g) in bad.into_iter().enumerate() {
        let at = (links[0], peer_addr(5));
        assert_eq!(
            relay.on_gossip(T0, at, g, links.into_iter(), checking(&checks), &mut io),
            Ok(()),
            "an admission that does not hold keeps the link"
        );
        let out = drained(&mut io);
        assert!(
            !out.contains(&"gossip_received".to_string()),
            "{i}: {out:?}"
        );
        if i == 0 {
            assert_eq!(out, ["protocol_error", "Want to 2"], "the next announcer");
        }
    }
    assert_eq!(relay.counters().dropped, 5);
    assert_eq!(relay.counters().received, 0);
    relay
        .on_gossip(
            T0,
            (links[1], peer_addr(6)),
            real,
            links.into_iter(),
            checking(&checks),
            &mut io,
        )
        .unwrap();
    assert!(drained(&mut io).contains(&"gossip_received".to_string()));
}

/// Messages waiting for a seed key are held quietly, each id once, at most `MAX_HELD`: a
/// neighbour sending certificates no known key can check costs a bounded list, and what
/// does not fit is dropped as before.
#[test]
fn messages_waiting_for_a_seed_key_are_held_each_once_and_bounded() {
    let mut relay = Relay::new(
        &Settings::default(),
        HashKeys::from_seed(1),
        peer_key(0).id(),
    );
    let mut io = Outbox::<()>::default();
    let checks = Checks::default();
    let offer = |relay: &mut Relay, g: Gossip, io: &mut Outbox<()>| {
        let cannot_tell = (&checks, |_: &Certificate| None);
        let at = (LinkId(1), peer_addr(5));
        relay
            .on_gossip(T0, at, g, [LinkId(1)].into_iter(), cannot_tell, io)
            .unwrap();
    };
    for seq in 0..super::MAX_HELD as u32 {
        offer(&mut relay, message(9, seq), &mut io);
        offer(&mut relay, message(9, seq), &mut io);
    }
    assert_eq!(drained(&mut io), Vec::<String>::new(), "held quietly");
    offer(&mut relay, message(9, 1_000), &mut io);
    assert_eq!(drained(&mut io), ["protocol_error"]);
    assert_eq!(relay.counters().dropped, 1);
    let held = relay.take_held();
    assert_eq!(held.len(), super::MAX_HELD);
    let seqs: Vec<u32> = (held.iter())
        .map(|(_, _, g)| gossip::parse_text(&g.text).unwrap().seq)
        .collect();
    assert_eq!(seqs, (0..super::MAX_HELD as u32).collect::<Vec<_>>());
    assert!(relay.take_held().is_empty(), "taken once");
}

// ---- through the router --------------------------------------------------------------

/// PROTOCOL §11.5: a peer that registered while a seed was cut off does not know that seed's
/// key; a message whose admission certificate needs that key is held while the peer learns
/// the key, then taken (it is no bad message, and nobody else may send it again), and the
/// origin's next message passes.
#[test]
fn a_certificate_needing_a_seed_key_not_known_yet_makes_the_peer_learn_it() {
    let mut net = Net::seeds(seed::Settings::default());
    net.take_down(seed_addr(2), true);
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    let p = peer_addr(0);
    assert!(
        net.peer(p).certificate().is_some(),
        "admitted by seeds 0 and 1"
    );
    let seed2 = seed_key(2).id();
    assert!(!net.peer(p).seed_set().keys.contains(&seed2));
    net.restart_seed(2, seed::Settings::default(), false);
    let link = neighbour_link(5);
    link_from(&mut net, p, 5, link);
    // Peer 9 was admitted by seeds 1 and 2.
    let by_1_and_2 = std::sync::Arc::new(cert(add(9, peer_addr(9)), &[1, 2]));
    let message = |net: &Net, seq| Gossip {
        cert: by_1_and_2.clone(),
        ..gossip_of(9, net.now, seq)
    };
    let held = message(&net, 1);
    let first = held.id();
    let msg = Msg::Gossip(Box::new(held));
    let outs = net.inject(p, Input::Frame { link, msg });
    let received = |outs: &[Output]| {
        (outs.iter()).any(|o| matches!(o, Output::Event(Event::GossipReceived { .. })))
    };
    assert!(!received(&outs), "{outs:?}");
    let learning = outs
        .iter()
        .any(|o| matches!(o, Output::Dial { addr, .. } if *addr == seed_addr(2)));
    assert!(learning, "{outs:?}");
    assert!(net.peer(p).seed_set().keys.contains(&seed2), "learned");
    let taken = (net.events(p).iter())
        .filter(|e| matches!(e, Event::GossipReceived { id, .. } if *id == first))
        .count();
    assert_eq!(taken, 1, "the held message, once the key was learned");
    let bad = (net.events(p).iter()).any(|e| matches!(e, Event::ProtocolError { .. }));
    assert!(!bad, "{:?}", net.events(p));
    let msg = Msg::Gossip(Box::new(message(&net, 2)));
    assert!(received(&net.inject(p, Input::Frame { link, msg })));
}
/// With every seed's key known, a certificate short of known signers is bad at once: only a
/// key still to be learned makes a message wait, so signatures by strangers hold nothing.
#[test]
fn with_every_seed_key_known_a_certificate_signed_by_strangers_is_dropped_at_once() {
    let (mut net, p) = registered_peer();
    assert_eq!(net.peer(p).seed_set().keys.len(), 3);
    let link = neighbour_link(5);
    link_from(&mut net, p, 5, link);
    let mut c = cert(add(9, peer_addr(9)), &[0]);
    c.sigs
        .push((peer_key(7).id(), crate::id::Signature([0; 64])));
    let g = Gossip {
        cert: std::sync::Arc::new(c),
        ..gossip_of(9, net.now, 1)
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link,
            msg: Msg::Gossip(Box::new(g)),
        },
    );
    let bad = (outs.iter()).any(|o| matches!(o, Output::Event(Event::ProtocolError { .. })));
    assert!(bad, "{outs:?}");
    assert!(net.peer(p).relay.held.is_empty());
}

/// SPEC §6 Gossip: every peer generates `gossip_count` messages once its neighbours are
/// connected, and every other peer receives each of them exactly once.
#[test]
fn every_peer_receives_every_other_peers_gossip_once() {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..6 {
        net.add_peer(i);
        net.run_for(Duration::from_millis(500));
    }
    net.run_for(Duration::from_secs(60));
    // Peers on one IP that generate at the same millisecond write the same text; their
    // messages must still be told apart (the identity hashes the origin too).
    let mut texts: BTreeMap<String, BTreeSet<SocketAddr>> = BTreeMap::new();
    for i in 0..6 {
        for e in net.events(peer_addr(i)) {
            if let Event::GossipGenerated { text, .. } = e {
                texts.entry(text.clone()).or_default().insert(peer_addr(i));
            }
        }
    }
    assert!(
        texts.values().any(|who| who.len() >= 2),
        "no two peers generated the same text at the same millisecond: {texts:?}"
    );
    // No message crosses a link twice: every frame carrying a message arrives as a first
    // receipt or a duplicate, and there are at most as many as links in the overlay.
    let degrees: usize = (0..6)
        .map(|i| net.peer(peer_addr(i)).neighbors().len())
        .sum();
    let mut frames: BTreeMap<[u8; 32], usize> = BTreeMap::new();
    for i in 0..6 {
        for e in net.events(peer_addr(i)) {
            match e {
                Event::GossipReceived { id, .. } | Event::GossipDuplicate { id, .. } => {
                    *frames.entry(id.0).or_default() += 1
                }
                _ => {}
            }
        }
    }
    assert_eq!(frames.len(), 60);
    for (id, n) in &frames {
        assert!(
            *n <= degrees / 2,
            "message {}: {n} frames over {} links",
            MsgId(*id),
            degrees / 2
        );
    }
    for i in 0..6 {
        let c = net.peer(peer_addr(i)).counters();
        assert_eq!(c.generated, 10, "peer {i}: {c:?}");
        assert_eq!(c.received, 50, "peer {i}: {c:?}");
        assert_eq!(c.dropped, 0, "peer {i}: {c:?}");
    }
}

fn sends(outs: &[Output]) -> Vec<(LinkId, Gossip)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send {
                link,
                msg: Msg::Gossip(g),
            } => Some((*link, (**g).clone())),
            _ => None,
        })
        .collect()
}

fn haves(outs: &[Output]) -> Vec<LinkId> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send {
                link,
                msg: Msg::Have(_),
            } => Some(*link),
            _ => None,
        })
        .collect()
}

/// SPEC §6 Gossip, PROTOCOL §11.3: a message arriving on one link is announced to the
/// others; it goes to a neighbour only when asked, at most once per link, never back to
/// where it came from, and its copies are dropped as duplicates.
#[test]
fn a_message_crosses_each_link_at_most_once() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let g = gossip_of(9, net.now, 1);
    let id = g.id();
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    assert_eq!(haves(&outs), vec![l6, l7]);
    assert_eq!(sends(&outs), vec![]);
    let received = outs.iter().filter(|o| {
        matches!(
            o,
            Output::Event(Event::GossipReceived {
                announced: 2,
                hops: 1,
                ..
            })
        )
    });
    assert_eq!(received.count(), 1, "{outs:?}");
    // 6 announces it too (it got it elsewhere): nothing to do, and it is not asked.
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l6,
                msg: Msg::Have(id)
            }
        ),
        []
    );
    // 7 asks: it gets the message once, however often it asks.
    let outs = net.inject(
        p,
        Input::Frame {
            link: l7,
            msg: Msg::Want(id),
        },
    );
    assert_eq!(
        sends(&outs),
        vec![(
            l7,
            Gossip {
                hops: 1,
                ..g.clone()
            }
        )]
    );
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l7,
                msg: Msg::Want(id)
            }
        ),
        []
    );
    // 5 sent it: asking for it back gets nothing.
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l5,
                msg: Msg::Want(id)
            }
        ),
        []
    );
    // A copy on another link is a duplicate: logged as such, not sent on.
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    assert_eq!(sends(&outs), vec![]);
    assert_eq!(haves(&outs), vec![]);
    assert!(
        matches!(&outs[..], [Output::Event(Event::GossipDuplicate { .. })]),
        "{outs:?}"
    );
    let c = net.peer(p).counters();
    assert_eq!(
        (c.received, c.duplicates, c.forwarded, c.announced),
        (1, 1, 1, 2)
    );
    let e = net.peer(p).message_list().get(&id).unwrap();
    assert_eq!(e.came_in(), vec![l5, l6]);
    assert_eq!(e.went_out(), vec![l6, l7]);
    assert_eq!(e.sent(), vec![l7]);
}

/// The frames a node sent, in order: (link, message), gossip bodies by their id.
fn frames_out(outs: &[Output]) -> Vec<(LinkId, String)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { link, msg } => Some((
                *link,
                match msg {
                    Msg::Gossip(g) => format!("Gossip {:.6}", hex::encode(g.id().0)),
                    Msg::Have(id) => format!("Have {:.6}", hex::encode(id.0)),
                    Msg::Want(id) => format!("Want {:.6}", hex::encode(id.0)),
                    Msg::Haves(ids) | Msg::Wants(ids) => format!(
                        "{} {}",
                        msg.name(),
                        ids.iter()
                            .map(|id| format!("{:.6}", hex::encode(id.0)))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    Msg::Graft(origins) => format!(
                        "Graft {}",
                        (origins.iter())
                            .map(|(o, token)| format!(
                                "{:.6}{}",
                                hex::encode(o.0),
                                ["", "+token"][*token as usize]
                            ))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    other => other.name().to_string(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// An id as [`frames_out`] names it: its first six hex digits.
fn short(id: MsgId) -> String {
    format!("{:.6}", hex::encode(id.0))
}

/// The frames among `outs` that went to neighbours (the testkit's neighbour links), not the
/// reports to the seeds.
fn to_neighbours(outs: &[Output]) -> Vec<(LinkId, String)> {
    let mut f = frames_out(outs);
    f.retain(|(l, _)| l.0 >= NEIGHBOUR_LINKS);
    f
}

/// Runs the peer at `p` to the tick of `announce_hold` that an announcement held twice from
/// now falls due at: nothing goes to a neighbour a millisecond before it. Returns what goes
/// to the neighbours at the tick.
fn at_the_tick(net: &mut Net, p: std::net::SocketAddr) -> Vec<(LinkId, String)> {
    let hold = Settings::default().announce_hold;
    let tick = super::on_tick(net.now + hold * 2, hold);
    net.now = tick - Duration::from_millis(1);
    let early = to_neighbours(&net.inject(p, Input::Timeout));
    assert!(early.is_empty(), "not before the tick: {early:?}");
    net.now = tick;
    to_neighbours(&net.inject(p, Input::Timeout))
}

/// Issue 13, PROTOCOL §11.3: what a peer announces and requests while handling frames that
/// arrived together goes out as one frame per neighbour and kind, and every message still
/// crosses each link at most once.
#[test]
fn announcements_and_requests_made_in_one_turn_go_to_each_neighbour_in_one_frame() {
    let (mut net, p, [l5, l6, l7]) = peer_with_trees_from_second();
    let g1 = gossip_of(9, net.now, 1);
    let g2 = gossip_of(8, net.now, 1);
    let (m1, m2) = (g1.id(), g2.id());
    let frame = |link, msg| Input::Frame { link, msg };
    // m1 comes from 5 and m2 from 6 in one turn: 7 hears of both in one frame, 6 and 5 of
    // the one they did not send, alone.
    let outs = net.inject_together(
        p,
        vec![
            frame(l5, Msg::Gossip(Box::new(g1.clone()))),
            frame(l6, Msg::Gossip(Box::new(g2.clone()))),
        ],
    );
    assert_eq!(
        frames_out(&outs),
        vec![
            (l6, format!("Have {}", short(m1))),
            (l7, format!("Haves {},{}", short(m1), short(m2))),
            (l5, format!("Have {}", short(m2))),
        ]
    );
    // 7 asks for both in one frame: each body goes once, however often it asks again.
    let outs = net.inject(p, frame(l7, Msg::Wants(vec![m1, m2])));
    assert_eq!(
        frames_out(&outs),
        vec![
            (l7, format!("Gossip {}", short(m1))),
            (l7, format!("Gossip {}", short(m2)))
        ]
    );
    let outs = net.inject(p, frame(l7, Msg::Wants(vec![m2, m1, m1])));
    assert_eq!(frames_out(&outs), vec![]);
    // 5 asks for m1, which it sent: nothing goes back over the link it came on.
    assert_eq!(
        frames_out(&net.inject(p, frame(l5, Msg::Wants(vec![m1, m2])))),
        vec![(l5, format!("Gossip {}", short(m2)))]
    );
    for (id, came, out) in [(m1, l5, vec![l6, l7]), (m2, l6, vec![l5, l7])] {
        let e = net.peer(p).message_list().get(&id).unwrap();
        assert_eq!(e.came_in(), vec![came]);
        assert_eq!(e.went_out(), out);
    }
    // Two neighbours announce three new messages in one turn: one request per message, to
    // the first announcer, in one frame per neighbour.
    let ids: Vec<MsgId> = (1..4).map(|n| gossip_of(7, net.now, n).id()).collect();
    let outs = net.inject_together(
        p,
        vec![
            frame(l5, Msg::Haves(vec![ids[0], ids[1]])),
            frame(l6, Msg::Haves(vec![ids[1], ids[2]])),
            frame(l7, Msg::Have(ids[2])),
        ],
    );
    assert_eq!(
        frames_out(&outs),
        vec![
            (l5, format!("Wants {},{}", short(ids[0]), short(ids[1]))),
            (l6, format!("Want {}", short(ids[2]))),
        ]
    );
}

/// Issue 13: in one turn, a message comes from one neighbour while another sends or
/// announces it too. Nothing about it goes back to those that have it: no announcement to
/// them, and no request for what has come.
#[test]
fn nothing_goes_to_a_neighbour_about_a_message_it_had_in_the_same_turn() {
    let (mut net, p, [l5, l6, l7]) = peer_with_trees_from_second();
    let frame = |link, msg| Input::Frame { link, msg };
    // m1 comes from 5, and 6 announces it after: only 7 hears of it.
    let g1 = gossip_of(9, net.now, 1);
    let m1 = g1.id();
    let outs = net.inject_together(
        p,
        vec![
            frame(l5, Msg::Gossip(Box::new(g1.clone()))),
            frame(l6, Msg::Have(m1)),
        ],
    );
    assert_eq!(frames_out(&outs), vec![(l7, format!("Have {}", short(m1)))]);
    let e = net.peer(p).message_list().get(&m1).unwrap();
    assert_eq!((e.came_in(), e.went_out()), (vec![l5, l6], vec![l7]));
    // m2 comes from 5 and again from 7: only 6 hears of it.
    let g2 = gossip_of(8, net.now, 1);
    let m2 = g2.id();
    let outs = net.inject_together(
        p,
        vec![
            frame(l5, Msg::Gossip(Box::new(g2.clone()))),
            frame(l7, Msg::Gossip(Box::new(g2.clone()))),
        ],
    );
    assert_eq!(frames_out(&outs), vec![(l6, format!("Have {}", short(m2)))]);
    // 6 announces m3, then 5 sends it, in one turn: no request goes to 6, and 7 hears of it.
    let g3 = gossip_of(7, net.now, 1);
    let m3 = g3.id();
    let outs = net.inject_together(
        p,
        vec![
            frame(l6, Msg::Have(m3)),
            frame(l5, Msg::Gossip(Box::new(g3.clone()))),
        ],
    );
    assert_eq!(frames_out(&outs), vec![(l7, format!("Have {}", short(m3)))]);
    let c = net.peer(p).counters();
    assert_eq!(
        (c.received, c.duplicates, c.announced, c.requested),
        (3, 1, 3, 0)
    );
}

/// A `Haves` or `Wants` frame over the bound is a protocol error: the link goes.
#[test]
fn a_frame_of_more_ids_than_the_bound_closes_its_link() {
    let (mut net, p, [l5, _, _]) = peer_with_three_neighbours();
    let ids = vec![MsgId([7; 32]); crate::wire::MAX_IDS + 1];
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Haves(ids),
        },
    );
    assert!(outs.contains(&Output::Close { link: l5 }), "{outs:?}");
    assert_eq!(frames_out(&outs), vec![]);
    assert_eq!(net.peer(p).neighbors().len(), 2);
}

/// PROTOCOL §11.7: a `Graft` or `Prune` of more origins than the bound is a protocol
/// error too; one within it, for origins this peer never relayed, leaves nothing behind
/// (no state, no pushes), so a neighbour cannot grow a peer's trees with made-up origins.
#[test]
fn a_tree_frame_over_the_bound_closes_its_link_and_unknown_origins_are_ignored() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let stranger = |n: usize| crate::id::PeerId([n as u8; 32]);
    let over = crate::wire::MAX_IDS + 1;
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Graft(vec![(stranger(1), true); over]),
        },
    );
    assert!(outs.contains(&Output::Close { link: l5 }), "{outs:?}");
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Prune(vec![stranger(1); over]),
        },
    );
    assert!(outs.contains(&Output::Close { link: l6 }), "{outs:?}");

    let made_up: Vec<_> = (0..crate::wire::MAX_IDS)
        .map(|n| (stranger(n), true))
        .collect();
    let outs = net.inject(
        p,
        Input::Frame {
            link: l7,
            msg: Msg::Graft(made_up),
        },
    );
    assert!(!outs.contains(&Output::Close { link: l7 }), "{outs:?}");
    assert_eq!(net.peer(p).neighbors().len(), 1);
    assert_eq!(net.peer(p).relay.tree_origins(), 0);
}

/// PROTOCOL §11.3: an announced message is asked of one neighbour at a time; a forged
/// answer gets the next announcer asked.
#[test]
fn an_announced_message_is_asked_of_one_neighbour_at_a_time() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let g = gossip_of(9, net.now, 1);
    let id = g.id();
    let want = |link| Output::Send {
        link,
        msg: Msg::Want(id),
    };
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l5,
                msg: Msg::Have(id)
            }
        ),
        [want(l5)]
    );
    assert_eq!(
        net.inject(
            p,
            Input::Frame {
                link: l6,
                msg: Msg::Have(id)
            }
        ),
        []
    );
    let forged = Gossip {
        sig: peer_key(8).sign(b"not peer 9's"),
        ..g.clone()
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(forged)),
        },
    );
    // 6 is asked at once, and 5, which forged the answer, is no longer a neighbour.
    assert!(
        matches!(&outs[..], [w, Output::Event(Event::ProtocolError { .. }),
            Output::Event(Event::NeighborRemoved { .. }), Output::Close { link }]
            if *w == want(l6) && *link == l5),
        "{outs:?}"
    );
    assert_eq!(sends(&outs), vec![]);
    // 6 answers: received, and announced to the one link it has not crossed (7).
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(Box::new(g)),
        },
    );
    assert_eq!(haves(&outs), vec![l7]);
    assert_eq!(net.peer(p).counters().received, 1);
}

/// PROTOCOL §11.3: a neighbour that was asked and does not answer is given up on after
/// `want_patience`, and the next announcer is asked.
#[test]
fn a_request_that_is_not_answered_goes_to_the_next_announcer() {
    let (mut net, p, [l5, l6, _]) = peer_with_three_neighbours();
    let id = gossip_of(9, net.now, 1).id();
    net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Have(id),
        },
    );
    net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Have(id),
        },
    );
    net.now = net.now + peer::Settings::default().want_patience;
    let outs = net.inject(p, Input::Timeout);
    assert!(
        outs.contains(&Output::Send {
            link: l6,
            msg: Msg::Want(id)
        }),
        "{outs:?}"
    );
}

/// SPEC §8, PROTOCOL §11.4: a forged message (another peer's origin, a bad signature) is
/// dropped, counted and not passed on; its sender, which no honest relay would be, is no
/// longer a neighbour (logged once, as its link closes); and the forgery does not stop the
/// genuine message with the same identity from going through.
#[test]
fn a_gossip_message_with_a_bad_signature_is_not_forwarded() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let real = gossip_of(9, net.now, 1);
    let forged = Gossip {
        sig: peer_key(8).sign(b"not peer 9's"),
        ..real.clone()
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(forged.clone())),
        },
    );
    assert_eq!((sends(&outs), haves(&outs)), (vec![], vec![]));
    assert!(
        matches!(&outs[..], [Output::Event(Event::ProtocolError { reason, .. }),
            Output::Event(Event::NeighborRemoved { peer, .. }), Output::Close { link }]
            if reason.contains("signature") && *peer == peer_key(5).id() && *link == l5),
        "{outs:?}"
    );
    assert_eq!(net.inject(p, Input::LinkDown { link: l5 }), []);
    assert_eq!(net.peer(p).counters().dropped, 1);
    assert!(net.peer(p).message_list().get(&real.id()).is_none());
    // The genuine message still goes through, announced to every link but its own.
    let outs = net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Gossip(Box::new(real)),
        },
    );
    assert_eq!(haves(&outs), vec![l7]);
    assert_eq!(net.peer(p).counters().received, 1);
    assert_eq!(net.peer(p).neighbors().len(), 2);
}

/// PROTOCOL §11.4: a peer that sent forged gossip is refused when it asks to be a neighbour
/// again, and is not drawn from the peer lists; other peers still are.
#[test]
fn a_neighbour_that_forged_gossip_is_refused_as_a_neighbour_again() {
    let (mut net, p, [l5, ..]) = peer_with_three_neighbours();
    let forged = Gossip {
        sig: peer_key(8).sign(b"not peer 9's"),
        ..gossip_of(9, net.now, 1)
    };
    let gossip = Msg::Gossip(Box::new(forged));
    net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: gossip,
        },
    );
    net.inject(p, Input::LinkDown { link: l5 });
    // It dials again, and asks to link.
    let again = neighbour_link(15);
    let up = Input::LinkUp {
        link: again,
        remote: Box::new(remote(peer_key(5).id(), Role::Peer, peer_addr(5))),
        dial: None,
    };
    net.inject(p, up);
    let msg = Msg::Link(Box::new(cert(add(5, peer_addr(5)), &[0, 1])));
    let outs = net.inject(p, Input::Frame { link: again, msg });
    assert!(
        matches!(&outs[..], [Output::Send { link, msg: Msg::LinkRefused { reason } },
            Output::Close { link: closed }]
            if *link == again && *closed == again && reason.contains("forged")),
        "{outs:?}"
    );
    assert_eq!(net.peer(p).neighbors().len(), 2);
    // Another peer is still taken.
    link_from(&mut net, p, 8, neighbour_link(8));
    assert_eq!(net.peer(p).neighbors().len(), 3);
}

/// SPEC §8 Replays: a message older than the Message List's window is refused, so an entry
/// that expired cannot be replayed.
#[test]
fn a_message_older_than_the_window_is_refused() {
    let (mut net, p, [l5, ..]) = peer_with_three_neighbours();
    let window = peer::Settings::default().ml_window;
    let old = gossip_of(9, net.now - window - Duration::from_secs(1), 1);
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(old)),
        },
    );
    assert_eq!(sends(&outs), vec![]);
    assert_eq!(net.peer(p).counters().dropped, 1);
}

/// PROTOCOL §11.7, at a peer whose trees grow from an origin's second message: a neighbour
/// that asked for an origin (and holds no token: here it hands its token over) gets that
/// origin's next message pushed at once, while the announcement to a neighbour already told
/// of that origin waits for the next tick of `announce_hold`; one to a neighbour that
/// announced the message meanwhile is not sent at all. Every
/// message still crosses each link at most once.
#[test]
fn an_origins_tree_pushes_at_once_and_its_announcements_wait_for_the_tick() {
    let (mut net, p, [l5, l6, l7]) = peer_with_trees_from_second();
    let frame = |link, msg| Input::Frame { link, msg };
    // The origin's first message here grows no tree: announced to 6 and 7 at once, and
    // nobody is asked to push (many origins send only one).
    let g0 = gossip_of(9, net.now, 1);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g0.clone()))));
    let have0 = format!("Have {}", short(g0.id()));
    assert_eq!(frames_out(&outs), vec![(l6, have0.clone()), (l7, have0)]);
    // Its next comes from 5 too: announced at once again, and 5 is asked to push the next
    // ones. 6 asks this peer to push them, handing over its token.
    let g1 = gossip_of(9, net.now, 2);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g1.clone()))));
    let graft = format!("Graft {:.6}", hex::encode(g1.origin.0));
    assert_eq!(
        frames_out(&outs),
        vec![
            (l6, format!("Have {}", short(g1.id()))),
            (l7, format!("Have {}", short(g1.id()))),
            (l5, graft.clone()),
        ]
    );
    assert!(frames_out(&net.inject(p, frame(l6, Msg::Graft(vec![(g1.origin, true)])))).is_empty());
    // The next is pushed to 6; 7, told of one of the origin's messages only once before
    // (it may not have asked anyone to push them yet), hears of it at once.
    let g1b = gossip_of(9, net.now, 7);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g1b.clone()))));
    assert_eq!(
        frames_out(&outs),
        vec![
            (l6, format!("Gossip {}", short(g1b.id()))),
            (l7, format!("Have {}", short(g1b.id())))
        ]
    );

    // Its third comes from 5, as asked: pushed to 6 now; 7 hears of it later.
    let g2 = gossip_of(9, net.now, 3);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g2.clone()))));
    assert_eq!(
        frames_out(&outs),
        vec![(l6, format!("Gossip {}", short(g2.id())))]
    );
    assert_eq!(
        at_the_tick(&mut net, p),
        vec![(l7, format!("Have {}", short(g2.id())))]
    );

    // The fourth: 7 announces it before the tick, so nothing about it goes to 7.
    let g3 = gossip_of(9, net.now, 4);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g3.clone()))));
    assert_eq!(
        frames_out(&outs),
        vec![(l6, format!("Gossip {}", short(g3.id())))]
    );
    assert!(frames_out(&net.inject(p, frame(l7, Msg::Have(g3.id())))).is_empty());
    assert!(at_the_tick(&mut net, p).is_empty());

    // 6 prunes: the fifth is announced to it instead (it was told of the origin before).
    net.inject(p, frame(l6, Msg::Prune(vec![g1.origin])));
    let g4 = gossip_of(9, net.now, 5);
    assert!(frames_out(&net.inject(p, frame(l5, Msg::Gossip(Box::new(g4.clone()))))).is_empty());
    let have4 = format!("Have {}", short(g4.id()));
    assert_eq!(
        at_the_tick(&mut net, p),
        vec![(l6, have4.clone()), (l7, have4)]
    );
    for g in [&g2, &g3] {
        let e = net.peer(p).message_list().get(&g.id()).unwrap();
        assert_eq!(e.sent(), vec![l6], "pushed once, to 6 only");
    }
    // 7 goes away while the sixth's announcements are held: only 6 hears of it, and the
    // counter counts only what went out.
    let announced = net.peer(p).counters().announced;
    let g6 = gossip_of(9, net.now, 6);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g6.clone()))));
    assert!(to_neighbours(&outs).is_empty());
    net.inject(p, Input::LinkDown { link: l7 });
    assert_eq!(
        at_the_tick(&mut net, p),
        vec![(l6, format!("Have {}", short(g6.id())))]
    );
    assert_eq!(net.peer(p).counters().announced, announced + 1);
    let c = net.peer(p).counters();
    assert_eq!((c.received, c.forwarded, c.duplicates), (7, 3, 0));
}

/// PROTOCOL §11.7: a peer that sends more than one message grows an origin's tree from its
/// first message here (it asks the neighbour that delivered it to push the next ones), and a
/// neighbour told of one of the origin's messages has grown its tree too: the next
/// announcement to it waits for the tick. A neighbour never told of the origin (it joined
/// late) hears at once.
#[test]
fn where_origins_send_many_messages_trees_grow_from_the_first() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    assert!(net.peer_settings.trees_from_first);
    let frame = |link, msg| Input::Frame { link, msg };
    // The first message from 5: announced to 6 and 7 at once, and 5 is asked to push.
    let g1 = gossip_of(9, net.now, 1);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g1.clone()))));
    let graft = format!("Graft {:.6}", hex::encode(g1.origin.0));
    let have1 = format!("Have {}", short(g1.id()));
    assert_eq!(
        frames_out(&outs),
        vec![(l6, have1.clone()), (l7, have1), (l5, graft)]
    );
    // 6 asks for the origin, handing its token over; the second message, from 5 as asked,
    // is pushed to 6 at once, and 7, told of the first, hears of it at the tick.
    assert!(frames_out(&net.inject(p, frame(l6, Msg::Graft(vec![(g1.origin, true)])))).is_empty());
    let g2 = gossip_of(9, net.now, 2);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g2.clone()))));
    assert_eq!(
        frames_out(&outs),
        vec![(l6, format!("Gossip {}", short(g2.id())))]
    );
    assert_eq!(
        at_the_tick(&mut net, p),
        vec![(l7, format!("Have {}", short(g2.id())))]
    );
    // A fourth neighbour, 8, comes: it was told of none of the origin's messages, so the
    // third is announced to it at once; 7's announcement waits again.
    let l8 = neighbour_link(8);
    link_from(&mut net, p, 8, l8);
    let g3 = gossip_of(9, net.now, 3);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g3.clone()))));
    assert_eq!(
        frames_out(&outs),
        vec![
            (l6, format!("Gossip {}", short(g3.id()))),
            (l8, format!("Have {}", short(g3.id())))
        ]
    );
    assert_eq!(
        at_the_tick(&mut net, p),
        vec![(l7, format!("Have {}", short(g3.id())))]
    );
    for g in [&g2, &g3] {
        let e = net.peer(p).message_list().get(&g.id()).unwrap();
        assert_eq!(e.sent(), vec![l6], "pushed once, to 6 only");
    }
}

/// A peer with three neighbours (5, 6 and 7) where neighbour 5's tree has grown: 5's
/// message came here from 5 (announced to 6 and 7), and 6 asked for 5's messages, handing
/// its token over. Returns 5's id too.
fn peer_in_fives_tree() -> (Net, std::net::SocketAddr, [LinkId; 3], PeerId) {
    peer_in_fives_tree_after(Duration::ZERO)
}

/// [`peer_in_fives_tree`], 5's message coming `after` the neighbours connected.
fn peer_in_fives_tree_after(after: Duration) -> (Net, std::net::SocketAddr, [LinkId; 3], PeerId) {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    net.now = net.now + after;
    let g5 = gossip_of(5, net.now, 1);
    net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g5.clone())),
        },
    );
    net.inject(
        p,
        Input::Frame {
            link: l6,
            msg: Msg::Graft(vec![(g5.origin, true)]),
        },
    );
    (net, p, [l5, l6, l7], g5.origin)
}

/// PROTOCOL §11.7, point 8: an origin's first message, whose own tree has not grown, goes
/// along the tree of a neighbour whose messages came here: to that neighbour, naming it in
/// `via`, and to the neighbours that asked here for its messages; the rest hear of it at
/// the tick, as of a pushed message. Without it, the message goes to every neighbour.
#[test]
fn an_origins_first_message_goes_along_a_neighbours_tree() {
    let (mut net, p, [l5, l6, l7], five) = peer_in_fives_tree();
    // The peer generates its first message once its delay has passed.
    net.now = net.now + net.peer_settings.gossip_delay;
    let outs = net.inject(p, Input::Timeout);
    let sent = sends(&outs);
    let to: Vec<LinkId> = sent.iter().map(|(l, _)| *l).collect();
    assert_eq!(to, [l5, l6], "to 5 and to 5's child here, not to 7");
    assert!(sent
        .iter()
        .all(|(_, g)| g.via == Some(Box::new(five)) && g.origin == peer_key(0).id()));
    let m = sent[0].1.id();
    assert_eq!(
        at_the_tick(&mut net, p),
        vec![(l7, format!("Have {}", short(m)))]
    );
    // Its second goes straight to every neighbour, as any other, with no route.
    net.now = net.now + net.peer_settings.gossip_interval;
    let sent = sends(&net.inject(p, Input::Timeout));
    let to: Vec<LinkId> = sent.iter().map(|(l, _)| *l).collect();
    assert_eq!(to, [l5, l6, l7]);
    assert!(sent.iter().all(|(_, g)| g.via.is_none()));
}

/// PROTOCOL §11.7, point 8: a neighbour's tree carries an origin's first message only once
/// a hold has passed since its message came here: a younger tree may still be growing (its
/// grafts on the way), and a neighbour it has not reached yet would hear of the message only
/// at a tick. Before that, the first message goes to every neighbour, with no route.
#[test]
fn a_tree_younger_than_a_hold_carries_no_first_message() {
    let hold = Settings::default().announce_hold;
    let delay = peer_settings().gossip_delay;
    let first_message = |after: Duration| {
        let (mut net, p, _, _) = peer_in_fives_tree_after(after);
        net.now = net.now + delay - after;
        let sent = sends(&net.inject(p, Input::Timeout));
        let to: Vec<u64> = sent.iter().map(|(l, _)| l.0).collect();
        let via: Vec<Option<PeerId>> = sent
            .iter()
            .map(|(_, g)| g.via.as_deref().copied())
            .collect();
        (to, via)
    };
    let five = peer_key(5).id();
    let (to, via) = first_message(delay - hold + Duration::from_millis(1));
    let [l5, l6, l7] = [5, 6, 7].map(|n| neighbour_link(n).0);
    assert_eq!(to, [l5, l6, l7], "5's message came 499 ms before");
    assert_eq!(via, [None; 3]);
    let (to, via) = first_message(delay - hold);
    assert_eq!(
        to,
        [l5, l6],
        "5's message came a hold before: along 5's tree"
    );
    assert_eq!(via, [Some(five); 2]);
}

/// PROTOCOL §11.7, point 8: a message routed along 5's tree (here, from 5) is pushed at once
/// to the neighbours that asked for 5's messages, keeping its route, and announced at the
/// tick to the others, who have 5's tree; its origin's own tree grows from it as from any
/// first message (the neighbour that delivered it is asked to push the origin). Without the
/// route, it would be announced to 6 and 7 at once.
#[test]
fn a_message_routed_along_a_tree_is_pushed_to_that_trees_children() {
    let (mut net, p, [l5, l6, l7], five) = peer_in_fives_tree();
    let g = Gossip {
        via: Some(Box::new(five)),
        ..gossip_of(9, net.now, 1)
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    let graft = format!("Graft {:.6}", hex::encode(g.origin.0));
    assert_eq!(
        frames_out(&outs),
        vec![(l6, format!("Gossip {}", short(g.id()))), (l5, graft)]
    );
    assert_eq!(
        sends(&outs)[0].1.via,
        Some(Box::new(five)),
        "the route goes on with it"
    );
    assert_eq!(
        at_the_tick(&mut net, p),
        vec![(l7, format!("Have {}", short(g.id())))]
    );
}

/// PROTOCOL §11.7, point 8: the neighbour a first message is routed through pushes it on to
/// every other neighbour at once, as one of its own messages.
#[test]
fn the_neighbour_a_first_message_is_routed_through_pushes_it_to_every_other() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let g = Gossip {
        via: Some(Box::new(peer_key(0).id())),
        ..gossip_of(5, net.now, 1)
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    let pushed = format!("Gossip {}", short(g.id()));
    assert_eq!(frames_out(&outs), vec![(l6, pushed.clone()), (l7, pushed)]);
    assert!(at_the_tick(&mut net, p).is_empty());
}

/// PROTOCOL §11.7, point 8, hostile: `via` is not signed, so any neighbour may name any
/// peer in it. A route naming a stranger (no tree here) changes nothing: each message goes
/// and is announced exactly as without a route, and no tree state is made for the names.
/// A route naming the receiver itself makes it push the message to every other neighbour,
/// still each link at most once, and a second copy with another route goes nowhere.
#[test]
fn a_route_naming_a_stranger_or_the_receiver_costs_no_more_than_one_copy_a_link() {
    let stranger = |n: usize| crate::id::PeerId([n as u8; 32]);
    let (mut plain, p, [l5, ..]) = peer_with_three_neighbours();
    let (mut routed, q, [m5, ..]) = peer_with_three_neighbours();
    for (n, origin) in (9..13).enumerate() {
        let g = gossip_of(origin, plain.now, 1);
        let named = Gossip {
            via: Some(Box::new(stranger(200 + n))),
            ..g.clone()
        };
        let frame = |link, g: Gossip| Input::Frame {
            link,
            msg: Msg::Gossip(Box::new(g)),
        };
        let without = frames_out(&plain.inject(p, frame(l5, g)));
        let with = frames_out(&routed.inject(q, frame(m5, named)));
        assert_eq!(with, without, "a stranger's route changes nothing");
        assert_eq!(at_the_tick(&mut routed, q), at_the_tick(&mut plain, p));
    }
    assert_eq!(
        routed.peer(q).relay.tree_origins(),
        plain.peer(p).relay.tree_origins(),
        "no state for the names"
    );

    // Routed through the receiver: pushed once to each other neighbour, and never again.
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let me = net.peer(p).relay.me;
    let g = gossip_of(9, net.now, 1);
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(Gossip {
                via: Some(Box::new(me)),
                ..g.clone()
            })),
        },
    );
    let pushed = format!("Gossip {}", short(g.id()));
    let sent: Vec<_> = frames_out(&outs)
        .into_iter()
        .filter(|(_, f)| f.starts_with("Gossip"))
        .collect();
    assert_eq!(sent, vec![(l6, pushed.clone()), (l7, pushed)]);
    for (link, via) in [(l6, Some(me)), (l7, Some(stranger(1))), (l5, None)] {
        let again = Gossip {
            via: via.map(Box::new),
            ..g.clone()
        };
        let outs = net.inject(
            p,
            Input::Frame {
                link,
                msg: Msg::Gossip(Box::new(again)),
            },
        );
        assert!(sends(&outs).is_empty(), "{outs:?}");
    }
    assert!(at_the_tick(&mut net, p)
        .iter()
        .all(|(_, f)| !f.starts_with("Gossip") && !f.starts_with("Have")));
}

/// The announcements the peer at `p` sends over the next `ticks` ticks of `announce_hold`,
/// from a tick: (ticks from now, link, frame). The neighbours show themselves alive at each
/// tick (a `Ping`), so that liveness leaves the links alone.
fn announced_over(
    net: &mut Net,
    p: std::net::SocketAddr,
    ticks: u64,
) -> Vec<(u64, LinkId, String)> {
    let hold = Settings::default().announce_hold;
    let start = net.now;
    assert_eq!(super::on_tick(start, hold), start, "from a tick");
    let mut out = Vec::new();
    for k in 1..=ticks {
        net.now = start + hold * k as u32;
        let mut outs = net.inject(p, Input::Timeout);
        for l in (5..8).map(neighbour_link) {
            outs.extend(net.inject(
                p,
                Input::Frame {
                    link: l,
                    msg: Msg::Ping(k),
                },
            ));
        }
        let haves = to_neighbours(&outs).into_iter();
        out.extend(
            haves
                .filter(|(_, f)| f.starts_with("Have"))
                .map(|(l, f)| (k, l, f)),
        );
    }
    out
}

/// [`peer_with_trees_from_second`], generating nothing: only what it relays goes to its
/// neighbours.
fn relaying_peer() -> (Net, std::net::SocketAddr, [LinkId; 3]) {
    peer_with_three_neighbours_with(Settings {
        trees_from_first: false,
        gossip_count: 0,
        ..peer_settings()
    })
}

/// Issue 13, PROTOCOL §11.7 point 5: announcements held for a link up for 20 holds of
/// `announce_hold` wait twice as long, at ticks twice as far apart, and four times after 40,
/// so that the announcements of messages a few ticks apart go in one frame. Here every link
/// is one the neighbour dialled: held twice. The peer generates nothing: its own messages
/// would carry the announcements held for their links once ready (see
/// `held_announcements_ride_with_gossip_to_their_link_once_ready`).
#[test]
fn announcements_on_an_old_link_wait_longer_and_go_together() {
    let (mut net, p, [l5, l6, l7]) = relaying_peer();
    let hold = Settings::default().announce_hold;
    let frame = |link, msg| Input::Frame { link, msg };
    let from_5 = |net: &mut Net, seq| {
        let g = gossip_of(9, net.now, seq);
        net.inject(p, frame(l5, Msg::Gossip(Box::new(g.clone()))));
        g
    };
    // The origin's first three messages from 5: announced at once (6 and 7 may not have
    // their trees for it yet), and 5 asked to push it.
    let links_up = net.now;
    net.now = super::on_tick(net.now, hold * 4);
    let start = net.now;
    assert!(start.since(links_up) < hold * 4, "the links are new");
    for seq in 1..=3 {
        let g = gossip_of(9, net.now, seq);
        let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g.clone()))));
        let have = format!("Have {}", short(g.id()));
        assert!(frames_out(&outs).starts_with(&[(l6, have.clone()), (l7, have)]));
    }
    let held = |g: &Gossip, after| {
        let have = format!("Have {}", short(g.id()));
        vec![(after, l6, have.clone()), (after, l7, have)]
    };
    // Its fourth came along the tree: 6 and 7 hear of it two ticks later.
    let g = from_5(&mut net, 4);
    assert_eq!(announced_over(&mut net, p, 10), held(&g, 2));
    // On links up for 20 holds (and fewer than 40): four ticks, at a tick of two holds.
    net.now = start + hold * 32;
    let g = from_5(&mut net, 5);
    assert_eq!(announced_over(&mut net, p, 10), held(&g, 4));
    // For 40 or more: eight, at a tick of four holds, and never more.
    net.now = start + hold * 64;
    let g = from_5(&mut net, 6);
    assert_eq!(announced_over(&mut net, p, 10), held(&g, 8));
    net.now = start + hold * 400;
    let g = from_5(&mut net, 7);
    assert_eq!(announced_over(&mut net, p, 10), held(&g, 8));
    // Two messages a tick and three ticks later go out together, at the tick of four holds
    // that the first is due after.
    let now = start + hold * 420;
    net.now = now + hold;
    let (g8, g9) = (from_5(&mut net, 8), {
        net.now = now + hold * 3;
        from_5(&mut net, 9)
    });
    net.now = now;
    let both = format!("Haves {},{}", short(g8.id()), short(g9.id()));
    let outs = announced_over(&mut net, p, 14);
    assert_eq!(outs, vec![(12, l6, both.clone()), (12, l7, both)]);
}

/// Issue 13, PROTOCOL §11.7 point 5: an announcement held for a link goes out before its
/// tick with gossip that goes to the link anyway, once it has waited the hold a young link's
/// announcement waits (so that the message's tree has delivered it first), and then not
/// again at the tick; before that it waits.
#[test]
fn held_announcements_ride_with_gossip_to_their_link_once_ready() {
    let (mut net, p, [l5, l6, l7]) = relaying_peer();
    let hold = Settings::default().announce_hold;
    let frame = |link, msg| Input::Frame { link, msg };
    // The origin's messages are pushed to 6 (which grafted) and told to 7, which has not
    // asked for the first two yet; once told of two, 7 hears of the next after a hold.
    let (g1, g2) = (gossip_of(9, net.now, 1), gossip_of(9, net.now, 2));
    for g in [&g1, &g2] {
        net.inject(p, frame(l5, Msg::Gossip(Box::new(g.clone()))));
    }
    net.inject(p, frame(l6, Msg::Graft(vec![(g1.origin, true)])));
    let outs = net.inject(
        p,
        frame(l5, Msg::Gossip(Box::new(gossip_of(9, net.now, 7)))),
    );
    assert_eq!(
        outs.len(),
        3,
        "pushed to 6, told to 7 at once, logged: {outs:?}"
    );
    // Between two ticks: the third's announcement to 7 is ready 2 holds from now (6 and 7
    // dialled this peer), and due at the tick after that.
    let tick = super::on_tick(net.now, hold);
    let t0 = tick + hold / 5;
    net.now = t0;
    let g3 = gossip_of(9, net.now, 3);
    let outs = net.inject(p, frame(l5, Msg::Gossip(Box::new(g3.clone()))));
    assert_eq!(
        frames_out(&outs),
        vec![(l6, format!("Gossip {}", short(g3.id())))]
    );
    // 7 asks for the first a millisecond before the announcement is ready: served alone.
    net.now = t0 + hold * 2 - Duration::from_millis(1);
    let outs = net.inject(p, frame(l7, Msg::Want(g1.id())));
    assert_eq!(
        frames_out(&outs),
        vec![(l7, format!("Gossip {}", short(g1.id())))]
    );
    // It asks for the second once it is ready, before its tick: the announcement goes with
    // the message, in the same turn.
    net.now = t0 + hold * 2;
    assert!(net.now < super::on_tick(net.now, hold), "before the tick");
    let outs = net.inject(p, frame(l7, Msg::Want(g2.id())));
    assert_eq!(
        frames_out(&outs),
        vec![
            (l7, format!("Gossip {}", short(g2.id()))),
            (l7, format!("Have {}", short(g3.id())))
        ]
    );
    // Nothing is left for the tick.
    assert!(at_the_tick(&mut net, p).is_empty());
    assert_eq!(net.peer(p).counters().announced, 6);
}

/// Issue 13, PROTOCOL §11.8: the counters' report rides on the first turn of other work a
/// second after the change, before the tick it would wake the peer for.
#[test]
fn the_counters_report_rides_on_the_first_turn_a_second_after_the_change() {
    let (mut net, p, [l5, _, l7]) = peer_with_three_neighbours_with(Settings {
        gossip_count: 0,
        ..peer_settings()
    });
    let hold = Settings::default().announce_hold;
    let reported = |outs: &[Output]| {
        outs.iter()
            .any(|o| matches!(o, Output::Event(e) if e.name() == "gossip_stats"))
    };
    let tick = super::on_tick(net.now, hold);
    net.now = tick + hold / 5;
    let changed = net.now;
    let g = gossip_of(9, net.now, 1);
    let outs = net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    assert!(!reported(&outs));
    let due = super::on_tick(changed + Duration::from_secs(1), hold);
    assert!(net.peer(p).poll_timeout().is_some_and(|t| t <= due));
    // A frame just before the second is up: not yet.
    net.now = changed + Duration::from_millis(999);
    assert!(!reported(&net.inject(
        p,
        Input::Frame {
            link: l7,
            msg: Msg::Have(g.id())
        }
    )));
    // The first frame after it, before the tick: the report goes with its turn.
    net.now = changed + Duration::from_secs(1);
    assert!(net.now < due);
    assert!(reported(&net.inject(
        p,
        Input::Frame {
            link: l7,
            msg: Msg::Have(g.id())
        }
    )));
    // And not again at the tick.
    net.now = due;
    assert!(!reported(&net.inject(p, Input::Timeout)));
}
