//! Issue 2 acceptance over real TCP: separate `seed` and `peer` processes on 127.0.0.1
//! (SPEC §1–§7, PROTOCOL §3–§9).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hearsay_net::conn::{handshake, Identity};
use hearsay_proto::cert::Registration;
use hearsay_proto::handshake;
use hearsay_proto::wire::Msg;
use hearsay_proto::{Keypair, Role};

const LINKS: usize = 3;

/// SPEC §5–§6: 3 seeds and 30 peers. Within 60 s every seed's PL holds the same 30 peers,
/// each admitted by a certificate of q distinct seeds; the overlay is connected; and every
/// peer has degree ≥ min(links, peers admitted before it).
#[test]
fn thirty_peers_are_admitted_by_quorum_into_one_connected_overlay() {
    let mut net = Net::new("thirty", 3);
    net.start_seeds();
    let names: Vec<String> = (0..30).map(|i| format!("peer{i}")).collect();
    for name in &names {
        net.start_peer(name, &[]);
        std::thread::sleep(Duration::from_millis(20));
    }
    let seeds = net.seeds.clone();
    let mut last = Vec::new();
    wait_for("30 peers in every PL", Duration::from_secs(60), || {
        last = seeds
            .iter()
            .map(|s| status(*s))
            .collect::<Result<Vec<_>, _>>()?;
        for st in &last {
            let n = peer_ids(st).len();
            if n != 30 {
                return Err(format!("{} holds {n} peers", st["seed"]));
            }
        }
        Ok(())
    });

    // Every PL holds exactly the 30 peers that started.
    let ids: BTreeSet<String> = names
        .iter()
        .map(|n| net.id_of(n).expect("peer started"))
        .collect();
    for st in &last {
        assert_eq!(peer_ids(st), ids, "PL of {}", st["seed"]);
        assert_eq!(st["quorum"], 2);
    }
    // Each admitted by a certificate of ≥ q distinct configured seeds.
    let seed_ids: BTreeSet<String> = last
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seed_ids.len(), 3);
    for p in last[0]["peers"].as_array().unwrap() {
        let signers: BTreeSet<String> = p["signers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert!(signers.len() >= 2, "peer {} signed by {signers:?}", p["id"]);
        assert!(
            signers.is_subset(&seed_ids),
            "unknown signer in {signers:?}"
        );
    }
    // Each peer logged its certificate; order them by when they were admitted.
    let mut admitted: Vec<(u64, String)> = names
        .iter()
        .map(|n| {
            let reg = net.events_named(n, "registered");
            assert_eq!(reg.len(), 1, "{n} registered once");
            (reg[0]["ts"].as_u64().unwrap(), net.id_of(n).unwrap())
        })
        .collect();
    admitted.sort();

    // The overlay in the topology: connected, with the degree bound (links fill up over time).
    wait_for(
        "a connected overlay with the degree bound",
        Duration::from_secs(30),
        || {
            let st = status(seeds[0])?;
            let mut edges = Vec::new();
            let mut degree: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for p in st["peers"].as_array().unwrap() {
                let id = p["id"].as_str().unwrap().to_string();
                for n in p["neighbors"].as_array().unwrap() {
                    let n = n.as_str().unwrap().to_string();
                    edges.push((id.clone(), n.clone()));
                    degree.entry(id.clone()).or_default().insert(n.clone());
                    degree.entry(n).or_default().insert(id.clone());
                }
            }
            if !connected(&ids, &edges) {
                return Err(format!("not connected: {} edges", edges.len()));
            }
            for (before, (_, id)) in admitted.iter().enumerate() {
                let d = degree.get(id).map_or(0, BTreeSet::len);
                if d < LINKS.min(before) {
                    return Err(format!(
                        "peer {id} (admitted after {before}) has degree {d}"
                    ));
                }
            }
            Ok(())
        },
    );
    // Every seed holds the same topology as the first (reports are forwarded between seeds).
    let topo = |st: &serde_json::Value| -> BTreeMap<String, String> {
        st["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_string(),
                    p["neighbors"].to_string(),
                )
            })
            .collect()
    };
    wait_for(
        "the same topology at every seed",
        Duration::from_secs(10),
        || {
            let all: Vec<_> = seeds
                .iter()
                .map(|s| status(*s).map(|st| topo(&st)))
                .collect::<Result<_, _>>()?;
            if all.iter().all(|t| *t == all[0]) {
                Ok(())
            } else {
                Err("seeds differ".into())
            }
        },
    );
    // The human log carries the seed and peer lines SPEC §5 and §6 ask for.
    let log = net.log();
    for needle in [
        "registration proposed",
        "vote yes",
        "registration committed",
        "peer list from seed",
    ] {
        assert!(log.contains(needle), "outputfile.txt lacks {needle:?}");
    }
}

