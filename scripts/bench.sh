#!/usr/bin/env bash
# Benchmarks, side by side with the tools ohproxy replaces. Builds a release binary once,
# then runs each section: `scripts/bench.sh` runs them all, `scripts/bench.sh certs` one.
# Sections are the scripts in scripts/bench/; each gets OHPROXY_BIN and prints its table.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing (scripts/install-test-deps)" >&2; exit 1; }

cargo build --release --locked --quiet
OHPROXY_BIN="$(pwd)/target/release/ohproxy"
export OHPROXY_BIN

sections=("$@")
if [ "${#sections[@]}" -eq 0 ]; then
    for script in scripts/bench/*.sh; do sections+=("$(basename "$script" .sh)"); done
fi
for section in "${sections[@]}"; do
    script="scripts/bench/$section.sh"
    [ -f "$script" ] || { echo "bench: no section $section (no $script)" >&2; exit 2; }
    echo "== $section"
    bash "$script"
done
