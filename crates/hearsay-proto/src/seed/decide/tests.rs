//! Tests of a seed's decisions (SPEC §5): admission and removal, by a quorum of votes.

use crate::testkit::*;

/// SPEC §5 Peer List, Proposals; §6 Joining.
#[test]
fn three_seeds_admit_one_peer_by_a_certificate_of_a_quorum() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));

    let id = peer_key(0).id();
    let cert = net.peer(peer_addr(0)).certificate().cloned();
    let cert = cert.expect("the peer holds a certificate of its admission");
    assert_eq!(cert.change, add(0, peer_addr(0)));
    let signers: BTreeSet<PeerId> = cert.signers().into_iter().collect();
    assert!(signers.len() >= 2, "{signers:?}");
    for i in 0..3 {
        let s = net.seed(seed_addr(i));
        assert_eq!(
            cert.verify(&s.seed_set(), &Checks::default()),
            Ok(()),
            "seed {i}"
        );
        let member = s.peer_list().get(&id).expect("every seed admits the peer");
        assert_eq!((member.addr, member.incarnation), (peer_addr(0), 1));
        let committed = net.count(seed_addr(i), "registration_committed", id);
        assert_eq!(committed, 1, "seed {i} logs one commit");
    }
}

/// A seed checks the certificate's signatures as votes before it checks the certificate:
/// each signature costs it one check, however often it comes (PROTOCOL §5.2, §5.3: every yes
/// signature on a change is over the same bytes).
#[test]
fn a_seed_remembers_the_signatures_it_checked() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));

    let cert = net.peer(peer_addr(0)).certificate().cloned();
    let cert = cert.expect("the peer holds a certificate of its admission");
    for i in 0..3 {
        let s = net.seed(seed_addr(i));
        let remembered = s.checks().remembered();
        // The registration, the votes, the certificate, the neighbour reports.
        assert!(remembered >= 3, "seed {i} remembers {remembered}");
        assert_eq!(cert.verify(&s.seed_set(), s.checks()), Ok(()), "seed {i}");
        assert_eq!(
            s.checks().remembered(),
            remembered,
            "seed {i} had checked every signature of the certificate"
        );
    }
}

/// SPEC §5 Proposals: the same proposal arriving through several seeds is one decision.
#[test]
fn the_same_registration_through_several_seeds_is_one_decision() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));

    let id = peer_key(0).id();
    let coordinators = (0..3)
        .filter(|&i| net.count(seed_addr(i), "registration_proposed", id) == 1)
        .count();
    assert_eq!(coordinators, 2, "the peer registers with q = 2 seeds");
    for i in 0..3 {
        assert_eq!(
            net.votes(seed_addr(i), id),
            [(true, String::new())],
            "seed {i}"
        );
    }
    let admitted: Vec<Change> = (net.frames.iter())
        .filter(|(_, to, _)| *to == peer_addr(0))
        .filter_map(|(_, _, m)| match m {
            Msg::Admitted(c) => Some(c.change),
            _ => None,
        })
        .collect();
    assert_eq!(
        admitted,
        [add(0, peer_addr(0)); 2],
        "both coordinators certify one change"
    );
}

