#!/usr/bin/env bash
# Transformer Lab runs this before the task (and the legacy plugin loader once at install). Grading needs
# only the stdlib; generating answers with a local model needs the train extra (torch, transformers);
# inside a job the transformerlab SDK (tlab extra). Installs the checkout this folder lives in when there
# is one, else $RLWHF_PIP_SPEC (default "rlwhf[tlab]").
set -euo pipefail
if python3 -c "import rlwhf, lab" 2>/dev/null; then
  echo "rlwhf and the transformerlab SDK are installed"
  exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." 2>/dev/null && pwd || true)"
if [ -n "$root" ] && [ -f "$root/pyproject.toml" ] && grep -q '^name = "rlwhf"' "$root/pyproject.toml"; then
  python3 -m pip install -e "$root[tlab]"
else
  python3 -m pip install "${RLWHF_PIP_SPEC:-rlwhf[tlab]}"
fi
