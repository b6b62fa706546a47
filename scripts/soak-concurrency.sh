#!/usr/bin/env bash
# Runs the four-worker memtable concurrency test N times in a row on each runtime
# (default 20) and reports passes and failures per runtime.
set -u
cd "$(dirname "$0")/.."
n=${1:-20}
node_exec=$(command -v node)
for rt in node bun deno; do
  case $rt in
    node) cmd=("$node_exec" --import ./scripts/ts-register.mjs tests/run.ts concurrency) ;;
    bun) cmd=(node_modules/.bin/bun tests/run.ts concurrency) ;;
    deno) cmd=(node_modules/.bin/deno run -A tests/run.ts concurrency) ;;
  esac
  pass=0; fail=0
  for i in $(seq "$n"); do
    if "${cmd[@]}" 2>&1 | grep -q '"failed":0'; then pass=$((pass+1)); else fail=$((fail+1)); fi
  done
  echo "$rt: $pass passed, $fail failed of $n"
done
