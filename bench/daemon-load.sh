#!/usr/bin/env bash
# Load on the build-cache service: N concurrent clients (default 50) each doing cached
# rebuilds of a small Dockerfile through one `kiln daemon` on a scratch store. Prints
# throughput (builds/s), p50/p99 latency of one client build, and the daemon's peak RSS.
# Aim: a cached rebuild through the daemon under 50 ms at p50 on this machine.
#
# usage: bench/daemon-load.sh [--clients N] [--builds M] [--kiln BINARY] [--work DIR]
#   --clients N  concurrent clients (default 50)
#   --builds M   cached rebuilds per client (default 10)
#   --kiln B     measure this binary (default: target/release/kiln, built if missing)
#   --work D     scratch dir (default: a new temp dir, removed at the end)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=50 BUILDS=10 KILN="" WORK=""
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
  --clients) CLIENTS=${2:?--clients needs a number}; shift ;;
  --builds) BUILDS=${2:?--builds needs a number}; shift ;;
  --kiln) KILN=$(realpath "${2:?--kiln needs a path}"); shift ;;
  --work) WORK=${2:?--work needs a directory}; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; echo "daemon-load: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
for n in "$CLIENTS" "$BUILDS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "daemon-load: counts must be positive numbers, got '$n'" >&2; exit 2; }
done
if [[ -z $KILN ]]; then
  KILN=$REPO/target/release/kiln
  [[ -x $KILN ]] || (cd "$REPO" && cargo build --release --bin kiln)
fi
CLEAN_WORK=0
if [[ -z $WORK ]]; then
  WORK=$(mktemp -d /var/tmp/kiln-daemon-load.XXXXXX)
  CLEAN_WORK=1
fi
mkdir -p "$WORK"
ROOT=$WORK/root SOCK=$WORK/kiln.sock
HOST=unix://$SOCK
DAEMON_PID=""
cleanup() {
  if [[ -n $DAEMON_PID ]]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  if ((CLEAN_WORK)); then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# A store with busybox and one built image, so every measured build is a cache hit.
"$REPO/testdata/busybox-image.sh" "$WORK/busybox.tar" >/dev/null
"$KILN" --root "$ROOT" load -i "$WORK/busybox.tar" >/dev/null
mkdir -p "$WORK/ctx"
printf 'FROM busybox\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy.txt\nENV MODE=bench\n' >"$WORK/ctx/Dockerfile"
echo "hello from the load benchmark" >"$WORK/ctx/app.txt"

"$KILN" --root "$ROOT" --host "$HOST" daemon --jobs 4 >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do
  [[ -S $SOCK ]] && "$KILN" --host "$HOST" images >/dev/null 2>&1 && break
  sleep 0.05
done
"$KILN" --host "$HOST" build -q -t bench "$WORK/ctx" >/dev/null

# Each client: BUILDS cached rebuilds, one latency (ms) per line.
client() {
  local out=$1 t0 t1
  for _ in $(seq "$BUILDS"); do
    t0=$(date +%s%N)
    "$KILN" --host "$HOST" build -q -t bench "$WORK/ctx" >/dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000)) >>"$out"
  done
}
rm -f "$WORK"/lat.*
start=$(date +%s%N)
pids=()
for i in $(seq "$CLIENTS"); do
  client "$WORK/lat.$i" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
end=$(date +%s%N)
((failed == 0)) || { echo "daemon-load: $failed clients failed; see $WORK/daemon.log" >&2; exit 1; }

sort -n "$WORK"/lat.* >"$WORK/lat.sorted"
total=$(wc -l <"$WORK/lat.sorted")
pct() { sed -n "$(((total * $1 + 99) / 100))p" "$WORK/lat.sorted"; }
wall_ms=$(((end - start) / 1000000))
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON_PID/status")
awk -v n="$total" -v ms="$wall_ms" -v c="$CLIENTS" -v p50="$(pct 50)" -v p99="$(pct 99)" -v rss="$rss_kb" 'BEGIN {
  printf "clients %d, cached rebuilds %d in %.2f s\n", c, n, ms / 1000
  printf "throughput  %.1f builds/s\n", n / (ms / 1000)
  printf "latency     p50 %d ms, p99 %d ms (one client build, process start included)\n", p50, p99
  printf "daemon peak RSS  %.1f MiB\n", rss / 1024
}'
