#!/usr/bin/env bash
# Installs what building swift-omni needs on a fresh Debian machine (idempotent).
# Swift itself is expected on PATH (Swift 6.x); C libraries come from Debian's -dev packages.
set -euo pipefail

packages=(libopenblas-dev libpng-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift not found on PATH (Swift 6.x is required)" >&2; exit 1; }
