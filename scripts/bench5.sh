#!/usr/bin/env bash
# Issue 13's benchmark 5: 1,000 peers at `--speed 5`, in-process and as processes, on a lent
# 16-core machine (the `device` tool, which cannot build: it runs binaries built here).
#
# Here, once:   scripts/bench5.sh --prepare      (strips the release binaries into bench5-bin/;
#                                                 scripts/bench12.sh uses them too)
# There:        scripts/bench5.sh [PEERS]         (default 1000; writes to $OUT, else ./bench5-out)
# e.g. run(command="scripts/bench5.sh", carry=["bench5-bin"], timeout_s=540)
#
# Each run is bounded (`timeout`: IN_PROCESS_TIMEOUT, PROCESSES_TIMEOUT seconds), so one that
# hangs still leaves the other's figures, and both fit one 600 s call. What
# comes back per mode: the summary (`MODE.json`, `MODE.txt`), the run's own console, and the
# machine's load while it ran (`MODE.vmstat`). The runs' event files stay behind: at 1,000
# peers they are gigabytes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bench5-bin

if [ "${1:-}" = "--prepare" ]; then
  cargo build --release --bins
  cargo build --release -p hearsay-net --example wakeups
  rm -rf "$BIN" && mkdir -p "$BIN"
  for b in hearsay seed peer examples/wakeups; do
    strip -o "$BIN/$(basename "$b")" "target/release/$b"
  done
  # For scripts/bench12.sh: benchmark 2's harness, which lives beside the checkout.
  [ -d ../shared/bench ] && cp -r ../shared/bench "$BIN/bench" && chmod -R u+w "$BIN/bench"
  du -sh "$BIN"
  exit 0
fi

PEERS=${1:-1000}
OUT=${OUT:-bench5-out}
mkdir -p "$OUT"
[ -x "$BIN/hearsay" ] || { echo "bench5: no $BIN/hearsay; run scripts/bench5.sh --prepare first" >&2; exit 2; }
# 1,000 peer processes need some 30 descriptors each in `hearsay up`'s process.
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{ nproc; free -g | head -2; ulimit -n; } > "$OUT/machine.txt"

run() {
  local mode=$1 limit=$2; shift 2
  vmstat 5 > "$OUT/$mode.vmstat" &
  local vm=$!
  local rc=0 start=$SECONDS
  timeout "$limit" "$BIN/hearsay" up "$@" --peers "$PEERS" --speed 5 --kill 0 \
    --json "$OUT/$mode.json" --dir "$work/$mode" > "$OUT/$mode.txt" 2>&1 || rc=$?
  kill "$vm" 2>/dev/null || true
  echo "$mode: exit $rc after $((SECONDS - start)) s"
  rm -rf "${work:?}/$mode"
}

# On the lent 16-core machine (issue 13's twenty-eighth session) in-process took 67–70 s and
# processes 108–123 s, saturated (some 1,000 CPU-s): the defaults leave room for a slower one.
run in-process "${IN_PROCESS_TIMEOUT:-180}" --in-process
run processes "${PROCESSES_TIMEOUT:-330}"
for mode in in-process processes; do
  [ -f "$OUT/$mode.json" ] || continue
  python3 - "$OUT/$mode.json" "$mode" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
g, c = j.get("gossip", {}), j.get("cpu", {})
lat = g.get("latency_ms", {})
print(f"{sys.argv[2]}: p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms, max {lat.get('max')} ms, "
      f"coverage {g.get('coverage_min')}, CPU {c.get('per_delivery_us')} µs a delivery")
PY
done
