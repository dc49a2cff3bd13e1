//! Issue 17's metrics: `seed --metrics ADDR` and `peer --metrics ADDR` serve Prometheus text
//! at `/metrics`, and its counters equal the node's event counts.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;

/// `GET /metrics` over HTTP/1.0 (the test needs no HTTP client): the body, if the answer is
/// a 200 with the Prometheus (OpenMetrics) content type.
fn scrape(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no header end")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("not a 200: {head}"));
    }
    let kind = "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8";
    if !head.to_ascii_lowercase().contains(kind) {
        return Err(format!("content type: {head}"));
    }
    Ok(body.to_string())
}

/// Every sample of the text, by name and labels, parsed by `prometheus-parse`; each family
/// typed as the exposition says.
fn samples(body: &str) -> BTreeMap<String, f64> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let mut out = BTreeMap::new();
    for s in scrape.samples {
        let mut labels: Vec<String> = (s.labels.iter()).map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => {
                // The count is the last (+Inf) bucket.
                h.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    out
}

/// How many events of each name a node's events file holds.
fn counts(net: &Net, name: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in net.events(name) {
        *out.entry(e["event"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

/// Whether the scrape's counters equal the node's events: one `hearsay_events_total` per
/// event name with its count, and the named counters beside it.
fn agree(net: &Net, name: &str, at: SocketAddr, node: &str) -> Result<(), String> {
    let got = samples(&scrape(at)?);
    let events = counts(net, name);
    let of = |metric: &str, labels: &str| got.get(&format!("{metric}{{{labels}}}")).copied();
    for (event, n) in &events {
        let labels = format!("event={event},node={node}");
        if of("hearsay_events_total", &labels) != Some(*n as f64) {
            return Err(format!(
                "{event}: {n} events, {:?} counted",
                of("hearsay_events_total", &labels)
            ));
        }
    }
    let counted = (got.keys())
        .filter(|k| k.starts_with("hearsay_events_total{"))
        .count();
    if counted != events.len() {
        return Err(format!(
            "{counted} event names counted, {} logged",
            events.len()
        ));
    }
    let n = |event: &str| events.get(event).copied().unwrap_or(0) as f64;
    let one = format!("node={node}");
    let named = [
        (
            "hearsay_gossip_received_total",
            one.clone(),
            n("gossip_received"),
        ),
        (
            "hearsay_delivery_latency_seconds",
            one.clone(),
            n("gossip_received"),
        ),
        (
            "hearsay_gossip_generated_total",
            one.clone(),
            n("gossip_generated"),
        ),
        (
            "hearsay_neighbors",
            one.clone(),
            n("neighbor_added") - n("neighbor_removed"),
        ),
        (
            "hearsay_registrations_total",
            format!("node={node},outcome=committed"),
            n("registration_committed"),
        ),
    ];
    for (metric, labels, want) in named {
        let have = of(metric, &labels).unwrap_or(0.0);
        if have != want {
            return Err(format!("{metric}{{{labels}}}: {have}, events say {want}"));
        }
    }
    Ok(())
}

/// A seed and a peer serve their metrics while three peers gossip; once the events settle,
/// each scrape parses as Prometheus text and every counter equals the node's events file.
#[test]
fn metrics_parse_as_prometheus_text_and_equal_the_nodes_event_counts() {
    let mut net = Net::new("metrics", 3);
    let seed_metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    net.start_seed_with(0, &["--metrics", &seed_metrics.to_string()]);
    net.start_seed(1);
    net.start_seed(2);
    let seeds = net.seeds.clone();
    wait_for("seeds listening", Duration::from_secs(10), || {
        for s in &seeds {
            TcpStream::connect(s).map_err(|e| format!("{s}: {e}"))?;
        }
        Ok(())
    });
    let peer_metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let gossip = ["--gossip-interval", "200ms", "--gossip-delay", "1s"];
    let watched = ["--metrics".to_string(), peer_metrics.to_string()];
    let watched: Vec<&str> = watched.iter().map(String::as_str).collect();
    net.start_peer("p0", &[&FAST[..], &gossip, &watched].concat());
    net.start_peer("p1", &[&FAST[..], &gossip[..]].concat());
    net.start_peer("p2", &[&FAST[..], &gossip[..]].concat());
    wait_for(
        "p0 has the others' 20 messages",
        Duration::from_secs(60),
        || match net.events_named("p0", "gossip_received").len() {
            20.. => Ok(()),
            got => Err(format!("p0 has {got}")),
        },
    );
    let p0 = net.events_named("p0", "started")[0]["node"]
        .as_str()
        .unwrap()
        .to_string();
    let s0 = seeds[0].to_string();
    // Liveness rounds go on: the counts agree once a scrape and the file see the same events.
    wait_for(
        "p0's metrics equal its events",
        Duration::from_secs(20),
        || agree(&net, "p0", peer_metrics, &p0),
    );
    wait_for(
        "seed0's metrics equal its events",
        Duration::from_secs(20),
        || agree(&net, "seed0", seed_metrics, &s0),
    );
    // The Peer List's size is a gauge the driver sets: the seed's status agrees.
    wait_for(
        "seed0's Peer List gauge equals its status",
        Duration::from_secs(10),
        || {
            let listed = status(seeds[0])?["peers"].as_array().map_or(0, Vec::len);
            let got = samples(&scrape(seed_metrics)?);
            let gauge = got
                .get(&format!("hearsay_peer_list_size{{node={s0}}}"))
                .copied();
            match gauge == Some(listed as f64) && listed == 3 {
                true => Ok(()),
                false => Err(format!("gauge {gauge:?}, status {listed}")),
            }
        },
    );
    let seed_text = scrape(seed_metrics).unwrap();
    assert!(
        seed_text.contains("# TYPE hearsay_registrations counter"),
        "{seed_text}"
    );
    assert!(seed_text.ends_with("# EOF\n"), "{seed_text}");
    assert!(
        seed_text.contains("# TYPE hearsay_peer_list_size gauge"),
        "{seed_text}"
    );
    let peer_text = scrape(peer_metrics).unwrap();
    assert!(
        peer_text.contains("# TYPE hearsay_delivery_latency_seconds histogram"),
        "{peer_text}"
    );
}

/// `hearsay up --metrics ADDR` serves the whole run's metrics: the seed process's and every
/// peer process's, merged into one exposition that parses; each seed's Peer List gauge is
/// the run's peers, and the peers' first receipts add up to the summary's deliveries.
#[test]
fn up_serves_the_whole_runs_metrics() {
    let dir = workdir("metrics-up");
    let args = ["--peers", "4", "--speed", "20", "--kill", "0"];
    let (up, text) = up_kept(&dir, &[&args[..], &["--metrics", "127.0.0.1:0"]].concat());
    let addr = printed_addr(&text, "metrics: http://");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    let body = scrape(addr).unwrap();
    let got = samples(&body);
    let seeds: Vec<f64> = (got.iter())
        .filter(|(k, _)| k.starts_with("hearsay_peer_list_size{"))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(seeds, [4.0; 3], "{body}");
    let received: f64 = (got.iter())
        .filter(|(k, _)| k.starts_with("hearsay_gossip_received_total{"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(
        received,
        summary["gossip"]["latency_ms"]["n"].as_f64().unwrap()
    );
    let nodes = (got.keys())
        .filter(|k| k.starts_with("hearsay_gossip_received_total{"))
        .count();
    assert_eq!(nodes, 4, "every peer process is scraped");
    assert_eq!(
        body.matches("# TYPE hearsay_gossip_received counter")
            .count(),
        1
    );
    signal(up.id(), "INT");
    let out = wait_exit(up, "hearsay up", Duration::from_secs(30));
    assert!(out.status.success(), "exit after Ctrl+C: {:?}", out.status);
}
