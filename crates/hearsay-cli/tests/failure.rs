//! Issue 4 acceptance over real processes: failure detection with two-level consensus
//! (SPEC §5 Validating a removal, §6 Liveness and Suspicion; PROTOCOL §12).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use hearsay_proto::suspicion::{dead_line, DeadReport, Verdict};
use hearsay_proto::wire::Msg;
use hearsay_proto::{peer, Keypair, Output, PeerId};
use serde_json::Value;

/// suspect_after × ping_interval.
const DETECT: Duration = Duration::from_millis(600);
/// The consensus bound this test holds the system to: peer verdicts (≤ 2 s) plus the seeds'
/// probe and vote (≤ 5 s, the proposal timeout), with room for a loaded machine.
const CONSENSUS: Duration = Duration::from_secs(10);

fn start(net: &mut Net, names: &[String], extra: &[&str]) {
    start_each(net, names, |_| {
        let mut args: Vec<&str> = FAST.to_vec();
        args.extend_from_slice(extra);
        args
    });
}

/// Starts the seeds, then the peers one by one (peer `i` with `args(i)`), and waits until
/// every seed has admitted all of them.
fn start_each<'a>(net: &mut Net, names: &[String], args: impl Fn(usize) -> Vec<&'a str>) {
    net.start_seeds();
    for (i, n) in names.iter().enumerate() {
        net.start_peer(n, &args(i));
        std::thread::sleep(Duration::from_millis(20));
    }
    let seeds = net.seeds.clone();
    let want = names.len();
    wait_for(
        "every peer admitted everywhere",
        Duration::from_secs(60),
        || {
            for s in &seeds {
                let n = peer_ids(&status(*s)?).len();
                if n != want {
                    return Err(format!("{s} holds {n}"));
                }
            }
            Ok(())
        },
    );
}

fn overlay(st: &Value) -> (BTreeSet<String>, Vec<(String, String)>) {
    let mut nodes = BTreeSet::new();
    let mut edges = Vec::new();
    for p in st["peers"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap().to_string();
        nodes.insert(id.clone());
        for n in p["neighbors"].as_array().unwrap() {
            edges.push((id.clone(), n.as_str().unwrap().to_string()));
        }
    }
    (nodes, edges)
}

/// Waits until every seed's PL is exactly `alive` and the overlay among them is connected.
fn wait_removed(net: &Net, alive: &BTreeSet<String>, limit: Duration) {
    let seeds = net.seeds.clone();
    wait_for(
        "the dead removed everywhere, the living kept",
        limit,
        || {
            for s in &seeds {
                let st = status(*s)?;
                let ids = peer_ids(&st);
                if &ids != alive {
                    let gone: Vec<_> = alive.difference(&ids).collect();
                    let extra: Vec<_> = ids.difference(alive).collect();
                    return Err(format!("{s}: missing {gone:?}, still holds {extra:?}"));
                }
            }
            Ok(())
        },
    );
}

fn wait_connected(net: &Net, alive: &BTreeSet<String>) {
    let seed = net.seeds[0];
    wait_for(
        "a connected overlay of the living",
        Duration::from_secs(20),
        || {
            let (_, edges) = overlay(&status(seed)?);
            if connected(alive, &edges) {
                Ok(())
            } else {
                Err(format!("{} edges, not connected", edges.len()))
            }
        },
    );
}

