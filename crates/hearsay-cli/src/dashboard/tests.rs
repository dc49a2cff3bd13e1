use super::replay::ReplayQuery;
use super::server::PAGE;
use super::*;
use crate::summary::PeerJson;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn line(node: &str, event: &str, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({"ts": 1, "node": node, "role": "peer", "event": event});
    if let (Some(m), Some(x)) = (v.as_object_mut(), extra.as_object()) {
        m.extend(x.clone());
    }
    v.to_string()
}

fn started(node: &str, id: &str, role: &str) -> String {
    line(node, "started", serde_json::json!({"id": id, "role": role}))
}

fn peer(id: &str, addr: &str, neighbors: &[&str]) -> PeerJson {
    PeerJson {
        addr: addr.into(),
        id: id.into(),
        incarnation: 1,
        neighbors: neighbors.iter().map(|s| s.to_string()).collect(),
        signers: vec!["s0".into()],
    }
}

/// Seed `s0` at 6000 with peers a, b, c: a–b reported by a, b–c by both, and a report of
/// d, which is not in the Peer List.
fn status() -> StatusJson {
    StatusJson {
        id: "s0".into(),
        seed: "127.0.0.1:6000".into(),
        certificates: 3,
        peers: vec![
            peer("a", "127.0.0.1:7000", &["b", "d"]),
            peer("b", "127.0.0.1:7001", &["c"]),
            peer("c", "127.0.0.1:7002", &["b"]),
        ],
        recent: vec!["admitted a".into()],
        ..StatusJson::default()
    }
}

#[test]
fn counts_are_the_summarys_peer_list_links_and_removed_peers() {
    let mut b = Board::new();
    b.status(&status(), true);
    let c = b.counts();
    assert_eq!(
        (c.peers, c.links),
        (3, 2),
        "d is no member: a–d does not count"
    );
    assert_eq!(c.links, summary::overlay(&status()).links);
    for (node, id) in [("127.0.0.1:7000", "a"), ("127.0.0.1:7001", "b")] {
        b.event(&started(node, id, "peer"));
    }
    let removal = |seed: &str| {
        let fields = serde_json::json!({"role": "seed", "peer": "a", "addr": "127.0.0.1:7000",
            "signers": ["s0", "s1"]});
        line(seed, "removal_committed", fields)
    };
    // Two seeds log one removal: one removal.
    b.event(&removal("127.0.0.1:6000"));
    b.event(&removal("127.0.0.1:6001"));
    b.event(&line(
        "127.0.0.1:6000",
        "false_accusation",
        serde_json::json!({}),
    ));
    let c = b.counts();
    assert_eq!((c.removals, c.false_accusations), (1, 1));
    let state = b.state();
    let removed = &state.removed;
    assert_eq!(removed.len(), 1);
    assert_eq!(
        (removed[0].peer.as_str(), removed[0].signers.len()),
        ("a", 2)
    );
}

#[test]
fn the_graph_puts_seeds_first_and_colours_nodes_by_what_their_events_say() {
    let mut b = Board::new();
    b.event(&started("127.0.0.1:7003", "d", "peer"));
    b.status(&status(), true);
    b.event(&line(
        "127.0.0.1:7000",
        "suspicion_started",
        serde_json::json!({"peer": "b"}),
    ));
    b.killed("c");
    let t = b.topology();
    let view: Vec<(&str, NodeState, usize)> = (t.nodes.iter())
        .map(|n| (n.addr.as_str(), n.state, n.degree))
        .collect();
    assert_eq!(
        view,
        [
            ("127.0.0.1:6000", NodeState::Seed, 0),
            ("127.0.0.1:7000", NodeState::Live, 1),
            ("127.0.0.1:7001", NodeState::Suspected, 2),
            ("127.0.0.1:7002", NodeState::Killed, 1),
            ("127.0.0.1:7003", NodeState::Joining, 0),
        ]
    );
    assert_eq!(t.links, [[1, 2], [2, 3]]);
    assert_eq!(t.nodes[1].signers, ["127.0.0.1:6000"], "signers by address");
    let before = t.version;
    b.event(&line(
        "127.0.0.1:7000",
        "suspicion_cleared",
        serde_json::json!({"peer": "b"}),
    ));
    let t = b.topology();
    assert_eq!(t.nodes[2].state, NodeState::Live);
    assert!(t.version > before, "a state change is sent again");
    let cleared = &t.nodes[2].suspicion;
    assert_eq!(
        cleared,
        "cleared by 127.0.0.1:7000: 0 of 0 verdicts say unresponsive"
    );
    let verdicts = serde_json::json!({"peer": "b", "dead": 3, "verdicts": 4});
    b.event(&line("127.0.0.1:7002", "suspicion_confirmed", verdicts));
    let t = b.topology();
    assert_eq!(t.nodes[2].state, NodeState::Suspected);
    let said = "confirmed by 127.0.0.1:7002: 3 of 4 verdicts say unresponsive";
    assert_eq!(t.nodes[2].suspicion, said);
    // Gossip changes no state: the graph is not sent again for it.
    let gossip = serde_json::json!({"id": "m1", "text": "1:127.0.0.1:0"});
    b.event(&line("127.0.0.1:7000", "gossip_generated", gossip));
    assert_eq!(b.topology().version, t.version);
}

