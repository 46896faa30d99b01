#!/bin/sh
# Measures `spofless lab up` to five SSH-ready guests with a cached image (issue 7's target:
# under 90 s under TCG on a 2-core machine), then tears the lab down. Runs N rounds (default 1)
# in isolated mode and prints one line per round.
#
# Usage: vm-images/bench-lab-up.sh [ROUNDS]
# Needs root (network namespace, private libvirtd) and a spofless built with `--features libvirt`
# (SPOFLESS=path/to/spofless, default: target/release/spofless).
set -eu
ROUNDS=${1:-1}
SPOFLESS=${SPOFLESS:-target/release/spofless}
STATE=$(mktemp -d /tmp/spofless-lab-bench.XXXXXX)
trap '"$SPOFLESS" lab down --isolated --state-dir "$STATE" >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT

# Build (or find) the image once, outside the timed rounds.
"$SPOFLESS" lab up --isolated --state-dir "$STATE" >/dev/null
"$SPOFLESS" lab down --isolated --state-dir "$STATE" >/dev/null

i=1
while [ "$i" -le "$ROUNDS" ]; do
    start=$(date +%s.%N)
    "$SPOFLESS" lab up --isolated --state-dir "$STATE" | grep -E 'SSH-ready|total'
    end=$(date +%s.%N)
    "$SPOFLESS" lab down --isolated --state-dir "$STATE" >/dev/null
    # awk, not bc: bc is not in a minimal Debian install.
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    echo "round $i: lab up wall time $wall s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    i=$((i + 1))
done
