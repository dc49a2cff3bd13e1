#!/usr/bin/env python3
"""Dissemination over real TCP (issue 3 figures): 3 seeds and 40 peers of the release
binaries on 127.0.0.1, 10 messages each at 100 ms. Prints generation-to-delivery latency
(p50, p99, max over every first-time delivery, and over each message's last delivery) and
frames per message against the topology's link count.

    cargo build --release && scripts/gossip_figures.py [--peers 40]
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures_common import pct, ports  # noqa: E402

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", type=int, default=40)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release"))
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="hearsay-gossip-")
    cfg = os.path.join(d, "config.txt")
    with open(cfg, "w") as f:
        f.writelines(f"127.0.0.1:{p}\n" for p in ports(3))
    common = ["--config", cfg, "--out", os.path.join(d, "out.txt"), "--data-dir", os.path.join(d, "data"), "--quiet"]
    procs = [subprocess.Popen([os.path.join(a.bin, "seed")] + common)]
    time.sleep(0.5)
    for i in range(a.peers):
        ev = os.path.join(d, f"p{i}.jsonl")
        procs.append(subprocess.Popen([os.path.join(a.bin, "peer")] + common + ["--events", ev,
            "--gossip-delay", "5s", "--gossip-interval", "100ms", "--gossip-count", "10"]))
        time.sleep(0.02)
    want = (a.peers - 1) * 10
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            counts = [sum('"gossip_received"' in l for l in open(os.path.join(d, f"p{i}.jsonl")))
                      for i in range(a.peers) if os.path.exists(os.path.join(d, f"p{i}.jsonl"))]
            if len(counts) == a.peers and min(counts) >= want:
                break
            time.sleep(0.5)
        time.sleep(1.5)
        st = json.loads(subprocess.check_output([os.path.join(a.bin, "hearsay"), "status", "--json",
                                                 "--seed", open(cfg).readline().strip()]))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    links = {tuple(sorted((p["id"], n))) for p in st["peers"] for n in p["neighbors"]}
    lat, last, frames, dups = [], {}, {}, 0
    for i in range(a.peers):
        for l in open(os.path.join(d, f"p{i}.jsonl")):
            e = json.loads(l)
            if e["event"] == "gossip_received":
                lat.append(e["latency_ms"])
                last[e["id"]] = max(last.get(e["id"], 0), e["latency_ms"])
                frames[e["id"]] = frames.get(e["id"], 0) + 1
            elif e["event"] == "gossip_duplicate":
                frames[e["id"]] = frames.get(e["id"], 0) + 1
                dups += 1
    deliveries = len(lat)
    print(f"peers {a.peers}, messages {len(last)}, first-time deliveries {deliveries} (of {a.peers * want})")
    print(f"latency per delivery ms: p50 {pct(lat, 50)}  p99 {pct(lat, 99)}  max {max(lat)}")
    ls = list(last.values())
    print(f"latency to the last peer, per message ms: p50 {pct(ls, 50)}  p99 {pct(ls, 99)}  max {max(ls)}")
    fs = list(frames.values())
    print(f"frames carrying a message, per message: min {min(fs)} mean {sum(fs)/len(fs):.1f} max {max(fs)}; "
          f"links in the topology {len(links)}; duplicate frames {dups}")

if __name__ == "__main__":
    sys.exit(main())
