#!/usr/bin/env bash
# Builds what a lent GPU machine (the `device` tool: no Swift there, nothing outside reachable)
# needs to run our code on its CPUs, into the ignored .devcarry/ (add `/.devcarry/` to
# .git/info/exclude once):
#
#   .devcarry/a/tests.tar.xz  the debug test runner (stripped) and the shared libraries ldd lists
#   .devcarry/b/omni.tar.xz   a static-stdlib release `omni` (stripped) and its shared libraries
#   .devcarry/b/tok/          the bench model's tokenizer files (scripts/device-cpu-bench.sh)
#
#   scripts/device-bundles.sh [tests] [omni]     (both by default)
#
# The working tree travels with each call (about 13 MB) and a call carries at most 64 MiB, so the
# two bundles go in separate calls. Tests there (they find fixtures by #filePath):
#   mkdir -p /tmp/dc && xz -dc .devcarry/a/tests.tar.xz | tar -C /tmp/dc -xf - &&
#   mkdir -p /work && ln -sfn $PWD /work/main && cd /work/main &&
#   LD_LIBRARY_PATH=/tmp/dc/lib /tmp/dc/swift-omniPackageTests.xctest --testing-library swift-testing
# The static build needs libcurl4-openssl-dev (FoundationNetworking) and its own scratch path, so
# that it does not force a full rebuild of .build's release products.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(tests omni)

# Copies `binary` (stripped with `strip_flags`) and the libraries it links, bar the C library's
# own, into `dir`, then packs `dir` into `archive`.
bundle() {
    local binary=$1 strip_flags=$2 dir=$3 archive=$4
    rm -rf "$dir" && mkdir -p "$dir/lib"
    cp "$binary" "$dir/" && strip $strip_flags "$dir/$(basename "$binary")"
    ldd "$binary" | awk '/=>/ { print $3 }' |
        grep -v -E '^/lib/x86_64-linux-gnu/(libc|libm|libpthread|libdl|librt|libgcc_s|ld-linux)[.-]' |
        while read -r lib; do cp -L "$lib" "$dir/lib/"; done
    mkdir -p "$(dirname "$archive")"
    tar -C "$dir" -cf - . | xz -T0 -6 > "$archive"
    echo "$archive: $(du -h "$archive" | cut -f1)"
}

for part in "${parts[@]}"; do
    case $part in
    tests)
        swift build --build-tests
        bundle .build/debug/swift-omniPackageTests.xctest -g /tmp/devcarry-tests .devcarry/a/tests.tar.xz
        ;;
    omni)
        swift build -c release --static-swift-stdlib --product omni --scratch-path .build-static
        bundle .build-static/release/omni "" /tmp/devcarry-omni .devcarry/b/omni.tar.xz
        if [ -d bench-models/qwen2.5-0.5b ]; then
            mkdir -p .devcarry/b/tok && cp bench-models/qwen2.5-0.5b/tokenizer*.json .devcarry/b/tok/
        fi
        ;;
    *) echo "unknown part: $part (tests, omni)" >&2; exit 2 ;;
    esac
done