/// SPEC §6 Joining: without a quorum the peer gives up with a clear message; SPEC §5: a lone
/// seed cannot make a certificate.
#[test]
fn a_lone_seed_admits_nobody() {
    let mut net = Net::new();
    net.add_seed(0, seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_millis(9_900));
    assert_eq!(
        net.nodes[&peer_addr(0)].stop,
        None,
        "not before join_timeout"
    );
    net.run_for(Duration::from_millis(200));
    let why = "could not register: reached 1 of 3 seeds in 10s, and a quorum needs 2";
    assert_eq!(net.nodes[&peer_addr(0)].stop, Some(Err(why.to_string())));
    assert!(net.peer(peer_addr(0)).certificate().is_none());
    assert!(net.seed(seed_addr(0)).peer_list().is_empty());
    // It registers only once q seed links are up (PROTOCOL §6).
    let registers = (net.frames.iter())
        .filter(|(_, _, m)| matches!(m, Msg::Register(_)))
        .count();
    assert_eq!(registers, 0);

    // A registration straight to the lone seed is refused at once.
    let (s, link, key) = (seed_addr(0), LinkId(1_000_000), peer_key(1));
    let r = remote(key.id(), Role::Peer, peer_addr(1));
    assert_eq!(
        net.inject(
            s,
            Input::LinkUp {
                link,
                remote: Box::new(r),
                dial: None
            }
        ),
        []
    );
    let reg = Registration::new(&key, peer_addr(1), 1);
    let reason = "only 1 of 3 seeds reachable, a quorum needs 2".to_string();
    let (peer, a) = (key.id(), peer_addr(1));
    assert_eq!(
        net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::Register(Box::new(reg))
            }
        ),
        [
            Output::Event(Event::RegistrationProposed {
                peer,
                addr: a,
                incarnation: 1
            }),
            Output::Event(Event::RegistrationAborted {
                peer,
                addr: a,
                incarnation: 1,
                reason: reason.clone()
            }),
            Output::Send {
                link,
                msg: Msg::Refused { reason }
            },
        ]
    );
    let commits = (net.events(s).iter())
        .filter(|e| e.name() == "registration_committed")
        .count();
    assert_eq!(commits, 0);
    assert!(net.seed(s).peer_list().is_empty());
}

/// SPEC §5 Validating an add: dial-back must meet the registering peer at its address.
#[test]
fn a_peer_registering_an_address_where_another_node_listens_gets_no_yes_vote() {
    let mut net = Net::seeds(seed::Settings::default());
    // Listens at 7009 but claims seed 2's address.
    net.add_peer_at(0, peer_addr(9), seed_addr(2));
    net.run_for(Duration::from_secs(3));
    let id = peer_key(0).id();
    let reason = format!(
        "dial-back to {} met peer {}, not the registering peer",
        seed_addr(2),
        seed_key(2).id()
    );
    for i in 0..3 {
        net.assert_voted_no(seed_addr(i), id, &reason);
        assert!(!net.seed(seed_addr(i)).peer_list().contains_key(&id));
    }
    assert!(net.peer(peer_addr(9)).certificate().is_none());
    let refused = (net.frames.iter()).find_map(|(_, to, m)| match m {
        Msg::Refused { reason } if *to == peer_addr(9) => Some(reason.clone()),
        _ => None,
    });
    let refused = refused.expect("the coordinators refuse the registration");
    assert!(refused.starts_with("voted down: "), "{refused}");
    assert!(refused.contains(&reason), "{refused}");
}

/// SPEC §5 Validating an add: a dial-back that reaches nobody is a no.
#[test]
fn a_peer_registering_an_address_where_nothing_listens_gets_no_yes_vote() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer_at(0, peer_addr(9), peer_addr(99));
    net.run_for(Duration::from_secs(3));
    let id = peer_key(0).id();
    let reason = format!("dial-back to {} failed: connection refused", peer_addr(99));
    for i in 0..3 {
        net.assert_voted_no(seed_addr(i), id, &reason);
        assert!(!net.seed(seed_addr(i)).peer_list().contains_key(&id));
    }
}

/// SPEC §5 Validating an add: registrations from one source are rate-limited.
#[test]
fn a_third_registration_from_one_source_ip_within_the_refill_time_is_refused() {
    let mut net = Net::seeds(seed::Settings {
        rate_burst: 2,
        rate_refill: Duration::from_secs(60),
        ..seed::Settings::default()
    });
    for i in 0..3 {
        net.add_peer(i);
        net.run_for(Duration::from_secs(2));
    }
    // Another source IP has its own bucket.
    let other = addr("127.0.0.2:7003");
    net.add_peer_at(3, other, other);
    net.run_for(Duration::from_secs(2));

    let reason = "rate limit: too many registrations from 127.0.0.1".to_string();
    for i in 0..3 {
        let s = seed_addr(i);
        for p in [0, 1, 3] {
            assert_eq!(net.votes(s, peer_key(p).id()), [(true, String::new())]);
        }
        net.assert_voted_no(s, peer_key(2).id(), &reason);
        let admitted: BTreeSet<PeerId> = net.seed(s).peer_list().keys().copied().collect();
        let expected: BTreeSet<PeerId> = [0, 1, 3].map(|p| peer_key(p).id()).into();
        assert_eq!(admitted, expected, "seed {i}");
    }
    assert!(net.peer(peer_addr(2)).certificate().is_none());
}

