#!/usr/bin/env bash
# ohproxy against mkcert, in one run: a fresh CA plus one leaf, then one more leaf from the
# existing CA, with ECDSA keys and with RSA keys (RSA-3072 CA, RSA-2048 leaf, mkcert's
# defaults), and each tool's defaults (ECDSA for ohproxy, RSA for mkcert). Prints each median and ohproxy's time as a fraction of mkcert's.
set -euo pipefail
: "${OHPROXY_BIN:?run through scripts/bench.sh}"
command -v mkcert >/dev/null || { echo "bench certs: mkcert is missing" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# mkcert must never look at this machine's trust stores; neither tool is asked to install.
export HOME="$work" TRUST_STORES=""
ours="$work/ours" theirs="$work/theirs"
runs_fast=${BENCH_RUNS:-30}
runs_rsa_ca=${BENCH_RUNS_RSA_CA:-15}

# median_ms CSV ROW: the median of one hyperfine row, in milliseconds.
median_ms() { awk -F, -v row="$2" 'NR == row + 1 { printf "%.1f", $4 * 1000 }' "$1"; }

# compare TITLE RUNS OURS_PREPARE OURS_CMD THEIRS_PREPARE THEIRS_CMD
compare() {
    local title=$1 runs=$2 csv="$work/result.csv"
    hyperfine --style none --runs "$runs" --warmup 2 --export-csv "$csv" \
        --prepare "$3" -n ohproxy "$4" \
        --prepare "$5" -n mkcert "$6" >/dev/null 2>"$work/hyperfine.log" \
        || { cat "$work/hyperfine.log" >&2; exit 1; }
    local a b
    a=$(median_ms "$csv" 1)
    b=$(median_ms "$csv" 2)
    printf '%-34s %10s ms %10s ms %8s\n' "$title" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
}

o="OHPROXY_HOME=$ours $OHPROXY_BIN -q"
m="CAROOT=$theirs mkcert"
fresh_ours="rm -rf $ours"
fresh_theirs="rm -rf $theirs && mkdir $theirs"

printf '%-34s %13s %13s %8s\n' "" ohproxy mkcert ratio
compare "defaults: fresh CA + leaf" "$runs_rsa_ca" \
    "$fresh_ours" "$o init --domain bench.test && $o cert bench.test" \
    "$fresh_theirs" "$m bench.test"
compare "ECDSA: fresh CA + leaf" "$runs_fast" \
    "$fresh_ours" "$o init --domain bench.test && $o cert bench.test" \
    "$fresh_theirs" "$m -ecdsa bench.test"
compare "ECDSA: one more leaf" "$runs_fast" \
    "true" "$o cert more.test" \
    "true" "$m -ecdsa more.test"
compare "RSA: fresh CA + leaf" "$runs_rsa_ca" \
    "$fresh_ours" "$o init --domain bench.test --ca-key-type rsa-3072 && $o cert --key-type rsa-2048 bench.test" \
    "$fresh_theirs" "$m bench.test"
compare "RSA: one more leaf" "$runs_fast" \
    "true" "$o cert --key-type rsa-2048 more.test" \
    "true" "$m more.test"
echo "(medians; ratio = ohproxy / mkcert, lower is faster)"
