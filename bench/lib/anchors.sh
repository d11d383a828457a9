# shellcheck shell=bash
# The anchors kiln is measured against: a local registry on 127.0.0.1:5000 serving the busybox
# base, dockerd (BuildKit) on its own socket and data root, and Buildah. The reference script
# ../shared/bench/setup-anchors.sh installs and starts them idempotently and records the errors
# it worked around; this file only decides whether it must run and checks the result.
# Expects REPO, REGISTRY, BASE_IMAGE, DOCKER_SOCK (bench/lib/tools.sh).

ANCHOR_SETUP=${ANCHOR_SETUP:-$REPO/../shared/bench/setup-anchors.sh}

registry_has_base() {
  curl -fsS "http://$REGISTRY/v2/busybox/manifests/latest" \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    >/dev/null 2>&1
}
dockerd_up() { /usr/bin/docker -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1; }
anchor_binaries() { command -v buildah >/dev/null && [[ -x /usr/bin/docker ]] && command -v dockerd >/dev/null; }

ensure_anchors() {
  if anchor_binaries && registry_has_base && dockerd_up; then
    log "anchors already up (registry $REGISTRY, dockerd on $DOCKER_SOCK, buildah)"
    return 0
  fi
  [[ -f $ANCHOR_SETUP ]] || die "the anchors are not running and $ANCHOR_SETUP is missing;" \
    "set ANCHOR_SETUP to the reference setup-anchors.sh"
  local skip_apt=0
  # apt-get update costs a minute; skip it when the packages are already there.
  anchor_binaries && skip_apt=1
  log "starting anchors with $ANCHOR_SETUP (no Debian base: the cases use busybox only)"
  SKIP_DEBIAN=1 SKIP_APT=$skip_apt bash "$ANCHOR_SETUP" >"$WORK/logs/setup-anchors.log" 2>&1 ||
    die "setup-anchors failed; see $WORK/logs/setup-anchors.log"
  anchor_binaries || die "buildah or docker.io is still missing after setup; see $WORK/logs/setup-anchors.log"
  registry_has_base || die "the registry at $REGISTRY does not serve busybox:latest; see $WORK/logs/setup-anchors.log"
  dockerd_up || die "dockerd is not answering on $DOCKER_SOCK; see /var/log/docker-anchor.log"
}
