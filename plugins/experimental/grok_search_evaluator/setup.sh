#!/usr/bin/env bash
# Transformer Lab runs this once in the plugin's environment. The online teacher needs only the
# stdlib; local generation needs the train extra (torch, transformers).
set -euo pipefail
if python3 -c "import rlwhf" 2>/dev/null; then
  echo "rlwhf already installed"
else
  pip install "rlwhf[train]"
fi
