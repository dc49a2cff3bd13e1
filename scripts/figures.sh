#!/usr/bin/env bash
# Measures the foundation's figures on this machine with the release binaries:
# registration commit latency of the 30th peer (3 and 5 seeds), and idle RSS of a seed and a peer.
#   cargo build --release && scripts/figures.sh
set -euo pipefail
bin=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

ports() { # $1 distinct free ports, held open until all are picked
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print("\n".join(str(s.getsockname()[1]) for s in ss))' "$1"; }

one_run() { # $1 = seeds, $2 = run dir; prints the 30th peer's latency in ms
  local n=$1 dir=$2 pids=()
  mkdir -p "$dir"
  ports "$n" | sed 's/^/127.0.0.1:/' > "$dir/config.txt"
  while read -r addr; do
    "$bin/seed" --config "$dir/config.txt" --addr "$addr" --out "$dir/out.txt" --data-dir "$dir/data" --quiet & pids+=($!)
  done < "$dir/config.txt"
  sleep 0.5
  for i in $(seq 29); do
    "$bin/peer" --config "$dir/config.txt" --out "$dir/out.txt" --data-dir "$dir/data" --quiet & pids+=($!)
  done
  sleep 2
  local t0; t0=$(date +%s%3N)
  "$bin/peer" --config "$dir/config.txt" --out "$dir/out.txt" --data-dir "$dir/data" \
    --events "$dir/p30.jsonl" --quiet & pids+=($!)
  for _ in $(seq 100); do grep -q '"registered"' "$dir/p30.jsonl" 2>/dev/null && break; sleep 0.1; done
  if [ "${RSS:-}" = 1 ]; then
    sleep 3
    echo "idle seed (30 peers in its PL): $(ps -o rss= -p "${pids[0]}") KiB RSS"
    echo "idle peer: $(ps -o rss= -p "${pids[$((n + 5))]}") KiB RSS"
  fi
  kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true
  # From the shell's launch of the process to the certificate (ts of `registered`).
  python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1]) if "\"registered\"" in l][0]; print(e["ts"]-int(sys.argv[2]))' "$dir/p30.jsonl" "$t0"
}

for n in 3 5; do
  lat=()
  for r in $(seq "$runs"); do lat+=("$(one_run "$n" "$work/s$n-$r")"); done
  echo "seeds=$n: 30th peer launch-to-certificate ms: ${lat[*]}"
done
RSS=1 one_run 3 "$work/rss" | grep RSS