#[test]
fn a_message_spreads_as_a_wave_with_its_hops_and_time_to_the_last_peer() {
    let mut b = Board::new();
    let gen = serde_json::json!({"id": "m1", "text": "1700000000.000:127.0.0.1:0"});
    b.event(&line("127.0.0.1:7000", "gossip_generated", gen));
    let got = |hops: u32, ms: u64| serde_json::json!({"id": "m1", "hops": hops, "latency_ms": ms});
    b.event(&line("127.0.0.1:7001", "gossip_received", got(1, 3)));
    b.event(&line("127.0.0.1:7002", "gossip_received", got(2, 9)));
    b.event(&line("127.0.0.1:7003", "gossip_received", got(1, 0)));
    let s = b.state();
    assert_eq!((s.counts.messages, s.counts.deliveries), (1, 3));
    let w = &s.waves[0];
    assert_eq!((w.reached, w.hops, w.last_ms), (3, 2, 9));
    assert_eq!(w.origin, "127.0.0.1:7000");
    let receipts = &b.wave("m1").expect("kept").receipts;
    assert_eq!(receipts[1], ("127.0.0.1:7002".to_string(), 9, 2));
    // Buckets: under 1 ms, [2, 4) ms, [8, 16) ms.
    let h = &s.latency_histogram;
    assert_eq!((h[0], h[2], h[4], h.iter().sum::<u64>()), (1, 1, 1, 3));
}

#[test]
fn the_feed_keeps_the_newest_lines_and_hands_out_only_new_ones() {
    let mut b = Board::new();
    for i in 0..(FEED + 5) {
        b.event(&line(
            "127.0.0.1:7000",
            "neighbor_added",
            serde_json::json!({"degree": i}),
        ));
    }
    b.event("not an event line");
    let state = b.state();
    assert_eq!(state.feed.len(), FEED_IN_STATE);
    assert_eq!(state.feed.last().map(|f| f.0), Some((FEED + 5) as u64));
    assert_eq!(b.feed_after((FEED + 3) as u64).len(), 2);
    assert_eq!(b.feed.len(), FEED);
}

#[test]
fn api_state_names_the_counts_as_the_pages_element_ids() {
    let mut b = Board::new();
    b.status(&status(), true);
    let v = serde_json::to_value(b.state()).unwrap();
    for key in [
        "peers",
        "links",
        "messages",
        "deliveries",
        "suspicions",
        "removals",
        "false_accusations",
    ] {
        assert!(v[key].is_u64(), "{key}: {v}");
        let id = format!("id=\"{}\"", key.replace('_', "-"));
        assert!(PAGE.contains(&id), "the page has no element {id}");
    }
    assert_eq!(v["seeds"][0]["peer_list"], 3);
    assert_eq!(v["topology"]["nodes"].as_array().map(Vec::len), Some(4));
}

fn commit(event: &str, peer: &str, incarnation: u64) -> String {
    let fields = serde_json::json!({"role": "seed", "peer": peer, "incarnation": incarnation});
    line("10.0.0.1:6000", event, fields)
}

fn neighbor(node: &str, event: &str, peer: &str) -> String {
    line(node, event, serde_json::json!({"peer": peer}))
}

