#!/usr/bin/env bash
# Issue 13's benchmarks 1 and 2 on a lent machine (the `device` tool), on all its cores and on
# two of them (`taskset`), beside what a wake-up costs there (the `wakeups` example): whether
# the 2-core development machine's figures are the code's or that machine's.
#
# Here, once:   scripts/bench5.sh --prepare      (release binaries, the wakeups example and
#                                                 ../shared/bench into bench5-bin/)
# There:        scripts/bench12.sh                (writes to $OUT, else ./bench12-out)
# e.g. run(command="scripts/bench12.sh", carry=["bench5-bin"], timeout_s=560)
#
# What comes back: log.txt (the machine, the wake-ups, each run's console) and one summary per
# run (bench1.json, bench1-2cores.json, bench2.json, bench2-2cores.json). Some 5 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=bench5-bin
OUT=${OUT:-bench12-out}
mkdir -p "$OUT"
[ -x "$BIN/wakeups" ] || { echo "bench12: no $BIN/wakeups; run scripts/bench5.sh --prepare first" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"
log="$OUT/log.txt"
{ nproc; lscpu | grep -E 'Model name|^CPU\(s\)|MHz|Hypervisor'; } > "$log"
two=0,1
for cores in all "$two"; do
  pin=(); [ "$cores" = all ] || pin=(taskset -c "$cores")
  echo "== wakeups, cores $cores" >> "$log"
  "${pin[@]}" "$BIN/wakeups" >> "$log" 2>&1
done
# Benchmark 2 first, while the machine is quiet (processes.py waits for a quiet machine).
for cores in all "$two"; do
  pin=(); name=bench2; [ "$cores" = all ] || { pin=(taskset -c "$cores"); name=bench2-2cores; }
  echo "== $name" >> "$log"
  timeout 200 "${pin[@]}" python3 "$BIN/bench/processes.py" --peers 20 --bin "$PWD/$BIN" \
    --quiet-wait 60 --json "$OUT/$name.json" >> "$log" 2>&1 || echo "$name: exit $?" >> "$log"
done
for cores in all "$two"; do
  pin=(); name=bench1; [ "$cores" = all ] || { pin=(taskset -c "$cores"); name=bench1-2cores; }
  echo "== $name" >> "$log"
  work=$(mktemp -d)
  timeout 150 "${pin[@]}" "$BIN/hearsay" up --in-process --peers 300 --speed 50 --kill 0 \
    --json "$OUT/$name.json" --dir "$work" >> "$log" 2>&1 || echo "$name: exit $?" >> "$log"
  rm -rf "$work"
done
grep -E "^==|round trip|^ +[0-9]+(ns|ms) \||exit" "$log"
python3 - "$OUT" <<'PY'
import json, os, sys
for name in ("bench2", "bench2-2cores", "bench1", "bench1-2cores"):
    try:
        j = json.load(open(os.path.join(sys.argv[1], name + ".json")))
    except (OSError, ValueError):
        print(f"{name}: no summary"); continue
    if "window_cpu_us_per_delivery" in j:
        lat = j["latency_ms"]
        print(f"{name}: {j['window_cpu_us_per_delivery']} µs a delivery after the last join "
              f"({j['cpu_us_per_delivery']} whole run), p99 {lat['p99']} ms, "
              f"coverage {j['coverage_present']}")
    else:
        c, g = j["cpu"], j["gossip"]
        print(f"{name}: {c['per_delivery_us']:.2f} µs a delivery ({c['spread_per_delivery_us']:.2f} "
              f"while spreading, {c['spread_cores_busy']:.2f} of {c['cores']} cores), "
              f"p99 {g['latency_ms']['p99']} ms, coverage {g['coverage_min']}")
PY
