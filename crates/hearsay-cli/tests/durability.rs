//! Issue 7 acceptance over real processes: seeds that lose nothing (SPEC §5 "Convergence and
//! durability", PROTOCOL §13): durable certificates, rebuild before serving, anti-entropy
//! after downtime, a store that cannot be read, and peers that ride out a seed crash.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The bound this file holds a returning seed to: it dials the others at once and compares
/// certificates on every link that comes up, so a few seconds cover a loaded machine.
const CATCH_UP: Duration = Duration::from_secs(10);

/// A seed's Peer List: id → (address, incarnation).
type Pl = BTreeMap<String, (String, u64)>;

fn pl(status: &Value) -> Pl {
    status["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap().to_string();
            let addr = p["addr"].as_str().unwrap().to_string();
            (id, (addr, p["incarnation"].as_u64().unwrap()))
        })
        .collect()
}

fn pl_of(net: &Net, i: usize) -> Result<Pl, String> {
    status(net.seeds[i]).map(|s| pl(&s))
}

/// Waits until every seed in `seeds` holds the same Peer List, of `want` peers if given.
fn wait_same_pl(net: &Net, seeds: &[usize], want: Option<usize>, limit: Duration) -> Pl {
    let mut last = Pl::new();
    wait_for("the same Peer List at every seed", limit, || {
        let first = pl_of(net, seeds[0])?;
        for &i in &seeds[1..] {
            let other = pl_of(net, i)?;
            if other != first {
                return Err(format!(
                    "seed{} holds {}, seed{i} {}",
                    seeds[0],
                    first.len(),
                    other.len()
                ));
            }
        }
        if want.is_some_and(|n| first.len() != n) {
            return Err(format!("{} peers, not {want:?}", first.len()));
        }
        last = first;
        Ok(())
    });
    last
}

fn start_peers(net: &mut Net, names: &[String], extra: &[&str]) {
    for n in names {
        net.start_peer(n, extra);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("peer{i}")).collect()
}

/// The seeds a peer is linked to now, by its own events.
fn live_seeds(net: &Net, name: &str) -> BTreeSet<String> {
    let mut up = BTreeSet::new();
    for e in net.events(name) {
        let addr = e["addr"].as_str().unwrap_or_default().to_string();
        match e["event"].as_str() {
            Some("seed_connected") => {
                up.insert(addr);
            }
            Some("seed_disconnected") => {
                up.remove(&addr);
            }
            _ => {}
        }
    }
    up
}

