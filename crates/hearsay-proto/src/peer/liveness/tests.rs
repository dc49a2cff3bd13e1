//! Tests of failure detection (SPEC §5 Validating a removal, §6 Liveness and Suspicion,
//! PROTOCOL §12): suspicion, witnesses, dead-node reports, removal and coming back.

use crate::testkit::*;

/// Takes the best connected peer of an `n`-peer overlay down, runs 90 s, checks that its
/// neighbours suspected it within `window` (from the moment it went down) at `suspect_after`
/// misses, that whoever reported it sent exactly the task's line and the witnesses'
/// evidence to every seed it is connected to, and that every seed removed it and only it.
fn a_dead_peer_is_detected_reported_and_removed(close_links: bool, window: (u32, u32)) {
    let n = 6;
    let mut net = overlay(n);
    let victim = (0..n)
        .max_by_key(|&i| (net.peer(host_addr(i)).neighbors().len(), i))
        .unwrap();
    let (dead, dead_id) = (host_addr(victim), peer_key(victim).id());
    let watchers: Vec<usize> = (0..n)
        .filter(|&i| net.peer(host_addr(i)).neighbors().contains(&dead_id))
        .collect();
    assert!(watchers.len() >= 2, "peer {victim} has {watchers:?}");
    let settings = peer::Settings::default();
    let (t_down, mark) = (net.now, net.outputs.len());
    net.take_down(dead, close_links);
    net.run_for(Duration::from_secs(90));

    // SPEC §6 Liveness: every neighbour suspects it after `suspect_after` missed rounds.
    let round = settings.ping_interval;
    let (earliest, latest) = (t_down + round * window.0, t_down + round * window.1);
    for &w in &watchers {
        let started: Vec<(Time, &Event)> = net
            .timed_events(host_addr(w))
            .filter(|(_, e)| matches!(e, Event::SuspicionStarted { peer, .. } if *peer == dead_id))
            .collect();
        assert_eq!(
            started.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
            [&Event::SuspicionStarted {
                peer: dead_id,
                addr: dead,
                misses: settings.suspect_after,
                icmp: Some(false),
            }],
            "peer {w}"
        );
        let at = started[0].0;
        assert!(
            earliest < at && at <= latest,
            "peer {w} suspected it {} ms after it went down",
            at.since(t_down).as_millis()
        );
    }

    // SPEC §6 Suspicion: witnesses asked, a majority of dead verdicts, the report to every
    // seed the reporter is connected to, and the exact line.
    let mut reporters = 0;
    for i in (0..n).filter(|&i| i != victim) {
        let me = host_addr(i);
        let reported: Vec<(Time, Event)> = net
            .timed_events(me)
            .filter(|(_, e)| matches!(e, Event::DeadNodeReported { .. }))
            .map(|(t, e)| (t, e.clone()))
            .collect();
        if reported.is_empty() {
            continue;
        }
        reporters += 1;
        assert!(
            watchers.contains(&i),
            "peer {i} reported a peer it had no link to"
        );
        let [(at, Event::DeadNodeReported { line, peer, seeds })] = reported.as_slice() else {
            panic!("peer {i} reported {reported:?}");
        };
        assert_eq!(*line, expected_dead_line(dead, *at, me.ip()), "peer {i}");
        assert_eq!(*peer, dead_id);
        let outs = net.outputs_of(me, mark);
        let asked = outs.iter().filter(|o| {
            matches!(o, Output::Send { msg: Msg::ProbeRequest(ask), .. }
                if ask.suspect == dead_id && ask.addr == dead && ask.incarnation == 1)
        });
        assert!(asked.count() >= 1, "peer {i} asked no witness");
        let confirmed = net.events(me).iter().find_map(|e| match e {
            Event::SuspicionConfirmed {
                peer,
                addr,
                dead,
                verdicts,
            } if *peer == dead_id => Some((*addr, *dead, *verdicts)),
            _ => None,
        });
        let (addr, d, v) = confirmed.expect("a confirmed suspicion before the report");
        assert_eq!(addr, dead);
        assert!(crate::suspicion::confirmed(d, v), "{d} of {v}");
        // The DeadReport frames: one per seed link, to distinct seeds, carrying the line and
        // the verdicts.
        let to_seeds: Vec<SocketAddr> = (net.frames.iter())
            .filter_map(|(from, to, m)| match m {
                Msg::DeadReport(r) if *from == me => {
                    assert_eq!(r.line, *line);
                    assert_eq!((r.suspect, r.addr, r.incarnation), (dead_id, dead, 1));
                    assert_eq!(r.verdicts.len(), v);
                    assert!(r
                        .verdicts
                        .iter()
                        .all(|v| v.verify(&Checks::default()) && v.suspect == dead_id));
                    Some(*to)
                }
                _ => None,
            })
            .collect();
        let distinct: BTreeSet<SocketAddr> = to_seeds.iter().copied().collect();
        assert_eq!(*seeds, 2, "a peer keeps q = 2 seed links");
        assert_eq!(to_seeds.len(), *seeds, "peer {i} sent {to_seeds:?}");
        assert_eq!(distinct.len(), *seeds);
        assert!(distinct
            .iter()
            .all(|s| SEEDS.contains(&s.to_string().as_str())));
        for s in distinct {
            let received = net.events(s).iter().any(|e| {
                matches!(e, Event::DeadNodeReportReceived { line: l, reporter }
                    if l == line && *reporter == peer_key(i).id())
            });
            assert!(received, "{s} did not log the line as sent");
        }
    }
    assert!(reporters >= 1, "nobody reported peer {victim}");

    // SPEC §5: every seed removes it, by a certificate of a quorum; nobody else.
    for s in (0..3).map(seed_addr) {
        assert_eq!(net.removals(s), std::slice::from_ref(&dead_id), "{s}");
        let committed = net.events(s).iter().find_map(|e| match e {
            Event::RemovalCommitted {
                addr,
                incarnation,
                signers,
                ..
            } => Some((*addr, *incarnation, signers.len())),
            _ => None,
        });
        let (addr, incarnation, signers) = committed.unwrap();
        assert_eq!((addr, incarnation), (dead, 1));
        assert!(signers >= 2);
        assert!(net.remove_votes(s, dead_id).iter().all(|(yes, _)| *yes));
        let pl: BTreeSet<PeerId> = net.seed(s).peer_list().keys().copied().collect();
        let live: BTreeSet<PeerId> = (0..n)
            .filter(|&i| i != victim)
            .map(|i| peer_key(i).id())
            .collect();
        assert_eq!(pl, live, "{s}");
    }
    // The dead peer did nothing once down, and the live peers are still admitted.
    assert_eq!(net.outputs_of(dead, mark), []);
    for i in (0..n).filter(|&i| i != victim) {
        let cert = net.peer(host_addr(i)).certificate().unwrap();
        assert_eq!(cert.change, add(i, host_addr(i)));
        assert!(!net.peer(host_addr(i)).neighbors().contains(&dead_id));
    }
}