/// SPEC §5 Conflicts and "seeds converge just by exchanging the certificates they hold": at
/// most one add may be certified per (peer, incarnation), or seeds that see the two
/// certificates in different orders keep different addresses for the peer.
#[test]
fn one_incarnation_of_a_peer_is_admitted_at_one_address_only() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    // The same key and incarnation started a second time, elsewhere.
    net.add_peer_at(0, peer_addr(5), peer_addr(5));
    net.run_for(Duration::from_secs(3));
    let first = net.peer(peer_addr(0)).certificate().map(|c| c.change);
    let second = net.peer(peer_addr(5)).certificate().map(|c| c.change);
    assert_eq!(first, Some(add(0, peer_addr(0))));
    assert_eq!(second, None, "two addresses certified for incarnation 1");

    // Applying the two certificates in either order must give the same Peer List.
    let (a, b) = (
        cert(add(0, peer_addr(0)), &[0, 2]),
        cert(add(0, peer_addr(5)), &[0, 2]),
    );
    let mut fresh = Net::seeds(seed::Settings::default());
    let (l1, _) = fresh.link(seed_addr(1), seed_addr(0));
    let (l2, _) = fresh.link(seed_addr(2), seed_addr(0));
    for msg in [
        Msg::Commit(Box::new(a.clone())),
        Msg::Commit(Box::new(b.clone())),
    ] {
        fresh.inject(seed_addr(1), Input::Frame { link: l1, msg });
    }
    for msg in [Msg::Commit(Box::new(b)), Msg::Commit(Box::new(a))] {
        fresh.inject(seed_addr(2), Input::Frame { link: l2, msg });
    }
    let at = |s: usize| fresh.seed(seed_addr(s)).peer_list()[&peer_key(0).id()].addr;
    assert_eq!(at(1), at(2), "seeds disagree on the peer's address");
}

/// SPEC §5 Validating a removal: the report must carry signed verdicts of a majority of the
/// witnesses; without them every seed votes no even though its own probe fails too.
#[test]
fn a_dead_node_report_without_valid_evidence_gets_a_no_vote_from_every_seed() {
    let mut net = seeds_and_peers(5);
    for i in [1, 2, 4] {
        net.take_down(peer_addr(i), true);
    }
    let now = net.now;

    // Missing verdicts: the reporter's own only.
    let alone = report(0, 1, peer_addr(1), 1, vec![dead(0, 1, 1, now)], now);
    let s1 = deliver_report(&mut net, alone);
    // A forged verdict: peer 3's name, peer 0's signature.
    let mut forged = dead(3, 2, 1, now);
    forged.sig = dead(0, 2, 1, now).sig;
    let s2 = deliver_report(
        &mut net,
        report(0, 2, peer_addr(2), 1, vec![dead(0, 2, 1, now), forged], now),
    );
    // The same kind of report with valid evidence removes its peer (a control).
    let valid = vec![dead(0, 4, 1, now), dead(3, 4, 1, now)];
    deliver_report(&mut net, report(0, 4, peer_addr(4), 1, valid, now));

    let missing =
        "evidence: only 1 of 1 verdicts say unresponsive (a majority, and at least 2, needed)";
    let forged = format!(
        "evidence: the verdict of {} does not verify",
        peer_key(3).id()
    );
    for s in (0..3).map(seed_addr) {
        assert_eq!(
            net.remove_votes(s, peer_key(1).id()),
            [(false, missing.to_string())],
            "{s}"
        );
        assert_eq!(
            net.remove_votes(s, peer_key(2).id()),
            [(false, forged.clone())],
            "{s}"
        );
        // A yes logs what the seed's own probe saw (the signed vote carries no reason).
        let saw = "this seed's own probe of 127.0.0.1:7004: no answer in time".to_string();
        assert_eq!(net.remove_votes(s, peer_key(4).id()), [(true, saw)], "{s}");
        assert_eq!(net.removals(s), [peer_key(4).id()], "{s}");
        let pl = net.seed(s).peer_list();
        for i in [0, 1, 2, 3] {
            assert_eq!(pl[&peer_key(i).id()].incarnation, 1, "{s}: peer {i}");
        }
        assert!(!pl.contains_key(&peer_key(4).id()));
    }
    assert_removal_aborted(&net, s1, peer_key(1).id());
    assert_removal_aborted(&net, s2, peer_key(2).id());
}

