"""PNG plots of a run (matplotlib, Agg backend: no display needed). Reused by `rlwhf launch`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def load_pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(rows: Sequence[dict], key: str) -> tuple[list, list]:
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if value is not None and row.get("step") is not None:
            xs.append(row["step"])
            ys.append(value)
    return xs, ys


def plot_reward_curve(steps: Sequence[dict], path: str | Path, title: str = "Reward per step") -> Path:
    """Reward (mean +- std across the group) per optimizer step; DPO runs plot the reward margin,
    runs with neither plot the loss. `steps` are step rows (telemetry.logs.step_row keys)."""
    plt = load_pyplot()
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4))
    xs, ys = _series(steps, "reward")
    if xs:
        ax.plot(xs, ys, label="reward (mean)", color="tab:blue")
        _, std = _series(steps, "reward_std")
        if len(std) == len(ys):
            ax.fill_between(xs, [y - s for y, s in zip(ys, std)], [y + s for y, s in zip(ys, std)],
                            alpha=0.2, color="tab:blue", label="± reward std")
        ax.set_ylabel("honesty reward")
    else:
        xs, ys = _series(steps, "dpo_reward_margin")
        label = "DPO reward margin (chosen - rejected)"
        if not xs:
            xs, ys = _series(steps, "loss")
            label = "loss"
        ax.plot(xs, ys, label=label, color="tab:green")
        ax.set_ylabel(label)
    ax.set_xlabel("optimizer step")
    return _finish(plt, fig, ax, path, title, "no steps logged" if not xs else None)


def plot_memory_trace(samples: Sequence[dict], path: str | Path, title: str = "Memory") -> Path:
    """Process-tree RSS (and GPU memory when sampled) over time, one colour band per attempt."""
    plt = load_pyplot()
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4))
    ts = [s["time_s"] for s in samples]
    ax.plot(ts, [s["rss_mb"] for s in samples], label="process-tree RSS", color="tab:purple")
    gpu = [(s["time_s"], s["gpu_mb"]) for s in samples if s.get("gpu_mb") is not None]
    if gpu:
        ax.plot([t for t, _ in gpu], [g for _, g in gpu], label="GPU memory", color="tab:orange")
    attempts = sorted({s["attempt"] for s in samples})
    if len(attempts) > 1:
        for attempt in attempts[1:]:
            start = min(s["time_s"] for s in samples if s["attempt"] == attempt)
            ax.axvline(start, color="grey", linestyle="--", linewidth=1)
            ax.text(start, ax.get_ylim()[1] * 0.95, f" attempt {attempt}", fontsize=8, va="top")
    ax.set_xlabel("seconds")
    ax.set_ylabel("MB")
    return _finish(plt, fig, ax, path, title, "no samples" if not samples else None)


def _finish(plt, fig, ax, path: Path, title: str, empty_note: str | None) -> Path:
    """Title, grid, legend (or a note that there was nothing to draw), then save and free the figure."""
    if empty_note:
        ax.text(0.5, 0.5, empty_note, ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(loc="best")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
