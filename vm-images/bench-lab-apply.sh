#!/bin/sh
# Measures the time from `spofless lab up` to a healthy etcd + VIP + Ceph lab (`spofless apply
# --target lab` verified: three healthy TLS etcd members, one VIP holder, Ceph HEALTH_OK with
# every PG active+clean), with a cached image, then tears the lab down. Issue 14's target is
# under 5 minutes under TCG on 2 cores; the script prints each round's split (lab up, apply),
# apply's phase timings, and PASS or FAIL against the target, and exits non-zero on a FAIL.
#
# Usage: vm-images/bench-lab-apply.sh [ROUNDS]
# Needs root (network namespace, private libvirtd) and a spofless built with `--features libvirt`
# (SPOFLESS=path/to/spofless, default: target/release/spofless, else target/debug/spofless).
# TARGET_SECONDS overrides the 300 s target.
set -eu
ROUNDS=${1:-1}
TARGET_SECONDS=${TARGET_SECONDS:-300}
if [ -z "${SPOFLESS:-}" ]; then
    SPOFLESS=target/release/spofless
    [ -x "$SPOFLESS" ] || SPOFLESS=target/debug/spofless
fi
WORK=$(mktemp -d /tmp/spofless-apply-bench.XXXXXX)
LAB="$WORK/lab"
trap '"$SPOFLESS" lab down --isolated --state-dir "$LAB" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

# Build (or find) the image once, outside the timed rounds.
"$SPOFLESS" lab up --isolated --state-dir "$LAB" >/dev/null
"$SPOFLESS" lab down --isolated --state-dir "$LAB" >/dev/null

failed=0
i=1
while [ "$i" -le "$ROUNDS" ]; do
    rm -rf "$WORK/state"
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    start=$(date +%s.%N)
    "$SPOFLESS" lab up --isolated --state-dir "$LAB" >/dev/null
    up=$(date +%s.%N)
    "$SPOFLESS" apply --target lab --lab-state-dir "$LAB" --state-dir "$WORK/state" \
        | grep -E '^applied|^verified'
    end=$(date +%s.%N)
    "$SPOFLESS" lab down --isolated --state-dir "$LAB" >/dev/null
    # awk, not bc: bc is not in a minimal Debian install.
    verdict=$(awk -v a="$start" -v u="$up" -v b="$end" -v t="$TARGET_SECONDS" \
        'BEGIN { w = b - a; printf "%.1f %.1f %.1f %s", w, u - a, b - u, (w < t ? "PASS" : "FAIL") }')
    set -- $verdict
    echo "round $i: lab up to healthy etcd + VIP + Ceph $1 s (up $2 s, apply $3 s; target < $TARGET_SECONDS s): $4 (load before: $load)"
    [ "$4" = PASS ] || failed=1
    i=$((i + 1))
done
exit "$failed"
