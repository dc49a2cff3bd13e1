//! Tests of the seeds' durability and anti-entropy (PROTOCOL §9–§10): persisted before sent,
//! rebuilt from the store, caught up from the other seeds.

use crate::testkit::*;

/// SPEC §5 Peer List: applied only with q distinct valid seed signatures; §8 a minority of
/// seeds cannot forge a change.
#[test]
fn a_forged_commit_from_a_seed_link_is_not_applied() {
    let mut net = Net::seeds(seed::Settings::default());
    let (at, from) = (seed_addr(1), seed_addr(0));
    let (link, r) = net.link(at, from);
    let change = add(5, peer_addr(5));
    let rejected = |e: CertError| {
        vec![Output::Event(Event::ProtocolError {
            remote: r.source.to_string(),
            reason: format!("certificate rejected: {e}"),
        })]
    };

    let one = Msg::Commit(Box::new(cert(change, &[0])));
    let e = CertError::TooFewSignatures { have: 1, need: 2 };
    assert_eq!(net.inject(at, Input::Frame { link, msg: one }), rejected(e));
    let twice = Msg::Commit(Box::new(cert(change, &[0, 0])));
    let e = CertError::DuplicateSigner(seed_key(0).id());
    assert_eq!(
        net.inject(at, Input::Frame { link, msg: twice }),
        rejected(e)
    );
    assert!(net.seed(at).peer_list().is_empty());

    // The same path applies a genuine certificate.
    let good = cert(change, &[0, 2]);
    let signers = vec![seed_key(0).id(), seed_key(2).id()];
    assert_eq!(
        net.inject(
            at,
            Input::Frame {
                link,
                msg: Msg::Commit(Box::new(good.clone()))
            }
        ),
        [
            Output::Persist(node::Record::Certificate(good)),
            Output::Event(Event::RegistrationCommitted {
                peer: change.peer,
                addr: change.addr,
                incarnation: 1,
                signers
            })
        ]
    );
    assert!(net.seed(at).peer_list().contains_key(&change.peer));
}