fn run_async<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Registers `key` at `addr` directly with one seed over the real protocol and returns the
/// seed's answer.
async fn register_directly(seed: SocketAddr, key: &Keypair, addr: SocketAddr) -> Msg {
    let stream = tokio::net::TcpStream::connect(seed).await.expect("connect");
    let me = Identity::new(key.clone(), Role::Peer, addr);
    let (mut link, _) = handshake(stream, &me, Duration::from_secs(5))
        .await
        .expect("handshake");
    let reg = Registration::new(key, addr, 1);
    link.send(&Msg::Register(Box::new(reg)))
        .await
        .expect("send");
    tokio::time::timeout(Duration::from_secs(15), link.recv())
        .await
        .expect("an answer in time")
        .expect("a frame")
        .expect("open")
}

/// SPEC §6 Joining: with 2 of 3 seeds stopped, a new peer cannot register: it exits
/// non-zero within its join timeout, saying why; the running seed admits nobody.
#[test]
fn without_a_quorum_of_seeds_nobody_is_admitted() {
    let mut net = Net::new("noquorum", 3);
    net.start_seed(0);
    let seed = net.seeds[0];
    wait_for("seed up", Duration::from_secs(10), || {
        status(seed).map(|_| ())
    });
    let start = Instant::now();
    net.start_peer("lonely", &["--join-timeout", "3s"]);
    let out = net.wait_peer("lonely", Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the peer must fail");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "gave up late: {:?}",
        start.elapsed()
    );
    assert!(
        stderr.contains("reached 1 of 3 seeds") && stderr.contains("quorum needs 2"),
        "stderr: {stderr}"
    );
    // Asked directly, the lone seed refuses instead of admitting on its own.
    let key = Keypair::from_secret([42; 32]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let answer = run_async(register_directly(
        seed,
        &key,
        listener.local_addr().unwrap(),
    ));
    match answer {
        Msg::Refused { reason } => assert!(reason.contains("quorum needs 2"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let st = status(seed).unwrap();
    assert!(peer_ids(&st).is_empty(), "{st}");
    assert!(net
        .events_named("seed0", "registration_committed")
        .is_empty());
    assert!(!net.events_named("seed0", "registration_aborted").is_empty());
}

/// SPEC §5 Validating an add: a peer that advertises an address it does not own is refused
/// by dial-back (every seed votes no, with the reason), and is in no PL.
#[test]
fn an_address_that_is_not_yours_is_refused_by_dial_back() {
    let mut net = Net::new("dialback", 3);
    net.start_seeds();
    let nobody = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let seed1 = net.seeds[1].to_string();
    net.start_peer("thief", &["--advertise", &seed1, "--join-timeout", "4s"]);
    net.start_peer(
        "ghost",
        &["--advertise", &nobody.to_string(), "--join-timeout", "4s"],
    );
    // The thief claims seed 1's address: the other seeds meet seed 1's id there, and seed 1
    // dials back into itself, which its handshake refuses.
    let expected = |name: &str, seed: usize| match (name, seed) {
        ("thief", 1) => "claims this node's own id",
        ("thief", _) => "met peer",
        _ => "connection refused",
    };
    for name in ["thief", "ghost"] {
        let out = net.wait_peer(name, Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} must not register");
        assert!(stderr.contains("dial-back"), "{name}: {stderr}");
        let id = net.id_of(name).expect("started");
        for s in 0..3 {
            let votes: Vec<_> = net
                .events_named(&format!("seed{s}"), "vote")
                .into_iter()
                .filter(|v| v["peer"] == id.as_str())
                .collect();
            assert!(!votes.is_empty(), "seed{s} never voted on {name}");
            for v in &votes {
                assert_eq!(v["yes"], false, "seed{s} voted yes for {name}");
                let why = v["reason"].as_str().unwrap();
                let reason = expected(name, s);
                assert!(why.contains("dial-back") && why.contains(reason), "{why}");
            }
        }
        for s in &net.seeds {
            assert!(
                !peer_ids(&status(*s).unwrap()).contains(&id),
                "{name} is in a PL"
            );
        }
    }
    assert!(net.log().contains("vote no (dial-back to"));
}

/// Reads until the other side closes; Err if it stays open past `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Result<(), String> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(format!("still open after {limit:?}: {e}")),
        }
    }
}

/// SPEC §4: garbage bytes, an oversize frame, a half-finished handshake and a bad frame
/// after the handshake each close only their own connection; the seed keeps serving
/// `status` and registrations.
#[test]
fn hostile_bytes_close_only_their_connection() {
    let mut net = Net::new("hostile", 3);
    net.start_seeds();
    let seed = net.seeds[0];

    // A half-finished handshake: the preamble and a first Noise message (an ephemeral key),
    // then silence (held open the whole time).
    let mut half = TcpStream::connect(seed).unwrap();
    half.write_all(&handshake::PREAMBLE).unwrap();
    half.write_all(&[0, 32]).unwrap();
    half.write_all(&[9; 32]).unwrap();
    let half_started = Instant::now();

    // Garbage: an HTTP request, not the preamble.
    let mut garbage = TcpStream::connect(seed).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: seed\r\n\r\n")
        .unwrap();
    closed_within(&mut garbage, Duration::from_secs(5)).expect("garbage closed");

    // An older node's plaintext handshake: a frame length, then a Hello in the clear.
    let mut plain = TcpStream::connect(seed).unwrap();
    plain.write_all(&[0, 0, 0, 80]).unwrap();
    plain.write_all(b"HSAY\x04").unwrap();
    plain.write_all(&[0; 75]).unwrap();
    closed_within(&mut plain, Duration::from_secs(5)).expect("plaintext closed");

    // A handshake message over the limit, announced honestly.
    let mut big = TcpStream::connect(seed).unwrap();
    big.write_all(&handshake::PREAMBLE).unwrap();
    big.write_all(&[0xff, 0xff]).unwrap();
    let _ = big.write_all(&vec![0u8; 64 * 1024]);
    closed_within(&mut big, Duration::from_secs(5)).expect("oversize message closed");

    // A well-framed first message that is not a Noise one (5 bytes, not an ephemeral key).
    let mut junk = TcpStream::connect(seed).unwrap();
    junk.write_all(&handshake::PREAMBLE).unwrap();
    junk.write_all(&[0, 5, 0xff, 0xfe, 0xfd, 0xfc, 0xfb])
        .unwrap();
    closed_within(&mut junk, Duration::from_secs(5)).expect("junk closed");

    // A bad frame after a real handshake (its body does not decode).
    run_async(async {
        let stream = tokio::net::TcpStream::connect(seed).await.unwrap();
        let addr = "127.0.0.1:9".parse().unwrap();
        let me = Identity::new(Keypair::from_secret([8; 32]), Role::Peer, addr);
        let (mut link, _) = handshake(stream, &me, Duration::from_secs(5))
            .await
            .unwrap();
        link.send_plain(&[0, 0, 0, 4, 0xee, 1, 2, 3]).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = link.recv().await {}
        })
        .await;
        assert!(
            end.is_ok(),
            "a bad frame after the handshake must close the link"
        );
    });
    // The seed still serves status and admits a peer, while the half handshake hangs.
    let st = status(seed).expect("status still served");
    assert_eq!(st["seed"], seed.to_string());
    net.start_peer("after", &[]);
    wait_for(
        "a peer admitted after the attacks",
        Duration::from_secs(20),
        || {
            let n = net.events_named("after", "registered").len();
            if n == 1 {
                Ok(())
            } else {
                Err("not yet".into())
            }
        },
    );
    // The half-finished handshake is cut off by the handshake timeout (5 s).
    let left = Duration::from_secs(10).saturating_sub(half_started.elapsed());
    closed_within(&mut half, left.max(Duration::from_secs(1))).expect("half handshake closed");

    // Each is logged (the socket closes just before its line is written, so wait for it).
    wait_for(
        "six protocol errors logged, each with its reason",
        Duration::from_secs(5),
        || {
            let errors = net.events_named("seed0", "protocol_error");
            let text: String = errors.iter().map(|e| e["reason"].to_string()).collect();
            let all = errors.len() >= 6
                && text.contains("handshake not finished")
                && text.contains("bad magic [47, 45, 54, 20]: not a hearsay node")
                && text.contains(
                    "a plaintext handshake (a hearsay node older than protocol version 5)",
                )
                && text.contains("a handshake message of 65535 bytes")
                && text.contains("Noise: ")
                && text.contains("malformed frame");
            if all {
                Ok(())
            } else {
                Err(text)
            }
        },
    );
    assert!(status(seed).is_ok());
}

