#!/usr/bin/env bash
# Measures an experiment's effect on decode steps with the alternating harness (AlternatingHarness,
# docs/benchmarks.md): code under test picks its version by omni_ab_variant(), and each round runs
# `omni bench decode` once in each phase, so the harness's bias toward one phase cancels in the
# geometric mean of the two ratios.
#
#   scripts/ab-decode.sh ROUNDS [MODEL_DIR] [VAR=VALUE ...]
#
# Prints per round both ratios (time per product of variant OMNI_AB_BASE over variant
# OMNI_AB_BASE + 1: over 1 means the second is faster) and their geometric mean. The VAR=VALUE
# pairs go to omni's environment (OMNI_AB_BASE=1 compares variants 1 and 2). OMNI_BIN names the
# binary (default .build/release/omni); AB_EVERY the products per block (default 194: two decode
# steps of Qwen2.5-0.5B, whose 24 layers make 97 products a step); AB_TOKENS the tokens per run
# (default 303).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:?usage: scripts/ab-decode.sh ROUNDS [MODEL_DIR] [VAR=VALUE ...]}
shift
model=bench-models/qwen2.5-0.5b
if [ $# -gt 0 ] && [[ $1 != *=* ]]; then model=$1; shift; fi
bin=${OMNI_BIN:-.build/release/omni}
for round in $(seq 1 "$rounds"); do
    ratios=()
    for phase in 0 1; do
        ratio=$(env OMNI_MATMUL_PRECISION=bfloat16 "$@" OMNI_AB_EVERY="${AB_EVERY:-194}" OMNI_AB_PHASE=$phase \
            "$bin" bench decode "$model" --tokens "${AB_TOKENS:-303}" 2>&1 | awk '/^AB variant/ { r = $NF } END { print r }')
        if [ -z "$ratio" ]; then echo "round $round phase $phase: no AB line (too few products?)" >&2; exit 1; fi
        ratios+=("$ratio")
    done
    awk -v r="$round" -v a="${ratios[0]}" -v b="${ratios[1]}" \
        'BEGIN { printf "round %d: phase 0 %.4f, phase 1 %.4f, effect %+.2f%%\n", r, a, b, (sqrt(a * b) - 1) * 100 }'
done