/// Acceptance 1: SIGKILL a seed in the middle of 50 registrations and restart it: its Peer
/// List equals the others' within `CATCH_UP`, and every peer that got a certificate is in
/// every Peer List.
#[test]
fn a_seed_killed_during_fifty_registrations_comes_back_with_the_same_peer_list() {
    let mut net = Net::new("dur-mid", 3);
    net.start_seeds();
    let all = names(50);
    start_peers(&mut net, &all[..25], &["--gossip-count", "0"]);
    wait_for("seed1 committing", Duration::from_secs(30), || {
        let n = net.events_named("seed1", "registration_committed").len();
        (n >= 5).then_some(()).ok_or(format!("{n} commits"))
    });
    // The kill lands while the second half is registering.
    for (k, n) in all[25..].iter().enumerate() {
        net.start_peer(n, &["--gossip-count", "0"]);
        if k == 3 {
            net.kill_seed(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = net.events_named("seed1", "registration_committed").len();
    assert!(
        before < 50,
        "seed1 had committed all {before} before it died"
    );
    wait_for("every peer registered", Duration::from_secs(90), || {
        let missing: Vec<&String> = (all.iter())
            .filter(|n| net.events_named(n, "registered").is_empty())
            .collect();
        missing
            .is_empty()
            .then_some(())
            .ok_or(format!("{missing:?}"))
    });

    let back = Instant::now();
    net.start_seed(1);
    let held = wait_same_pl(&net, &[0, 1, 2], None, CATCH_UP);
    eprintln!("seed1 caught up {:?} after its restart", back.elapsed());
    let restored = net.events_named("seed1", "restored");
    assert_eq!(restored.len(), 2, "one restore per start");
    // The log shows a commit only once it is on disk, so the store holds every commit
    // seed1 logged before it died: it restarted with them, not from the others.
    let kept = restored[1]["certificates"].as_u64().unwrap() as usize;
    assert!(
        kept >= before.max(5),
        "restored {kept} of the {before} commits it logged"
    );
    for n in &all {
        let id = net.id_of(n).unwrap();
        assert!(
            held.contains_key(&id),
            "{n} holds a certificate but is missing"
        );
    }
}

/// Acceptance 2: stop all three seeds and start them again: every Peer List is exactly what
/// it was, before any peer could have registered again, and no peer had to.
#[test]
fn seeds_all_restarted_hold_exactly_the_peer_lists_they_had() {
    let mut net = Net::new("dur-all", 3);
    net.start_seeds();
    let all = names(10);
    start_peers(&mut net, &all, &["--gossip-count", "0"]);
    let before = wait_same_pl(&net, &[0, 1, 2], Some(10), Duration::from_secs(60));
    let marks: Vec<usize> = (0..3)
        .map(|i| net.events(&format!("seed{i}")).len())
        .collect();
    for i in 0..3 {
        net.kill_seed(i);
    }
    for i in 0..3 {
        net.start_seed(i);
    }
    for i in 0..3 {
        net.wait_seed_listening(i);
        // The first answer after the restart: rebuilt before serving.
        assert_eq!(
            pl_of(&net, i).unwrap(),
            before,
            "seed{i} right after its restart"
        );
    }
    // Peers find their seeds again; give them time to (wrongly) register anew.
    std::thread::sleep(Duration::from_secs(5));
    for (i, mark) in marks.into_iter().enumerate() {
        assert_eq!(pl_of(&net, i).unwrap(), before, "seed{i}");
        let name = format!("seed{i}");
        let after = &net.events(&name)[mark..];
        let restored: Vec<&Value> = after.iter().filter(|e| e["event"] == "restored").collect();
        assert_eq!(restored.len(), 1, "{name}");
        assert_eq!(restored[0]["peers"], 10, "{name}");
        let proposed = after
            .iter()
            .filter(|e| e["event"] == "registration_proposed")
            .count();
        assert_eq!(proposed, 0, "{name}: a peer registered again");
    }
    for n in &all {
        assert_eq!(net.events_named(n, "registered").len(), 1, "{n}");
    }
}

/// Acceptance 3: a seed stopped while a peer is removed learns the removal after it returns.
#[test]
fn a_seed_down_during_a_removal_learns_it_when_it_returns() {
    let mut net = Net::new("dur-removal", 3);
    net.start_seeds();
    let all = names(8);
    let mut args = FAST.to_vec();
    args.extend(["--gossip-count", "0"]);
    start_peers(&mut net, &all, &args);
    wait_same_pl(&net, &[0, 1, 2], Some(8), Duration::from_secs(60));
    let victim = net.id_of("peer3").unwrap();
    net.kill_seed(2);
    net.kill_peer("peer3");
    let removed = wait_same_pl(&net, &[0, 1], Some(7), Duration::from_secs(30));
    assert!(!removed.contains_key(&victim));
    assert!(pl_of(&net, 2).is_err(), "seed2 is down");

    let marks = [net.events("seed0").len(), net.events("seed1").len()];
    let back = Instant::now();
    net.start_seed(2);
    wait_same_pl(&net, &[0, 1, 2], Some(7), CATCH_UP);
    eprintln!(
        "seed2 learned the removal {:?} after its restart",
        back.elapsed()
    );
    let committed = net.events_named("seed2", "removal_committed");
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0]["peer"], victim.as_str());
    // It learned it by anti-entropy (PROTOCOL §13.2): a catch-up between it and another seed
    // since its restart. The seed that compared first logs it: seed2, or the other one,
    // naming seed2.
    let s2 = net.seeds[2].to_string();
    let named_seed2 = |i: usize| {
        net.events(&format!("seed{i}"))[marks[i]..]
            .iter()
            .any(|e| e["event"] == "catch_up" && e["seed"] == s2.as_str())
    };
    assert!(
        !net.events_named("seed2", "catch_up").is_empty() || named_seed2(0) || named_seed2(1),
        "no catch-up between seed2 and another seed after its restart"
    );
    // It learned the certificate; it did not take part in the decision.
    assert!(net.events_named("seed2", "removal_proposed").is_empty());

    // `hearsay status` without `--seed`: every seed holds 7 admissions and 1 removal, and
    // has agreed with each other seed since seed2 came back.
    let config = net.dir.join("config.txt");
    wait_for("every seed agreeing with the others", CATCH_UP, || {
        let out = std::process::Command::new(HEARSAY)
            .args(["status", "--json", "--config", config.to_str().unwrap()])
            .output()
            .map_err(|e| e.to_string())?;
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        if rows.len() != 3 {
            return Err(format!("{} rows", rows.len()));
        }
        let since = back.elapsed().as_millis() as u64;
        for r in &rows {
            if r["reachable"] != true || r["certificates"] != 8 || r["peers"] != 7 {
                return Err(format!("{r}"));
            }
            let agreed = r["agreed_ms_ago"].as_object().ok_or("no agreed_ms_ago")?;
            let fresh = agreed.len() == 2
                && agreed
                    .values()
                    .all(|v| v.as_u64().is_some_and(|ms| ms <= since));
            if !fresh {
                return Err(format!("{r}"));
            }
        }
        Ok(())
    });
}

/// Acceptance 4: a truncated store stops the seed with a message naming the file; with
/// `--rebuild` it comes back with the others' Peer List.
#[test]
fn a_truncated_store_stops_the_seed_and_rebuild_restores_it_from_the_others() {
    let mut net = Net::new("dur-truncated", 3);
    net.start_seeds();
    let all = names(5);
    start_peers(&mut net, &all, &["--gossip-count", "0"]);
    let want = wait_same_pl(&net, &[0, 1, 2], Some(5), Duration::from_secs(60));
    net.kill_seed(0);
    let store = net.seed_store(0);
    let len = std::fs::metadata(&store).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&store)
        .unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);

    net.start_seed(0);
    let out = net.wait_seed_exit(0, Duration::from_secs(10));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&store.display().to_string()) && err.contains("cannot be read"),
        "{err}"
    );
    assert!(err.contains("--rebuild"), "{err}");
    assert_eq!(
        std::fs::metadata(&store).unwrap().len(),
        len / 2,
        "left as it was"
    );

    net.start_seed_with(0, &["--rebuild"]);
    let held = wait_same_pl(&net, &[0, 1, 2], Some(5), CATCH_UP);
    assert_eq!(held, want);
    let aside: Vec<String> = std::fs::read_dir(store.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("store.redb.broken-"))
        .collect();
    assert_eq!(aside.len(), 1, "the unreadable store was moved aside");
}

