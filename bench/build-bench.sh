#!/usr/bin/env bash
# kiln's build benchmark: kiln vs BuildKit (dockerd 20.10) vs Buildah on the Dockerfiles of
# ../shared/bench/cases, in one run on this machine. Prints a table of seconds and ratios and
# writes it to docs/BENCHMARKS.md. Idempotent; a full run takes about 15-25 minutes.
#
# usage: bench/build-bench.sh [--quick] [--runs N] [--cases a,b] [--tools kiln,buildkit,buildah]
#                             [--kiln BINARY] [--work DIR] [--out FILE] [--keep]
#   --quick   one repetition, without the two biggest cases (bigcontext, biglayer); writes
#             WORK/BENCHMARKS-quick.md unless --out is given
#   --runs N  repetitions per measurement (default 3; the median is reported)
#   --kiln B  measure this kiln binary instead of building target/release/kiln
#   --work D  scratch dir (default /var/tmp/kiln-bench): stores, case copies, logs/
#   --keep    leave the benchmark's images and caches in each tool at the end
# env: CASES_SRC (default ../shared/bench/cases), GEN_DATA, ANCHOR_SETUP, BUILD_TIMEOUT (120 s)
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARGS_TEXT=${*:+ $*}
RUNS=3 QUICK=0 KEEP=0 KILN_BIN="" OUT=""
WORK=/var/tmp/kiln-bench
CASES=(small edit parallel manylayers bigcontext biglayer)
TOOLS=(kiln buildkit buildah)
usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
  --quick) QUICK=1 RUNS=1 CASES=(small edit parallel manylayers) ;;
  --runs) RUNS=${2:?--runs needs a number}; shift ;;
  --cases) IFS=, read -r -a CASES <<<"${2:?--cases needs a list}"; shift ;;
  --tools) IFS=, read -r -a TOOLS <<<"${2:?--tools needs a list}"; shift ;;
  --kiln) KILN_BIN=$(realpath "${2:?--kiln needs a path}"); shift ;;
  --work) WORK=${2:?--work needs a directory}; shift ;;
  --out) OUT=${2:?--out needs a file}; shift ;;
  --keep) KEEP=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; echo "build-bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "build-bench: --runs wants a positive number, got '$RUNS'" >&2; exit 2; }
CASES_SRC=${CASES_SRC:-$REPO/../shared/bench/cases}
[[ -n $OUT ]] || { ((QUICK)) && OUT=$WORK/BENCHMARKS-quick.md || OUT=$REPO/docs/BENCHMARKS.md; }
((EUID == 0)) || { echo "build-bench: run as root (the builders need namespaces and mounts)" >&2; exit 1; }

mkdir -p "$WORK" && WORK=$(realpath "$WORK")
rm -rf "$WORK/logs" && mkdir -p "$WORK/logs"
# shellcheck source=bench/lib/common.sh
source "$REPO/bench/lib/common.sh"
# shellcheck source=bench/lib/tools.sh
source "$REPO/bench/lib/tools.sh"
# shellcheck source=bench/lib/anchors.sh
source "$REPO/bench/lib/anchors.sh"
# shellcheck source=bench/lib/cases.sh
source "$REPO/bench/lib/cases.sh"
# shellcheck source=bench/lib/measure.sh
source "$REPO/bench/lib/measure.sh"
# shellcheck source=bench/lib/verify.sh
source "$REPO/bench/lib/verify.sh"
# shellcheck source=bench/lib/report.sh
source "$REPO/bench/lib/report.sh"
for t in "${TOOLS[@]}"; do [[ -n ${TOOL_LABEL[$t]:-} ]] || die "unknown tool '$t' (kiln, buildkit, buildah)"; done

START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg) BUSY_BEFORE=$(busy_processes)
log "start: load $LOAD_BEFORE, $BUSY_BEFORE compiler/test processes of other work; work dir $WORK"

ensure_anchors

# kiln is measured from a copy: other engineers' builds may replace target/release/kiln meanwhile.
if [[ -z $KILN_BIN ]]; then
  log "building kiln (release)"
  (cd "$REPO" && cargo build --release -p kiln --bin kiln) >"$WORK/logs/cargo-build.log" 2>&1 ||
    die "cargo build --release -p kiln failed; see $WORK/logs/cargo-build.log"
  KILN_BIN=$REPO/target/release/kiln
  KILN_DESC="git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
  dirty=$(git -C "$REPO" status --porcelain 2>/dev/null | wc -l)
  ((dirty)) && KILN_DESC+=" + $dirty uncommitted changes (work in progress)"
else
  KILN_DESC="the given binary $KILN_BIN"
fi
[[ -x $KILN_BIN ]] || die "no kiln binary at $KILN_BIN"
cp "$KILN_BIN" "$WORK/kiln.bin" && KILN_BIN=$WORK/kiln.bin

prepare_cases

has_case() { [[ " ${CASES[*]} " == *" $1 "* ]]; }
if has_case small; then
  measure_cold "small: cold" small
  measure_noop "small: no-op rebuild" small
  ROW_AIM["small: no-op rebuild"]=abs:0.05
  verify_kiln_image small
fi
if has_case edit; then
  measure_edit "edit: one source file changed" edit src/main.c
  ROW_AIM["edit: one source file changed"]="only steps after the edit re-run"
  ROW_MET["edit: one source file changed"]=$(edit_reran_only_tail)
  verify_kiln_image edit
fi
if has_case parallel; then
  measure_cold "parallel: two 3 s stages, cold" parallel
  ROW_AIM["parallel: two 3 s stages, cold"]=abs:3.3
  verify_kiln_image parallel
fi
if has_case manylayers; then
  measure_cold "manylayers: 50 RUN, cold" manylayers
  measure_noop "manylayers: no-op rebuild" manylayers
  ROW_AIM["manylayers: 50 RUN, cold"]=abs:4
  ROW_AIM["manylayers: no-op rebuild"]=abs:0.05
  verify_kiln_image manylayers
fi
if has_case bigcontext; then
  measure_cold "bigcontext: 20k files, cold" bigcontext
  measure_noop "bigcontext: no-op rebuild" bigcontext
  ROW_AIM["bigcontext: 20k files, cold"]=rel:0.5
  ROW_AIM["bigcontext: no-op rebuild"]=abs:0.15
  verify_kiln_image bigcontext
fi
if has_case biglayer; then
  measure_cold "biglayer: 500 MB RUN, cold" biglayer
  ROW_AIM["biglayer: 500 MB RUN, cold"]=rel:0.5
  verify_kiln_image biglayer
fi

LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg) BUSY_AFTER=$(busy_processes)
FAILURES=()
for row in "${ROWS[@]}"; do
  for t in "${TOOLS[@]}"; do
    v=${RESULT["$row|$t"]:-}
    [[ $v == FAIL:* ]] && FAILURES+=("$row, ${TOOL_LABEL[$t]}: ${v#FAIL: } (logs: \`$WORK/logs/\`)")
  done
done
for c in "${CASES[@]}"; do
  [[ ${VERIFIED[$c]:-} == WRONG:* ]] && FAILURES+=("$c, kiln's image is wrong: ${VERIFIED[$c]#WRONG: }")
done
((KEEP)) || cleanup_tools
log "done: load $LOAD_AFTER; writing $OUT"
results_table
write_report "$OUT"
# Hand-written analysis of the figures (kiln bugs found, what to look at) follows the table.
if [[ -f $REPO/bench/NOTES.md ]]; then
  { printf '\n' && cat "$REPO/bench/NOTES.md"; } >>"$OUT"
fi
