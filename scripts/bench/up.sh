#!/usr/bin/env bash
# What a converged `ohproxy up` costs (config, CA and leaf checks, the container compared
# with its spec, the readiness probe, nginx compared with the rendered site), side by side
# with `docker-compose up -d` for the same container spec and a plain `docker start` of a
# running container, on the same engine. The test app image is imported (no registry), nginx
# is private under a temporary prefix, every container is labelled and removed at the end.
#
# usage: scripts/bench/up.sh [RUNS]    (default 20)
# needs: docker (engine + CLI), docker-compose, nginx, python3, cargo
set -euo pipefail
# shellcheck source=scripts/bench/common.bash
source "$(dirname "$0")/common.bash"

runs="${1:-20}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
for tool in docker docker-compose nginx python3 cargo; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "needs $tool" >&2; exit 2; }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
label="dev.ohproxy.bench=$$"

work="$(mktemp -d /tmp/ohproxy-bench-up-XXXXXX)"
chmod 755 "$work"
cleanup() {
    (cd "$work/compose" 2>/dev/null && docker-compose down -t 1 >/dev/null 2>&1) || true
    ids="$(docker ps -aq --filter "label=$label" 2>/dev/null || true)"
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
    ids="$(docker ps -aq --filter "label=dev.ohproxy.config=$work/home/config.toml")"
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
    "$nginx_bin" -p "$work/nginx" -c "$work/nginx/conf/nginx.conf" -s quit 2>/dev/null || true
    sleep 0.3
    rm -rf "$work"
}
trap cleanup EXIT

ohproxy="$(bench_ohproxy)"
image="ohproxy-bench/testapp:$$"
bench_test_image "$image" "$label"
trap 'cleanup; docker rmi -f "$image" >/dev/null 2>&1 || true' EXIT

# A private nginx with an empty site directory.
bench_private_nginx "$nginx_bin"
prefix="$work/nginx"

# ohproxy's setup.
app_port="$(free_port)"
mkdir -p "$work/home" "$work/user-home"
cat >"$work/home/config.toml" <<TOML
domain = "bench-up.home.arpa"
[ports]
https = $(free_port)
http = $(free_port)
app = $app_port
[nginx]
binary = "$nginx_bin"
config = "$prefix/conf/nginx.conf"
prefix = "$prefix"
site-dir = "$prefix/sites"
cert-dir = "$prefix/certs"
[openhands]
container = "ohproxy-bench-$$"
image = "$image"
TOML
export OHPROXY_HOME="$work/home"
# --no-watch: the benchmark never installs a systemd unit on the host it runs on.
up() { HOME="$work/user-home" "$ohproxy" -q up --pull never --no-watch; }
up

# The same container for compose: same image, env, mounts, loopback port, host mapping.
compose_port="$(free_port)"
mkdir -p "$work/compose" "$work/user-home/.openhands-compose"
cat >"$work/compose/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: $image
    container_name: ohproxy-bench-compose-$$
    environment:
      LOG_ALL_EVENTS: "true"
      SANDBOX_HOST_PORT: "$compose_port"
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - $work/user-home/.openhands-compose:/.openhands
    ports:
      - "127.0.0.1:$compose_port:3000"
    extra_hosts:
      - "host.docker.internal:host-gateway"
    restart: unless-stopped
    labels:
      - "$label"
YAML
compose() { (cd "$work/compose" && docker-compose up -d >/dev/null 2>&1); }
compose

# A running container for `docker start` (a no-op on a running container).
docker run -d -q --name "ohproxy-bench-plain-$$" --label "$label" "$image" >/dev/null
plain() { docker start "ohproxy-bench-plain-$$" >/dev/null; }

# Milliseconds of each of RUNS runs of a command, one per line.
measure() {
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "$@"
        end=$(date +%s%N)
        echo $(( (end - start) / 1000 ))
    done
}
echo "timing $runs runs of each..." >&2
measure up >"$work/up.txt"
measure compose >"$work/compose.txt"
measure plain >"$work/plain.txt"

python3 - "$work" "$runs" <<'PY'
import statistics, sys
work, runs = sys.argv[1], sys.argv[2]
def load(name):
    return [int(x) / 1000 for x in open(f"{work}/{name}.txt")]
rows = [("ohproxy up (converged)", load("up")),
        ("docker-compose up -d (converged)", load("compose")),
        ("docker start (running)", load("plain"))]
base = statistics.median(rows[0][1])
print(f"{'':34} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'vs ohproxy':>11}   ({runs} runs)")
for name, values in rows:
    median = statistics.median(values)
    print(f"{name:34} {median:10.1f} {min(values):8.1f} {max(values):8.1f} {median / base:10.2f}x")
PY