/// A seed persists a certificate before it acknowledges it: at the coordinator, the
/// `Persist` of the admission comes before the `Admitted` sent to the peer and the `Commit`
/// sent to the other seeds.
#[test]
fn a_seed_persists_a_certificate_before_it_sends_it_anywhere() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    let change = add(0, peer_addr(0));
    let mut checked = 0;
    for i in 0..3 {
        let outs: Vec<&Output> = (net.outputs.iter())
            .filter(|(at, _)| *at == seed_addr(i))
            .map(|(_, o)| o)
            .collect();
        let persisted = outs.iter().position(
            |o| matches!(o, Output::Persist(node::Record::Certificate(c)) if c.change == change),
        );
        let persisted = persisted.unwrap_or_else(|| panic!("seed {i} persisted the admission"));
        let acked = outs.iter().position(|o| {
            matches!(o, Output::Send { msg: Msg::Admitted(c) | Msg::Commit(c), .. } if c.change == change)
        });
        if let Some(acked) = acked {
            assert!(
                persisted < acked,
                "seed {i} sent the certificate before persisting it"
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "some seed coordinated the admission");
    // Each seed persisted the keys of the two others, learned by handshake.
    for i in 0..3 {
        let keys: BTreeSet<(SocketAddr, PeerId)> = (net.stores[&seed_addr(i)].iter())
            .filter_map(|r| match r {
                node::Record::SeedKey { addr, id } => Some((*addr, *id)),
                node::Record::Certificate(_) => None,
            })
            .collect();
        let others: BTreeSet<(SocketAddr, PeerId)> = (0..3)
            .filter(|&j| j != i)
            .map(|j| (seed_addr(j), seed_key(j).id()))
            .collect();
        assert_eq!(keys, others, "seed {i}");
    }
}

/// A restarted seed rebuilds its Peer List and tombstones from its store alone, quietly
/// (one `restored` event, no commits logged again), and verifies later certificates with the
/// seed keys it stored.
#[test]
fn a_restarted_seed_rebuilds_its_peer_list_from_its_store_before_it_serves() {
    let mut net = seeds_and_peers(3);
    // Remove peer 2 (down, so it does not come back) by a certificate of seeds 0 and 1.
    net.take_down(peer_addr(2), true);
    let gone = cert(removal(2, peer_addr(2), 1), &[0, 1]);
    net.commit_at(&[0, 1, 2], &gone);
    let before = held(&net, 0);
    assert_eq!((before.0.len(), before.1), (2, 1));

    // Cut it off from everything, so only its store can rebuild it.
    net.take_down(seed_addr(0), true);
    net.take_down(seed_addr(1), true);
    net.take_down(seed_addr(2), true);
    net.restart_seed(0, seed::Settings::default(), false);
    assert_eq!(held(&net, 0), before);
    let events = net.events(seed_addr(0));
    let restored: Vec<&Event> = events.iter().filter(|e| e.name() == "restored").collect();
    assert_eq!(
        restored,
        [&Event::Restored {
            certificates: 3 + 1,
            peers: 2,
            removed: 1
        }],
        "one event for the whole store: 3 admissions and 1 removal"
    );
    assert_eq!(
        net.count(seed_addr(0), "registration_committed", peer_key(0).id()),
        0
    );
    // The stored seed keys let it verify a certificate signed by the others at once, from
    // a seed it has not dialled yet.
    let l = LinkId(9_999);
    let remote = remote(seed_key(1).id(), Role::Seed, seed_addr(1));
    net.inject(
        seed_addr(0),
        Input::LinkUp {
            link: l,
            remote: Box::new(remote),
            dial: None,
        },
    );
    let late = cert(add(7, peer_addr(7)), &[1, 2]);
    net.inject(
        seed_addr(0),
        Input::Frame {
            link: l,
            msg: Msg::Commit(Box::new(late)),
        },
    );
    assert!(net
        .seed(seed_addr(0))
        .peer_list()
        .contains_key(&peer_key(7).id()));
}

/// A seed that was down while a peer was admitted and another removed learns both from the
/// others by anti-entropy soon after it is back, and reports when it last agreed with each.
#[test]
fn a_seed_that_was_down_during_decisions_catches_up_by_anti_entropy() {
    let mut net = seeds_and_peers(2);
    net.take_down(seed_addr(2), true);
    net.add_peer(2);
    net.run_for(Duration::from_secs(3));
    assert!(
        net.peer(peer_addr(2)).certificate().is_some(),
        "two seeds are a quorum"
    );
    net.take_down(peer_addr(0), true);
    let gone = cert(removal(0, peer_addr(0), 1), &[0, 1]);
    net.commit_at(&[0, 1], &gone);
    let want = held(&net, 0);
    assert_eq!(held(&net, 1), want);
    assert_ne!(held(&net, 2), want);

    let back = net.now;
    net.restart_seed(2, seed::Settings::default(), false);
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        held(&net, 2),
        want,
        "caught up within a second of its return"
    );
    assert!(net
        .events(seed_addr(2))
        .iter()
        .any(|e| e.name() == "catch_up"));
    // Nothing it learned was proposed again: it was learned by certificate.
    assert_eq!(
        net.count(seed_addr(2), "registration_proposed", peer_key(2).id()),
        0
    );
    net.run_for(Duration::from_secs(3));
    for i in 0..3 {
        assert_eq!(net.seed(seed_addr(i)).status(0).agreed.len(), 2, "seed {i}");
    }
    assert_all_agreed_since(&net, back);
}