/// Acceptance 5: kill a seed a peer is linked to: the peer is linked to q live seeds again,
/// and its later dead-node reports reach them.
#[test]
fn a_peer_whose_seed_dies_links_to_another_and_its_reports_reach_the_live_seeds() {
    let mut net = Net::new("dur-peer", 3);
    net.start_seeds();
    let all = names(6);
    let mut args = FAST.to_vec();
    args.extend(["--gossip-count", "0"]);
    start_peers(&mut net, &all, &args);
    wait_same_pl(&net, &[0, 1, 2], Some(6), Duration::from_secs(60));
    let seeds: Vec<String> = net.seeds.iter().map(|s| s.to_string()).collect();
    let mine = live_seeds(&net, "peer0");
    assert_eq!(mine.len(), 2, "q of the 3 seeds");
    let dead = seeds.iter().position(|s| mine.contains(s)).unwrap();
    let live: Vec<usize> = (0..3).filter(|&i| i != dead).collect();
    net.kill_seed(dead);
    wait_for("peer0 linked to the two live seeds", CATCH_UP, || {
        let now = live_seeds(&net, "peer0");
        let want: BTreeSet<String> = live.iter().map(|&i| seeds[i].clone()).collect();
        (now == want).then_some(()).ok_or(format!("{now:?}"))
    });

    // A neighbour of peer0 dies: peer0's report reaches both live seeds.
    let me = net.id_of("peer0").unwrap();
    let st = status(net.seeds[live[0]]).unwrap();
    let neighbours: BTreeSet<String> = st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == me.as_str())
        .unwrap()["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let victim = all[1..]
        .iter()
        .find(|n| neighbours.contains(&net.id_of(n).unwrap()))
        .expect("peer0 has a neighbour")
        .clone();
    let victim_id = net.id_of(&victim).unwrap();
    net.kill_peer(&victim);
    wait_for(
        "peer0's report at both live seeds",
        Duration::from_secs(20),
        || {
            for &i in &live {
                let got = net
                    .events_named(&format!("seed{i}"), "dead_node_report_received")
                    .iter()
                    .any(|e| e["reporter"] == me.as_str());
                if !got {
                    return Err(format!("seed{i} has no report from peer0"));
                }
            }
            Ok(())
        },
    );
    let reported = net.events_named("peer0", "dead_node_reported");
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0]["peer"], victim_id.as_str());
    assert_eq!(reported[0]["seeds"], 2, "sent to q live seeds");
    let held = wait_same_pl(&net, &live, Some(5), Duration::from_secs(20));
    assert!(!held.contains_key(&victim_id));
}
