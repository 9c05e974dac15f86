#!/usr/bin/env bash
# Decode and the read-bandwidth roof on a lent GPU machine's CPUs (the `device` tool), where there
# is no Swift and nothing outside can be reached. Run from the repository root there:
#
#   scripts/device-cpu-bench.sh BUNDLE TOKENIZER_DIR [THREADS...]
#
# BUNDLE: a .tar.xz of a static `omni` beside lib/ with the shared libraries ldd lists for it
# (.devcarry/b/omni.tar.xz from scripts/device-bundles.sh, which also copies TOKENIZER_DIR there). TOKENIZER_DIR: tokenizer.json and
# tokenizer_config.json of a bench model made here by tools/reference/make_bench_model.py; the
# weights are made there (random, as here) by the same script with --tokenizer-from. Records go to
# $OUT (or /tmp/device-bench): machine.json, decode.jsonl (one record per thread count and
# OMNI_CPU_ISA, given as requested_isa), hf.jsonl (HF transformers' decode, the same model, dtype
# and threads), cpu.txt.
set -euo pipefail
bundle=${1:?bundle .tar.xz}
tokenizers=${2:?tokenizer directory}
shift 2
threads=("${@:-2}")
out=${OUT:-/tmp/device-bench}
mkdir -p "$out" /tmp/omni-bundle
xz -dc "$bundle" | tar -C /tmp/omni-bundle -xf -
export LD_LIBRARY_PATH=/tmp/omni-bundle/lib
omni=/tmp/omni-bundle/omni
{ lscpu; grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; } > "$out/cpu.txt"
python3 tools/reference/make_bench_model.py qwen2.5-0.5b --tokenizer-from "$tokenizers"
model=bench-models/qwen2.5-0.5b
max=0
for t in "${threads[@]}"; do ((t > max)) && max=$t; done
"$omni" bench machine --threads "$max" --repeats 15 --json > "$out/machine.json"
for t in "${threads[@]}"; do
    for isa in avx512 avx2; do
        OMNI_CPU_ISA=$isa OMNI_MATMUL_PRECISION=bfloat16 "$omni" bench decode "$model" --threads "$t" \
            --tokens 64 --repeats 5 --json | sed "s/^{/{\"requested_isa\":\"$isa\",/" >> "$out/decode.jsonl"
    done
    # The peer is optional there (torch and transformers as that machine has them): say so, go on.
    python3 Benchmarks/peers.py decode --model "$model" --threads "$t" --json >> "$out/hf.jsonl" ||
        echo "HF transformers' decode failed at $t threads" >&2
done