/// A seed whose store is lost comes back empty and rebuilds the whole Peer List and every
/// tombstone from the others; its catch-up goes in batches, never one frame per certificate.
#[test]
fn a_seed_that_lost_its_store_rebuilds_everything_from_the_others() {
    let mut net = seeds_and_peers(4);
    net.take_down(peer_addr(3), true);
    let gone = cert(removal(3, peer_addr(3), 1), &[0, 1]);
    net.commit_at(&[0, 1, 2], &gone);
    let want = held(&net, 0);
    net.take_down(seed_addr(1), true);
    let mark = net.frames.len();
    net.restart_seed(1, seed::Settings::default(), true);
    net.run_for(Duration::from_secs(2));
    assert_eq!(held(&net, 1), want);
    let batches = net.frames[mark..]
        .iter()
        .filter(|(_, to, m)| *to == seed_addr(1) && matches!(m, Msg::Certificates(_)))
        .count();
    let commits = net.frames[mark..]
        .iter()
        .filter(|(_, to, m)| *to == seed_addr(1) && matches!(m, Msg::Commit(_)))
        .count();
    assert_eq!(commits, 0, "the catch-up uses batches");
    assert!(
        (1..=4).contains(&batches),
        "{batches} batches from two seeds"
    );
}

/// Seeds that hold the same certificates exchange one root each way and nothing more.
#[test]
fn seeds_in_agreement_send_only_their_roots() {
    let mut net = seeds_and_peers(2);
    let mark = net.frames.len();
    net.run_for(Duration::from_secs(10));
    let sync: BTreeSet<&str> = net.frames[mark..]
        .iter()
        .filter(|(from, to, _)| from.port() < 7000 && to.port() < 7000)
        .map(|(_, _, m)| m.name())
        .collect();
    assert_eq!(sync, BTreeSet::from(["SyncRoot"]));
}

/// A bucket list of the wrong length is a protocol error that closes that link only.
#[test]
fn a_bucket_list_of_the_wrong_length_closes_the_link() {
    let mut net = Net::seeds(seed::Settings::default());
    let (l, _) = net.link(seed_addr(0), seed_addr(1));
    let outs = net.inject(
        seed_addr(0),
        Input::Frame {
            link: l,
            msg: Msg::SyncBuckets(vec![crate::cert::Digest([0; 32]); 3]),
        },
    );
    assert!(outs.contains(&Output::Close { link: l }), "{outs:?}");
    assert!(net.events(seed_addr(0)).iter().any(|e| matches!(
        e,
        Event::ProtocolError { reason, .. } if reason.contains("3 bucket hashes, not 256")
    )));
}

/// A catch-up batch is checked certificate by certificate: the genuine ones are applied, a
/// forged one is dropped with one `protocol_error` for the batch, and the link stays up.
#[test]
fn a_catch_up_batch_applies_what_verifies_and_drops_what_does_not() {
    let mut net = Net::seeds(seed::Settings::default());
    let at = seed_addr(2);
    let (link, _) = net.link(at, seed_addr(0));
    let good = cert(add(5, peer_addr(5)), &[0, 1]);
    let forged = cert(add(6, peer_addr(6)), &[0]);
    let outs = net.inject(
        at,
        Input::Frame {
            link,
            msg: Msg::Certificates(vec![forged, good.clone()]),
        },
    );
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Close { .. })),
        "{outs:?}"
    );
    let pl = net.seed(at).peer_list();
    assert!(pl.contains_key(&peer_key(5).id()) && !pl.contains_key(&peer_key(6).id()));
    let errors: Vec<&Event> = (net.events(at).iter())
        .filter(|e| e.name() == "protocol_error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0], Event::ProtocolError { reason, .. }
        if reason.starts_with("1 certificates rejected, the last: ")));
    assert!(outs.contains(&Output::Persist(node::Record::Certificate(good))));
}

/// PROTOCOL §13.2: a commit one seed never got (a lost frame) is repaired on the live link
/// within one sync interval, and then the seeds agree both ways.
#[test]
fn a_missed_commit_is_repaired_on_a_live_link_within_one_sync_interval() {
    let mut net = Net::seeds(seed::Settings::default());
    let late = cert(add(7, peer_addr(7)), &[0, 1]);
    net.commit_at(&[0, 1], &late);
    assert!(!net
        .seed(seed_addr(2))
        .peer_list()
        .contains_key(&peer_key(7).id()));
    let t = net.now;
    net.run_for(seed::Settings::default().sync_interval + Duration::from_millis(10));
    assert!(net
        .seed(seed_addr(2))
        .peer_list()
        .contains_key(&peer_key(7).id()));
    assert_all_agreed_since(&net, t);
}

