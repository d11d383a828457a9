# shellcheck shell=bash
# The benchmark cases, copied from ../shared/bench/cases into WORK/cases. The copy is what the
# tools build (the edit case is edited in it; the shared originals are read-only). Generated
# inputs (bigcontext/data: 20,000 files, ~200 MB; biglayer/seed.bin) are made in the copy by the
# reference gen-data.sh, whose stamp file makes that a one-time cost per WORK directory:
# creating 20,000 files on this machine's disk takes 15-50 s.
# Expects WORK, CASES_SRC, CASES (the selected case names).

GEN_DATA=${GEN_DATA:-$CASES_SRC/../gen-data.sh}

prepare_cases() {
  local dst="$WORK/cases" c
  mkdir -p "$dst"
  for c in "${CASES[@]}"; do
    [[ -f $CASES_SRC/$c/Dockerfile ]] || die "case '$c' has no Dockerfile in $CASES_SRC/$c; set CASES_SRC"
    # The edit case starts from the original every run, so the edits of earlier runs do not pile up.
    [[ $c == edit ]] && rm -rf "${dst:?}/$c"
    mkdir -p "$dst/$c"
    tar -C "$CASES_SRC/$c" --exclude=./data --exclude=./seed.bin -cf - . | tar -C "$dst/$c" -xf - ||
      die "copying case '$c' from $CASES_SRC/$c to $dst/$c failed"
    # Writable copy (the edit case is edited); the 20,000 data files are left alone.
    find "$dst/$c" -path "$dst/bigcontext/data" -prune -o -exec chmod u+w {} +
  done
  if [[ " ${CASES[*]} " == *" bigcontext "* || " ${CASES[*]} " == *" biglayer "* ]]; then
    [[ -f $GEN_DATA ]] || die "$GEN_DATA (makes the large inputs) is missing; set GEN_DATA"
    # gen-data.sh writes into the cases/ beside itself, so it runs from a copy in WORK.
    cp "$GEN_DATA" "$WORK/gen-data.sh"
    mkdir -p "$dst/bigcontext" "$dst/biglayer"
    log "generating the large inputs in $dst (once per work dir)"
    bash "$WORK/gen-data.sh" >"$WORK/logs/gen-data.log" 2>&1 || die "gen-data.sh failed; see $WORK/logs/gen-data.log"
  fi
}