/// SPEC §2: a bad config line stops `seed` and `peer` with the file and line named.
#[test]
fn a_bad_config_line_is_named_and_nothing_starts() {
    let net = Net::new("badconfig", 3);
    let cfg = net.dir.join("config.txt");
    std::fs::write(
        &cfg,
        "127.0.0.1:6000\n# fine\n127.0.0.1:6001\n127.0.0.1:http\n",
    )
    .unwrap();
    for (bin, extra) in [(SEED, vec!["--addr", "127.0.0.1:6000"]), (PEER, vec![])] {
        let out = Command::new(bin)
            .args(["--config", cfg.to_str().unwrap(), "--quiet", "--out"])
            .arg(net.dir.join("out.txt"))
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:4:", cfg.display())),
            "{bin}: {stderr}"
        );
        assert!(stderr.contains("http"), "{bin}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one clear sentence: {stderr}");
    }
    let missing = Command::new(SEED)
        .args(["--config", "/nonexistent/config.txt"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/config.txt"));
}

/// SPEC §1: `seed` without `--addr` runs every local seed of the config in one process; they
/// admit a peer together; SIGTERM stops the process cleanly (exit 0) and promptly.
#[test]
fn one_seed_process_runs_every_local_seed_and_stops_on_sigterm() {
    let mut net = Net::new("allseeds", 3);
    let d = net.dir.display().to_string();
    let mut seeds = Command::new(SEED)
        .args([
            "--config",
            &format!("{d}/config.txt"),
            "--out",
            &format!("{d}/outputfile.txt"),
        ])
        .args(["--data-dir", &format!("{d}/data"), "--quiet"])
        .spawn()
        .unwrap();
    let addrs = net.seeds.clone();
    let mut ids = BTreeSet::new();
    wait_for("all three seeds answering", Duration::from_secs(10), || {
        ids = addrs
            .iter()
            .map(|s| status(*s).map(|st| st["id"].as_str().unwrap_or_default().to_string()))
            .collect::<Result<_, _>>()?;
        Ok(())
    });
    assert_eq!(ids.len(), 3, "three distinct seeds: {ids:?}");
    net.start_peer("p", &[]);
    wait_for(
        "admitted by the in-process seeds",
        Duration::from_secs(20),
        || {
            let all = addrs
                .iter()
                .all(|s| status(*s).is_ok_and(|st| peer_ids(&st).len() == 1));
            if all {
                Ok(())
            } else {
                Err("not in every PL yet".into())
            }
        },
    );
    signal(seeds.id(), "TERM");
    let start = Instant::now();
    let code = loop {
        if let Some(code) = seeds.try_wait().unwrap() {
            break code;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "seed did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "exit status {code}");
}

/// Developer diagnostics (`tracing`) go to stderr only when `RUST_LOG` asks: a seed run with
/// `RUST_LOG=hearsay_net=debug` says when a status client's link came up, and the same seed
/// without it writes nothing there.
#[test]
fn diagnostics_go_to_stderr_only_when_rust_log_asks() {
    let net = Net::new("diagnostics", 1);
    let d = net.dir.display().to_string();
    let seed = net.seeds[0];
    let run = |filter: Option<&str>| {
        let mut cmd = Command::new(SEED);
        cmd.args(["--config", &format!("{d}/config.txt")])
            .args(["--out", &format!("{d}/outputfile.txt")])
            .args(["--data-dir", &format!("{d}/data"), "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .env_remove("RUST_LOG");
        if let Some(f) = filter {
            cmd.env("RUST_LOG", f);
        }
        let child = cmd.spawn().unwrap();
        wait_for("the seed answering", Duration::from_secs(10), || {
            status(seed).map(|_| ())
        });
        signal(child.id(), "TERM");
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "exit status {}", out.status);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let asked = run(Some("hearsay_net=debug"));
    assert!(
        asked.lines().any(|l| l.contains("DEBUG")
            && l.contains("link up (accepted)")
            && l.contains("role=\"client\"")),
        "{asked}"
    );
    let quiet = run(None);
    assert!(!quiet.contains("link up"), "{quiet}");
}
