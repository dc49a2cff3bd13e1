//! Tests of the seed machine's routing: who may send what, the Peer List it serves, the
//! topology it keeps (SPEC §5, PROTOCOL §5–§7).

use crate::testkit::*;

/// SPEC §4: a frame out of place closes its link with a logged reason; SPEC §5: only seeds
/// propose and vote.
#[test]
fn a_vote_or_proposal_from_a_link_that_is_not_a_seed_is_a_protocol_error() {
    let mut net = Net::seeds(seed::Settings::default());
    let s = seed_addr(0);
    let change = add(5, peer_addr(5));
    let vote = Msg::Vote(Box::new(Vote::new(&seed_key(1), change, true, "")));
    let reg = Registration::new(&peer_key(5), peer_addr(5), 1);
    let propose = Msg::Propose(Box::new(Proposal {
        change,
        evidence: Evidence::Registration(reg),
        source: peer_addr(5).ip(),
    }));
    let impostor = Keypair::from_secret([77; 32]).id();
    let cases = [
        (
            Role::Peer,
            peer_key(6).id(),
            vote.clone(),
            "unexpected Vote from a peer",
        ),
        (
            Role::Client,
            peer_key(6).id(),
            vote.clone(),
            "unexpected Vote from a client",
        ),
        (
            Role::Seed,
            impostor,
            vote.clone(),
            "unexpected Vote from a seed",
        ),
        (
            Role::Peer,
            peer_key(6).id(),
            propose,
            "unexpected Propose from a peer",
        ),
    ];
    for (n, (role, id, msg, reason)) in cases.into_iter().enumerate() {
        let link = LinkId(1_000_000 + n as u64);
        let r = remote(id, role, addr("127.0.0.1:6009"));
        net.inject(
            s,
            Input::LinkUp {
                link,
                remote: Box::new(r),
                dial: None,
            },
        );
        assert_eq!(
            net.inject(s, Input::Frame { link, msg }),
            [
                Output::Event(Event::ProtocolError {
                    remote: r.source.to_string(),
                    reason: reason.to_string()
                }),
                Output::Close { link }
            ],
            "{reason}"
        );
        let again = Input::Frame {
            link,
            msg: Msg::StatusRequest { offset: 0 },
        };
        assert_eq!(net.inject(s, again), [], "the link is gone");
    }

    // The same vote from seed 1's own link is taken (no proposal is open, so it is dropped).
    let (link, _) = net.link(s, seed_addr(1));
    assert_eq!(net.inject(s, Input::Frame { link, msg: vote }), []);
}

/// A seed samples a large Peer List by position; what it sends of each sampled peer is what
/// the list holds now, through a re-admission at a new address and a removal.
#[test]
fn a_sampled_peer_list_carries_each_members_current_address_and_incarnation() {
    let mut net = Net::seeds(seed::Settings {
        peer_list_max: 3,
        ..seed::Settings::default()
    });
    let s = seed_addr(0);
    for i in 0..8 {
        net.commit_at(&[0], &cert(add(i, peer_addr(i)), &[0, 1]));
    }
    let moved = addr("10.9.9.9:7003");
    let back = Change {
        addr: moved,
        incarnation: 2,
        ..add(3, moved)
    };
    net.commit_at(&[0], &cert(back, &[0, 1]));
    net.commit_at(&[0], &cert(removal(5, peer_addr(5), 1), &[0, 1]));
    assert_eq!(net.seed(s).peer_list().len(), 7);

    let asker = peer_key(7).id();
    let link = LinkId(2_000_000);
    let r = Box::new(remote(asker, Role::Peer, peer_addr(7)));
    net.inject(
        s,
        Input::LinkUp {
            link,
            remote: r,
            dial: None,
        },
    );
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let outs = net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::GetPeers,
            },
        );
        let [Output::Send {
            msg: Msg::PeerList(list),
            ..
        }] = outs.as_slice()
        else {
            panic!("{outs:?}");
        };
        assert_eq!(list.len(), 3);
        for p in list {
            let i = (0..8).find(|&i| peer_key(i).id() == p.id).unwrap();
            assert!(i != 5 && i != 7, "peer {i}: removed, or the asker");
            let now = if i == 3 {
                (moved, 2)
            } else {
                (peer_addr(i), 1)
            };
            assert_eq!((p.addr, p.incarnation), now, "peer {i}");
            seen.insert(i);
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from([0, 1, 2, 3, 4, 6]),
        "samples reach every member"
    );
}

