//! Tests of a peer's neighbours (SPEC §6 Neighbours, PROTOCOL §7): links by preferential
//! attachment, checked link requests, neighbour reports.

use crate::testkit::*;

/// SPEC §6 Neighbours (choose `links` by preferential attachment, stay connected); SPEC §5
/// Topology (seeds keep each peer's reported neighbours) and §1 `hearsay status`.
#[test]
fn peers_choose_links_neighbours_and_the_seeds_know_the_topology() {
    let mut net = Net::seeds(seed::Settings::default());
    let n = 6;
    for i in 0..n {
        net.add_peer(i);
        net.run_for(Duration::from_secs(3));
    }
    net.run_for(Duration::from_secs(30));

    let graph: BTreeMap<PeerId, BTreeSet<PeerId>> = (0..n)
        .map(|i| (peer_key(i).id(), net.peer(peer_addr(i)).neighbors()))
        .collect();
    let nbrs = |id: &PeerId| graph[id].clone();
    for i in 0..n {
        let id = peer_key(i).id();
        let mine = nbrs(&id);
        assert!(
            mine.len() >= i.min(3),
            "peer {i} has {} neighbours",
            mine.len()
        );
        for other in &mine {
            assert!(nbrs(other).contains(&id), "links go both ways");
        }
    }
    let mut seen = BTreeSet::from([peer_key(0).id()]);
    let mut todo = vec![peer_key(0).id()];
    while let Some(id) = todo.pop() {
        todo.extend(nbrs(&id).into_iter().filter(|n| seen.insert(*n)));
    }
    assert_eq!(seen.len(), n, "the overlay is connected");

    for i in 0..3 {
        let s = seed_addr(i);
        let link = LinkId(2_000_000 + i as u64);
        let client = remote(
            Keypair::from_secret([88; 32]).id(),
            Role::Client,
            addr("127.0.0.1:9000"),
        );
        assert_eq!(
            net.inject(
                s,
                Input::LinkUp {
                    link,
                    remote: Box::new(client),
                    dial: None
                }
            ),
            []
        );
        let outs = net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::StatusRequest { offset: 0 },
            },
        );
        let [Output::Send { link: l, msg }] = outs.as_slice() else {
            panic!("one status reply, not {outs:?}");
        };
        assert_eq!(*l, link);
        let Ok(Msg::Status(status)) = wire::decode::<Msg>(&wire::encode(msg)) else {
            panic!("a status reply, not {msg:?}");
        };
        let status: Status = *status;
        assert_eq!((status.seed, status.quorum, status.total), (s, 2, n as u32));
        let listed: BTreeMap<PeerId, Vec<PeerId>> = status
            .peers
            .into_iter()
            .map(|p| (p.id, p.neighbors))
            .collect();
        let expected: BTreeMap<PeerId, Vec<PeerId>> = graph
            .iter()
            .map(|(id, n)| (*id, n.iter().copied().collect()))
            .collect();
        assert_eq!(listed, expected, "seed {i}'s topology");
    }
}

/// SPEC §6 Neighbours and §8: a link needs an admission certificate of q distinct seeds.
#[test]
fn a_peer_refuses_a_link_request_whose_certificate_does_not_verify() {
    let (mut net, p) = registered_peer();
    assert!(net.peer(p).certificate().is_some());
    let change = add(5, peer_addr(5));
    let r = remote(change.peer, Role::Peer, peer_addr(5));
    let cases = [
        (
            cert(change, &[0]),
            CertError::TooFewSignatures { have: 1, need: 2 },
        ),
        (
            cert(change, &[1, 1]),
            CertError::DuplicateSigner(seed_key(1).id()),
        ),
    ];
    for (n, (bad, e)) in cases.into_iter().enumerate() {
        let link = LinkId(1_000_000 + n as u64);
        assert_eq!(
            net.inject(
                p,
                Input::LinkUp {
                    link,
                    remote: Box::new(r),
                    dial: None
                }
            ),
            []
        );
        let reason = format!("its admission certificate does not verify: {e}");
        assert_eq!(
            net.inject(
                p,
                Input::Frame {
                    link,
                    msg: Msg::Link(Box::new(bad))
                }
            ),
            [
                Output::Send {
                    link,
                    msg: Msg::LinkRefused { reason }
                },
                Output::Close { link }
            ]
        );
        assert!(net.peer(p).neighbors().is_empty());
    }

    // A certificate of two seeds is accepted.
    let link = LinkId(1_000_010);
    net.inject(
        p,
        Input::LinkUp {
            link,
            remote: Box::new(r),
            dial: None,
        },
    );
    let outs = net.inject(
        p,
        Input::Frame {
            link,
            msg: Msg::Link(Box::new(cert(change, &[0, 1]))),
        },
    );
    assert_eq!(
        outs[..2],
        [
            Output::Send {
                link,
                msg: Msg::LinkAccepted
            },
            Output::Event(Event::NeighborAdded {
                peer: change.peer,
                addr: change.addr,
                outbound: false,
                degree: 1
            })
        ]
    );
    assert_eq!(net.peer(p).neighbors(), BTreeSet::from([change.peer]));
}