/// SPEC §5 Validating a removal: "If the accused answers the seed, the vote is no and the
/// seed logs a false accusation naming the reporter" — however good the evidence looks.
#[test]
fn a_seed_whose_own_probe_reaches_the_accused_votes_no_and_logs_a_false_accusation() {
    let mut net = seeds_and_peers(4);
    let now = net.now;
    let verdicts = vec![dead(0, 1, 1, now), dead(2, 1, 1, now), dead(3, 1, 1, now)];
    let r = report(0, 1, peer_addr(1), 1, verdicts, now);
    let pl = net.seed(seed_addr(0)).peer_list();
    assert_eq!(
        r.check(now, |p| pl.contains_key(p), &Checks::default()),
        Ok(()),
        "the evidence holds"
    );
    let coordinator = deliver_report(&mut net, r);

    let id1 = peer_key(1).id();
    let reason = format!(
        "the accused answered this seed's own probe at {}",
        peer_addr(1)
    );
    for s in (0..3).map(seed_addr) {
        let accusations: Vec<&Event> = (net.events(s).iter())
            .filter(|e| e.name() == "false_accusation")
            .collect();
        assert_eq!(
            accusations,
            [&Event::FalseAccusation {
                peer: id1,
                addr: peer_addr(1),
                reporter: Some(peer_key(0).id()),
                reason: reason.clone(),
            }],
            "{s}"
        );
        assert_eq!(net.remove_votes(s, id1), [(false, reason.clone())], "{s}");
        assert_eq!(net.removals(s), Vec::<PeerId>::new(), "{s}");
        let m = &net.seed(s).peer_list()[&id1];
        assert_eq!((m.addr, m.incarnation), (peer_addr(1), 1));
    }
    assert_removal_aborted(&net, coordinator, id1);
    assert!(net.peer(peer_addr(1)).certificate().is_some());
}

/// SPEC §5 Validating a removal and Conflicts: a report about the current incarnation whose
/// verdicts are about an older one is voted down; a report about an older incarnation is
/// not even proposed.
#[test]
fn a_dead_node_report_with_verdicts_about_an_older_incarnation_is_voted_down() {
    let mut net = Net::seeds(seed::Settings::default());
    for i in 0..4 {
        let incarnation = if i == 1 { 2 } else { 1 };
        net.add_peer_incarnation(i, peer_addr(i), peer_addr(i), incarnation);
        net.run_for(Duration::from_secs(2));
    }
    net.run_for(Duration::from_secs(3));
    let id1 = peer_key(1).id();
    assert_eq!(net.seed(seed_addr(0)).peer_list()[&id1].incarnation, 2);
    net.take_down(peer_addr(1), true);
    let now = net.now;

    // About incarnation 1 altogether: the seed logs it and does nothing more.
    let old = vec![dead(0, 1, 1, now), dead(2, 1, 1, now), dead(3, 1, 1, now)];
    let r = report(0, 1, peer_addr(1), 1, old.clone(), now);
    let (s, link) = net.seed_end(peer_addr(0));
    let line = r.line.clone();
    assert_eq!(
        net.inject(
            s,
            Input::Frame {
                link,
                msg: Msg::DeadReport(r)
            }
        ),
        [Output::Event(Event::DeadNodeReportReceived {
            line,
            reporter: peer_key(0).id()
        })]
    );
    // About incarnation 2, with the witnesses' verdicts about incarnation 1.
    let mixed = vec![dead(0, 1, 2, now), old[1].clone(), old[2].clone()];
    let coordinator = deliver_report(&mut net, report(0, 1, peer_addr(1), 2, mixed, now));
    let reason = format!(
        "evidence: the verdict of {} is about another peer or incarnation",
        peer_key(2).id()
    );
    for s in (0..3).map(seed_addr) {
        assert_eq!(net.remove_votes(s, id1), [(false, reason.clone())], "{s}");
        assert_eq!(net.removals(s), Vec::<PeerId>::new(), "{s}");
        assert_eq!(net.seed(s).peer_list()[&id1].incarnation, 2, "{s}");
    }
    assert_removal_aborted(&net, coordinator, id1);
}

