#!/usr/bin/env bash
# Builds gemm_bench.c with our C kernels and runs it on 2 threads (see README.md).
# Needs: apt-get install -y libdnnl-dev libopenblas-dev, and clang (our kernels use #pragma clang).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
build="$here/.build"
mkdir -p "$build"
clang="$(command -v clang || echo /opt/swift/usr/bin/clang)"
"$clang" -O3 -std=gnu11 -I "$root/Sources/CKernels/include" -I /usr/include/x86_64-linux-gnu \
    "$here/gemm_bench.c" "$root"/Sources/CKernels/*.c \
    -o "$build/gemm_bench" -ldnnl -lopenblas -lgomp -lpthread -lm

echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "load before run: $(uptime | sed 's/.*load average/load average/')"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
# OpenBLAS's idle threads otherwise spin ~2^28 cycles after each call, taking a core from the method
# timed next; 4 (its minimum) makes them sleep at once.
export OPENBLAS_THREAD_TIMEOUT=4
"$build/gemm_bench" "$@"
echo "load after run: $(uptime | sed 's/.*load average/load average/')"
