#!/usr/bin/env bash
# HTTPS requests per second and WebSocket echo round trips, side by side in one run:
# through the site file ohproxy renders and applies, through the naive hand-made config
# (tests/fixtures/naive-site.conf), and straight to the app. Everything runs in a private
# nginx under a temporary prefix on free high ports; nothing outside it is touched.
#
# usage: scripts/bench/nginx.sh [SECONDS] [CONNECTIONS]    (defaults: 10 s, 32)
# needs: nginx, wrk, openssl, curl, python3, cargo
set -euo pipefail
# shellcheck source=scripts/bench/common.bash
source "$(dirname "$0")/common.bash"

seconds="${1:-10}"
connections="${2:-32}"
threads=2
rtt_count="${WS_COUNT:-2000}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
for tool in nginx wrk openssl curl python3 cargo; do
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

https_port="$(free_port)"; http_port="$(free_port)"
naive_https="$(free_port)"; naive_http="$(free_port)"
domain="bench.test"

echo "building ohproxy and the test app..." >&2
(cd "$root" && cargo build -q --release -p ohproxy-testapp && cargo build -q -p ohproxy)
target="${CARGO_TARGET_DIR:-$root/target}"
ohproxy="$target/debug/ohproxy"
testapp="$target/release/ohproxy-testapp"

# The app, on a free loopback port; its first stderr line names the port.
"$testapp" --listen 127.0.0.1:0 --name bench 2>"$work/app.log" &
app_pid=$!
for _ in $(seq 50); do grep -q "listening on" "$work/app.log" && break; sleep 0.1; done
app_port="$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/app.log" | head -1)"

# A private nginx: two workers, access logs on, site files from sites/*.conf.
bench_private_nginx "$nginx_bin" "access_log $work/nginx/logs/access.log;"
prefix="$work/nginx"

# A throw-away CA where ohproxy keeps its own, and an ECDSA P-256 leaf for the domain
# where `ohproxy cert` puts it.
home="$work/home"
certs="$home/state/certs"
ca_dir="$home/state/ca"
mkdir -p "$certs" "$ca_dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=ohproxy bench CA" -addext basicConstraints=critical,CA:TRUE \
    -keyout "$ca_dir/rootCA-key.pem" -out "$ca_dir/rootCA.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$domain" \
    -keyout "$certs/$domain-key.pem" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$domain" >"$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$ca_dir/rootCA.pem" -CAkey "$ca_dir/rootCA-key.pem" \
    -CAcreateserial -days 2 -extfile "$work/leaf.ext" -out "$certs/$domain.pem" 2>/dev/null

# Ours: rendered and applied by ohproxy itself.
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
# No login: the naive config has none either, and this measures the proxy path.
[access]
mode = "none"
TOML
OHPROXY_HOME="$home" "$ohproxy" -q nginx apply

# The naive config, on its own ports, with the same certificate.
sed -e "s|@HTTPS_PORT@|$naive_https|; s|@HTTP_PORT@|$naive_http|; s|@APP_PORT@|$app_port|" \
    -e "s|@DOMAIN@|$domain|; s|@CERT@|$prefix/certs/$domain.pem|" \
    -e "s|@KEY@|$prefix/certs/$domain-key.pem|" \
    "$root/tests/fixtures/naive-site.conf" >"$prefix/sites/naive.conf"
"$nginx_bin" -p "$prefix" -c "$prefix/conf/nginx.conf" -s reload
sleep 1

check() {
    local body
    body="$(curl -sS --cacert "$ca_dir/rootCA.pem" --resolve "$domain:$1:127.0.0.1" "https://$domain:$1/")"
    [ "$body" = "ohproxy-testapp bench" ] || { echo "port $1 answers: $body" >&2; exit 1; }
}
check "$https_port"
check "$naive_https"

rps() {
    wrk -t"$threads" -c"$connections" -d"${seconds}s" -H "Host: $domain" "$1" 2>&1 \
        | awk '/Requests\/sec/ { print $2 }'
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

echo "HTTPS GET / with wrk: $threads threads, $connections connections, ${seconds}s each" >&2
ours_rps="$(rps "https://127.0.0.1:$https_port/")"
naive_rps="$(rps "https://127.0.0.1:$naive_https/")"
direct_rps="$(rps "http://127.0.0.1:$app_port/")"

rounds="${WS_ROUNDS:-3}"
echo "WebSocket echo round trips: $rounds rounds of $rtt_count on one connection each, interleaved" >&2
rtt="$root/scripts/bench/ws_rtt.py"
export WS_HOST="$domain"
: >"$work/ours.rtt"; : >"$work/naive.rtt"; : >"$work/direct.rtt"
for _ in $(seq "$rounds"); do
    python3 "$rtt" "wss://127.0.0.1:$https_port/sockets/events/bench" "$rtt_count" "$ca_dir/rootCA.pem" >>"$work/ours.rtt"
    python3 "$rtt" "wss://127.0.0.1:$naive_https/socket.io/bench" "$rtt_count" "$ca_dir/rootCA.pem" >>"$work/naive.rtt"
    python3 "$rtt" "ws://127.0.0.1:$app_port/sockets/events/bench" "$rtt_count" >>"$work/direct.rtt"
done
# The median over the rounds of each round's median and p99.
middle() { python3 -c "import statistics,sys; r=[l.split() for l in open(sys.argv[1])]; print(*(int(statistics.median(int(x[i]) for x in r)) for i in (0,1)))" "$1"; }
read -r ours_med ours_p99 < <(middle "$work/ours.rtt")
read -r naive_med naive_p99 < <(middle "$work/naive.rtt")
read -r direct_med direct_p99 < <(middle "$work/direct.rtt")

echo
printf '%-28s %12s %10s %10s\n' "" "requests/s" "ws median" "ws p99"
printf '%-28s %12s %8sus %8sus\n' "ohproxy config (TLS)" "$ours_rps" "$ours_med" "$ours_p99"
printf '%-28s %12s %8sus %8sus\n' "naive config (TLS)" "$naive_rps" "$naive_med" "$naive_p99"
printf '%-28s %12s %8sus %8sus\n' "app direct (plain)" "$direct_rps" "$direct_med" "$direct_p99"
echo
echo "requests/s  ours/naive $(ratio "$ours_rps" "$naive_rps")   ours/direct $(ratio "$ours_rps" "$direct_rps")   naive/direct $(ratio "$naive_rps" "$direct_rps")"
echo "ws median   ours/naive $(ratio "$ours_med" "$naive_med")   ours/direct $(ratio "$ours_med" "$direct_med")"
echo "ws p99      ours/naive $(ratio "$ours_p99" "$naive_p99")   ours/direct $(ratio "$ours_p99" "$direct_p99")"
