#!/usr/bin/env bash
# Soaks the multi-threaded model test (tests/engine/model-threads.test.ts): N seeds in a row
# on each runtime, one process per seed, and reports passes and failures per runtime. A
# failing run's output is kept, and its seed is printed with the command that replays it.
#
# usage: scripts/soak-model.sh [N=10] [FIRST_SEED=now]
#   RUNTIMES="node bun deno"   which runtimes (default all three)
#   SHARDLINE_MODEL_OPS, SHARDLINE_MODEL_PHASES, SHARDLINE_MODEL_ROUNDS   scale each run
#   SOAK_LOG_DIR                where failing runs' output goes (default /tmp/shardline-soak-model)
# Seeds: FIRST_SEED .. FIRST_SEED+N-1 (with ROUNDS > 1 each run covers ROUNDS seeds from its own).
set -u
cd "$(dirname "$0")/.."
n=${1:-10}
first=${2:-$(date +%s)}
rounds=${SHARDLINE_MODEL_ROUNDS:-1}
logs=${SOAK_LOG_DIR:-/tmp/shardline-soak-model}
mkdir -p "$logs"
node scripts/build.mjs >/dev/null || { echo "build failed"; exit 1; }
node_exec=$(command -v node)
status=0
echo "soak-model: $n runs per runtime, seeds from $first (rounds $rounds per run), logs of failures in $logs"
for rt in ${RUNTIMES:-node bun deno}; do
  case $rt in
    node) cmd=("$node_exec" --import ./scripts/ts-register.mjs tests/run.ts tests/engine/model-threads) ;;
    bun) cmd=(node_modules/.bin/bun tests/run.ts tests/engine/model-threads) ;;
    deno) cmd=(node_modules/.bin/deno run -A --unstable-kv --quiet tests/run.ts tests/engine/model-threads) ;;
    *) echo "unknown runtime $rt"; exit 2 ;;
  esac
  pass=0; fail=0; failed_seeds=""
  started=$(date +%s)
  for i in $(seq 0 $((n - 1))); do
    seed=$((first + i * rounds))
    log="$logs/$rt-$seed.log"
    if SHARDLINE_TEST_RUNTIME=$rt SHARDLINE_MODEL_SEED=$seed timeout 600 "${cmd[@]}" >"$log" 2>&1 && grep -q '"failed":0' "$log"; then
      pass=$((pass + 1)); rm -f "$log"
    else
      fail=$((fail + 1)); failed_seeds="$failed_seeds $seed"; status=1
      echo "  $rt seed $seed FAILED (log: $log)"
      grep -m1 "model-threads FAILED" "$log" | cut -c1-2000
    fi
  done
  echo "$rt: $pass passed, $fail failed of $n ($(($(date +%s) - started))s)${failed_seeds:+; failed seeds:$failed_seeds}"
done
exit $status
