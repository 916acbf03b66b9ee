#!/usr/bin/env bash
# What the login costs per request, side by side in one run on one site: password mode
# with Basic credentials (nginx checks the bcrypt hash on every request), password mode
# with the session cookie (a map compares it; no hash), and mode none. A private nginx
# under a temporary prefix on free high ports; nothing outside it is touched.
#
# usage: scripts/bench/access.sh [SECONDS] [CONNECTIONS]    (defaults: 10 s, 32)
# needs: nginx, wrk, curl, python3, cargo
set -euo pipefail
# shellcheck source=scripts/bench/common.bash
source "$(dirname "$0")/common.bash"

seconds="${1:-10}"
connections="${2:-32}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
for tool in nginx wrk curl python3 cargo; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "needs $tool" >&2; exit 2; }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d /tmp/ohproxy-bench-XXXXXX)"
chmod 755 "$work"
app_pid=""
cleanup() {
    "$nginx_bin" -p "$work/nginx" -c "$work/nginx/conf/nginx.conf" -s quit 2>/dev/null || true
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
    sleep 0.3
    rm -rf "$work"
}
trap cleanup EXIT

ohproxy="$(bench_ohproxy)"
echo "building the test app..." >&2
(cd "$root" && cargo build -q --release -p ohproxy-testapp)
testapp="${CARGO_TARGET_DIR:-$root/target}/release/ohproxy-testapp"
"$testapp" --listen 127.0.0.1:0 --name bench 2>"$work/app.log" &
app_pid=$!
for _ in $(seq 50); do grep -q "listening on" "$work/app.log" && break; sleep 0.1; done
app_port="$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/app.log" | head -1)"

bench_private_nginx "$nginx_bin"
prefix="$work/nginx"
https_port="$(free_port)"; http_port="$(free_port)"
domain="bench.test"
home="$work/home"
export OHPROXY_HOME="$home"
"$ohproxy" -q init --domain "$domain" --access password >/dev/null
config() {
    cat >"$home/config.toml" <<TOML
domain = "$domain"
[ports]
https = $https_port
http = $http_port
app = $app_port
[nginx]
binary = "$nginx_bin"
config = "$prefix/conf/nginx.conf"
prefix = "$prefix"
site-dir = "$prefix/sites"
cert-dir = "$prefix/certs"
ipv6 = false
[access]
mode = "$1"
TOML
}
config password
password="bench-password-$RANDOM$RANDOM"
echo "$password" | "$ohproxy" -q user add bench >/dev/null
"$ohproxy" -q cert >/dev/null
"$ohproxy" -q nginx apply

ca="$home/state/ca/rootCA.pem"
url="https://$domain:$https_port/"
basic="Authorization: Basic $(printf 'bench:%s' "$password" | base64 -w0)"
cookie="$(curl -sS -o /dev/null -D - --cacert "$ca" --resolve "$domain:$https_port:127.0.0.1" \
    -H "$basic" "$url" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\);.*/\1/p' | tr -d '\r')"
[ -n "$cookie" ] || { echo "no session cookie after the login" >&2; exit 1; }

rps() {
    wrk -t2 -c"$connections" -d"${seconds}s" -H "Host: $domain" "$@" \
        "https://127.0.0.1:$https_port/" 2>&1 | awk '/Requests\/sec/ { print $2 }'
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

echo "HTTPS GET / with wrk: 2 threads, $connections connections, ${seconds}s each" >&2
basic_rps="$(rps -H "$basic")"
cookie_rps="$(rps -H "Cookie: $cookie")"
config none
"$ohproxy" -q nginx apply 2>/dev/null
none_rps="$(rps)"

echo
printf '%-40s %12s\n' "" "requests/s"
printf '%-40s %12s\n' "password mode, Basic credentials" "$basic_rps"
printf '%-40s %12s\n' "password mode, session cookie" "$cookie_rps"
printf '%-40s %12s\n' "mode none" "$none_rps"
echo
echo "cookie/basic $(ratio "$cookie_rps" "$basic_rps")   cookie/none $(ratio "$cookie_rps" "$none_rps")   basic/none $(ratio "$basic_rps" "$none_rps")"