/// PROTOCOL §7: a change right after a report waits out `report_every`, and goes out with
/// the changes made meanwhile, as one report.
#[test]
fn neighbour_changes_right_after_a_report_go_to_the_seeds_together() {
    let (mut net, p) = registered_peer();
    // The sizes of the neighbour reports the peer sent since output `from`.
    let reports = |net: &Net, from: usize| -> Vec<usize> {
        (net.outputs[from..].iter())
            .filter(|(at, _)| *at == p)
            .filter_map(|(_, o)| match o {
                Output::Send {
                    msg: Msg::Neighbors(r),
                    ..
                } => Some(r.neighbors.len()),
                _ => None,
            })
            .collect()
    };
    let start = net.outputs.len();
    let t0 = net.now;
    for i in 5..8 {
        link_from(&mut net, p, i, neighbour_link(i as u64));
    }
    // The first change at once, to each of its two seeds; the other two wait.
    assert_eq!(reports(&net, start), vec![1, 1]);
    net.run_for(Duration::from_millis(499));
    assert_eq!(reports(&net, start), vec![1, 1]);
    net.run_for(Duration::from_millis(1));
    assert_eq!(net.now, t0 + peer::Settings::default().report_every);
    assert_eq!(reports(&net, start), vec![1, 1, 3, 3]);
    // Quiet since: the next change goes out at once again.
    net.run_for(Duration::from_secs(1));
    let from = net.outputs.len();
    let link = neighbour_link(5);
    net.inject(p, Input::LinkDown { link });
    assert_eq!(reports(&net, from), vec![2, 2]);
}

/// The peer's side of `link_use` (PROTOCOL §3.1): a stranger's link is unprotected until its
/// link request makes it a neighbour; the seeds' links (its own, and a seed whose key it
/// knows dialling in to probe it) are protected; a link claiming to be a seed with a key
/// nobody configured is a stranger's; a link the peer does not know is a stranger's.
#[test]
fn a_strangers_link_is_unprotected_until_it_becomes_a_neighbour() {
    let (mut net, p) = registered_peer();
    let link = LinkId(1_000_020);
    assert_eq!(net.peer(p).link_use(link), LinkUse::Stranger);
    let change = add(5, peer_addr(5));
    let up = |link, remote| Input::LinkUp {
        link,
        remote: Box::new(remote),
        dial: None,
    };
    net.inject(p, up(link, remote(change.peer, Role::Peer, peer_addr(5))));
    assert_eq!(net.peer(p).link_use(link), LinkUse::Stranger);
    let msg = Msg::Link(Box::new(cert(change, &[0, 1])));
    net.inject(p, Input::Frame { link, msg });
    assert_eq!(net.peer(p).link_use(link), LinkUse::Protected);

    let own: Vec<LinkId> = (net.links.held(p))
        .filter(|l| net.links.end(*l).unwrap().told.role == Role::Seed)
        .collect();
    assert!(!own.is_empty(), "the peer keeps links to its seeds");
    for l in own {
        assert_eq!(net.peer(p).link_use(l), LinkUse::Protected);
    }
    let (probe, fake) = (LinkId(1_000_021), LinkId(1_000_022));
    let seed = remote(seed_key(2).id(), Role::Seed, seed_addr(2));
    net.inject(p, up(probe, seed));
    assert_eq!(net.peer(p).link_use(probe), LinkUse::Protected);
    let liar = remote(peer_key(9).id(), Role::Seed, seed_addr(2));
    net.inject(p, up(fake, liar));
    assert_eq!(net.peer(p).link_use(fake), LinkUse::Stranger);
}
