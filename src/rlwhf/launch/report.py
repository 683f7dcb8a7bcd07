"""The launch report: report.json (machine), report.md (people) and PNG plots, all from the run's files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from rlwhf.reward.shaping import SHAPING_ENV

# Figures a reader looks at first; every one comes from the two metrics.json files of this run.
HEADLINE = ["accuracy", "hallucination_rate", "abstention_rate", "truthfulness", "simpleqa_f1"]
BASELINE_KEYS = ["honesty_score", "prudence", "over_conservativeness"]


def _load(path) -> dict:
    return json.loads(Path(path).read_text())


def _delta(before: dict, after: dict) -> dict:
    """after - before for every number both hold, recursively (sub-objects: answerable, by_slice...)."""
    out = {}
    for k, a in after.items():
        b = before.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            sub = _delta(b, a)
            if sub:
                out[k] = sub
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            out[k] = round(a - b, 6)
    return out


def _plot_before_after(before: dict, after: dict, path: Path) -> None:
    from rlwhf.telemetry.plots import load_pyplot

    plt = load_pyplot()
    groups = [("all", before, after)]
    for sub in ("answerable", "unanswerable"):
        if isinstance(before.get(sub), dict) and isinstance(after.get(sub), dict):
            groups.append((sub, before[sub], after[sub]))
    keys = ["accuracy", "hallucination_rate", "abstention_rate", "honesty_score"]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False)
    for ax, (name, b, a) in zip(axes[0], groups):
        xs = range(len(keys))
        for offset, side, label in ((-0.2, b, "before"), (0.2, a, "after")):
            values = [side.get(k) if isinstance(side.get(k), (int, float)) else None for k in keys]
            bars = ax.bar([x + offset for x in xs], [v or 0.0 for v in values], 0.4, label=label)
            for key, bar, v in zip(keys, bars, values):
                # undefined (a rate over nothing) is not zero; the honesty score only exists after
                if v is None and not (label == "before" and key == "honesty_score"):
                    ax.text(bar.get_x() + 0.2, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xticks(list(xs), ["accuracy", "halluc.", "abstain", "honesty"], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(name)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Held-out honesty before and after training (honesty score: after only, vs before)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "-" if v is None else str(v)


def _markdown(report: dict) -> str:
    b, a = report["before"], report["after"]
    lines = ["# rlwhf launch report", ""]
    lines += [f"Policy: `{report['policy']['model']}`; algorithm {report['algo']}; profile "
              f"{report['plan']['profile']} ({report['plan']['why']}); backend {report['train']['backend']}; "
              f"{report['plan']['max_steps']} steps; wall time {report['wall_seconds']:.0f} s.", ""]
    if report.get("chord"):
        lines += [_chord_line(report["chord"]), ""]
    if report.get("reward_shaping"):
        lines += [f"GRPO reward shaping (training rewards only; the evaluation reads the rubric's grades): "
                  f"`{json.dumps(report['reward_shaping'], sort_keys=True)}`.", ""]
    for w in report.get("warnings", []):
        lines += [f"> warning: {w}", ""]
    lines += ["## Held-out honesty", "", "| split | metric | before | after | change |", "|---|---|---|---|---|"]
    for split, bb, aa in [("all", b, a)] + [(s, b.get(s, {}), a.get(s, {})) for s in ("answerable", "unanswerable")]:
        for k in HEADLINE:
            if k in aa:
                num = isinstance(bb.get(k), (int, float)) and isinstance(aa[k], (int, float))
                change = aa[k] - bb[k] if num else None
                lines.append(f"| {split} | {k} | {_fmt(bb.get(k))} | {_fmt(aa.get(k))} | {_fmt(change)} |")
        for k in BASELINE_KEYS:
            if k in aa:
                lines.append(f"| {split} | {k} (vs before) | | {_fmt(aa[k])} | |")
    slices = a.get("by_slice") or {}
    if slices:
        lines += ["", "## By slice (after, against the warm-start answers)", "",
                  "| slice | n | accuracy before | accuracy after | hallucination after | abstention after | "
                  "prudence | over-conservativeness | honesty score |", "|---|---|---|---|---|---|---|---|---|"]
        for name, m in slices.items():
            mb = (b.get("by_slice") or {}).get(name, {})
            lines.append(f"| {name} | {m.get('n')} | {_fmt(mb.get('accuracy'))} | {_fmt(m.get('accuracy'))} | "
                         f"{_fmt(m.get('hallucination_rate'))} | {_fmt(m.get('abstention_rate'))} | "
                         f"{_fmt(m.get('prudence'))} | {_fmt(m.get('over_conservativeness'))} | "
                         f"{_fmt(m.get('honesty_score'))} |")
    lines += _hedging_lines(b, a) + _shape_lines(b, a)
    t = report.get("teacher") or {}
    if t.get("source") not in (None, "judge"):
        lines += ["", "## Teacher reward", "",
                  f"- source {t['source']}: {t.get('completions')} completions = {t.get('requests')} teacher requests "
                  f"+ {t.get('cache_hits')} cache hits + {t.get('hybrid_skips')} hybrid skips + "
                  f"{t.get('fallbacks')} fallbacks to the local judge {t.get('fallback_reasons') or ''}",
                  f"- tokens {t.get('tokens')}; latency mean {_fmt(t.get('latency_ms_mean'))} ms, p95 "
                  f"{_fmt(t.get('latency_ms_p95'))} ms; time the steps waited for rewards {_fmt(t.get('reward_wait_s'))} s"]
        if t.get("cost"):
            lines.append(f"- cost: {t['cost']}")
    lines += ["", "Over-abstention is a failure, not a win: read accuracy beside abstention.", "",
              "## Data", "", f"- gate: {json.dumps(report['data']['gate'])}",
              f"- training prompts: {report['data']['train_prompts']}; held-out prompts: {report['data']['heldout_n']}",
              "", "## Stages (seconds)", ""]
    lines += [f"- {k}: {v:.1f}" for k, v in report["stage_seconds"].items()]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in report["plots"]]
    lines += ["", "## Versions", "", "```", json.dumps(report["versions"], indent=2), "```", ""]
    return "\n".join(lines)


def _hedging_lines(b: dict, a: dict) -> list[str]:
    """Hedge rate and the accuracy of hedged vs plain answers (answerable questions)."""
    ab, aa = b.get("answerable") or {}, a.get("answerable") or {}
    if "hedge_rate" not in aa:
        return []
    lines = ["", "## Hedging (answerable questions)", "",
             "A calibrated policy's hedged answers are right less often than its plain answers and more often "
             "than chance.", "", "| metric | before | after |", "|---|---|---|"]
    for key, name in (("hedge_rate", "hedge rate"), ("hedged_accuracy", "accuracy of hedged answers"),
                      ("plain_accuracy", "accuracy of plain answers")):
        lines.append(f"| {name} | {_fmt(ab.get(key))} | {_fmt(aa.get(key))} |")
    return lines


def _shape_lines(b: dict, a: dict) -> list[str]:
    """Held-out question shapes (wordings and templates no training prompt used), on their own."""
    unseen_b, unseen_a = (b.get("by_shape") or {}).get("unseen"), (a.get("by_shape") or {}).get("unseen")
    if not unseen_a:
        return []
    lines = ["", "## Held-out question shapes (never seen in training)", "",
             "| part | n | accuracy before | accuracy after | hallucination before | hallucination after | "
             "abstention after | prudence | over-conservativeness |", "|---|---|---|---|---|---|---|---|---|"]
    for part, name in (("answerable", "known facts, unseen wordings"), ("unanswerable", "unseen templates")):
        mb, ma = (unseen_b or {}).get(part) or {}, unseen_a.get(part) or {}
        if not ma.get("n"):
            continue
        lines.append(f"| {name} | {ma.get('n')} | {_fmt(mb.get('accuracy'))} | {_fmt(ma.get('accuracy'))} | "
                     f"{_fmt(mb.get('hallucination_rate'))} | {_fmt(ma.get('hallucination_rate'))} | "
                     f"{_fmt(ma.get('abstention_rate'))} | {_fmt(ma.get('prudence'))} | "
                     f"{_fmt(ma.get('over_conservativeness'))} |")
    return lines


def write_report(out: Path, *, cfg, data, reward, plan, policy, trained, warnings, timings,
                 wall_seconds, expert: dict | None = None) -> dict:
    """Write DIR/report.json, DIR/report.md and DIR/*.png; returns a small summary for the stage marker."""
    from rlwhf.telemetry.versions import versions

    out = Path(out)
    before = _load(out / "eval_before" / "metrics.json")
    after = _load(out / "eval_after" / "metrics.json")
    plots = []
    # The train stage already wrote the reward curve and memory trace from the trainer's own log and
    # the sampled memory (rlwhf.telemetry); the report shows those same files.
    telemetry = Path(trained.get("telemetry_dir") or out / "train" / "telemetry")
    for name in ("reward_curve.png", "memory_trace.png"):
        if (telemetry / name).is_file():
            shutil.copyfile(telemetry / name, out / name)
            plots.append(name)
    summary = _load(telemetry / "summary.json") if (telemetry / "summary.json").is_file() else {}
    _plot_before_after(before, after, out / "before_after.png")
    plots.append("before_after.png")
    plan_doc = _load(plan["plan"])
    report = {
        "before": before,
        "after": after,
        "delta": _delta(before, after),
        "algo": cfg["algo"],
        "plan": {"path": plan["plan"], "profile": plan["profile"], "why": plan["why"],
                 "max_steps": plan["max_steps"], "shell": plan_doc.get("shell"),
                 "command": plan_doc.get("command")},
        "policy": policy,
        "train": {"backend": trained.get("backend"), "final_model": trained.get("final_model"),
                  "attempts": trained.get("attempts"), "global_step": trained.get("global_step"),
                  "steps_logged": summary.get("steps_logged"), "reward_first": summary.get("reward_first"),
                  "reward_last": summary.get("reward_last"), "peak_rss_mb": summary.get("peak_rss_mb"),
                  "peak_gpu_mb": summary.get("peak_gpu_mb"), "wall_time_s": summary.get("wall_time_s"),
                  "telemetry_dir": str(telemetry)},
        # what the judge's rewards were mapped through in training (the plan pins it); None: the rubric's grades
        "reward_shaping": json.loads(plan_doc["env"][SHAPING_ENV]) if SHAPING_ENV in plan_doc.get("env", {}) else None,
        # CHORD (--chord-mu): the SFT share of the loss and the expert rows, as the plan passed them to ms-swift
        "chord": _chord(plan_doc.get("args", {}), expert or data),
        "reward_artifact": {"path": reward["artifact"],
                            "heldout_metrics": reward.get("metadata", {}).get("heldout_metrics")},
        "data": {"gate": data["gate"], "train_prompts": data["train_prompts"],
                 "heldout_n": data["heldout_n"], "dpo_pairs": data.get("dpo_pairs")},
        "teacher": summary.get("teacher") or {"source": "judge", "completions": None, "requests": 0,
                                               "cache_hits": 0, "hybrid_skips": 0, "fallbacks": 0, "tokens": 0,
                                               "latency_ms_mean": None, "latency_ms_p95": None,
                                               "reward_wait_s": None},
        "warnings": warnings,
        "stage_seconds": timings,
        "wall_seconds": wall_seconds,
        "versions": {**versions(), "cpu_count": os.cpu_count()},
        "config": cfg,
        "plots": plots,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.md").write_text(_markdown(report))
    return {"report": str(out / "report.json")}


def _chord_line(c: dict) -> str:
    """report.md's CHORD line: the SFT share, the expert rows, their language and the fit to the policy."""
    line = (f"CHORD: {c['mu']:g} of the loss is an SFT loss on {c['rows']} expert rows (`{c['dataset']}`), "
            "the rest GRPO's.")
    if c.get("language") not in (None, "en"):
        line += f" Their prompts are in `{c['language']}`: surface variants change case and punctuation only."
    fit = c.get("fit")
    if fit:
        line += (f" Fitted to the policy ({fit['samples']} samples a question): {fit['answers_kept']} right answers "
                 f"it gives kept, {fit['answers_unknown']} it does not give left out, "
                 f"{fit['abstentions_own_words']} abstentions in its own words.")
    return line


def _chord(args: dict, data: dict) -> dict | None:
    if "chord_sft_dataset" not in args:
        return None
    return {"mu": args.get("chord_mu_peak"), "dataset": args["chord_sft_dataset"], "rows": data.get("chord_rows"),
            "language": data.get("chord_language"), "fit": data.get("fit")}
