#!/usr/bin/env bash
# README's main job on a fresh Debian 12 machine: install what kiln needs, build kiln, make
# the busybox base image and load it into a store, build the example in testdata/example
# with `kiln build`, rebuild it (fully cached), and run it with `kiln run`.
#   env: KILN_ROOT  store to use (default: target/main-job/root, a fresh one each run)
#        PROFILE    cargo profile to build kiln with (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
# busybox-static makes the base image; the rest is what the tests use too (.ci/run).
if ! command -v busybox >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends busybox-static
fi
profile=${PROFILE:-release}
cargo build --profile "$profile" --locked --bin kiln
dir=$profile
[[ $profile == dev ]] && dir=debug
kiln="target/$dir/kiln"

work=target/main-job
root=${KILN_ROOT:-$work/root}
mkdir -p "$work"
fresh=${KILN_ROOT:-}
export KILN_ROOT=$root
if [[ -z $fresh ]]; then
  # The store's bridge and nftables table live outside it: remove them with it.
  [[ -d $root ]] && "$kiln" network rm bridge >/dev/null 2>&1 || true
  rm -rf "$root"
  trap '"$kiln" network rm bridge >/dev/null 2>&1 || true' EXIT
fi

echo "== making the busybox base image (testdata/busybox-image.sh) and loading it"
testdata/busybox-image.sh "$work/busybox.tar"
"$kiln" load -i "$work/busybox.tar"

echo "== kiln build -t example testdata/example"
"$kiln" build --progress plain -t example testdata/example

echo "== the same build again: every step cached"
"$kiln" build --progress plain -t example testdata/example

echo "== kiln run --rm example"
"$kiln" run --rm example
