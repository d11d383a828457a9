# shellcheck shell=bash
# shellcheck disable=SC2016 # backticks are Markdown code, not command substitution
# The results table (stdout and docs/BENCHMARKS.md) and the facts a reader needs to trust it:
# date, machine, tool versions, load before and after, how caches were cleared.
# Expects ROWS, RESULT, ROW_AIM, TOOLS, RUNS and the anchors' helpers.

declare -gA ROW_AIM=() ROW_MET=()

is_number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
ratio() { # A B -> A/B with 2 decimals, or a dash when either is not a time
  if is_number "$1" && is_number "$2" && [[ $2 != 0.000 ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
  else printf '—'; fi
}

# ROW_AIM values: "abs:S" (kiln under S seconds), "rel:F" (kiln at most F x BuildKit), or text.
aim_text() {
  case $1 in
  abs:*) printf '< %s s' "${1#abs:}" ;;
  rel:*) printf '≤ %s× BuildKit' "${1#rel:}" ;;
  *) printf '%s' "${1:-—}" ;;
  esac
}
aim_met() { # AIM KILN BUILDKIT
  local aim=$1 k=$2 b=$3
  is_number "$k" || { printf '—'; return; }
  case $aim in
  abs:*) awk -v k="$k" -v a="${aim#abs:}" 'BEGIN { print (k < a) ? "yes" : "no" }' ;;
  rel:*) if is_number "$b"; then awk -v k="$k" -v b="$b" -v f="${aim#rel:}" 'BEGIN { print (k <= b * f) ? "yes" : "no" }'; else printf '—'; fi ;;
  *) printf '—' ;;
  esac
}
cell() { local v=${RESULT["$1|$2"]:-not run}; printf '%s' "$v"; }

results_table() {
  local row k b h
  printf '| case | kiln | BuildKit | Buildah | kiln / BuildKit | kiln / Buildah | aim (issue 5) | met |\n'
  printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
  for row in "${ROWS[@]}"; do
    k=$(cell "$row" kiln) b=$(cell "$row" buildkit) h=$(cell "$row" buildah)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$row" "$k" "$b" "$h" \
      "$(ratio "$k" "$b")" "$(ratio "$k" "$h")" "$(aim_text "${ROW_AIM[$row]:-}")" \
      "${ROW_MET[$row]:-$(aim_met "${ROW_AIM[$row]:-}" "$k" "$b")}"
  done
}

busy_processes() { # compilers and test binaries of other work, at this moment
  ps -eo args= | awk '$1 ~ /(^|\/)(rustc|cargo|cc1|ld)$/ || $1 ~ /\/target\/[^\/]+\/deps\// { n++ } END { print n + 0 }'
}

machine_facts() {
  local mem fs
  mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  fs=$(df -PT "$WORK" | awk 'NR == 2 { print $2 " on " $1 }')
  printf -- '- CPU: %s, %s cores; RAM %s; kernel %s; Debian %s; work dir %s (%s)\n' \
    "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" "$(nproc)" "$mem" "$(uname -r)" \
    "$(cat /etc/debian_version 2>/dev/null || echo '?')" "$WORK" "$fs"
  printf -- '- kiln: release build of %s\n' "$KILN_DESC"
  printf -- '- BuildKit: dockerd %s (built-in BuildKit, overlay2, data root /var/lib/docker-anchor), Debian docker client, DOCKER_BUILDKIT=1\n' \
    "$(docker_anchor version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
  printf -- '- Buildah: %s, `bud --layers`, overlay storage in the work dir, runc\n' \
    "$(buildah --version 2>/dev/null | awk '{ print $3 }')"
}

write_report() { # FILE
  local out=$1 caveat=""
  if awk -v a="$LOAD_BEFORE" -v b="$LOAD_AFTER" 'BEGIN { exit !(a > 0.5 || b > 0.5) }'; then
    caveat="**Caveat:** other work ran on this shared machine during the run (1-minute load average
$LOAD_BEFORE before and $LOAD_AFTER after, on $(nproc) cores; $BUSY_BEFORE compiler/test processes at
the start, $BUSY_AFTER at the end). Absolute times are inflated and noisy; the ratios are fairer, since
the tools' repetitions were interleaved and so shared the load alike."
  else
    caveat="The machine was otherwise idle (1-minute load average $LOAD_BEFORE before, $LOAD_AFTER after)."
  fi
  {
    printf '# Build benchmarks: kiln vs BuildKit vs Buildah\n\n'
    printf 'Written by `bench/build-bench.sh%s` on %s (run took %s min). Seconds, median of %s\n' \
      "$ARGS_TEXT" "$START_DATE" "$(((SECONDS + 30) / 60))" "$RUNS"
    printf 'repetition(s) per tool; ratios below 1 mean kiln is faster.\n\n'
    results_table
    printf '\n%s\n' "$caveat"
    if ((${#VERIFIED[@]})); then
      printf '\nkiln'"'"'s images were checked by running them (`kiln run --rm`) against the output each\n'
      printf 'Dockerfile must produce:'
      local c
      local -a checks=()
      for c in "${CASES[@]}"; do [[ -z ${VERIFIED[$c]:-} ]] || checks+=("$c: ${VERIFIED[$c]}"); done
      local sep=' '
      for c in "${checks[@]}"; do printf '%s%s' "$sep" "$c" && sep='; '; done
      printf '.\n'
    fi
    printf '\n## Machine\n\n'
    machine_facts
    cat <<'TXT'

## Method

- Cases: `../shared/bench/cases` (small, edit, parallel, manylayers, bigcontext, biglayer), copied
  to the work dir; `gen-data.sh` makes bigcontext's 20,000 files (~200 MB) and biglayer's seed.
  Every case starts `FROM 127.0.0.1:5000/busybox:latest`, a local registry (Debian
  docker-registry) started by `../shared/bench/setup-anchors.sh`, which also starts dockerd.
- Each tool keeps the busybox base in its image store; no measured build pulls it.
- Cold build: the tool's build cache is cleared before each repetition (untimed):
  kiln: a new, empty `--root` store, then `kiln pull` of the base;
  BuildKit: `docker image rm` of the case's tag, `docker builder prune -af`;
  Buildah: its own storage (`--root` in the work dir): `buildah rm -a`, `buildah rmi -a -f`
  (the `--layers` cache is images), `buildah pull` of the base.
  The kernel's page cache is not dropped (that would disturb other work on the machine), so
  the context files are in memory for every tool alike.
- No-op rebuild: the same build again right after the cold builds, nothing changed.
- Edit: one untimed build, then per repetition one line appended to `src/main.c` and a rebuild;
  the case's slow `RUN sleep 2` comes before `COPY src/` and should stay cached.
- Parallel: two independent stages each `RUN sleep 3`; ideal ≈ 3 s, serial ≈ 6 s.
- The tools take turns within each repetition (kiln, BuildKit, Buildah), so background load
  falls on all of them alike. Each build's output is kept in the work dir's `logs/`.
- Every build has a time limit (`BUILD_TIMEOUT`, 120 s; the reference tools need under 50 s for any case); a failed build shows its error
  message in the table instead of a time, and its no-op row is not run.
- Aims are issue 5's: no-op under 50 ms (150 ms for the 20k-file context), parallel stages
  within 0.3 s of the longest stage, under 60 ms per RUN step, large context and layer at
  least 2× faster than BuildKit.
TXT
    if ((${#FAILURES[@]})); then
      printf '\n## Failures\n\n'
      printf -- '- %s\n' "${FAILURES[@]}"
    fi
  } >"$out"
}
