#!/usr/bin/env bash
# Make a minimal busybox root filesystem in DIR, with no network: Debian's busybox-static
# binary, a link per applet, /etc/passwd and /etc/group, /tmp. Tests and the base image
# script build on it.
#   usage: testdata/busybox-rootfs.sh DIR
set -euo pipefail
dest=${1:?usage: busybox-rootfs.sh DIR}
bb=/bin/busybox
if [[ ! -x $bb ]]; then
  echo "busybox-rootfs.sh: $bb missing; install Debian's busybox-static package" >&2
  exit 1
fi
mkdir -p "$dest"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,proc,sys,dev,var/tmp}
chmod 1777 "$dest/tmp" "$dest/var/tmp"
chmod 0700 "$dest/root"
install -m 0755 "$bb" "$dest/bin/busybox"
# One symlink per applet, where busybox would install it.
"$bb" --list-full | while read -r applet; do
  [[ $applet == bin/busybox ]] && continue
  mkdir -p "$dest/$(dirname "$applet")"
  ln -sf /bin/busybox "$dest/$applet"
done
cat >"$dest/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
PW
cat >"$dest/etc/group" <<'GR'
root:x:0:
daemon:x:1:
bin:x:2:
wheel:x:10:root
www-data:x:33:
users:x:100:
nogroup:x:65534:
GR
chmod 0644 "$dest/etc/passwd" "$dest/etc/group"