/// SPEC §6: SIGKILL one of 20 peers. Within suspect_after × ping_interval plus the consensus
/// bound, every seed's PL lacks it and every seed logged `removal_committed`; the others stay
/// and their overlay is connected.
#[test]
fn a_killed_peer_is_removed_by_every_seed() {
    let mut net = Net::new("kill1", 3);
    let names: Vec<String> = (0..20).map(|i| format!("peer{i}")).collect();
    start(&mut net, &names, &["--gossip-count", "0"]);
    let victim = net.id_of("peer7").unwrap();
    let alive: BTreeSet<String> = names
        .iter()
        .filter(|n| *n != "peer7")
        .map(|n| net.id_of(n).unwrap())
        .collect();
    let killed = Instant::now();
    net.kill_peer("peer7");
    wait_removed(&net, &alive, DETECT + CONSENSUS);
    eprintln!("removed everywhere {:?} after the kill", killed.elapsed());
    for s in 0..3 {
        let committed = net.events_named(&format!("seed{s}"), "removal_committed");
        assert!(
            committed.iter().any(|e| e["peer"] == victim.as_str()),
            "seed{s} logged no removal_committed"
        );
        assert_eq!(committed.len(), 1, "seed{s} removed exactly one peer");
    }
    // Seeds logged the report as sent, and the reporter the exact line.
    let log = net.log();
    assert!(
        log.contains("dead-node report from peer") && log.contains("Dead Node:127.0.0.1:"),
        "{log}"
    );
    let reported: Vec<Value> = names
        .iter()
        .flat_map(|n| net.events_named(n, "dead_node_reported"))
        .collect();
    assert!(!reported.is_empty());
    for r in &reported {
        let line = r["line"].as_str().unwrap();
        let parts: Vec<&str> = line.split(':').collect();
        assert_eq!(parts.len(), 5, "{line}");
        assert_eq!(
            (parts[0], parts[1], parts[4]),
            ("Dead Node", "127.0.0.1", "127.0.0.1"),
            "{line}"
        );
        assert!(parts[3].parse::<f64>().is_ok(), "{line}");
    }
    wait_connected(&net, &alive);
}

/// Issue 15, PROTOCOL §12.6: SIGKILL 3 of 4 peers at once. The survivor's witnesses died
/// with its suspects, and some of the dead may have had no live neighbour at all; still every
/// seed removes all three within 30 s (fast pings, the default `--orphan-after` of 10 s),
/// and keeps the survivor.
#[test]
fn three_of_four_killed_at_once_are_all_removed_by_every_seed_within_30_s() {
    let mut net = Net::new("kill3of4", 3);
    let names: Vec<String> = (0..4).map(|i| format!("peer{i}")).collect();
    start(&mut net, &names, &["--gossip-count", "0"]);
    // Every peer linked first, so that the kills leave dead neighbourhoods behind.
    let seed = net.seeds[0];
    wait_for("an overlay of all four", Duration::from_secs(20), || {
        let (nodes, edges) = overlay(&status(seed)?);
        match connected(&nodes, &edges) {
            true => Ok(()),
            false => Err(format!("{} edges", edges.len())),
        }
    });
    let alive: BTreeSet<String> = [net.id_of("peer0").unwrap()].into();
    let killed = Instant::now();
    for n in ["peer1", "peer2", "peer3"] {
        net.kill_peer(n);
    }
    wait_removed(&net, &alive, Duration::from_secs(30));
    eprintln!(
        "all three removed everywhere {:?} after the kills",
        killed.elapsed()
    );
    for s in 0..3 {
        let committed = net.events_named(&format!("seed{s}"), "removal_committed");
        assert_eq!(committed.len(), 3, "seed{s} removed exactly the three");
    }
}

/// SPEC §6: SIGKILL 5 of 30 peers at once: all 5 are removed, no live peer is, the overlay
/// of the 25 is connected, and gossip generated afterwards reaches all 25.
#[test]
fn five_of_thirty_killed_at_once_are_removed_and_gossip_still_reaches_all() {
    let mut net = Net::new("kill5", 3);
    let names: Vec<String> = (0..30).map(|i| format!("peer{i}")).collect();
    // Gossip starts 15 s after a peer's neighbours connect: well after the kills below.
    let gossip = [
        "--gossip-delay",
        "15s",
        "--gossip-interval",
        "200ms",
        "--gossip-count",
        "5",
    ];
    start(&mut net, &names, &gossip);
    let doomed = ["peer3", "peer8", "peer14", "peer21", "peer27"];
    let alive_names: Vec<String> = names
        .iter()
        .filter(|n| !doomed.contains(&n.as_str()))
        .cloned()
        .collect();
    let alive: BTreeSet<String> = alive_names.iter().map(|n| net.id_of(n).unwrap()).collect();
    for d in doomed {
        net.kill_peer(d);
    }
    let killed = Instant::now();
    wait_removed(&net, &alive, DETECT + CONSENSUS);
    eprintln!(
        "5 removed everywhere {:?} after the kills",
        killed.elapsed()
    );
    wait_connected(&net, &alive);
    assert!(net.events_named("seed0", "removal_committed").len() == 5);
    // Every survivor gets the other 24 survivors' 5 messages each.
    wait_for(
        "gossip after the kills reaches all 25",
        Duration::from_secs(60),
        || {
            for n in &alive_names {
                let got: BTreeSet<String> = net
                    .events_named(n, "gossip_received")
                    .iter()
                    .filter(|e| alive.contains(e["origin"].as_str().unwrap()))
                    .map(|e| e["id"].as_str().unwrap().to_string())
                    .collect();
                if got.len() != 24 * 5 {
                    return Err(format!("{n} has {} of 120", got.len()));
                }
            }
            Ok(())
        },
    );
}

