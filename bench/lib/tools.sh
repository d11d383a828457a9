# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are read by the other files of bench/
# The three builders measured, behind one interface:
#   reset_TOOL CASE : clear TOOL's build cache so the next build is cold; the busybox base image
#                     stays (or is put back) in TOOL's image store, so no tool pays for a pull.
#   build_TOOL CASE DIR : set BUILD_CMD to the command that builds DIR/Dockerfile with context DIR,
#                         tagged bench-CASE:latest (a command, not a function: `timeout` runs it).
# Expects KILN_BIN, WORK and the anchors of bench/lib/anchors.sh (registry, dockerd).

REGISTRY=127.0.0.1:5000
BASE_IMAGE=$REGISTRY/busybox:latest
DOCKER_SOCK=/var/run/docker-anchor.sock
declare -gA TOOL_LABEL=([kiln]=kiln [buildkit]=BuildKit [buildah]=Buildah)

# --- kiln: its own store under WORK, thrown away for a cold build.
kiln_root() { printf '%s/kiln-root' "$WORK"; }
kiln() { "$KILN_BIN" --root "$(kiln_root)" "$@"; }

# A store must not be deleted under a mount kiln left behind (rm -rf would descend into it).
# Leftover mounts are a kiln bug: say so, then detach them so the benchmark can go on.
unmount_under() {
  local dir=$1 mnt
  [[ -d $dir ]] || return 0
  dir=$(realpath "$dir")
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r mnt; do
    log "WARNING: mount left behind under $dir: $mnt (unmounting it)"
    umount -l "$mnt" || true
  done
}

# The store's bridge and nftables table live outside it (kiln run puts containers on the
# bridge): remove them with the store.
drop_kiln_store() {
  if [[ -d $(kiln_root) ]]; then kiln network rm bridge >/dev/null 2>&1 || true; fi
  unmount_under "$(kiln_root)"
  rm -rf "$(kiln_root)"
}

reset_kiln() {
  drop_kiln_store
  kiln pull "$BASE_IMAGE"
}
build_kiln() { BUILD_CMD=("$KILN_BIN" --root "$(kiln_root)" build --progress plain -t "bench-$1:latest" -f "$2/Dockerfile" "$2"); }

# --- BuildKit inside the anchor dockerd (Debian docker.io 20.10), driven by the Debian client.
docker_anchor() { DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$DOCKER_SOCK" "$@"; }
reset_buildkit() {
  docker_anchor image rm -f "bench-$1:latest" >/dev/null 2>&1 || true
  # -a: every cache record, not only dangling ones; base images in dockerd's image store stay.
  docker_anchor builder prune -af
  docker_anchor image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker_anchor pull -q "$BASE_IMAGE"
}
build_buildkit() {
  BUILD_CMD=(env DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$DOCKER_SOCK" build --progress plain
    -t "bench-$1:latest" -f "$2/Dockerfile" "$2")
}

# --- Buildah with its own storage under WORK, so clearing it touches no one else's images.
# The run root holds locks and mount state only, so it lives on tmpfs.
BUILDAH_GLOBAL=(--root "$WORK/buildah-storage" --runroot /run/kiln-bench-buildah --storage-driver overlay)
buildah_bench() { buildah "${BUILDAH_GLOBAL[@]}" "$@"; }
reset_buildah() {
  buildah_bench rm -a >/dev/null 2>&1 || true
  # --layers keeps every step as an (untagged) image: removing all images clears the cache.
  buildah_bench rmi -a -f >/dev/null 2>&1 || true
  buildah_bench pull -q "$BASE_IMAGE"
}
build_buildah() { BUILD_CMD=(buildah "${BUILDAH_GLOBAL[@]}" bud --layers -t "bench-$1:latest" -f "$2/Dockerfile" "$2"); }

# Drop everything the benchmark stored in each tool (run at the end: biglayer images are large).
cleanup_tools() {
  local tool
  for tool in "${TOOLS[@]}"; do
    case $tool in
    kiln) drop_kiln_store ;;
    buildkit)
      docker_anchor image ls -q --filter 'reference=bench-*' | xargs -r /usr/bin/docker -H "unix://$DOCKER_SOCK" image rm -f >/dev/null 2>&1
      # rebuilds under the same tag leave the previous images dangling
      docker_anchor image prune -f >/dev/null 2>&1
      docker_anchor builder prune -af >/dev/null 2>&1
      ;;
    buildah) reset_buildah >/dev/null 2>&1 ;;
    esac
  done
  return 0
}
