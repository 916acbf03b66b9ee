#!/usr/bin/env bash
# How long a new OpenHands 1.x sandbox waits for its route: from the moment `docker run`
# has started a sandbox container (the test app, named oh-agent-server-...) to the first
# 200 from https://<domain>/runtime/<port>/health through nginx, with `ohproxy watch`
# running; then the same for the route going away after the container is removed. nginx is
# private under a temporary prefix; every container is labelled and removed at the end.
#
# usage: scripts/bench/sandbox.sh [RUNS]    (default 20)
# needs: docker (engine + CLI), nginx, python3, cargo
set -euo pipefail
# shellcheck source=scripts/bench/common.bash
source "$(dirname "$0")/common.bash"

runs="${1:-20}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
for tool in docker nginx python3 cargo; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "needs $tool" >&2; exit 2; }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
label="dev.ohproxy.bench=$$"
domain="bench-sandbox.home.arpa"

work="$(mktemp -d /tmp/ohproxy-bench-sandbox-XXXXXX)"
chmod 755 "$work"
watch_pid=""
cleanup() {
    [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || true
    ids="$(docker ps -aq --filter "label=$label" 2>/dev/null || true)"
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

https_port="$(free_port)"
export OHPROXY_HOME="$work/home" HOME="$work/user-home"
mkdir -p "$OHPROXY_HOME" "$HOME"
"$ohproxy" -q init --domain "$domain"
cat >"$OHPROXY_HOME/config.toml" <<TOML
domain = "$domain"
[ports]
https = $https_port
http = $(free_port)
app = $(free_port)
[nginx]
binary = "$nginx_bin"
config = "$prefix/conf/nginx.conf"
prefix = "$prefix"
site-dir = "$prefix/sites"
cert-dir = "$prefix/certs"
ipv6 = false
# No login: this measures how soon a route exists, not the password check.
[access]
mode = "none"
TOML
"$ohproxy" -q cert
"$ohproxy" -q nginx apply
"$ohproxy" watch 2>"$work/watch.log" &
watch_pid=$!

echo "timing $runs sandbox starts..." >&2
python3 - "$runs" "$image" "$label" "$domain" "$https_port" "$OHPROXY_HOME/state/ca/rootCA.pem" <<'PY'
import http.client, socket, ssl, statistics, subprocess, sys, time
runs, image, label, domain, port, ca = sys.argv[1:7]
runs, port = int(runs), int(port)
context = ssl.create_default_context(cafile=ca)

def status(path):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn = http.client.HTTPSConnection(domain, port, context=context)
    conn.sock = context.wrap_socket(raw, server_hostname=domain)
    conn.request("GET", path)
    code = conn.getresponse().status
    conn.close()
    return code

def wait(path, want, started):
    while status(path) != want:
        if time.monotonic() - started > 30:
            sys.exit(f"{path} never answered {want}")
        time.sleep(0.005)
    return (time.monotonic() - started) * 1000

def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()

up, down = [], []
for n in range(runs):
    name = f"oh-agent-server-bench{n}x{label.split('=')[1]}"
    docker("run", "-d", "--name", name, "--label", label, "-p", "127.0.0.1::3000", image)
    started = time.monotonic()
    host_port = docker("port", name, "3000/tcp").splitlines()[0].rsplit(":", 1)[1]
    path = f"/runtime/{host_port}/health"
    up.append(wait(path, 200, started))
    docker("rm", "-f", name)
    started = time.monotonic()
    down.append(wait(path, 404, started))

print(f"{'':44} {'median ms':>10} {'worst ms':>9}   ({runs} runs)")
for name, values in [("sandbox started -> route answers 200", up),
                     ("sandbox removed -> route answers 404", down)]:
    print(f"{name:44} {statistics.median(values):10.1f} {max(values):9.1f}")
PY