/// The accused, as the seeds know it: (id, address, incarnation).
/// SPEC §8: a malicious peer (the real protocol, its own valid key, admitted) reports a live
/// peer dead, once with only its own verdict and once with forged witness verdicts. The
/// accused stays in every PL and every seed logs `false_accusation` naming the reporter.
#[test]
fn false_accusations_with_forged_or_missing_verdicts_remove_nobody() {
    let mut net = Net::new("liar", 3);
    let names: Vec<String> = (0..6).map(|i| format!("peer{i}")).collect();
    start(&mut net, &names, &["--gossip-count", "0"]);
    let st = status(net.seeds[0]).unwrap();
    let victim = member(&st, &net.id_of("peer0").unwrap());
    let other = |n: &str| PeerId::from_hex(&net.id_of(n).unwrap()).unwrap();
    let (w1, w2) = (other("peer1"), other("peer2"));
    let key = Keypair::from_secret([21; 32]);
    let liar = key.id();
    // Once admitted (its first neighbour report goes to its seeds), it sends each seed two
    // false reports along with the report.
    let settings = peer::Settings {
        gossip_count: 0,
        ..peer::Settings::default()
    };
    let mut sent = false;
    let stop = start_rogue(&net, "liar", key.clone(), settings, move |out| match out {
        Output::Send {
            link,
            msg: Msg::Neighbors(r),
        } if !sent => {
            let now = hearsay_net::now();
            let me: SocketAddr = "127.0.0.1:9".parse().unwrap();
            let line = dead_line(victim.1, now, me);
            let own = Verdict::new(&key, victim, false, now);
            let missing = DeadReport::new(&key, line.clone(), victim, vec![own.clone()]);
            // Verdicts in the names of two real peers, signed with the liar's key.
            let forge = |w: PeerId| Verdict {
                witness: w,
                ..Verdict::new(&key, victim, false, now)
            };
            let forged = DeadReport::new(&key, line, victim, vec![own, forge(w1), forge(w2)]);
            sent = true;
            vec![
                Output::Send {
                    link,
                    msg: Msg::Neighbors(r),
                },
                Output::Send {
                    link,
                    msg: Msg::DeadReport(Box::new(missing)),
                },
                Output::Send {
                    link,
                    msg: Msg::DeadReport(Box::new(forged)),
                },
            ]
        }
        other => vec![other],
    });
    wait_false_accusation(&net, 3, liar, victim.0);
    std::thread::sleep(Duration::from_secs(2));
    for s in &net.seeds {
        let ids = peer_ids(&status(*s).unwrap());
        assert!(ids.contains(&victim.0.to_hex()), "{s} removed the accused");
        assert_eq!(ids.len(), 7, "{s}: the six honest peers and the liar");
    }
    for s in 0..3 {
        assert!(net
            .events_named(&format!("seed{s}"), "removal_committed")
            .is_empty());
        let votes = net.events_named(&format!("seed{s}"), "vote");
        let removal_votes: Vec<&Value> = votes.iter().filter(|v| v["op"] == "remove").collect();
        assert!(
            !removal_votes.is_empty(),
            "seed{s} never voted on the removal"
        );
        assert!(
            removal_votes.iter().all(|v| v["yes"] == false),
            "seed{s} voted yes: {removal_votes:?}"
        );
    }
    stop.cancel();
}

