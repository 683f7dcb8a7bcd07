#!/usr/bin/env bash
# Transformer Lab runs this once when the plugin is installed: the reward needs only rlwhf itself
# (stdlib + pyyaml; no torch). Installs the checkout this plugin lives in unless rlwhf is present.
set -euo pipefail
if python3 -c "import rlwhf" 2>/dev/null; then
  echo "rlwhf already installed"
  exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
if [ -f "$root/pyproject.toml" ]; then
  python3 -m pip install -e "$root"
else
  echo "rlwhf is not installed and no rlwhf checkout was found above $here" >&2
  exit 1
fi
