#!/usr/bin/env bash
# The real-world check (not in CI: debootstrap needs minutes and the Debian mirror): make
# the Debian base (cached between runs), build testdata/build/debian with apt-get, run it,
# and rebuild it, which must run no step at all.
#   usage: testdata/debian-build.sh [KILN_BINARY]   env: KILN_ROOT (default: a temp store)
set -euo pipefail
cd "$(dirname "$0")/.."
kiln=$(realpath "${1:-target/debug/kiln}")
own_root=
if [[ -z ${KILN_ROOT:-} ]]; then
  KILN_ROOT=$(mktemp -d /var/tmp/kiln-debian.XXXXXX)
  own_root=$KILN_ROOT
fi
export KILN_ROOT
# A temp store's bridge and nftables table (made by `kiln run`) go with it.
trap '[[ -n $own_root ]] && { "$kiln" network rm bridge >/dev/null 2>&1 || true; rm -rf "$own_root"; }' EXIT
testdata/debian-image.sh "$kiln" debian:bookworm
time "$kiln" build --progress plain -t debian-hello testdata/build/debian
out=$("$kiln" run --rm debian-hello)
echo "$out"
[[ $out == "Hello, world!" ]]
events=$("$kiln" build --progress rawjson -t debian-hello testdata/build/debian 2>&1)
if grep -q '"type":"started"' <<<"$events"; then
  echo "FAIL: the rebuild ran steps:" >&2
  echo "$events" >&2
  exit 1
fi
echo "OK: apt-get build ran, the image runs, and the rebuild was fully cached"
