# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are read by the other files of bench/
# Shared helpers of the build benchmark: logging, timing a command, medians, failure messages.
# Sourced by bench/build-bench.sh; expects WORK (scratch dir) to be set.

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  printf 'build-bench: %s\n' "$*" >&2
  exit 1
}

# Per-build time limit: a hung build must not stall the whole run (the run aims at < 25 min).
BUILD_TIMEOUT=${BUILD_TIMEOUT:-120}

# time_cmd LOG CMD... : run CMD with its output in LOG; sets LAST_SECS (wall seconds, 3 decimals)
# and LAST_RC. EPOCHREALTIME avoids forking `date`, so the clock brackets only the command.
time_cmd() {
  local logf=$1 start end
  shift
  start=$EPOCHREALTIME
  timeout --kill-after=10 "$BUILD_TIMEOUT" "$@" >"$logf" 2>&1
  LAST_RC=$?
  end=$EPOCHREALTIME
  LAST_SECS=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
  if ((LAST_RC == 124 || LAST_RC == 137)); then
    local last
    last=$(grep -v -E '^\s*$' "$logf" | tail -n 1)
    ((${#last} > 72)) && last="${last:0:72}…"
    echo "build-bench: timed out after ${BUILD_TIMEOUT} s; last output: ${last:-none}" >>"$logf"
  fi
  return 0
}

# median of the numbers given as arguments (lower middle for an even count: never invents a value)
median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.3f", a[int((NR + 1) / 2)] }'
}

# failure_message LOG : the line of a failed build's output that says why, for the table. Prefers
# the last line naming an error; falls back to the last non-empty line. Pipes are escaped for
# Markdown and the text is cut to fit a table cell.
failure_message() {
  local logf=$1 line
  line=$(grep -E -i 'error|failed|timed out|panicked' "$logf" | grep -v -E '^\s*$' | tail -n 1)
  [[ -n $line ]] || line=$(grep -v -E '^\s*$' "$logf" | tail -n 1)
  [[ -n $line ]] || line="exited with no output"
  line=${line//|/\\|}
  line=$(printf '%s' "$line" | tr -d '\r' | sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g; s/[[:space:]]+/ /g')
  ((${#line} > 200)) && line="${line:0:197}..."
  printf '%s' "$line"
}

# Keep every build's log, named after what was measured, for post-mortems.
log_path() { # ROW TOOL REP
  local slug=${1//[^A-Za-z0-9]/_}
  printf '%s/logs/%s.%s.%s.log' "$WORK" "$slug" "$2" "$3"
}
