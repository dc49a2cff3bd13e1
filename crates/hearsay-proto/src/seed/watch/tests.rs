//! Tests of a seed's part in removing every dead peer (PROTOCOL §12.6): probes for peers
//! whose witnesses cannot answer, and orphans watched.

use crate::testkit::*;

/// The seed at `s`'s index in the config.
fn index(s: SocketAddr) -> usize {
    (0..3).find(|&i| seed_addr(i) == s).expect("a seed")
}

/// An admitted peer asks a seed to probe another member: the seed dials it at its Peer List
/// address and sends back its own signed verdict, dead when the dial fails.
#[test]
fn a_seed_probes_a_member_for_an_admitted_peer_and_signs_the_verdict() {
    let mut net = seeds_and_peers(2);
    let (s, link) = net.seed_end(peer_addr(0));
    let ask = ProbeRequest {
        suspect: peer_key(1).id(),
        addr: peer_addr(1),
        incarnation: 1,
    };
    let msg = Msg::ProbeRequest(Box::new(ask));
    let outs = net.handle(s, Input::Frame { link, msg });
    let [Output::Dial { token, addr, pool }] = outs[..] else {
        panic!("{outs:?}")
    };
    assert_eq!((addr, pool), (peer_addr(1), DialPool::Probe));
    let error = DialError::Refused;
    let outs = net.handle(s, Input::DialFailed { token, error });
    let probed = (ask.suspect, ask.addr, 1);
    let v = Verdict::new(&seed_key(index(s)), probed, false, net.now);
    assert_eq!(
        outs,
        [Output::Send {
            link,
            msg: Msg::Verdict(Box::new(v))
        }]
    );
}

/// A seed probes only a member at its Peer List address and incarnation, and only for a
/// member: a stranger cannot make it dial an address of the stranger's choosing.
#[test]
fn a_seed_ignores_probe_requests_from_strangers_and_about_other_addresses() {
    let mut net = seeds_and_peers(2);
    let (s, link) = net.seed_end(peer_addr(0));
    let member = ProbeRequest {
        suspect: peer_key(1).id(),
        addr: peer_addr(1),
        incarnation: 1,
    };
    let elsewhere = ProbeRequest {
        addr: addr("192.0.2.1:80"),
        ..member
    };
    let older = ProbeRequest {
        incarnation: 0,
        ..member
    };
    for ask in [elsewhere, older] {
        let msg = Msg::ProbeRequest(Box::new(ask));
        assert_eq!(net.handle(s, Input::Frame { link, msg }), [], "{ask:?}");
    }
    let stranger = LinkId(3_000_000);
    inbound_from(&mut net, s, 8, stranger);
    let msg = Msg::ProbeRequest(Box::new(member));
    assert_eq!(
        net.handle(
            s,
            Input::Frame {
                link: stranger,
                msg
            }
        ),
        []
    );
}

/// A member that registered and was never heard of again (it has no neighbour, so nobody
/// pings it) is an orphan: after `orphan_after` a seed asks a peer of the overlay to watch
/// it, that peer suspects it after `suspect_after` rounds (13 s each here), the seeds probe
/// it, and every seed removes it.
#[test]
fn a_member_nobody_links_to_is_watched_and_removed_when_it_is_dead() {
    let mut net = seeds_and_peers(3);
    let ghost = add(9, peer_addr(9));
    net.commit_at(&[0, 1, 2], &cert(ghost, &[0, 1]));
    let mark = net.frames.len();
    net.run_for(Duration::from_secs(90));

    let watched: Vec<(SocketAddr, SocketAddr)> = (net.frames[mark..].iter())
        .filter_map(|(from, to, m)| match m {
            Msg::Watch(w) if w.suspect == ghost.peer => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert!(!watched.is_empty());
    for (from, to) in watched {
        assert!((0..3).any(|i| seed_addr(i) == from), "{from}");
        assert!((0..3).any(|i| peer_addr(i) == to), "{to}");
    }
    for i in 0..3 {
        assert_eq!(net.removals(seed_addr(i)), [ghost.peer], "seed {i}");
    }
}
