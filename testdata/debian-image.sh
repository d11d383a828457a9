#!/usr/bin/env bash
# Make a Debian bookworm base image with `debootstrap --variant=minbase` and import it into
# a kiln store as debian:bookworm. The rootfs tarball is cached (it takes minutes and needs
# the Debian mirror), so later runs on the same machine only import it.
#   usage: testdata/debian-image.sh KILN_BINARY [NAME:TAG]
#   env:   KILN_ROOT (the store), DEBIAN_CACHE (default /var/cache/kiln-testdata),
#          DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail
kiln=${1:?usage: debian-image.sh KILN_BINARY [NAME:TAG]}
ref=${2:-debian:bookworm}
cache=${DEBIAN_CACHE:-/var/cache/kiln-testdata}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tarball=$cache/bookworm-minbase.tar

if [[ ! -s $tarball ]]; then
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  }
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror"
  # Leave apt's lists and caches out of the image, as Docker's official images do.
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin
  # Device nodes stay out: the container runtime provides /dev (and kiln refuses them).
  tar --numeric-owner --xattrs --exclude='./dev/*' -C "$work/rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
"$kiln" import --change 'CMD ["bash"]' "$tarball" "$ref"
