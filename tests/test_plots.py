"""agents.plots: the learning curve, with the fast path's time panel where it logged one."""

import matplotlib.image
import pytest

from agents.plots import learning_curve, phase_seconds


def rows(with_phases: bool) -> list[dict]:
    out = []
    for i in range(1, 6):
        row = {"iteration": i, "env_steps": 500 * i, "train_return": -1.0 + 0.2 * i, "val_success_rate": ""}
        if i == 3:
            row["val_success_rate"] = 0.5
        for phase, seconds in (("sampling", 1.0), ("replay", 0.5), ("learner", 4.0), ("weights_sync", "")):
            row[f"time_{phase}_s"] = (seconds if i > 1 else "") if with_phases else ""
        out.append(row)
    return out


def test_phase_seconds_accumulate_per_logged_iteration():
    xs, totals = phase_seconds(rows(True))
    assert xs == [1.0, 1.5, 2.0, 2.5]  # iteration 1 logged none (no learning yet)
    assert totals["learner"] == pytest.approx([4.0, 8.0, 12.0, 16.0])
    assert totals["sampling"] == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert totals["weights_sync"] == [0.0] * 4  # blank = none that iteration
    assert phase_seconds(rows(False)) == ([], {})  # RLlib's path logs none: no panel


def test_learning_curve_adds_the_time_panel_only_where_logged(tmp_path):
    widths = {}
    for with_phases in (True, False):
        path = tmp_path / f"curve_{with_phases}.png"
        learning_curve(rows(with_phases), path, "test")
        widths[with_phases] = matplotlib.image.imread(path).shape[1]
    assert widths[True] > 1.4 * widths[False]  # three panels against two