/// Issue 15, PROTOCOL §12.6: a fake peer registers, never links to anyone (it asks for no
/// peer list), and vanishes. Nobody pings it, so before the seeds watched orphans it stayed
/// in every Peer List for good; now a seed asks a peer of the overlay to watch it, and every
/// seed removes it (within 10 s of `--orphan-after`, half that to notice, and the watcher's
/// suspicion), while the honest peers stay.
#[test]
fn a_peer_that_registers_and_vanishes_is_removed_by_every_seed() {
    let mut net = Net::new("vanish", 3);
    let names: Vec<String> = (0..4).map(|i| format!("peer{i}")).collect();
    start(&mut net, &names, &["--gossip-count", "0"]);
    let honest: BTreeSet<String> = names.iter().map(|n| net.id_of(n).unwrap()).collect();
    let key = Keypair::from_secret([23; 32]);
    let ghost = key.id().to_hex();
    let settings = peer::Settings {
        gossip_count: 0,
        ..peer::Settings::default()
    };
    let stop = start_rogue(&net, "ghost", key, settings, |out| match out {
        Output::Send {
            msg: Msg::GetPeers, ..
        } => vec![],
        other => vec![other],
    });
    let seeds = net.seeds.clone();
    wait_for(
        "the ghost admitted everywhere",
        Duration::from_secs(20),
        || {
            for s in &seeds {
                if !peer_ids(&status(*s)?).contains(&ghost) {
                    return Err(format!("{s} has not admitted it"));
                }
            }
            Ok(())
        },
    );
    let vanished = Instant::now();
    stop.cancel();
    wait_removed(&net, &honest, Duration::from_secs(40));
    eprintln!(
        "the ghost removed everywhere {:?} after it vanished",
        vanished.elapsed()
    );
    let watched = (0..3).any(|s| {
        (net.events_named(&format!("seed{s}"), "orphan_watched")
            .iter())
        .any(|e| e["peer"] == ghost.as_str())
    });
    assert!(watched, "no seed asked a peer to watch the ghost");
}

/// PROTOCOL §12.1: a ping carries its sender's round, and a peer whose own rounds are
/// longer answers it with a pong. Peers started with different `--ping-interval`s (200 ms
/// and 2 s, alternately) share links for 10 s and nobody suspects anybody. Were a fast
/// peer's pings answered only by its slow neighbour's own pings, it would miss some nine of
/// its rounds between two of them and suspect that neighbour every 2 s.
#[test]
fn peers_with_different_ping_intervals_suspect_nobody() {
    let mut net = Net::new("mixed-rounds", 3);
    let names: Vec<String> = (0..8).map(|i| format!("peer{i}")).collect();
    let round = |i: usize| if i.is_multiple_of(2) { "200ms" } else { "2s" };
    start_each(&mut net, &names, |i| {
        let mut args = vec!["--ping-interval", round(i), "--gossip-count", "0"];
        args.extend_from_slice(&FAST[2..]);
        args
    });
    // The test means something only where a fast peer and a slow one are neighbours.
    let addr_of = |n: &String| net.events(n)[0]["node"].as_str().unwrap().to_string();
    let slow: BTreeSet<String> = (names.iter().enumerate())
        .filter(|(i, _)| round(*i) == "2s")
        .map(|(_, n)| addr_of(n))
        .collect();
    let fast: Vec<&String> = (names.iter().enumerate())
        .filter(|(i, _)| round(*i) == "200ms")
        .map(|(_, n)| n)
        .collect();
    wait_for(
        "a fast peer linked to a slow one",
        Duration::from_secs(20),
        || {
            let mixed = (fast.iter())
                .flat_map(|n| net.events_named(n, "neighbor_added"))
                .filter(|e| slow.contains(e["addr"].as_str().unwrap_or("")))
                .count();
            if mixed > 0 {
                Ok(())
            } else {
                Err("no link between a 200 ms peer and a 2 s one".to_string())
            }
        },
    );
    std::thread::sleep(Duration::from_secs(10));
    for n in &names {
        let suspected = net.events_named(n, "suspicion_started");
        assert!(suspected.is_empty(), "{n} suspected {suspected:?}");
    }
    let everyone: BTreeSet<String> = names.iter().map(|n| net.id_of(n).unwrap()).collect();
    for s in net.seeds.clone() {
        assert_eq!(peer_ids(&status(s).unwrap()), everyone, "{s} lost a peer");
    }
}
