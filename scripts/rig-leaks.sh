#!/usr/bin/env bash
# Lists every process a Sealift test, benchmark or demo started that is still running once its
# owner has exited, and exits 1 if there is any. Rig servers carry SEALIFT_RIG_OWNER=<owner pid>
# in their environment (crates/sealift-testrig/src/process.rs); so do all their children.
#
# Usage: scripts/rig-leaks.sh [GRACE_SECONDS]   (default 5: watchdogs need a moment to stop a group)
set -euo pipefail
grace=${1:-5}

leaks() {
  local dir pid owner
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    owner=$(tr '\0' '\n' 2>/dev/null <"$dir/environ" | sed -n 's/^SEALIFT_RIG_OWNER=//p' | head -n1) || continue
    [ -n "$owner" ] || continue
    # A server whose owner still runs is in use, not leaked.
    [ -d "/proc/$owner" ] && continue
    grep -q '^State:[[:space:]]*Z' "$dir/status" 2>/dev/null && continue
    echo "$pid"
  done
}

deadline=$(( $(date +%s) + grace ))
while :; do
  mapfile -t left < <(leaks)
  [ ${#left[@]} -eq 0 ] && { echo "rig-leaks: no server outlived its owner"; exit 0; }
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 0.5
done
echo "rig-leaks: ${#left[@]} process(es) outlived the test, demo or benchmark that started them:" >&2
ps -o pid,ppid,pgid,etime,rss,args -p "$(IFS=,; echo "${left[*]}")" >&2 || true
exit 1
