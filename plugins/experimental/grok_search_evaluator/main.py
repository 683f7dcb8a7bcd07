"""Transformer Lab task and CLI shim: `rlwhf evaluate` with the parameters in index.json / task.yaml.

Inside a Transformer Lab job (task.yaml's run line `python3 grok_search_evaluator/main.py`) the parameters
come from `lab.get_config()`; elsewhere from flags:
python3 -m plugins.experimental.grok_search_evaluator.main --answers A.jsonl --output_dir DIR [--teacher openai ...]
"""

import sys

from rlwhf.integrations.tlab_evaluator import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