#[test]
fn without_a_seed_to_ask_the_peer_list_and_links_come_from_the_events() {
    let mut b = Board::new();
    for (node, id) in [
        ("10.1.0.1:7000", "a"),
        ("10.1.0.2:7000", "b"),
        ("10.1.0.3:7000", "c"),
    ] {
        b.event(&started(node, id, "peer"));
        b.event(&commit("registration_committed", id, 1));
    }
    b.event(&neighbor("10.1.0.1:7000", "neighbor_added", "b"));
    b.event(&neighbor("10.1.0.2:7000", "neighbor_added", "a"));
    b.event(&neighbor("10.1.0.3:7000", "neighbor_added", "b"));
    b.settle();
    assert_eq!((b.counts().peers, b.counts().links), (3, 2));
    // c removed (another seed logs it too); its links go with it.
    b.event(&commit("removal_committed", "c", 1));
    b.event(&commit("registration_committed", "c", 1));
    b.settle();
    assert_eq!(
        (b.counts().peers, b.counts().links, b.counts().removals),
        (2, 1, 1)
    );
    let t = b.topology();
    let c = t.nodes.iter().find(|n| n.id == "c").unwrap();
    assert_eq!(
        c.state,
        NodeState::Removed,
        "a removal wins at one incarnation"
    );
    // Back at incarnation 2, and a's link to b dropped.
    b.event(&commit("registration_committed", "c", 2));
    b.event(&neighbor("10.1.0.1:7000", "neighbor_removed", "b"));
    b.event(&neighbor("10.1.0.2:7000", "neighbor_removed", "a"));
    b.settle();
    assert_eq!((b.counts().peers, b.counts().links), (3, 1));
    let t = b.topology();
    assert_eq!(
        t.nodes.iter().find(|n| n.id == "c").unwrap().state,
        NodeState::Live
    );
    // The seed shows up from its own lines.
    assert_eq!(t.nodes[0].state, NodeState::Seed);
    assert_eq!(t.nodes[0].addr, "10.0.0.1:6000");
    let vote = serde_json::json!({"role": "seed", "op": "add", "peer": "d", "yes": false,
        "reason": "rate limit"});
    b.event(&line("10.0.0.1:6000", "vote", vote));
    // The seed's panel, from its own lines: its Peer List, certificates, decisions.
    let panel = &b.state().seeds[0];
    assert_eq!(
        (panel.addr.as_str(), panel.peer_list, panel.certificates),
        ("10.0.0.1:6000", 3, 3)
    );
    assert_eq!(panel.recent.len(), 7);
    assert_eq!(panel.recent[6], "voted no on the add of d: rate limit");
    assert_eq!(panel.recent[5], "admitted c at  (incarnation 2)");
    assert_eq!(panel.recent[3], "removed c at  (incarnation 1)");
    // A seed's status, once it comes, says it all.
    b.status(&status(), true);
    b.event(&neighbor("10.1.0.1:7000", "neighbor_added", "b"));
    b.settle();
    assert_eq!((b.counts().peers, b.counts().links), (3, 2));
    assert_eq!(
        b.state().seeds[0].addr,
        "127.0.0.1:6000",
        "the status's panels"
    );
}

fn timed(ts: u64, event: &str, id: &str) -> String {
    let v = serde_json::json!({"ts": ts, "node": "10.1.0.1:7000", "role": "peer",
        "event": event, "id": id, "latency_ms": 1});
    v.to_string()
}

#[test]
fn a_replay_plays_in_time_order_and_seeking_back_rebuilds_the_board() {
    let lines = vec![
        timed(300, "gossip_received", "m1"),
        timed(100, "gossip_generated", "m1"),
        "not an event".to_string(),
        timed(300, "gossip_received", "m1"),
        timed(500, "gossip_generated", "m2"),
    ];
    let mut r = Replay::new(lines, 2.0);
    let mut b = Board::new();
    let s = r.state();
    assert_eq!((s.start, s.end, s.at, s.playing), (100, 500, 100, false));
    r.step(&mut b, Duration::from_millis(50));
    assert_eq!(r.state().at, 100, "paused: the clock stands");
    r.control(
        &mut b,
        &ReplayQuery {
            play: Some(true),
            ..ReplayQuery::default()
        },
    );
    r.seek_to(&mut b, 100);
    assert_eq!((b.counts().messages, b.counts().deliveries), (1, 0));
    // 100 ms of wall time at speed 2: 200 ms of the run.
    r.step(&mut b, Duration::from_millis(100));
    assert_eq!((r.state().at, b.counts().deliveries), (300, 2));
    r.step(&mut b, Duration::from_secs(10));
    let s = r.state();
    assert_eq!((s.at, s.playing, b.counts().messages), (500, false, 2));
    assert_eq!(b.state().replay, Some(s));
    let q = ReplayQuery {
        seek: Some(0.5),
        speed: Some(5.0),
        ..ReplayQuery::default()
    };
    r.control(&mut b, &q);
    let s = r.state();
    assert_eq!((s.at, s.speed), (300, 5.0));
    assert_eq!((b.counts().messages, b.counts().deliveries), (1, 2));
}

/// Opens a WebSocket to `addr` by hand; returns the connection and the answer's status line.
async fn upgrade(addr: SocketAddr) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let ask = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(ask.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if s.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    (s, text.lines().next().unwrap_or_default().to_string())
}

/// Hostile: a stranger who can reach the dashboard opens page after page. Each costs a
/// snapshot twice a second, so at most `MAX_PAGES` are served at once; a closed one frees
/// its room.
#[tokio::test]
async fn pages_beyond_the_cap_are_refused_and_a_closed_one_frees_its_room() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(serve(
        listener,
        App::new(Shared::default(), None),
        cancel.clone(),
    ));
    let mut open = Vec::new();
    for _ in 0..MAX_PAGES {
        let (s, status) = upgrade(addr).await;
        assert!(status.starts_with("HTTP/1.1 101"), "{status}");
        open.push(s);
    }
    let (_, status) = upgrade(addr).await;
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    drop(open.pop());
    let mut status = String::new();
    for _ in 0..50 {
        // The server notices the close at its next push (within half a second).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (s, st) = upgrade(addr).await;
        status = st;
        if status.starts_with("HTTP/1.1 101") {
            open.push(s);
            break;
        }
    }
    assert!(status.starts_with("HTTP/1.1 101"), "room again: {status}");
    cancel.cancel();
}