/// SPEC §6 Liveness and Suspicion, §5 Validating a removal and Seed log: a neighbour that
/// hangs (its links stay up, it answers no ping, its host no echo) is suspected after
/// `suspect_after` missed rounds, the witnesses confirm it, the reporter sends the task's
/// `Dead Node:` line to its seeds, and the seeds remove it and no live peer.
#[test]
fn a_neighbour_that_stops_answering_pings_is_reported_dead_and_removed_by_the_seeds() {
    // One round to send the unanswered ping, then `suspect_after` = 3 missed rounds.
    a_dead_peer_is_detected_reported_and_removed(false, (3, 4));
}

/// SPEC §6 Liveness (PROTOCOL §12.1): a neighbour whose links close and that cannot be
/// dialled again counts the lost link as one miss and each failed redial as another.
#[test]
fn a_crashed_neighbour_whose_redials_fail_is_reported_dead_and_removed_by_the_seeds() {
    a_dead_peer_is_detected_reported_and_removed(true, (1, 2));
}

/// Each end of a link pings it every round, so a neighbour's ping is its answer (PROTOCOL
/// §12.1): a ping from a neighbour whose rounds are as long as this peer's or longer draws
/// no pong, one whose rounds are shorter draws one at once (this peer's own next ping could
/// come after its round ends); a neighbour that only pings in its rounds is never missed,
/// and one that falls silent is suspected after `suspect_after` rounds.
#[test]
fn a_neighbours_ping_is_its_answer_and_draws_a_pong_only_from_longer_rounds() {
    let (mut net, p, [l5, _, l7]) = peer_with_three_neighbours();
    let own = crate::time::millis(peer_settings().ping_interval);
    for every in [own, 2 * own] {
        let ping = Input::Frame {
            link: l5,
            msg: Msg::Ping(every),
        };
        assert_eq!(net.inject(p, ping), [], "a ping of {every} ms rounds");
    }
    let ping = Input::Frame {
        link: l5,
        msg: Msg::Ping(own / 2),
    };
    let pong = Output::Send {
        link: l5,
        msg: Msg::Pong(own / 2),
    };
    assert_eq!(net.inject(p, ping), [pong]);
    let mark = net.outputs.len();
    suspect(&mut net, p, l7);
    let outs = net.outputs_of(p, mark);
    let suspected: Vec<PeerId> = (outs.iter())
        .filter_map(|o| match o {
            Output::Event(Event::SuspicionStarted { peer, .. }) => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(suspected, [peer_key(7).id()]);
    let pong = |o: &&Output| {
        matches!(
            o,
            Output::Send {
                msg: Msg::Pong(_),
                ..
            }
        )
    };
    assert_eq!(outs.iter().filter(pong).count(), 0);
}

/// A round pings only the neighbours this peer sent nothing in the last half round: any
/// frame shows it alive to them as a ping would (PROTOCOL §12.1). Gossip from 5, passed on
/// to 6 and 7 late in one round, spares them the next round's ping; passed on early in a
/// round, it does not.
#[test]
fn a_round_pings_only_the_neighbours_sent_nothing_in_the_last_half_round() {
    let settings = peer::Settings {
        gossip_delay: Duration::from_secs(3600),
        ..peer_settings()
    };
    let round = settings.ping_interval;
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours_with(settings);
    // Steps of 100 ms up to the next round: the links pinged in it, and when it was.
    let next_round = |net: &mut Net| -> (Vec<LinkId>, Time) {
        for _ in 0..200 {
            let mark = net.outputs.len();
            net.run_for(Duration::from_millis(100));
            let pinged: Vec<LinkId> = (net.outputs_of(p, mark).into_iter())
                .filter_map(|o| match o {
                    Output::Send {
                        link,
                        msg: Msg::Ping(_),
                    } => Some(link),
                    _ => None,
                })
                .collect();
            if !pinged.is_empty() {
                return (pinged, net.now);
            }
        }
        panic!("no round in 20 s");
    };
    let gossip_from_5 = |net: &mut Net, seq| {
        let msg = Msg::Gossip(Box::new(gossip_of(5, net.now, seq)));
        let outs = net.inject(p, Input::Frame { link: l5, msg });
        let to: Vec<LinkId> = (outs.iter())
            .filter_map(|o| match o {
                Output::Send { link, .. } => Some(*link),
                _ => None,
            })
            .collect();
        assert_eq!(to, [l6, l7], "gossip {seq} passed on");
    };
    let (first, at) = next_round(&mut net);
    assert_eq!(first, [l5, l6, l7]);
    // Late in the round (70% of it gone): 6 and 7 hear from this peer within the last half.
    net.run_for((at + round.mul_f64(0.7)).since(net.now));
    gossip_from_5(&mut net, 1);
    let (second, at) = next_round(&mut net);
    assert_eq!(second, [l5]);
    // Early in the round (20% gone): more than half a round before the next.
    net.run_for((at + round.mul_f64(0.2)).since(net.now));
    gossip_from_5(&mut net, 2);
    let (third, _) = next_round(&mut net);
    assert_eq!(third, [l5, l6, l7]);
}

/// SPEC §6 Suspicion: witnesses that find the suspect alive clear the suspicion; nothing
/// goes to the seeds.
#[test]
fn a_suspicion_without_a_witness_majority_sends_no_report() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let (id5, inc) = (peer_key(5).id(), 1);
    let start = suspect(&mut net, p, l5);
    let seed_link = net.seed_links_of(p)[0];
    let probe = Msg::ProbeRequest(Box::new(wire::ProbeRequest {
        suspect: id5,
        addr: peer_addr(5),
        incarnation: inc,
    }));
    let suspected = Event::SuspicionStarted {
        peer: id5,
        addr: peer_addr(5),
        misses: 3,
        icmp: Some(true),
    };
    // The seeds know no topology of 5: its witnesses are p's own other neighbours.
    let outs: Vec<Output> = (net.outputs_of(p, start).into_iter())
        .filter(liveness_output)
        .collect();
    assert_eq!(
        outs,
        [
            Output::Event(suspected),
            Output::Send {
                link: seed_link,
                msg: Msg::GetNeighbors(id5)
            },
            Output::Send {
                link: l6,
                msg: probe.clone()
            },
            Output::Send {
                link: l7,
                msg: probe
            },
        ]
    );
    let alive = |w: usize| {
        Msg::Verdict(Box::new(Verdict::new(
            &peer_key(w),
            (id5, peer_addr(5), inc),
            true,
            net.now,
        )))
    };
    let (v6, v7) = (alive(6), alive(7));
    assert_eq!(net.inject(p, Input::Frame { link: l6, msg: v6 }), []);
    assert_eq!(
        net.inject(p, Input::Frame { link: l7, msg: v7 }),
        [Output::Event(Event::SuspicionCleared {
            peer: id5,
            addr: peer_addr(5),
            dead: 1,
            verdicts: 3
        })]
    );
    net.run_for(Duration::from_secs(10));
    let reports = (net.outputs.iter())
        .filter(|(_, o)| {
            matches!(
                o,
                Output::Send {
                    msg: Msg::DeadReport(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(reports, 0);
    assert!(net.peer(p).neighbors().contains(&id5), "the link stays");
    let confirmed = (net.events(p).iter())
        .filter(|e| {
            matches!(
                e,
                Event::SuspicionConfirmed { .. } | Event::DeadNodeReported { .. }
            )
        })
        .count();
    assert_eq!(confirmed, 0);
}

/// SPEC §6 Suspicion, §5 Conflicts: a verdict is about one incarnation of the suspect; a
/// verdict about an older one does not count toward the peer's decision.
#[test]
fn a_verdict_about_an_older_incarnation_does_not_count_at_the_peer() {
    let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
    let id5 = peer_key(5).id();
    suspect(&mut net, p, l5);
    let started = (net.timed_events(p))
        .find(|(_, e)| matches!(e, Event::SuspicionStarted { .. }))
        .map(|(t, _)| t)
        .unwrap();
    // Peer 5 is linked at incarnation 1; verdicts about incarnation 0 are stale.
    for (w, link) in [(6, l6), (7, l7)] {
        let stale = Msg::Verdict(Box::new(dead(w, 5, 0, net.now)));
        assert_eq!(
            net.inject(p, Input::Frame { link, msg: stale }),
            [],
            "witness {w}"
        );
    }
    let decided = |net: &Net| {
        (net.events(p).iter())
            .filter(|e| {
                matches!(
                    e,
                    Event::SuspicionConfirmed { .. } | Event::SuspicionCleared { .. }
                )
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(decided(&net), [], "undecided until the deadline");
    // At the deadline only its own verdict counts: no witness gave one that holds, so the
    // peer asks its seeds (PROTOCOL §12.6) and waits once more.
    let wait = peer::Settings::default().verdict_timeout;
    let deadline = started + wait;
    net.run_for(deadline.since(net.now) - Duration::from_millis(1));
    assert_eq!(decided(&net), []);
    let mark = net.outputs.len();
    net.run_for(Duration::from_millis(1));
    assert_eq!(decided(&net), []);
    let ask = Msg::ProbeRequest(Box::new(ProbeRequest {
        suspect: id5,
        addr: peer_addr(5),
        incarnation: 1,
    }));
    let asked: Vec<Output> = (net.seed_links_of(p).into_iter())
        .map(|link| Output::Send {
            link,
            msg: ask.clone(),
        })
        .collect();
    assert_eq!(net.outputs_of(p, mark), asked);
    // Peer 5 is no member of the seeds' Peer List, so they probe nothing for it; at the second
    // deadline one verdict is not enough.
    net.run_for(wait - Duration::from_millis(1));
    assert_eq!(decided(&net), []);
    net.run_for(Duration::from_millis(1));
    assert_eq!(
        decided(&net),
        [Event::SuspicionCleared {
            peer: id5,
            addr: peer_addr(5),
            dead: 1,
            verdicts: 1
        }]
    );
    let reports = (net.outputs.iter())
        .filter(|(_, o)| {
            matches!(
                o,
                Output::Send {
                    msg: Msg::DeadReport(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(reports, 0);
}

/// SPEC §5 Peer List and §8: a removal is applied only with a certificate of q distinct
/// configured seeds; a forged majority is rejected, a genuine one applied once.
#[test]
fn a_removal_certificate_without_a_quorum_of_seeds_is_rejected() {
    let mut net = Net::seeds(seed::Settings::default());
    let change = add(5, peer_addr(5));
    let id5 = change.peer;
    for at in [1, 2].map(seed_addr) {
        let (link, _) = net.link(at, seed_addr(0));
        let msg = Msg::Commit(Box::new(cert(change, &[0, 1])));
        net.inject(at, Input::Frame { link, msg });
        assert!(net.seed(at).peer_list().contains_key(&id5));
    }
    let gone = removal(5, peer_addr(5), 1);
    let mut forged_sig = cert(gone, &[0, 2]);
    forged_sig.sigs[1].1 = forged_sig.sigs[0].1; // seed 0's signature under seed 2's name
    let mut peer_signed = cert(gone, &[0]);
    let v = Vote::new(&peer_key(0), gone, true, "");
    peer_signed.sigs.push((v.voter, v.sig));
    let cases = [
        (
            cert(gone, &[0]),
            CertError::TooFewSignatures { have: 1, need: 2 },
        ),
        (
            cert(gone, &[0, 0]),
            CertError::DuplicateSigner(seed_key(0).id()),
        ),
        (forged_sig, CertError::BadSignature(seed_key(2).id())),
        (peer_signed, CertError::UnknownSigner(peer_key(0).id())),
    ];
    for at in [1, 2].map(seed_addr) {
        let (link, r) = net.link(at, seed_addr(0));
        for (bad, e) in cases.clone() {
            assert_eq!(
                net.inject(
                    at,
                    Input::Frame {
                        link,
                        msg: Msg::Commit(Box::new(bad))
                    }
                ),
                [Output::Event(Event::ProtocolError {
                    remote: r.source.to_string(),
                    reason: format!("certificate rejected: {e}"),
                })],
                "{at}: {e}"
            );
        }
        let m = &net.seed(at).peer_list()[&id5];
        assert_eq!((m.addr, m.incarnation), (peer_addr(5), 1));
        assert_eq!(net.removals(at), Vec::<PeerId>::new());
    }
    // A genuine removal certificate of two seeds, once, then again: applied once.
    let signers = vec![seed_key(0).id(), seed_key(1).id()];
    for at in [1, 2].map(seed_addr) {
        let (link, _) = net.link(at, seed_addr(0));
        let good = || Msg::Commit(Box::new(cert(gone, &[0, 1])));
        assert_eq!(
            net.inject(at, Input::Frame { link, msg: good() }),
            [
                Output::Persist(node::Record::Certificate(cert(gone, &[0, 1]))),
                Output::Event(Event::RemovalCommitted {
                    peer: id5,
                    addr: peer_addr(5),
                    incarnation: 1,
                    signers: signers.clone()
                })
            ],
            "{at}"
        );
        assert!(!net.seed(at).peer_list().contains_key(&id5));
        assert_eq!(
            net.inject(at, Input::Frame { link, msg: good() }),
            [],
            "{at}"
        );
    }
}

/// SPEC §5 Conflicts: "a peer that comes back registers again with a higher incarnation" —
/// a live peer told of its own removal registers at incarnation + 1 and is admitted again.
#[test]
fn a_live_peer_told_of_its_own_removal_registers_again_at_a_higher_incarnation() {
    let (mut net, p) = registered_peer();
    let id = peer_key(0).id();
    let links = net.seed_links_of(p);
    assert_eq!(links.len(), 2);
    let told = |net: &mut Net, c: Certificate| {
        let msg = Msg::Removed(Box::new(c));
        net.inject(
            p,
            Input::Frame {
                link: links[0],
                msg,
            },
        )
    };
    // Not about it, not its incarnation, or not signed by a quorum: ignored.
    assert_eq!(
        told(&mut net, cert(removal(5, peer_addr(5), 1), &[0, 1])),
        []
    );
    assert_eq!(told(&mut net, cert(removal(0, p, 0), &[0, 1])), []);
    assert_eq!(told(&mut net, cert(removal(0, p, 1), &[0])), []);
    assert_eq!(net.peer(p).certificate().map(|c| c.change), Some(add(0, p)));

    let reg = Registration::new(&peer_key(0), p, 2);
    let text =
        "removed by the seeds at incarnation 1 while alive: registering again at incarnation 2";
    let mut expected = vec![Output::Event(Event::Notice { text: text.into() })];
    expected.extend(links.iter().map(|&link| Output::Send {
        link,
        msg: Msg::Register(Box::new(reg.clone())),
    }));
    assert_eq!(told(&mut net, cert(removal(0, p, 1), &[0, 1])), expected);
    net.run_for(Duration::from_secs(3));

    let again = Change {
        incarnation: 2,
        ..add(0, p)
    };
    assert_eq!(net.peer(p).certificate().map(|c| c.change), Some(again));
    let registered: Vec<u64> = (net.events(p).iter())
        .filter_map(|e| match e {
            Event::Registered { incarnation, .. } => Some(*incarnation),
            _ => None,
        })
        .collect();
    assert_eq!(registered, [1, 2]);
    for s in (0..3).map(seed_addr) {
        let m = &net.seed(s).peer_list()[&id];
        assert_eq!((m.addr, m.incarnation), (p, 2), "{s}");
    }
    // The same removal again is stale now.
    assert_eq!(told(&mut net, cert(removal(0, p, 1), &[0, 1])), []);
}

/// A peer removed while alive drops its links and reports nothing until admitted again, so
/// the seeds may still hold its report of those links; once admitted again it reports its
/// neighbour set at once. (A partition run of `hearsay up --hosts` found a returning peer
/// shown linked by a stale report while it had no neighbour, and missing messages.)
#[test]
fn a_peer_admitted_again_replaces_the_seeds_report_of_links_it_dropped() {
    let mut net = seeds_and_peers(2);
    let (p, other) = (peer_addr(1), peer_key(0).id());
    let reports = |net: &Net, since: usize| -> Vec<Vec<PeerId>> {
        (net.frames[since..].iter())
            .filter_map(|(from, _, m)| match m {
                Msg::Neighbors(r) if *from == p => Some(r.neighbors.clone()),
                _ => None,
            })
            .collect()
    };
    assert!(
        reports(&net, 0).contains(&vec![other]),
        "it reported its link"
    );
    // Told of its removal, it drops the link; its neighbour is gone before it is back.
    let links = net.seed_links_of(p);
    let msg = Msg::Removed(Box::new(cert(removal(1, p, 1), &[0, 1])));
    let since = net.frames.len();
    net.inject(
        p,
        Input::Frame {
            link: links[0],
            msg,
        },
    );
    net.take_down(peer_addr(0), true);
    net.run_for(Duration::from_secs(3));
    assert_eq!(
        net.peer(p).certificate().map(|c| c.change.incarnation),
        Some(2)
    );
    assert!(net.peer(p).neighbors().is_empty());
    let after = reports(&net, since);
    assert!(!after.is_empty(), "no report since it was admitted again");
    assert!(after.iter().all(Vec::is_empty), "{after:?}");
}

/// SPEC §5 Conflicts, end to end: the seeds apply a removal of a peer that is in fact alive,
/// tell it, and it comes back at incarnation 2 past the tombstone of incarnation 1.
#[test]
fn a_peer_the_seeds_removed_while_alive_comes_back_past_its_tombstone() {
    let (mut net, p) = registered_peer();
    let id = peer_key(0).id();
    let gone = cert(removal(0, p, 1), &[0, 1]);
    for (at, from) in [(0, 1), (1, 0), (2, 0)] {
        let (link, _) = net.link(seed_addr(at), seed_addr(from));
        let msg = Msg::Commit(Box::new(gone.clone()));
        net.inject(seed_addr(at), Input::Frame { link, msg });
    }
    net.run_for(Duration::from_secs(3));
    let registers: Vec<u64> = (net.frames.iter())
        .filter_map(|(from, _, m)| match m {
            Msg::Register(r) if *from == p => Some(r.incarnation),
            _ => None,
        })
        .collect();
    assert_eq!(registers, [1, 1, 2, 2]);
    assert_eq!(
        net.peer(p).certificate().map(|c| c.change.incarnation),
        Some(2)
    );
    for s in (0..3).map(seed_addr) {
        assert_eq!(net.removals(s), [id], "{s}");
        let m = &net.seed(s).peer_list()[&id];
        assert_eq!((m.addr, m.incarnation), (p, 2), "{s}");
    }
}

/// PROTOCOL §12.4: a peer removed while it was cut off from every seed learns it when it
/// links up to one again, and comes back at the next incarnation, with a join timeout of
/// its own (the simulator's partition scenario found the peer giving up at once).
#[test]
fn a_peer_removed_while_cut_off_learns_it_when_it_links_up_again_and_comes_back() {
    let mut net = seeds_and_peers(2);
    let (me, id) = (peer_addr(1), peer_key(1).id());
    // Cut the peer off: its links close, and while it is away the seeds remove it.
    let mine: Vec<LinkId> = net.links.held(me).collect();
    net.take_down(me, true);
    let gone = cert(removal(1, me, 1), &[0, 1]);
    net.commit_at(&[0, 1, 2], &gone);
    assert!(!net.seed(seed_addr(0)).peer_list().contains_key(&id));
    // Away for longer than the join timeout, and back while two seeds are down: it is told
    // at once, and waits for a quorum with a join timeout of its own instead of giving up.
    net.run_for(peer_settings().join_timeout * 2);
    net.take_down(seed_addr(1), true);
    net.take_down(seed_addr(2), true);
    net.down.remove(&me);
    for link in mine {
        net.inject(me, Input::LinkDown { link });
    }
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[&me].stop, None, "it gave up at once");
    // The seeds return: it is admitted at incarnation 2.
    net.restart_seed(1, seed::Settings::default(), false);
    net.restart_seed(2, seed::Settings::default(), false);
    net.run_for(Duration::from_secs(30));
    let cert = net.peer(me).certificate().cloned().expect("admitted again");
    assert_eq!((cert.change.incarnation, cert.change.addr), (2, me));
    for i in 0..3 {
        let m = &net.seed(seed_addr(i)).peer_list()[&id];
        assert_eq!(m.incarnation, 2, "seed {i}");
    }
}

/// A no to a false accusation is not remembered: when the accused dies right after, the
/// next report is validated afresh and removes it (the simulator's churn-with-liars
/// scenarios found dead peers shielded by the remembered no).
#[test]
fn a_peer_that_dies_right_after_a_false_accusation_is_still_removed() {
    let mut net = seeds_and_peers(4);
    let now = net.now;
    let verdicts = |now| vec![dead(0, 1, 1, now), dead(2, 1, 1, now), dead(3, 1, 1, now)];
    deliver_report(&mut net, report(0, 1, peer_addr(1), 1, verdicts(now), now));
    let id1 = peer_key(1).id();
    assert!(net.seed(seed_addr(0)).peer_list().contains_key(&id1));
    // It dies a second later, well within a proposal timeout; a true report comes.
    net.run_for(Duration::from_secs(1));
    net.take_down(peer_addr(1), true);
    let now = net.now;
    deliver_report(&mut net, report(0, 1, peer_addr(1), 1, verdicts(now), now));
    net.run_for(Duration::from_secs(1));
    for s in (0..3).map(seed_addr) {
        assert!(
            !net.seed(s).peer_list().contains_key(&id1),
            "{s} still holds it"
        );
    }
}

/// PROTOCOL §12.6, issue 15: three of four peers die at once. The survivor's witnesses died
/// too, so the seeds probe for it; the dead peers it was not linked to have no live
/// neighbour, so a seed asks the survivor to watch them. Every seed removes all three, and
/// only them, within the bound the simulator checks (40 s).
#[test]
fn three_of_four_peers_dying_at_once_are_all_removed_by_every_seed() {
    let mut net = overlay(4);
    let down_at = net.now;
    for i in 1..4 {
        net.take_down(host_addr(i), true);
    }
    net.run_for(Duration::from_secs(40));

    let dead: BTreeSet<PeerId> = (1..4).map(|i| peer_key(i).id()).collect();
    for s in 0..3 {
        let removed: BTreeSet<PeerId> = net.removals(seed_addr(s)).into_iter().collect();
        assert_eq!(removed, dead, "seed {s}");
        let pl: Vec<PeerId> = net.seed(seed_addr(s)).peer_list().keys().copied().collect();
        assert_eq!(pl, [peer_key(0).id()], "seed {s}");
    }
    // The survivor asked the seeds, since no peer witness could answer, and each dead-node
    // report carries the seeds' signed verdicts.
    let seeds: BTreeSet<PeerId> = (0..3).map(|i| seed_key(i).id()).collect();
    let reports: Vec<&DeadReport> = (net.frames.iter())
        .filter_map(|(from, _, m)| match m {
            Msg::DeadReport(r) if *from == host_addr(0) => Some(&**r),
            _ => None,
        })
        .collect();
    assert!(!reports.is_empty());
    for r in reports {
        let by_seeds = (r.verdicts.iter()).filter(|v| seeds.contains(&v.witness) && !v.alive);
        assert!(by_seeds.count() >= 1, "{r:?}");
    }
    let last = (net.timed_events(seed_addr(0)))
        .filter(|(_, e)| matches!(e, Event::RemovalCommitted { .. }))
        .map(|(t, _)| t)
        .max()
        .expect("removals");
    assert!(last.since(down_at) <= Duration::from_secs(40));
}

/// PROTOCOL §12.6: a seed's `Watch` makes a registered peer dial the member each round, as a
/// lost neighbour; one that fails `suspect_after` times is suspected.
#[test]
fn a_watched_member_is_dialled_each_round_and_suspected_when_it_stays_silent() {
    let (mut net, p) = registered_peer();
    let link = net.seed_links_of(p)[0];
    let (gone, gone_id) = (peer_addr(9), peer_key(9).id());
    let watch = ProbeRequest {
        suspect: gone_id,
        addr: gone,
        incarnation: 1,
    };
    let outs = net.inject(
        p,
        Input::Frame {
            link,
            msg: Msg::Watch(Box::new(watch)),
        },
    );
    assert_eq!(outs, [], "nothing at once: the next round dials");
    let (mark, mut outs) = (net.outputs.len(), Vec::new());
    for _ in 0..60 {
        net.run_for(Duration::from_secs(1));
        outs = net.outputs_of(p, mark);
        if outs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::SuspicionStarted { .. })))
        {
            break;
        }
    }
    // The test network's hosts all answer ICMP echo.
    let started = Output::Event(Event::SuspicionStarted {
        peer: gone_id,
        addr: gone,
        misses: 3,
        icmp: Some(true),
    });
    let at = outs.iter().position(|o| *o == started);
    let at = at.unwrap_or_else(|| panic!("no suspicion: {outs:?}"));
    let dials = (outs[..at].iter())
        .filter(|o| matches!(o, Output::Dial { addr, .. } if *addr == gone))
        .count();
    assert_eq!(dials, 3, "one dial a round until it is suspected");

    // A watch from anyone but a seed is a protocol error of that link.
    let (mut net, p) = registered_peer();
    let stranger = LinkId(3_000_000);
    inbound_from(&mut net, p, 8, stranger);
    let msg = Msg::Watch(Box::new(watch));
    let outs = net.inject(
        p,
        Input::Frame {
            link: stranger,
            msg,
        },
    );
    assert!(outs.contains(&Output::Close { link: stranger }), "{outs:?}");
}

/// Issue 15, PROTOCOL §12.2: a witness probes only for an admitted peer. A probe request on a
/// stranger's link gets nothing (no dial to an address of the stranger's choosing); once the
/// peer on that link shows its admission, the same request is probed; one that shows another
/// peer's admission is a protocol error.
#[test]
fn a_witness_probes_only_for_a_peer_that_showed_its_admission() {
    let (mut net, p) = registered_peer();
    let ask = ProbeRequest {
        suspect: peer_key(9).id(),
        addr: peer_addr(9),
        incarnation: 1,
    };
    let request = || Msg::ProbeRequest(Box::new(ask));
    let link = LinkId(3_000_000);
    inbound_from(&mut net, p, 8, link);
    assert_eq!(
        net.handle(
            p,
            Input::Frame {
                link,
                msg: request()
            }
        ),
        []
    );

    let shown = Msg::Admission(Box::new(cert(add(8, peer_addr(8)), &[0, 1])));
    assert_eq!(net.handle(p, Input::Frame { link, msg: shown }), []);
    let outs = net.handle(
        p,
        Input::Frame {
            link,
            msg: request(),
        },
    );
    let dialled = outs.iter().any(
        |o| matches!(o, Output::Dial { addr, pool: DialPool::Probe, .. } if *addr == peer_addr(9)),
    );
    assert!(dialled, "{outs:?}");

    let other = LinkId(3_000_001);
    inbound_from(&mut net, p, 7, other);
    let not_yours = Msg::Admission(Box::new(cert(add(8, peer_addr(8)), &[0, 1])));
    let outs = net.handle(
        p,
        Input::Frame {
            link: other,
            msg: not_yours,
        },
    );
    assert!(outs.contains(&Output::Close { link: other }), "{outs:?}");
}

/// The ending of the notice a peer gives when its timers start to run late.
const LAGS: &str = "s late (its process is short of CPU): while it lags, no neighbour's silence \
                    counts as a miss, no suspicion is confirmed and it signs no verdict of \
                    unresponsive";

/// Hands `p` its timeouts each 7 s after they are due (over half of its 13 s round), as the
/// runtime of a process short of CPU does, until `rounds` liveness rounds have run that late
/// (each round's notice or pings). Returns `p`'s events meanwhile.
fn run_late(net: &mut Net, p: SocketAddr, rounds: u32) -> Vec<Event> {
    let late = peer_settings().ping_interval / 2 + Duration::from_millis(500);
    let (mark, mut ran) = (net.outputs.len(), 0);
    for _ in 0..100 {
        if ran == rounds {
            let outs = net.outputs_of(p, mark);
            return (outs.into_iter())
                .filter_map(|o| match o {
                    Output::Event(e) => Some(e),
                    _ => None,
                })
                .collect();
        }
        // The earliest timer due, handed over `late` after it.
        let due = net.nodes[&p]
            .timeout()
            .expect("a peer always has a round ahead");
        net.now = due.max(net.now) + late;
        let outs = net.inject(p, Input::Timeout);
        let round = |o: &Output| {
            matches!(
                o,
                Output::Echo { .. }
                    | Output::Send {
                        msg: Msg::Ping(_),
                        ..
                    }
            ) || matches!(o, Output::Event(Event::Notice { text }) if text.ends_with(LAGS))
        };
        if outs.iter().any(round) {
            ran += 1;
        }
    }
    panic!("{rounds} late rounds did not run");
}

/// Runs `p` on time, its neighbours but the one on `silent` pinging it, until it suspects
/// that one ([`suspect`]); returns whom the one suspicion started names, and at how many
/// misses.
fn suspect_on_time(net: &mut Net, p: SocketAddr, silent: LinkId) -> (PeerId, u32) {
    let mark = suspect(net, p, silent);
    let started: Vec<Event> = (net.outputs_of(p, mark).into_iter())
        .filter_map(|o| match o {
            Output::Event(e @ Event::SuspicionStarted { .. }) => Some(e),
            _ => None,
        })
        .collect();
    let [Event::SuspicionStarted { peer, misses, .. }] = started.as_slice() else {
        panic!("{started:?}");
    };
    (*peer, *misses)
}

/// Lifeguard's local health (PROTOCOL §12.1): a peer whose rounds run late, its process
/// short of CPU, may not have read what its neighbours sent, so their silence counts for
/// nothing. Six rounds (twice `suspect_after`), each 7 s late, in which no neighbour is
/// heard start no suspicion, and the peer says once why; back on time, it suspects the one
/// neighbour that stays silent after `suspect_after` rounds of its own, as before.
#[test]
fn a_peer_whose_rounds_run_late_counts_no_silence_until_it_is_on_time_again() {
    let settings = peer::Settings {
        gossip_delay: Duration::from_secs(3600),
        ..peer_settings()
    };
    let after = settings.suspect_after;
    let (mut net, p, [_, _, l7]) = peer_with_three_neighbours_with(settings);
    let events = run_late(&mut net, p, 2 * after);
    let [Event::Notice { text }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert!(text.starts_with("this peer's timers ran 7.0"), "{text}");
    assert!(text.ends_with(LAGS), "{text}");

    // On time again (the lag lasts a round from the last late timer): 7 stays silent for
    // `suspect_after` rounds before it is suspected.
    let back = net.now;
    assert_eq!(suspect_on_time(&mut net, p, l7), (peer_key(7).id(), after));
    let round = peer_settings().ping_interval;
    assert!(
        net.now.since(back) >= round * (after - 1),
        "suspected {} ms after its rounds were on time again",
        net.now.since(back).as_millis()
    );
}

/// Lifeguard's local health at a witness (PROTOCOL §12.1): a probe that fails while the
/// witness lags goes unanswered (the dial may have run out of time at the witness, not at
/// the suspect), and the asker decides without it; on time, the same failure is signed and
/// sent as a verdict of unresponsive.
#[test]
fn a_lagging_witness_signs_no_verdict_of_unresponsive() {
    for lags in [false, true] {
        let (mut net, p) = registered_peer_with(peer::Settings {
            gossip_delay: Duration::from_secs(3600),
            ..peer_settings()
        });
        let link = LinkId(3_000_000);
        inbound_from(&mut net, p, 8, link);
        let shown = Msg::Admission(Box::new(cert(add(8, peer_addr(8)), &[0, 1])));
        assert_eq!(net.handle(p, Input::Frame { link, msg: shown }), []);
        if lags {
            run_late(&mut net, p, 1);
        }
        let ask = ProbeRequest {
            suspect: peer_key(9).id(),
            addr: peer_addr(9),
            incarnation: 1,
        };
        let mark = net.outputs.len();
        let msg = Msg::ProbeRequest(Box::new(ask));
        net.inject(p, Input::Frame { link, msg });
        // Nobody listens at peer 9's address: the probe fails.
        let verdicts: Vec<(SocketAddr, bool)> = (net.outputs_of(p, mark).into_iter())
            .filter_map(|o| match o {
                Output::Send {
                    link: to,
                    msg: Msg::Verdict(v),
                } if to == link => Some((v.addr, v.alive)),
                _ => None,
            })
            .collect();
        let expected = match lags {
            true => vec![],
            false => vec![(peer_addr(9), false)],
        };
        assert_eq!(verdicts, expected, "lags: {lags}");
    }
}

/// Lifeguard's local health when a suspicion is decided (PROTOCOL §12.1): the witnesses' dead
/// verdicts that come while the peer's own round is overdue by over half a round (its process
/// reading frames before it got to its timers) confirm nothing: the suspicion is cleared and
/// no report goes out. The same verdicts on time confirm it and report it.
#[test]
fn a_lagging_peer_confirms_no_suspicion() {
    for lags in [false, true] {
        let (mut net, p, [l5, l6, l7]) = peer_with_three_neighbours();
        let mark = suspect(&mut net, p, l5);
        if lags {
            // The round after the suspicion's is due within 13 s: 20 s on, it is 7 s overdue.
            net.now = net.now + Duration::from_secs(20);
        }
        for (w, link) in [(6, l6), (7, l7)] {
            let msg = Msg::Verdict(Box::new(dead(w, 5, 1, net.now)));
            net.inject(p, Input::Frame { link, msg });
        }
        let decided: Vec<Event> = (net.outputs_of(p, mark).into_iter())
            .filter_map(|o| match o {
                Output::Event(
                    e @ (Event::SuspicionConfirmed { .. }
                    | Event::SuspicionCleared { .. }
                    | Event::DeadNodeReported { .. }),
                ) => Some(e),
                _ => None,
            })
            .collect();
        let (id5, addr) = (peer_key(5).id(), peer_addr(5));
        match lags {
            true => assert_eq!(
                decided,
                [Event::SuspicionCleared {
                    peer: id5,
                    addr,
                    dead: 3,
                    verdicts: 3
                }]
            ),
            false => {
                let kinds: Vec<&str> = decided.iter().map(|e| e.name()).collect();
                assert_eq!(kinds, ["suspicion_confirmed", "dead_node_reported"]);
            }
        }
        let reports = (net.outputs_of(p, mark).iter())
            .filter(|o| {
                matches!(
                    o,
                    Output::Send {
                        msg: Msg::DeadReport(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(reports > 0, !lags, "lags: {lags}");
    }
}

/// Lifeguard's local health for a lost neighbour (PROTOCOL §12.1): while the peer lags, a
/// failed redial is no miss (the dial may have run out of time here). Six late rounds of
/// failed redials start no suspicion; on time again, `suspect_after` misses do.
#[test]
fn a_lagging_peer_counts_no_failed_redial() {
    let settings = peer::Settings {
        gossip_delay: Duration::from_secs(3600),
        ..peer_settings()
    };
    let after = settings.suspect_after;
    let (mut net, p, [_, _, l7]) = peer_with_three_neighbours_with(settings);
    // 7's link drops and nobody listens at its address: every redial fails.
    net.inject(p, Input::LinkDown { link: l7 });
    let events = run_late(&mut net, p, 2 * after);
    let started = (events.iter()).filter(|e| matches!(e, Event::SuspicionStarted { .. }));
    assert_eq!(started.count(), 0, "{events:?}");

    assert_eq!(suspect_on_time(&mut net, p, l7), (peer_key(7).id(), after));
}
