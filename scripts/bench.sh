#!/usr/bin/env bash
# Benchmarks, side by side with the tools ohproxy replaces. Builds a release binary once,
# then runs the sections in scripts/bench/: `scripts/bench.sh` runs them all with their
# defaults, `scripts/bench.sh SECTION [ARGS...]` runs one and passes it ARGS. Each section
# gets OHPROXY_BIN and prints its own table of medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --quiet
OHPROXY_BIN="$(pwd)/target/release/ohproxy"
export OHPROXY_BIN

run_section() {
    local section="$1"
    shift
    local script="scripts/bench/$section.sh"
    [ -f "$script" ] || { echo "bench: no section $section (no $script)" >&2; exit 2; }
    echo "== $section"
    bash "$script" "$@"
}

if [ "$#" -gt 0 ]; then
    run_section "$@"
else
    for script in scripts/bench/*.sh; do run_section "$(basename "$script" .sh)"; done
fi
