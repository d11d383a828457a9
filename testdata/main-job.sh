#!/usr/bin/env bash
# README's main job on a fresh Debian 12 machine: install what kiln needs, build it, and
# show what kiln makes of the example in testdata/example (lint + build graph).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if ! command -v busybox >/dev/null || ! command -v runc >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends busybox-static runc
fi
cargo build --release --locked
kiln=target/release/kiln

echo "== kiln lint testdata/example/Dockerfile"
"$kiln" lint -f testdata/example/Dockerfile
echo "== kiln debug graph (DOT) of testdata/example"
"$kiln" debug graph -f testdata/example/Dockerfile --format dot
