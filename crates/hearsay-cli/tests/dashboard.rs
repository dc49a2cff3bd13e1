//! Issue 17 acceptance: the dashboard of `hearsay up`, loaded in a real browser (Debian's
//! `chromium`, headless), shows the counts that `/api/state`, the run's `topology.json` and
//! its summary give, after the kill too; a screenshot is saved into the run directory.
//!
//! `.ci/run` installs Chromium; without it this test fails and says how to install it.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The browser on PATH.
fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return name.to_string();
        }
    }
    panic!("no Chromium on PATH: the dashboard test needs one (Debian: apt-get install chromium)");
}

/// Chromium's flags for a headless page load from `profile`, letting the page's scripts run
/// for five seconds of virtual time.
fn headless(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--virtual-time-budget=5000",
        "--window-size=1400,1100",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// `GET path` from the dashboard, its body as JSON.
fn get(addr: SocketAddr, path: &str) -> Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:.200}"))
}

/// The text of the element `id="ID"` in a dumped DOM, as a number.
fn count(dom: &str, id: &str) -> u64 {
    let tag = format!("id=\"{id}\">");
    let at = dom
        .find(&tag)
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + tag.len();
    let text = &dom[at..at + dom[at..].find('<').unwrap()];
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("#{id} shows {text:?}"))
}

#[test]
fn the_page_shows_what_the_api_the_topology_and_the_summary_say() {
    let browser = chromium();
    let dir = workdir("dashboard");
    let args = [
        "--in-process",
        "--peers",
        "30",
        "--speed",
        "20",
        "--kill",
        "1",
    ];
    let (up, text) = up_kept(&dir, &[&args[..], &["--dashboard", "127.0.0.1:0"]].concat());
    let addr = printed_addr(&text, "dashboard: http://");
    assert!(
        text.find("dashboard: http://").unwrap() < text.find("seeds up").unwrap(),
        "the URL comes at the start: {text}"
    );

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    let topology: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/topology.json")).unwrap())
            .unwrap();
    let (peers, links) = (&summary["overlay"]["peers"], &summary["overlay"]["links"]);
    let removed = &summary["failures"]["removed"];
    assert_eq!(summary["failures"]["killed"], 1, "{summary}");
    assert_eq!(removed, 1, "{summary}");
    assert_eq!(peers, topology["peers"].as_array().unwrap().len());
    assert_eq!(peers, 29, "the killed peer is gone from the Peer List");

    // The board polls the seeds every second: it holds the end state within a few.
    let mut api = get(addr, "/api/state");
    wait_for(
        "the board to hold the end state",
        Duration::from_secs(10),
        || {
            api = get(addr, "/api/state");
            let same = api["peers"] == *peers && api["links"] == *links;
            same.then_some(())
                .ok_or_else(|| format!("{} peers, {} links", api["peers"], api["links"]))
        },
    );
    assert_eq!(api["removals"], *removed, "{}", api["removed"]);
    assert!(api["summary"].is_object(), "the summary is on the board");
    let nodes = api["topology"]["nodes"].as_array().unwrap();
    let killed = summary["failures"]["lost"][0]["id"].as_str().unwrap();
    let gone = nodes.iter().find(|n| n["id"] == killed).unwrap();
    assert_eq!(gone["state"], "killed", "{gone}");

    let profile = dir.join("chromium");
    let dom = Command::new(&browser)
        .args(headless(&profile))
        .arg("--dump-dom")
        .arg(format!("http://{addr}/"))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page never drew: {dom:.500}"
    );
    for (id, key) in [
        ("peers", "peers"),
        ("links", "links"),
        ("removals", "removals"),
        ("messages", "messages"),
        ("deliveries", "deliveries"),
        ("false-accusations", "false_accusations"),
    ] {
        assert_eq!(count(&dom, id), api[key].as_u64().unwrap(), "#{id}");
    }
    assert_eq!(count(&dom, "peers"), peers.as_u64().unwrap());
    assert_eq!(count(&dom, "links"), links.as_u64().unwrap());
    assert_eq!(count(&dom, "removals"), removed.as_u64().unwrap());
    assert_eq!(count(&dom, "messages"), summary["gossip"]["messages"]);

    let shot = dir.join("run/dashboard.png");
    let done = Command::new(&browser)
        .args(headless(&profile))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("http://{addr}/"))
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let info = decoder.read_info().unwrap();
    assert_eq!((info.info().width, info.info().height), (1400, 1100));

    signal(up.id(), "INT");
    let out = wait_exit(up, "hearsay up", Duration::from_secs(30));
    assert!(out.status.success(), "exit after Ctrl+C: {:?}", out.status);
}

