#!/usr/bin/env python3
"""Failure-detection figures (issue 4): 3 seeds and N peers of the release binaries on
127.0.0.1, with 200 ms liveness rounds and suspicion after 3 misses. Kills peers one at a
time and splits detection-to-removal into its stages: suspicion (kill to the first
`suspicion_started`), peer consensus (to the first `suspicion_confirmed`), and seed consensus
(to `removal_committed` at the last seed). `--drop 0.1` drops 10% of every peer's liveness
pings on purpose; false removals must stay 0.

    cargo build --release && scripts/failure_figures.py [--kills 10] [--drop 0.1]
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures_common import pct, ports  # noqa: E402

def events(path):
    try:
        return [json.loads(l) for l in open(path)]
    except FileNotFoundError:
        return []

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", type=int, default=20)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--drop", type=float, default=0.0)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release"))
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="hearsay-fail-")
    cfg = os.path.join(d, "config.txt")
    seeds = [f"127.0.0.1:{p}" for p in ports(3)]
    open(cfg, "w").write("\n".join(seeds) + "\n")
    common = ["--config", cfg, "--out", os.path.join(d, "out.txt"), "--data-dir", os.path.join(d, "data"), "--quiet"]
    seed = subprocess.Popen([os.path.join(a.bin, "seed"), "--events", os.path.join(d, "seeds.jsonl")] + common)
    time.sleep(0.5)
    peers = {}
    for i in range(a.peers):
        peers[i] = subprocess.Popen([os.path.join(a.bin, "peer")] + common + [
            "--events", os.path.join(d, f"p{i}.jsonl"), "--gossip-count", "0",
            "--ping-interval", "200ms", "--suspect-after", "3", "--verdict-timeout", "2s",
            "--fault-drop-pings", str(a.drop)])
        time.sleep(0.05)

    def pl(s):
        out = subprocess.run([os.path.join(a.bin, "hearsay"), "status", "--json", "--seed", s],
                             capture_output=True, text=True)
        return {p["id"] for p in json.loads(out.stdout)["peers"]} if out.returncode == 0 else None

    ids = {}
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not all(pl(s) is not None and len(pl(s)) == a.peers for s in seeds):
            time.sleep(0.3)
        for i in peers:
            ids[i] = next(e["id"] for e in events(os.path.join(d, f"p{i}.jsonl")) if e["event"] == "started")
        time.sleep(2)
        kills = {}
        for k in range(a.kills):
            i = 2 * k + 1
            peers[i].kill()
            peers[i].wait()
            kills[ids[i]] = time.time() * 1000
            gone = time.time() + 20
            while time.time() < gone and any(ids[i] in (pl(s) or {ids[i]}) for s in seeds):
                time.sleep(0.1)
            time.sleep(0.5)
        time.sleep(5)  # time for false suspicions to show under drops
    finally:
        for p in list(peers.values()) + [seed]:
            p.terminate()
        for p in list(peers.values()) + [seed]:
            p.wait()
    evs = [e for i in peers for e in events(os.path.join(d, f"p{i}.jsonl"))]
    sev = events(os.path.join(d, "seeds.jsonl"))
    first = lambda name, pid: min((e["ts"] for e in evs if e["event"] == name and e["peer"] == pid), default=None)
    stages = {"suspicion": [], "peer consensus": [], "seed consensus": [], "total": []}
    for pid, t in kills.items():
        s, c = first("suspicion_started", pid), first("suspicion_confirmed", pid)
        r = [e["ts"] for e in sev if e["event"] == "removal_committed" and e["peer"] == pid]
        if s is None or c is None or len(r) < 3:
            print(f"victim {pid[:8]}: not removed everywhere (suspicion {s}, confirmed {c}, seeds {len(r)})")
            continue
        stages["suspicion"].append(s - t)
        stages["peer consensus"].append(c - s)
        stages["seed consensus"].append(max(r) - c)
        stages["total"].append(max(r) - t)
    killed = set(kills)
    false = {e["peer"] for e in sev if e["event"] == "removal_committed" and e["peer"] not in killed}
    cleared = sum(1 for e in evs if e["event"] == "suspicion_cleared")
    started_live = sum(1 for e in evs if e["event"] == "suspicion_started" and e["peer"] not in killed)
    print(f"peers {a.peers}, kills {len(kills)}, pings dropped {a.drop:.0%}")
    for k, v in stages.items():
        if v:
            print(f"  {k:15} ms: p50 {pct(v, 50):.0f}  max {max(v):.0f}  (n={len(v)})")
    print(f"  suspicions of live peers {started_live}, cleared {cleared}, false removals {len(false)}")

if __name__ == "__main__":
    sys.exit(main())
