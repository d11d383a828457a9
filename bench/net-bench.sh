#!/usr/bin/env bash
# Published-port benchmark: latency and throughput of a loopback client talking to a server
# (1) directly on the host's loopback, (2) in a kiln container through `-p 127.0.0.1:P:5000`
# (kiln's userland proxy in the container's monitor), and (3) in the same container at its
# bridge address (no proxy), all in the same run. Only loopback and kiln's own namespaces
# are contacted.
#
#   usage: bench/net-bench.sh            (root; builds target/release/kiln unless KILN=...)
#   env:   KILN=path/to/kiln  ROUNDS=20000 (latency round trips)  MIB=1024 (throughput MiB)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-20000}
mib=${MIB:-1024}
if [[ -z "${KILN:-}" ]]; then
  (cd "$here" && cargo build --release -q -p kiln)
  KILN="$here/target/release/kiln"
fi
work=$(mktemp -d /tmp/kiln-net-bench.XXXXXX)
root="$work/root"
k() { "$KILN" --root "$root" "$@"; }
server_pid=
cleanup() {
  set +e
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for id in $(k ps -aq --no-trunc 2>/dev/null); do k rm -f "$id" >/dev/null 2>&1; done
  k network rm bridge >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# A static client/server pair (busybox has no benchmark tool; the container gets the
# server through a read-only bind mount).
cat > "$work/netperf.c" <<'C'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static char buf[1 << 16];
static int serve(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port);
  if (bind(s, (void *)&a, sizeof a) || listen(s, 16)) { perror("listen"); return 1; }
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    int c = accept(s, 0, 0); if (c < 0) continue;
    if (fork()) { close(c); continue; }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char mode; if (read(c, &mode, 1) != 1) _exit(0);
    long long total = 0; ssize_t n;
    if (mode == 'E') { while ((n = read(c, buf, sizeof buf)) > 0) write(c, buf, n); }
    else { while ((n = read(c, buf, sizeof buf)) > 0) total += n; write(c, &total, sizeof total); }
    _exit(0);
  }
}
static int dial(const char *host, int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port);
  inet_pton(AF_INET, host, &a.sin_addr);
  for (int i = 0; i < 300 && connect(s, (void *)&a, sizeof a); i++) { close(s); usleep(10000); s = socket(AF_INET, SOCK_STREAM, 0); }
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return s;
}
int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "server")) return serve(atoi(argv[2]));
  if (argc != 5) { fprintf(stderr, "usage: netperf server PORT | netperf latency|throughput HOST PORT N\n"); return 2; }
  int s = dial(argv[2], atoi(argv[3])); long n = atol(argv[4]);
  if (!strcmp(argv[1], "latency")) {
    double *rtt = malloc(sizeof(double) * n); char b = 'x';
    write(s, "E", 1); write(s, &b, 1); read(s, &b, 1); /* warm up */
    for (long i = 0; i < n; i++) { double t = now(); write(s, &b, 1); if (read(s, &b, 1) != 1) return 1; rtt[i] = now() - t; }
    qsort(rtt, n, sizeof(double), cmp);
    printf("%10.1f us median %10.1f us p99", rtt[n / 2] * 1e6, rtt[n * 99 / 100] * 1e6);
  } else {
    memset(buf, 'x', sizeof buf); write(s, "S", 1);
    double t = now(); long long want = (long long)n << 20, sent = 0;
    while (sent < want) { ssize_t w = write(s, buf, sizeof buf); if (w <= 0) return 1; sent += w; }
    shutdown(s, SHUT_WR); long long got = 0; if (read(s, &got, sizeof got) != sizeof got || got != sent) return 1;
    printf("%10.1f MiB/s", n / (now() - t));
  }
  return 0;
}
C
mkdir -p "$work/np"
cc -static -O2 -o "$work/np/netperf" "$work/netperf.c"
np="$work/np/netperf"

"$here/testdata/busybox-image.sh" "$work/busybox.tar" >/dev/null
k load -i "$work/busybox.tar" >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
direct=$(free_port)
"$np" server "$direct" & server_pid=$!
published=$(free_port)
id=$(k run -d -p "127.0.0.1:$published:5000" -v "$work/np:/opt/np:ro" busybox /opt/np/netperf server 5000)
ip=$(k container inspect --format '{{.NetworkSettings.IPAddress}}' "$id")

echo "kiln published-port benchmark ($rounds round trips of 1 byte; $mib MiB one way; $(nproc) CPUs)"
printf '%-34s %-36s %s\n' "path" "latency" "throughput"
for row in "direct loopback|127.0.0.1|$direct" "container via -p 127.0.0.1 (proxy)|127.0.0.1|$published" "container bridge address|$ip|5000"; do
  IFS='|' read -r name host port <<<"$row"
  lat=$("$np" latency "$host" "$port" "$rounds")
  thr=$("$np" throughput "$host" "$port" "$mib")
  printf '%-34s %-36s %s\n' "$name" "$lat" "$thr"
done
