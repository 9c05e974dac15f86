#!/usr/bin/env bash
# Sets up this machine, builds the release binary and runs the main job.
# Until a model architecture lands there is nothing to serve: it prints the command's help.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
exec .build/release/omni --help
