"""Policy answers for evaluation: greedy (or sampled: `sample_answers`), batched, left-padded, through the
tokenizer's chat template."""

from __future__ import annotations

import time
from pathlib import Path

from rlwhf.errors import RlwhfError, require
from rlwhf.progress import Tracker, transformers_bars


def chat_messages(prompt: str, system_prompt: str | None = None) -> list[dict]:
    """The chat turns a prompt is asked as, locally and on a served student alike.

    >>> chat_messages("2+2?", "Be brief.")
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'}]
    """
    turns = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return turns + [{"role": "user", "content": prompt}]


def render_prompts(tokenizer, prompts: list[str], system_prompt: str | None = None) -> list[str]:
    """Each prompt as one user turn (after an optional system turn) with the generation prompt, the way
    the policy was trained to see it. A tokenizer without a chat template (a base model) gets the raw
    prompt (after the system prompt, when one is given).
    """
    if not getattr(tokenizer, "chat_template", None):
        return [f"{system_prompt}\n\n{p}" if system_prompt else p for p in prompts]
    return [tokenizer.apply_chat_template(chat_messages(p, system_prompt), tokenize=False, add_generation_prompt=True)
            for p in prompts]


def vllm_available() -> bool:
    """vLLM installed and a GPU visible: local generation then runs on vLLM (GPU machines)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def generate_vllm(model_dir, prompts: list[str], max_new_tokens: int, system_prompt: str | None = None,
                  stats: dict | None = None) -> list[str]:  # pragma: no cover - needs vLLM and a GPU
    """Greedy answers through vLLM, rendered with the same chat template as the transformers path."""
    from vllm import LLM, SamplingParams

    started = time.perf_counter()
    llm = LLM(model=str(model_dir))
    texts = render_prompts(llm.get_tokenizer(), prompts, system_prompt)
    outs = llm.generate(texts, SamplingParams(temperature=0.0, max_tokens=max_new_tokens))
    answers = [o.outputs[0].text.strip() for o in outs]
    if stats is not None:
        stats.update(prompts=len(prompts), backend="vllm", new_tokens=sum(len(o.outputs[0].token_ids) for o in outs),
                     seconds=round(time.perf_counter() - started, 3))
    return answers


def pick_device(device: str | None = None) -> str:
    """`device`, else "cuda" when a GPU is visible, else "cpu"."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_policy(model_dir: str | Path, device: str | None = None):
    """(model, tokenizer) from a local folder, on `device` (auto), in eval mode, padding on the left."""
    require("torch", "train")
    transformers = require("transformers", "train")
    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise RlwhfError(f"{model_dir}: not a model folder (no config.json)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    with transformers_bars():  # its "Loading weights" bar, only where ours show
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path))
    model.to(pick_device(device))
    model.eval()
    # Left padding keeps every prompt's last token at the same position, so one greedy batch
    # decodes each row exactly as it would alone.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


# Below this size a matmul is too small to split: extra intra-op threads only wait on each other, and
# on a busy 2-core machine they made greedy decoding of 353 prompts 7-20x slower (2.2 s vs 17-46 s).
SMALL_MODEL_PARAMS = 50_000_000


def auto_threads(model, threads: int | None = None) -> int:
    """`threads`, else 1 for a model under 50M parameters on CPU, else torch's current setting."""
    import torch

    if threads:
        return threads
    small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS
    return 1 if small and model.device.type == "cpu" else torch.get_num_threads()


def generate_answers(model_dir, prompts: list[str], batch_size: int = 64, max_new_tokens: int = 32,
                     stats: dict | None = None, threads: int | None = None,
                     system_prompt: str | None = None) -> list[str]:
    """Greedy answers (special tokens stripped, whitespace trimmed), one per prompt, in order.

    `model_dir` is a folder path or an already loaded `(model, tokenizer)` pair. Prompts are sorted by
    length into batches (less padding) and put back in order. `threads`: torch intra-op threads while
    generating (default `auto_threads`; restored afterwards). `stats`, when given, receives
    {"prompts", "batches", "new_tokens", "threads", "seconds"}.
    """
    return [outs[0] for outs in _generate(model_dir, prompts, batch_size, max_new_tokens, stats, threads,
                                          system_prompt)]


def sample_answers(model_dir, prompts: list[str], samples: int, temperature: float, seed: int = 0,
                   batch_size: int = 64, max_new_tokens: int = 32, stats: dict | None = None,
                   threads: int | None = None, system_prompt: str | None = None) -> list[list[str]]:
    """`samples` sampled answers per prompt (plain temperature sampling: no top-k, no top-p), in order;
    the same for the same seed. Otherwise as `generate_answers`."""
    import torch

    if samples < 1 or temperature <= 0:
        raise RlwhfError("samples must be at least 1 and temperature positive")
    torch.manual_seed(seed)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0,
                "num_return_sequences": samples}
    return _generate(model_dir, prompts, batch_size, max_new_tokens, stats, threads, system_prompt, sampling)


def _generate(model_dir, prompts, batch_size, max_new_tokens, stats, threads, system_prompt,
              sampling: dict | None = None) -> list[list[str]]:
    import torch

    if batch_size < 1 or max_new_tokens < 1:
        raise RlwhfError("batch_size and max_new_tokens must be at least 1")
    model, tokenizer = model_dir if isinstance(model_dir, tuple) else load_policy(model_dir)
    prompts = [p["prompt"] if isinstance(p, dict) else p for p in prompts]  # prompt rows work too
    texts = render_prompts(tokenizer, prompts, system_prompt)
    eos = tokenizer.eos_token_id
    if eos is None:
        eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(eos, list):
        eos = eos[0]
    # Greedy; sampling knobs left in a model's generation_config would only warn under greedy.
    decoding = sampling or {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    n = decoding.get("num_return_sequences", 1)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[list[str]] = [[] for _ in texts]
    started = time.perf_counter()
    batches = new_tokens = 0
    previous_threads = torch.get_num_threads()
    used_threads = auto_threads(model, threads)
    torch.set_num_threads(used_threads)
    # A bar on a terminal (no log lines elsewhere: the caller says how long it took).
    steps = Tracker(len(texts), "generated", "prompt", bar_desc="generate")
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
                enc = {k: v.to(model.device) for k, v in enc.items()}
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    num_beams=1,
                    eos_token_id=eos,
                    pad_token_id=tokenizer.pad_token_id,
                    **decoding,
                )
                # With n sequences a prompt, generate returns each prompt's n rows one after another.
                for row, ids in enumerate(out[:, enc["input_ids"].shape[1]:].tolist()):
                    # Cut at the first eos ourselves: an eos that is not a "special" token would survive
                    # skip_special_tokens, and what follows it in a batch is padding.
                    if eos in ids:
                        ids = ids[:ids.index(eos)]
                    new_tokens += len(ids)
                    answers[idx[row // n]].append(tokenizer.decode(ids, skip_special_tokens=True).strip())
                batches += 1
                steps.update(len(idx))
    finally:
        steps.close()
        torch.set_num_threads(previous_threads)  # process-wide: the launch trains after evaluating
    if stats is not None:
        stats.update(prompts=len(prompts), backend="transformers", batches=batches, new_tokens=new_tokens, threads=used_threads,
                     seconds=round(time.perf_counter() - started, 3))
    return answers
