#!/usr/bin/env bash
# The benchmarks, by name: `scripts/bench.sh nginx [ARGS...]`. Each lives in scripts/bench/.
set -euo pipefail
dir="$(cd "$(dirname "$0")/bench" && pwd)"
name="${1:-}"
if [ -z "$name" ] || [ ! -x "$dir/$name.sh" ]; then
    echo "usage: scripts/bench.sh NAME [ARGS...]; NAME is one of:" >&2
    for script in "$dir"/*.sh; do echo "  $(basename "$script" .sh)" >&2; done
    exit 2
fi
shift
exec "$dir/$name.sh" "$@"
