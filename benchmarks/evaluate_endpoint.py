"""Served-student throughput: `rlwhf evaluate --student-base-url` against a bare asyncio HTTP loop.

One `swift deploy` server (the tiny policy on CPU, loopback) answers the same prompts, greedy, three ways:
  - bare:       asyncio streams, hand-written HTTP/1.1 POSTs on fresh connections (body read by its
                Content-Length), at most C in flight, no retries: the ceiling a client can reach here;
  - rlwhf:      `rlwhf evaluate --student-base-url ... --concurrency C` (in-process; the generation phase's
                wall time from metrics.json's timings, the first prompt's server check included);
  - sequential: the same with --concurrency 1.
Rounds alternate bare / rlwhf so drift on a shared machine hits both; the median round is reported.
Target: rlwhf >= 0.9x bare.

    python benchmarks/evaluate_endpoint.py [--model DIR] [--prompts 48] [--concurrency 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the swift deploy helper the tests use

from _swift_student import SwiftStudent  # noqa: E402


async def _post(host: str, port: int, body: bytes) -> dict:
    """One POST on a fresh connection (as the stdlib client does); the body read by its Content-Length, so the
    loop never waits for the server to close the connection."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (host.encode(), port, len(body)) + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
    if b"content-length" in headers:
        payload = await reader.readexactly(int(headers[b"content-length"]))
    else:  # chunked
        payload = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                break
            payload += await reader.readexactly(size)
            await reader.readexactly(2)
    writer.close()
    return json.loads(payload)


async def _bare(url: str, model: str, prompts: list[str], concurrency: int, max_tokens: int) -> tuple[float, list[str]]:
    from urllib.parse import urlparse

    u = urlparse(url)
    sem = asyncio.Semaphore(concurrency)

    async def one(p: str) -> str:
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": p}], "temperature": 0,
                           "max_tokens": max_tokens}).encode()
        async with sem:
            reply = await _post(u.hostname, u.port, body)
        return reply["choices"][0]["message"]["content"].strip()

    t0 = time.perf_counter()
    answers = await asyncio.gather(*(one(p) for p in prompts))
    return time.perf_counter() - t0, list(answers)


def _rlwhf(url: str, model: str, prompts_file: Path, concurrency: int, max_tokens: int, out: Path) -> tuple[float, list[str]]:
    from rlwhf.evaluate.evaluation import EvaluateConfig, evaluate

    cfg = EvaluateConfig(output_dir=str(out), student_base_url=url, student_model=model, prompts=str(prompts_file),
                         concurrency=concurrency, max_new_tokens=max_tokens, backoff_base=0.5)
    result = evaluate(cfg)
    rows = [json.loads(line) for line in open(result["answers"])]
    return result["metrics"]["timings"]["generation"]["seconds"], [r["answer"] for r in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="policy folder to serve (default: the embedded tiny policy, built and cached)")
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="rlwhf_endpoint_bench_"))
    os.environ.setdefault("RLWHF_CACHE_DIR", str(work / "cache"))
    from rlwhf.data.synth import prompts as synth_prompts

    model_dir = args.model
    if not model_dir:
        from rlwhf.policy.tiny import TinyPolicyConfig, build_tiny

        model_dir = str(work / "policy")
        build_tiny(model_dir, TinyPolicyConfig(), log=lambda m: print(f"[tiny] {m}", file=sys.stderr))
    rows = synth_prompts("heldout")[:args.prompts]
    prompts = [r["prompt"] for r in rows]
    prompts_file = work / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps(r) + "\n" for r in rows))

    with SwiftStudent(model_dir, work / "deploy.log") as server:
        asyncio.run(_bare(server.url, server.model, prompts[:4], args.concurrency, args.max_tokens))  # warm up
        bare, ours = [], []
        for k in range(args.rounds):
            s, bare_answers = asyncio.run(_bare(server.url, server.model, prompts, args.concurrency, args.max_tokens))
            bare.append(s)
            s, our_answers = _rlwhf(server.url, server.model, prompts_file, args.concurrency, args.max_tokens,
                                    work / f"rlwhf_{k}")
            ours.append(s)
            if our_answers != bare_answers:
                print(f"warning: round {k}: answers differ between the two clients", file=sys.stderr)
        seq, _ = _rlwhf(server.url, server.model, prompts_file, 1, args.max_tokens, work / "sequential")

    n = len(prompts)
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"\nswift deploy (transformers backend, CPU), {n} prompts, greedy, max_tokens {args.max_tokens}, "
          f"{args.rounds} rounds (median)")
    print(f"| client | concurrency | seconds | prompts/s | vs bare |")
    print(f"|---|---|---|---|---|")
    print(f"| bare asyncio HTTP loop | {args.concurrency} | {b:.2f} | {n / b:.2f} | 1.00x |")
    print(f"| rlwhf evaluate --student-base-url | {args.concurrency} | {o:.2f} | {n / o:.2f} | {b / o:.2f}x |")
    print(f"| rlwhf evaluate, sequential | 1 | {seq:.2f} | {n / seq:.2f} | {b / seq:.2f}x |")
    print(f"rounds: bare {[round(x, 2) for x in bare]}, rlwhf {[round(x, 2) for x in ours]}")
    ok = b / o >= 0.9
    print(f"target rlwhf >= 0.9x bare: {'met' if ok else 'NOT met'} ({b / o:.2f}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