/// Starts `hearsay dashboard ARGS --addr 127.0.0.1:0` in `dir`; returns it and where it
/// serves (its first line says).
fn dashboard(dir: &Path, args: &[&str]) -> (std::process::Child, SocketAddr) {
    let mut board = Command::new(HEARSAY)
        .current_dir(dir)
        .arg("dashboard")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(board.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    (board, printed_addr(&first, "dashboard: http://"))
}

/// The number after `before` in `text` (`"deliveries "` → 7326).
fn number_after(text: &str, before: &str) -> u64 {
    let at = text
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in {text}"))
        + before.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// Issue 17: replaying a simulator trace (`hearsay dashboard --trace FILE`) to its end gives
/// the counts of the simulator's own table: messages, deliveries, removals, and the overlay's
/// peers at the end; the clock stops at the last event.
#[test]
fn a_replayed_trace_ends_with_the_simulators_own_counts() {
    let dir = workdir("dashboard-replay");
    let sim = Command::new(HEARSAY)
        .current_dir(&dir)
        .args(["sim", "--peers", "50", "--seed", "3", "--crash", "0.1"])
        .args(["--trace", "trace.jsonl"])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let table = String::from_utf8_lossy(&sim.stdout).into_owned();

    let (mut board, addr) = dashboard(&dir, &["--trace", "trace.jsonl"]);
    let replay = get(addr, "/api/replay?seek=1");
    assert_eq!(replay["at"], replay["end"], "{replay}");
    assert_eq!(replay["playing"], false, "a replay at its end stops");
    let state = get(addr, "/api/state");
    let counts = |key: &str| state[key].as_u64().unwrap();
    assert_eq!(
        counts("messages"),
        number_after(&table, "messages "),
        "{table}"
    );
    assert_eq!(counts("deliveries"), number_after(&table, "deliveries "));
    assert_eq!(counts("removals"), number_after(&table, "removed "));
    assert_eq!(counts("peers"), number_after(&table, "overlay of "));
    assert_eq!(counts("removals"), 5, "{table}");
    // Back to the start: the board is rebuilt, empty of gossip.
    let start = get(addr, "/api/replay?seek=0");
    assert_eq!(start["at"], start["start"]);
    assert_eq!(get(addr, "/api/state")["deliveries"], 0);
    board.kill().unwrap();
    board.wait().unwrap();
}

/// The overlay's links in a seed's status, as the summary counts them: a link counts once if
/// either end reports it, among members only.
fn status_links(st: &Value) -> usize {
    let members = peer_ids(st);
    let mut links = std::collections::BTreeSet::new();
    for p in st["peers"].as_array().unwrap() {
        let a = p["id"].as_str().unwrap().to_string();
        for b in p["neighbors"].as_array().unwrap() {
            let b = b.as_str().unwrap().to_string();
            if members.contains(&b) {
                links.insert(if a < b {
                    (a.clone(), b)
                } else {
                    (b, a.clone())
                });
            }
        }
    }
    links.len()
}

/// Issue 17: `hearsay dashboard --config FILE --events DIR` attaches to a network started by
/// hand (seed and peer processes): its board shows the seeds' Peer List and links, a panel per
/// seed, and the events' deliveries.
#[test]
fn the_dashboard_attaches_to_a_network_started_by_hand() {
    let mut net = Net::new("dashboard-attach", 3);
    net.start_seeds();
    let gossip = ["--gossip-interval", "200ms", "--gossip-delay", "1s"];
    for p in ["p0", "p1", "p2", "p3"] {
        net.start_peer(p, &[&FAST[..], &gossip[..]].concat());
    }
    let config = net.dir.join("config.txt");
    let events = net.dir.to_str().unwrap();
    let args = ["--config", config.to_str().unwrap(), "--events", events];
    let (mut board, addr) = dashboard(&net.dir, &args);
    // Every peer has every message (4 peers, 10 each, from the 3 others).
    wait_for("the gossip to settle", Duration::from_secs(60), || {
        let got: usize = (["p0", "p1", "p2", "p3"].iter())
            .map(|p| net.events_named(p, "gossip_received").len())
            .sum();
        (got == 120).then_some(()).ok_or(format!("{got} of 120"))
    });
    wait_for(
        "the board to show the network",
        Duration::from_secs(15),
        || {
            let api = get(addr, "/api/state");
            let st = status(net.seeds[0])?;
            let want = (
                st["peers"].as_array().unwrap().len(),
                status_links(&st),
                120,
            );
            let shown = (
                api["peers"].as_u64(),
                api["links"].as_u64(),
                api["deliveries"].as_u64(),
            );
            let seeds = api["seeds"].as_array().map_or(0, Vec::len);
            let same = shown == (Some(want.0 as u64), Some(want.1 as u64), Some(120)) && seeds == 3;
            same.then_some(())
                .ok_or(format!("board {shown:?}, {seeds} seeds; network {want:?}"))
        },
    );
    let api = get(addr, "/api/state");
    assert_eq!(api["peers"], 4);
    assert_eq!(api["messages"], 40);
    assert!(api["replay"].is_null(), "attached, not a replay");
    board.kill().unwrap();
    board.wait().unwrap();
}
