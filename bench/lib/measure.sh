# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are read by the other files of bench/
# The measurements. Each fills RESULT["ROW|TOOL"] with a median in seconds or "FAIL: message",
# and appends ROW to ROWS. Repetitions are interleaved across tools (run 1 of every tool, then
# run 2, ...) so that load from other work on the machine spreads over all tools alike.
# Expects TOOLS, RUNS and the functions of common.sh and tools.sh.

declare -gA RESULT=() CASE_FAILED=()
declare -ga ROWS=()

# One timed build; on failure records the error message for the row and marks the case failed
# for the tool (its no-op row is then not measured). Appends the time to the named array.
timed_build() { # ROW CASE DIR TOOL REP TIMES_ARRAY_NAME
  local row=$1 case=$2 dir=$3 tool=$4 rep=$5
  local -n acc=$6
  local logf
  logf=$(log_path "$row" "$tool" "$rep")
  "build_$tool" "$case" "$dir"
  time_cmd "$logf" "${BUILD_CMD[@]}"
  if ((LAST_RC != 0)); then
    RESULT["$row|$tool"]="FAIL: $(failure_message "$logf")"
    CASE_FAILED["$case|$tool"]=1
    log "$row / ${TOOL_LABEL[$tool]} run $rep FAILED (exit $LAST_RC), log: $logf"
    return 1
  fi
  acc+=("$LAST_SECS")
  log "$row / ${TOOL_LABEL[$tool]} run $rep: $LAST_SECS s"
}

# Clear the tool's cache (untimed). A failing reset is recorded like a failing build.
reset_tool() { # ROW CASE TOOL REP
  local logf
  logf="$(log_path "$1" "$3" "$4").reset"
  if ! "reset_$3" "$2" >"$logf" 2>&1; then
    RESULT["$1|$3"]="FAIL: clearing the cache failed: $(failure_message "$logf")"
    CASE_FAILED["$2|$3"]=1
    return 1
  fi
}

finish_row() { # ROW CASE ; per tool, the median of the collected times unless it failed
  local row=$1 tool
  ROWS+=("$row")
  for tool in "${TOOLS[@]}"; do
    local -n t="times_$tool"
    [[ -n ${RESULT["$row|$tool"]:-} ]] || RESULT["$row|$tool"]=$(median "${t[@]}")
  done
}

# Cold build: the tool's build cache is cleared before every repetition.
measure_cold() { # ROW CASE
  local row=$1 case=$2 dir="$WORK/cases/$2" rep tool
  local -a times_kiln=() times_buildkit=() times_buildah=()
  for rep in $(seq "$RUNS"); do
    for tool in "${TOOLS[@]}"; do
      [[ -z ${RESULT["$row|$tool"]:-} ]] || continue
      reset_tool "$row" "$case" "$tool" "$rep" || continue
      timed_build "$row" "$case" "$dir" "$tool" "$rep" "times_$tool" || true
    done
  done
  finish_row "$row" "$case"
}

# No-op rebuild: nothing changed since the tool's last (cold) build of the case.
measure_noop() { # ROW CASE
  local row=$1 case=$2 dir="$WORK/cases/$2" rep tool
  local -a times_kiln=() times_buildkit=() times_buildah=()
  for tool in "${TOOLS[@]}"; do
    [[ -z ${CASE_FAILED["$case|$tool"]:-} ]] || RESULT["$row|$tool"]="not run: the cold build failed"
  done
  for rep in $(seq "$RUNS"); do
    for tool in "${TOOLS[@]}"; do
      [[ -z ${RESULT["$row|$tool"]:-} ]] || continue
      timed_build "$row" "$case" "$dir" "$tool" "$rep" "times_$tool" || true
    done
  done
  finish_row "$row" "$case"
}

# Rebuild after a developer's edit of one source file: every tool first builds the case once
# (untimed, from a cleared cache); each repetition then appends a new line to one file of src/,
# so every timed build sees exactly one changed file since that tool's previous build.
measure_edit() { # ROW CASE FILE(relative to the case)
  local row=$1 case=$2 file=$3 dir="$WORK/cases/$2" rep tool
  local -a times_kiln=() times_buildkit=() times_buildah=() warm=()
  for tool in "${TOOLS[@]}"; do
    reset_tool "$row" "$case" "$tool" warm || continue
    timed_build "$row" "$case" "$dir" "$tool" warm warm || true
  done
  for rep in $(seq "$RUNS"); do
    printf '/* edit %s at %s */\n' "$rep" "$EPOCHREALTIME" >>"$dir/$file"
    for tool in "${TOOLS[@]}"; do
      [[ -z ${RESULT["$row|$tool"]:-} ]] || continue
      timed_build "$row" "$case" "$dir" "$tool" "$rep" "times_$tool" || true
    done
  done
  finish_row "$row" "$case"
}
