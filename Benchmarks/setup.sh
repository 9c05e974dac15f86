#!/usr/bin/env bash
# Makes Benchmarks/.venv (the peers' Python stack, from PyPI) and builds llama.cpp from the
# llama-cpp-python source distribution's bundled copy into Benchmarks/.build-llamacpp.
# Idempotent: each step is skipped when its output is already there.
#
#   Benchmarks/setup.sh            # venv + llama.cpp (llama-bench); ~10 minutes of compiling on 2 cores
#   JOBS=4 Benchmarks/setup.sh     # parallel compile jobs (default: all CPUs)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$HERE/.venv"
BUILD="$HERE/.build-llamacpp"
LLAMA_CPP_PYTHON=0.3.36
JOBS="${JOBS:-$(nproc)}"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# The venv is brought up to date whenever requirements.txt differs from what it was made from.
if ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.installed"; then
    "$VENV/bin/pip" install --upgrade pip
    "$VENV/bin/pip" install -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/requirements.installed"
fi
export PATH="$VENV/bin:$PATH"   # cmake and ninja from the venv

mkdir -p "$BUILD"
SDIST="$BUILD/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz"
SRC="$BUILD/llama_cpp_python-$LLAMA_CPP_PYTHON/vendor/llama.cpp"
if [ ! -f "$SDIST" ]; then
    # --no-build-isolation: pip reads the sdist's metadata with the venv's scikit-build-core and
    # cmake instead of compiling its build requirements from source.
    "$VENV/bin/pip" download --no-deps --no-binary :all: --no-build-isolation \
        "llama-cpp-python==$LLAMA_CPP_PYTHON" -d "$BUILD"
fi
if [ ! -d "$SRC" ]; then
    tar -xzf "$SDIST" -C "$BUILD"
fi
if [ ! -x "$BUILD/build/bin/llama-bench" ]; then
    cmake -S "$SRC" -B "$BUILD/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF
    cmake --build "$BUILD/build" -j "$JOBS" --target llama-bench
fi
"$BUILD/build/bin/llama-bench" --help >/dev/null
echo "peers ready: $VENV/bin/python $HERE/peers.py --help"
