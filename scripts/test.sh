#!/usr/bin/env bash
# Sets up this machine and runs every test: one debug build serves all test targets.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build