/// Issue 15: a dead-node report is checked before it is logged. One from a key that is not
/// admitted, or whose line is not the task's short line about the accused (a 1 MiB line, a
/// terminal escape), is a protocol error with a bounded reason, and nothing of it is logged.
#[test]
fn a_dead_node_report_is_checked_before_anything_of_it_is_logged() {
    let mut net = seeds_and_peers(2);
    let (now, s) = (net.now, seed_addr(0));
    let verdicts = vec![dead(0, 1, 1, now), dead(2, 1, 1, now)];
    let line = report(0, 1, peer_addr(1), 1, verdicts.clone(), now).line;
    let bad_lines = ["x".repeat(1 << 20), format!("{line}\u{1b}[2J")];
    let suspect = (peer_key(1).id(), peer_addr(1), 1);
    let cases = bad_lines.into_iter().map(|bad| {
        let reason = format!(
            "a dead-node report whose line ({} bytes) is not `Dead Node:{}:{}:<time>:<IP>`",
            bad.len(),
            peer_addr(1).ip(),
            peer_addr(1).port()
        );
        let r = DeadReport::new(&peer_key(0), bad, suspect, verdicts.clone());
        (0, Box::new(r), reason)
    });
    // And a key nobody admitted.
    let stranger = report(8, 1, peer_addr(1), 1, verdicts.clone(), now);
    let not_admitted = "a dead-node report from a peer not admitted".to_string();
    let cases = cases.chain([(8, stranger, not_admitted)]);
    for (k, (reporter, r, reason)) in cases.enumerate() {
        let link = LinkId(3_000_000 + k as u64);
        let from = inbound_from(&mut net, s, reporter, link);
        let outs = net.handle(
            s,
            Input::Frame {
                link,
                msg: Msg::DeadReport(r),
            },
        );
        let remote = from.source.to_string();
        assert_eq!(
            outs,
            [
                Output::Event(Event::ProtocolError { remote, reason }),
                Output::Close { link }
            ]
        );
    }
}

/// Issue 15: a config that pins the wrong key for two of the three seeds leaves the peer one
/// seed short of a quorum; it gives up at `join_timeout` naming that cause, not only the
/// arithmetic.
#[test]
fn a_peer_whose_pinned_seed_keys_do_not_match_gives_up_saying_so() {
    let mut net = Net::seeds(seed::Settings::default());
    let wrong = |i: u8| Keypair::from_secret([200 + i; 32]).id().to_hex();
    let text = format!(
        "{} {}\n{} {}\n{}",
        SEEDS[0],
        wrong(0),
        SEEDS[1],
        wrong(1),
        SEEDS[2]
    );
    let config = Config::parse("config.txt", &text).unwrap();
    let (key, at) = (peer_key(0), peer_addr(0));
    let id = key.id();
    let p = peer::State::new(net.now, key, at, 1, config, peer_settings(), 7);
    net.add(at, Kind::Peer(Box::new(p)), id, at);
    net.run_for(Duration::from_millis(10_100));
    let stop = net.nodes[&at].stop.clone().expect("it gave up");
    let why = stop.expect_err("an error");
    let prefix =
        "could not register: reached 1 of 3 seeds in 10s, and a quorum needs 2: 127.0.0.1:600";
    assert!(why.starts_with(prefix), "{why}");
    assert!(
        why.ends_with(" is not the seed of the config (its key differs)"),
        "{why}"
    );
}

