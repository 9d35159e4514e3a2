"""Learning-curve PNG from progress.csv rows."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from envs.files import write_figure  # noqa: E402


def _floats(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        value = row.get(key, "")
        if value not in ("", None, "nan"):
            xs.append(float(row["env_steps"]) / 1000.0)
            ys.append(float(value))
    return xs, ys


def _curves(ax, rows: list[dict], series) -> None:
    """One line per (key, label) logged in `rows`; greedy ones (evaluated now and then) with dots."""
    for key, label in series:
        xs, ys = _floats(rows, key)
        if xs:
            ax.plot(xs, ys, label=label, marker=None if key.startswith("train_") else ".")


def learning_curve(rows: list[dict], path: Path, title: str) -> None:
    """Training and greedy-evaluation return (and success rate where logged) vs env steps, in
    thousands (full counts above 100k run into each other)."""
    has_success = any(
        row.get(k) not in ("", None)
        for row in rows
        for k in ("eval_success_rate", "val_success_rate", "train_success_rate")
    )
    fig, axes = plt.subplots(1, 2 if has_success else 1, figsize=(11 if has_success else 6, 4))
    axes = list(axes) if has_success else [axes]
    _curves(
        axes[0],
        rows,
        (
            ("train_return", "training (explore)"),
            ("eval_return", "evaluation (greedy)"),
            ("val_return", "validation faces (greedy)"),
        ),
    )
    axes[0].set(xlabel="env steps (thousands)", ylabel="episode return", title=title)
    axes[0].legend()
    if has_success:
        _curves(
            axes[1],
            rows,
            (
                ("train_success_rate", "training (explore)"),
                ("eval_success_rate", "evaluation"),
                ("val_success_rate", "validation faces (greedy)"),
            ),
        )
        axes[1].set(xlabel="env steps (thousands)", ylabel="success rate", ylim=(-0.02, 1.02), title="success")
        axes[1].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    write_figure(path, fig)
    plt.close(fig)
