"""Transformer Lab plugin shim: `rlwhf evaluate` with the parameters in index.json.

Inside Transformer Lab the parameters come from `tlab_evals.params`; elsewhere from flags:
python3 -m plugins.experimental.grok_search_evaluator.main --answers A.jsonl --output_dir DIR [--teacher openai ...]
"""

import sys

from rlwhf.evaluate.tlab import main

if __name__ == "__main__":
    sys.exit(main())
