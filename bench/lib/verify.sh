# shellcheck shell=bash
# A fast build is only worth reporting if it built the right image: after a case's measurements
# kiln's last image of it is run and its output compared with what the Dockerfile must produce.
# Fills VERIFIED["CASE"] with "ok" or what went wrong. Expects WORK, KILN_BIN, kiln_root.

declare -gA VERIFIED=()

# expected_output CASE : what running the check command in the case's image must print
expected_output() {
  local dir="$WORK/cases/$1"
  case $1 in
  small) echo 'hello world v1.0' ;;
  edit) cat "$dir"/src/*.c | wc -l && find "$dir/src" -mindepth 1 -maxdepth 1 | wc -l ;;
  parallel) printf 'a\nb\n' ;;
  manylayers) printf '1\n25\n50\n' ;;
  # `COPY . /ctx` takes the whole context, Dockerfile included
  bigcontext) find "$dir" -type f | wc -l ;;
  biglayer) printf '%s\n' 209715200 251658240 "$(seq 1 10000000 | wc -c)" ;;
  esac
}

check_command() { # CASE -> the kiln run arguments after the image
  case $1 in
  small) echo '--entrypoint cat IMG /app/greeting.txt' ;;
  edit | parallel) echo 'IMG' ;;
  manylayers) echo 'IMG cat /f1 /f25 /f50' ;;
  bigcontext) echo 'IMG head -n 1 /count' ;;
  biglayer) echo 'IMG stat -c %s /big/text.bin /big/random.bin /big/seq.bin' ;;
  esac
}

verify_kiln_image() { # CASE
  local case=$1 want got args logf="$WORK/logs/verify.$1.log"
  [[ " ${TOOLS[*]} " == *" kiln "* ]] || return 0
  if [[ -n ${CASE_FAILED["$case|kiln"]:-} ]]; then
    VERIFIED[$case]="not checked: the build failed"
    return 0
  fi
  want=$(expected_output "$case" | awk '{ $1 = $1; print }')
  args=$(check_command "$case")
  args=${args/IMG/bench-$case:latest}
  # shellcheck disable=SC2086 # the check command is split into words on purpose
  got=$(timeout 120 "$KILN_BIN" --root "$(kiln_root)" run --rm $args 2>"$logf" | awk '{ $1 = $1; print }')
  if [[ $got == "$want" ]]; then
    VERIFIED[$case]=ok
  else
    VERIFIED[$case]="WRONG: \`kiln run --rm $args\` printed '${got//$'\n'/\\n}', expected '${want//$'\n'/\\n}'"
    [[ -s $logf ]] && VERIFIED[$case]+=" ($(failure_message "$logf"))"
  fi
  log "kiln image of $case checked: ${VERIFIED[$case]}"
}

# Did kiln's edit rebuilds keep the slow dependency step cached and re-run the compile step?
# Read from kiln's plain progress (BuildKit's format: the step line, then "#N CACHED" or "#N DONE").
edit_reran_only_tail() {
  local logf n=0 bad=0
  for logf in "$WORK"/logs/edit__one_source_file_changed.kiln.[0-9]*.log; do
    [[ -f $logf ]] || continue
    n=$((n + 1))
    awk '/^#[0-9]+ (\[[^]]*\] )?RUN sleep 2/ { s = 1; next } s == 1 && /CACHED/ { dep = 1; s = 0 }
         /^#[0-9]+ (\[[^]]*\] )?RUN cat \/app\/src/ { c = 1; next } c == 1 && /DONE/ { comp = 1; c = 0 }
         END { exit !(dep && comp) }' "$logf" || bad=$((bad + 1))
  done
  if ((n == 0)); then printf '—'; elif ((bad)); then printf 'no (%s of %s rebuilds)' "$bad" "$n"; else printf 'yes'; fi
}