/// Issue 16: seeds that answer but cannot finish a handshake (here, older nodes speaking the
/// plaintext protocol) leave the peer short of a quorum; when it gives up it names the last
/// seed and the handshake's reason, not only the arithmetic.
#[test]
fn a_peer_whose_seeds_fail_the_handshake_gives_up_saying_why() {
    let mut net = Net::new();
    for i in 0..3 {
        net.silent.insert(seed_addr(i));
    }
    net.add_peer(0);
    let at = peer_addr(0);
    let dials: Vec<(DialToken, SocketAddr)> = (net.outputs.iter())
        .filter_map(|(from, o)| match o {
            Output::Dial { token, addr, .. } if *from == at => Some((*token, *addr)),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 3, "every seed dialled: {dials:?}");
    let why = "handshake failed: a plaintext handshake (a hearsay node older than protocol \
               version 5): links are encrypted";
    for &(token, _) in &dials {
        let error = DialError::Failed(why.to_string());
        net.inject(at, Input::DialFailed { token, error });
    }
    net.run_for(Duration::from_millis(10_100));
    let stop = net.nodes[&at].stop.clone().expect("it gave up");
    let said = stop.expect_err("an error");
    let prefix = "could not register: reached 0 of 3 seeds in 10s, and a quorum needs 2: ";
    let named = (said.strip_prefix(prefix)).and_then(|rest| rest.strip_suffix(why));
    let seed = named.unwrap_or_else(|| panic!("{said}"));
    assert!(
        dials.iter().any(|(_, addr)| format!("{addr}: ") == seed),
        "{said}"
    );
}

/// The seed's side of `link_use` (PROTOCOL §3.1): a client's link and an unadmitted peer's
/// are strangers'; a registration makes its link protected while it is decided, and only
/// then; the other seeds' links and an admitted peer's are protected; a link claiming to be a
/// seed with a key nobody configured is a stranger's.
#[test]
fn a_seed_protects_seeds_admitted_peers_and_registrations_only() {
    let mut net = Net::seeds(seed::Settings::default());
    net.add_peer(0);
    net.run_for(Duration::from_secs(3));
    let s = seed_addr(0);
    let up = |link, remote| Input::LinkUp {
        link,
        remote: Box::new(remote),
        dial: None,
    };
    let (client, stranger, fake) = (LinkId(3_000_001), LinkId(3_000_002), LinkId(3_000_003));
    let client_key = Keypair::from_secret([88; 32]).id();
    net.inject(
        s,
        up(
            client,
            remote(client_key, Role::Client, addr("127.0.0.1:9000")),
        ),
    );
    assert_eq!(net.seed(s).link_use(client), LinkUse::Stranger);

    let key = peer_key(5);
    net.inject(s, up(stranger, remote(key.id(), Role::Peer, peer_addr(5))));
    assert_eq!(net.seed(s).link_use(stranger), LinkUse::Stranger);
    let msg = Msg::Register(Box::new(Registration::new(&key, peer_addr(5), 1)));
    net.handle(
        s,
        Input::Frame {
            link: stranger,
            msg,
        },
    );
    assert_eq!(net.seed(s).link_use(stranger), LinkUse::Protected);
    // Nothing listens at its address: the dial-back fails, the registration is refused, and
    // the link has no purpose again.
    net.drain();
    assert_eq!(net.seed(s).link_use(stranger), LinkUse::Stranger);

    net.inject(
        s,
        up(fake, remote(peer_key(9).id(), Role::Seed, seed_addr(1))),
    );
    assert_eq!(net.seed(s).link_use(fake), LinkUse::Stranger);

    let admitted = peer_key(0).id();
    let kept: Vec<(SocketAddr, LinkId)> = (net.links.iter())
        .filter(|(_, e)| e.told.role == Role::Seed || e.told.id == admitted)
        .filter(|(_, e)| net.nodes[&e.holder].role == Role::Seed)
        .map(|(l, e)| (e.holder, l))
        .collect();
    let told = |l| net.links.end(l).unwrap().told;
    assert!(kept.iter().any(|(_, l)| told(*l).id == admitted));
    for (at, l) in kept {
        assert_eq!(
            net.seed(at).link_use(l),
            LinkUse::Protected,
            "{at} link {l:?}"
        );
    }
}

/// Issue 15, PROTOCOL §12.3: a seed that had no room to dial learns nothing of the accused,
/// so its probe is no evidence of death: with every seed's dial pool full, a true report
/// with good evidence is voted down, each vote saying why. With room again, each yes vote
/// says what its seed's own probe saw.
#[test]
fn a_probe_this_seed_had_no_room_for_is_no_evidence_of_death() {
    let mut net = seeds_and_peers(4);
    net.take_down(peer_addr(1), true);
    net.busy = (0..3).map(seed_addr).collect();
    let now = net.now;
    let verdicts = |now| vec![dead(0, 1, 1, now), dead(2, 1, 1, now), dead(3, 1, 1, now)];
    let coordinator = deliver_report(&mut net, report(0, 1, peer_addr(1), 1, verdicts(now), now));
    let id1 = peer_key(1).id();
    let busy = "this seed could not probe 127.0.0.1:7001: no room here for another dial";
    for s in (0..3).map(seed_addr) {
        assert_eq!(net.remove_votes(s, id1), [(false, busy.to_string())], "{s}");
        assert!(net.seed(s).peer_list().contains_key(&id1), "{s}");
    }
    assert_removal_aborted(&net, coordinator, id1);

    net.busy.clear();
    net.run_for(Duration::from_secs(1));
    let now = net.now;
    deliver_report(&mut net, report(0, 1, peer_addr(1), 1, verdicts(now), now));
    let saw = "this seed's own probe of 127.0.0.1:7001: no answer in time";
    for s in (0..3).map(seed_addr) {
        let votes = net.remove_votes(s, id1);
        assert_eq!(votes.last(), Some(&(true, saw.to_string())), "{s}");
        assert_eq!(net.removals(s), [id1], "{s}");
    }
}

/// Issue 15, PROTOCOL §6.3: at most `registrations_per_network` registrations from one
/// source network (/24) are under validation at a seed at once; more are voted down at once,
/// saying why, so registrations whose dial-back hangs cannot take every dial-back slot.
/// Another network is not held up, and the share frees when a validation ends.
#[test]
fn registrations_from_one_network_take_at_most_their_share_of_a_seeds_validations() {
    let mut net = Net::seeds(seed::Settings {
        registrations_per_network: 2,
        ..seed::Settings::default()
    });
    let s = seed_addr(0);
    let (link, _) = net.link(s, seed_addr(1));
    let silent = addr("10.0.9.1:7000");
    net.silent.insert(silent);
    // Seed 1 asks seed 0 to validate peer `i`'s registration, made from `source`: whether
    // seed 0 dials back, and what it voted.
    let propose = |net: &mut Net, i: usize, source: &str| {
        let proposal = Proposal {
            change: add(i, silent),
            evidence: Evidence::Registration(Registration::new(&peer_key(i), silent, 1)),
            source: source.parse().unwrap(),
        };
        let msg = Msg::Propose(Box::new(proposal));
        let outs = net.inject(s, Input::Frame { link, msg });
        let dialled = outs
            .iter()
            .any(|o| matches!(o, Output::Dial { addr, .. } if *addr == silent));
        (dialled, net.votes(s, peer_key(i).id()))
    };
    assert_eq!(propose(&mut net, 10, "10.0.7.1"), (true, vec![]));
    assert_eq!(propose(&mut net, 11, "10.0.7.2"), (true, vec![]));
    let share =
        "2 registrations from network 10.0.7.0 are under way at this seed: try again shortly";
    assert_eq!(
        propose(&mut net, 12, "10.0.7.3"),
        (false, vec![(false, share.to_string())])
    );
    assert_eq!(
        propose(&mut net, 13, "10.0.8.1"),
        (true, vec![]),
        "another network"
    );
    net.run_for(seed::Settings::default().proposal_timeout + Duration::from_secs(1));
    let late = format!("dial-back to {silent} failed: no answer in time");
    assert_eq!(net.votes(s, peer_key(10).id()), [(false, late)]);
    assert_eq!(
        propose(&mut net, 14, "10.0.7.4"),
        (true, vec![]),
        "room again"
    );
}
