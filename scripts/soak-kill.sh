#!/usr/bin/env bash
# Runs a kill -9 test file with many rounds on each runtime (default: the WAL's, 300 rounds).
#   scripts/soak-kill.sh [rounds] [test-path-substring]
set -u
cd "$(dirname "$0")/.."
rounds=${1:-300}
filter=${2:-wal/kill}
node_exec=$(command -v node)
status=0
for rt in node bun deno; do
  case $rt in
    node) cmd=("$node_exec" --import ./scripts/ts-register.mjs tests/run.ts "$filter") ;;
    bun) cmd=(node_modules/.bin/bun tests/run.ts "$filter") ;;
    deno) cmd=(node_modules/.bin/deno run -A tests/run.ts "$filter") ;;
  esac
  out=$(SHARDLINE_KILL_ROUNDS=$rounds "${cmd[@]}" 2>&1)
  echo "$rt: $(echo "$out" | grep -E '\[kill\]' | sed 's/.*\[kill\]/[kill]/') $(echo "$out" | grep SHARDLINE-TEST-RESULT)"
  echo "$out" | grep -q '"failed":0' || { status=1; echo "$out" | grep -A20 FAIL | head -40; }
done
exit $status