/// PROTOCOL §7, SPEC §8: a peer that reports neighbours it does not have (to draw links by
/// preferential attachment) is listed with only the neighbours that report it back.
#[test]
fn a_seeds_kept_degrees_equal_a_recount_through_reports_admissions_and_removals() {
    use rand::{Rng, SeedableRng};
    let mut net = Net::seeds(seed::Settings::default());
    let s = seed_addr(0);
    const N: usize = 12;
    let ids: Vec<PeerId> = (0..N).map(|i| peer_key(i).id()).collect();
    let links: Vec<LinkId> = (0..N).map(|i| LinkId(4_000_000 + i as u64)).collect();
    for i in 0..N {
        let remote = remote(ids[i], Role::Peer, peer_addr(i));
        let up = Input::LinkUp {
            link: links[i],
            remote: Box::new(remote),
            dial: None,
        };
        net.inject(s, up);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (mut seq, mut admitted, mut removed) = (0, BTreeSet::new(), BTreeSet::new());
    let mut most = 0;
    for step in 0..600 {
        let i = rng.random_range(0..N);
        match rng.random_range(0..10) {
            0..=1 if !admitted.contains(&i) && !removed.contains(&i) => {
                admitted.insert(i);
                net.commit_at(&[0], &cert(add(i, peer_addr(i)), &[0, 1, 2]));
            }
            2 if step > 300 && admitted.remove(&i) => {
                removed.insert(i);
                net.commit_at(&[0], &cert(removal(i, peer_addr(i), 1), &[0, 1, 2]));
            }
            _ => {
                // Any subset, itself and removed peers included.
                let named: Vec<PeerId> = (ids.iter())
                    .filter(|_| rng.random_bool(0.4))
                    .copied()
                    .collect();
                seq += 1;
                let report = crate::cert::NeighborReport::new(&peer_key(i), seq, named);
                let msg = Msg::Neighbors(Box::new(report));
                net.inject(
                    s,
                    Input::Frame {
                        link: links[i],
                        msg,
                    },
                );
            }
        }
        let seed = net.seed(s);
        for id in &ids {
            assert_eq!(seed.degree(id), seed.count_degree(id), "step {step}");
            most = most.max(seed.degree(id));
        }
    }
    // The run made links, and removals broke some.
    assert!(most >= 3, "{most}");
    assert!(removed.len() >= 3, "{removed:?}");
}

#[test]
fn a_peer_cannot_draw_links_by_claiming_neighbours() {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..4 {
        net.add_peer(i);
        net.run_for(Duration::from_secs(1));
    }
    let liar = peer_key(0);
    let real: Vec<PeerId> = net.peer(peer_addr(0)).neighbors().into_iter().collect();
    assert!(!real.is_empty());
    // Made-up ids (peer keys start at 100, seed keys at 1), and the real ones twice over.
    let fake: Vec<PeerId> = (200..250)
        .map(|i| Keypair::from_secret([i; 32]).id())
        .collect();
    let claimed: Vec<PeerId> = real.iter().chain(&real).copied().chain(fake).collect();
    let report = crate::cert::NeighborReport::new(&liar, u64::MAX / 2, claimed);
    let s = seed_addr(0);
    let (from_liar, asker) = (LinkId(3_000_000), LinkId(3_000_001));
    let up = |link, id| Input::LinkUp {
        link,
        remote: Box::new(remote(id, Role::Peer, peer_addr(9))),
        dial: None,
    };
    net.inject(s, up(from_liar, liar.id()));
    net.inject(
        s,
        Input::Frame {
            link: from_liar,
            msg: Msg::Neighbors(Box::new(report)),
        },
    );
    net.inject(s, up(asker, peer_key(9).id()));
    let outs = net.inject(
        s,
        Input::Frame {
            link: asker,
            msg: Msg::GetPeers,
        },
    );
    let list = outs
        .iter()
        .find_map(|o| match o {
            Output::Send {
                msg: Msg::PeerList(l),
                ..
            } => Some(l.clone()),
            _ => None,
        })
        .expect("a peer list");
    let listed = list
        .iter()
        .find(|p| p.id == liar.id())
        .expect("the liar is listed");
    assert_eq!(
        listed.degree as usize,
        real.len(),
        "{} claimed, {} real",
        2 * real.len() + 50,
        real.len()
    );
}

/// Issue 15: only admitted peers' neighbour reports go on to the other seeds. A key nobody
/// admitted has a small report held (its certificate may be on the way) but not forwarded,
/// and a large one not even held: strangers cannot fill the seeds with reports.
#[test]
fn only_admitted_peers_neighbour_reports_are_forwarded_and_strangers_large_ones_dropped() {
    let mut net = seeds_and_peers(1);
    let s = seed_addr(0);
    let held = net.seed(s).reports_held();
    let ids = |n: u8| -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = (0..n).map(|i| Keypair::from_secret([i; 32]).id()).collect();
        ids.sort();
        ids
    };
    let (stranger, key) = (LinkId(3_000_000), peer_key(8));
    inbound_from(&mut net, s, 8, stranger);
    let send = |net: &mut Net, (s, link), report| {
        let msg = Msg::Neighbors(Box::new(report));
        net.handle(s, Input::Frame { link, msg })
    };
    let large = crate::cert::NeighborReport::new(&key, 1, ids(65));
    assert_eq!(send(&mut net, (s, stranger), large), []);
    assert_eq!(net.seed(s).reports_held(), held, "a large one is not held");
    let small = crate::cert::NeighborReport::new(&key, 2, ids(3));
    assert_eq!(send(&mut net, (s, stranger), small), [], "nor forwarded");
    assert_eq!(net.seed(s).reports_held(), held + 1, "a small one is held");

    // An admitted peer's report goes to every other seed.
    let end = net.seed_end(peer_addr(0));
    let report = crate::cert::NeighborReport::new(&peer_key(0), u64::MAX / 2, ids(3));
    let outs = send(&mut net, end, report.clone());
    let forwarded = (outs.iter())
        .filter(|o| matches!(o, Output::Send { msg: Msg::Neighbors(r), .. } if **r == report))
        .count();
    assert_eq!(forwarded, 2, "{outs:?}");
}
