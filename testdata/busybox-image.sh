#!/usr/bin/env bash
# Make a small busybox base image archive with no network, from Debian's busybox-static
# (via busybox-rootfs.sh). The archive is both a Docker archive (manifest.json) and an OCI
# image layout (index.json, oci-layout, blobs/), so `kiln load -i OUT` gives busybox:latest.
# It is built with plain GNU tar/gzip/sha256sum, independently of kiln, and is reproducible
# (SOURCE_DATE_EPOCH, default 2024-01-01).
#   usage: testdata/busybox-image.sh OUT.tar [NAME:TAG]
set -euo pipefail
out=${1:?usage: busybox-image.sh OUT.tar [NAME:TAG]}
ref=${2:-busybox:latest}
here=$(cd "$(dirname "$0")" && pwd)
epoch=${SOURCE_DATE_EPOCH:-1704067200}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/busybox-rootfs.sh" "$work/rootfs"
mkdir -p "$work/out/blobs/sha256"

tar_det() { # deterministic tar of DIR's contents to stdout
  tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
      --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
      -C "$1" -cf - .
}
put_blob() { # FILE -> prints hex digest after moving it into blobs/
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  mv "$1" "$work/out/blobs/sha256/$hex"
  echo "$hex"
}
size_of() { stat -c %s "$work/out/blobs/sha256/$1"; }

tar_det "$work/rootfs" >"$work/layer.tar"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -6 "$work/layer.tar"
layer=$(put_blob "$work/layer.tar.gz")

cat >"$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","created":"$created","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created":"$created","created_by":"testdata/busybox-image.sh (Debian busybox-static)"}]}
JSON
config=$(put_blob "$work/config.json")

cat >"$work/manifest.oci.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$(size_of "$config")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$(size_of "$layer")}]}
JSON
manifest=$(put_blob "$work/manifest.oci.json")

name=${ref%:*}
tag=${ref##*:}
case $name in
  */*) full=$name ;;
  *) full=docker.io/library/$name ;;
esac
cat >"$work/out/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$(size_of "$manifest"),"annotations":{"io.containerd.image.name":"$full:$tag","org.opencontainers.image.ref.name":"$tag"}}]}
JSON
cat >"$work/out/manifest.json" <<JSON
[{"Config":"blobs/sha256/$config","RepoTags":["$ref"],"Layers":["blobs/sha256/$layer"]}]
JSON
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/out/oci-layout"
printf '{"%s":{"%s":"%s"}}' "$name" "$tag" "$layer" >"$work/out/repositories"
tar_det "$work/out" >"$out"
