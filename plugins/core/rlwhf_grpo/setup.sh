#!/usr/bin/env bash
# Transformer Lab runs this before the task: training needs rlwhf with the train and swift extras (torch,
# transformers, TRL, ms-swift) and the transformerlab SDK (tlab extra). Installs the checkout this folder
# lives in when there is one, else $RLWHF_PIP_SPEC (default "rlwhf[train,swift,tlab]").
set -euo pipefail
if python3 -c "import rlwhf, lab, torch, transformers" 2>/dev/null; then
  echo "rlwhf, torch and the transformerlab SDK are installed"
  exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." 2>/dev/null && pwd || true)"
if [ -n "$root" ] && [ -f "$root/pyproject.toml" ] && grep -q '^name = "rlwhf"' "$root/pyproject.toml"; then
  python3 -m pip install -e "$root[train,swift,tlab]"
else
  python3 -m pip install "${RLWHF_PIP_SPEC:-rlwhf[train,swift,tlab]}"
fi