/// A seed answers only what it asked for: bucket hashes it did not ask for and a fetch
/// that follows no bucket hashes of its own get nothing, so another seed cannot make it
/// send its whole store at will.
#[test]
fn a_seed_sends_certificates_only_when_an_exchange_asks_for_them() {
    let mut net = seeds_and_peers(2);
    let at = seed_addr(0);
    let (link, _) = net.link(at, seed_addr(1));
    let fetch = Msg::SyncFetch((0..=u8::MAX).collect());
    let outs = net.inject(at, Input::Frame { link, msg: fetch });
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Send { .. })),
        "{outs:?}"
    );
    let zeros = vec![crate::cert::Digest([0; 32]); seed::BUCKETS];
    let outs = net.inject(
        at,
        Input::Frame {
            link,
            msg: Msg::SyncBuckets(zeros),
        },
    );
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Send { .. })),
        "{outs:?}"
    );
    // A root that differs gets bucket hashes once per sync interval, not once per ask.
    let root = Msg::SyncRoot {
        root: crate::cert::Digest([1; 32]),
        reply: false,
    };
    let buckets = |outs: &[Output]| {
        outs.iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Send {
                        msg: Msg::SyncBuckets(_),
                        ..
                    }
                )
            })
            .count()
    };
    let first = net.inject(
        at,
        Input::Frame {
            link,
            msg: root.clone(),
        },
    );
    let second = net.inject(at, Input::Frame { link, msg: root });
    assert_eq!((buckets(&first), buckets(&second)), (1, 0));
}

/// A seed rebuilding from nothing votes no and coordinates nothing until it has agreed with
/// another seed; then it takes part again.
#[test]
fn a_rebuilding_seed_takes_no_part_in_decisions_until_it_has_caught_up() {
    let mut net = seeds_and_peers(2);
    net.take_down(seed_addr(1), true);
    net.take_down(seed_addr(2), true);
    net.restart_seed(2, seed::Settings::default(), true);
    // With a lost store: a proposal gets a no.
    let l = LinkId(9_998);
    let remote = remote(seed_key(0).id(), Role::Seed, seed_addr(0));
    net.inject(
        seed_addr(2),
        Input::LinkUp {
            link: l,
            remote: Box::new(remote),
            dial: None,
        },
    );
    let reg = Registration::new(&peer_key(5), peer_addr(5), 1);
    let proposal = Proposal {
        change: add(5, peer_addr(5)),
        evidence: Evidence::Registration(reg),
        source: peer_addr(5).ip(),
    };
    let outs = net.inject(
        seed_addr(2),
        Input::Frame {
            link: l,
            msg: Msg::Propose(Box::new(proposal)),
        },
    );
    let votes: Vec<&Vote> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                msg: Msg::Vote(v), ..
            } => Some(&**v),
            _ => None,
        })
        .collect();
    assert_eq!(votes.len(), 1, "{outs:?}");
    assert!(
        !votes[0].yes && votes[0].reason.contains("rebuilding"),
        "{votes:?}"
    );
    // It cannot take seed 0's certificates yet: they are co-signed by seed 1, whose key it
    // lost with its store and can learn only from seed 1 itself.
    net.run_for(Duration::from_secs(3));
    assert_eq!(held(&net, 2).0, []);
    // Seed 1 comes back: seed 2 learns its key, takes every certificate, agrees, and votes.
    net.restart_seed(1, seed::Settings::default(), false);
    net.run_for(Duration::from_secs(3));
    assert_eq!(held(&net, 2), held(&net, 0));
    assert!(net.events(seed_addr(2)).iter().any(|e| matches!(
        e, Event::Notice { text } if text.starts_with("caught up")
    )));
    net.add_peer(6);
    net.run_for(Duration::from_secs(3));
    assert!(net.peer(peer_addr(6)).certificate().is_some());
    assert!(net
        .votes(seed_addr(2), peer_key(6).id())
        .iter()
        .any(|(yes, _)| *yes));
}
