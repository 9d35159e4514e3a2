"""Learning-curve PNG from progress.csv rows."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from envs.files import write_figure  # noqa: E402


def _logged(value) -> bool:
    """A progress.csv cell that holds a number (blank where nothing was logged)."""
    return value not in ("", None, "nan")


def _floats(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        value = row.get(key, "")
        if _logged(value):
            xs.append(float(row["env_steps"]) / 1000.0)
            ys.append(float(value))
    return xs, ys


def _curves(ax, rows: list[dict], series) -> None:
    """One line per (key, label) logged in `rows`; greedy ones (evaluated now and then) with dots."""
    for key, label in series:
        xs, ys = _floats(rows, key)
        if xs:
            ax.plot(xs, ys, label=label, marker=None if key.startswith("train_") else ".")


def phase_seconds(rows: list[dict]) -> tuple[list[float], dict[str, list[float]]]:
    """The fast path's per-iteration driver seconds (progress.csv `time_<phase>_s`) summed up
    to each logged iteration, vs env steps in thousands; empty where none were logged."""
    from agents.fast_dqn import PHASES

    xs, totals = [], {phase: [] for phase in PHASES}
    running = dict.fromkeys(PHASES, 0.0)
    for row in rows:
        values = {phase: row.get(f"time_{phase}_s", "") for phase in PHASES}
        if not any(_logged(v) for v in values.values()):
            continue
        xs.append(float(row["env_steps"]) / 1000.0)
        for phase, value in values.items():
            running[phase] += float(value) if _logged(value) else 0.0
            totals[phase].append(running[phase])
    return xs, (totals if xs else {})


def learning_curve(rows: list[dict], path: Path, title: str) -> None:
    """Training and greedy-evaluation return (and success rate where logged) vs env steps, in
    thousands (full counts above 100k run into each other); where the fast path logged them, the
    driver's seconds per phase (sampling, replay, learner, weight sync), stacked."""
    has_success = any(
        row.get(k) not in ("", None)
        for row in rows
        for k in ("eval_success_rate", "val_success_rate", "train_success_rate")
    )
    phase_xs, phases = phase_seconds(rows)
    panels = 1 + has_success + bool(phases)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels if panels > 1 else 6, 4))
    axes = list(axes) if panels > 1 else [axes]
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
    if phases:
        ax = axes[-1]
        ax.stackplot(phase_xs, list(phases.values()), labels=[p.replace("_", " ") for p in phases], alpha=0.8)
        ax.set(xlabel="env steps (thousands)", ylabel="driver seconds, cumulative", title="where the time went")
        ax.legend(loc="upper left")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    write_figure(path, fig)
    plt.close(fig)
