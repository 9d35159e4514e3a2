"""Everything a training run writes to its run dir, written so a crash never corrupts it.

Layout::

    RUN_DIR/run.json             options the run was started with (for --resume), and under
                                 "policy_env_config" the env settings its policy needs (evaluation)
    RUN_DIR/progress.csv         one row per iteration
    RUN_DIR/events.out.tfevents* TensorBoard scalars
    RUN_DIR/learning_curve.png   evaluation/training return vs env steps
    RUN_DIR/checkpoints/iter_000012/  complete checkpoints (RLlib's own format + state.json)
    RUN_DIR/best/                the checkpoint with the best validation result so far
    RUN_DIR/result.json          summary written at the end
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# temp file in the same folder, fsync, rename: readers see old or new, never half
from envs.files import write_json as atomic_write_json
from envs.files import write_text as atomic_write_text

POLICY_ENV_CONFIG = "policy_env_config"  # run.json key: agents.validation.policy_env_config
CHECKPOINT_PREFIX = "iter_"
STATE_FILE = "state.json"
BEST = "best"
_ASIDE = ".old-"  # a replaced checkpoint waits here until its successor is in place


class RunDirError(ValueError):
    pass


def read_state(checkpoint: Path) -> dict | None:
    """state.json of a complete checkpoint (written last, so its presence means complete), else None."""
    try:
        return json.loads((Path(checkpoint) / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path).absolute()  # RLlib's save_to_path reads a relative path as a URI
        self.checkpoints = self.path / "checkpoints"

    # ---- creation and resume -------------------------------------------------------------
    def create(self, options: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        atomic_write_json(self.path / "run.json", options)

    def load_options(self) -> dict:
        run_json = self.path / "run.json"
        if not self.path.is_dir():
            raise RunDirError(f"--resume {self.path}: no such directory")
        if not run_json.is_file():
            raise RunDirError(f"--resume {self.path}: not a run dir (no run.json written by train.py)")
        try:
            return json.loads(run_json.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"--resume {self.path}: run.json is unreadable ({exc})") from None

    # ---- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, iteration: int, save: Callable[[str], Any], state: dict, keep: int = 3) -> Path:
        """`save(tmp_dir)` writes the algorithm; the folder is renamed into place only once
        it and state.json are complete, so the newest `iter_*` is always readable."""
        final = self.checkpoints / f"{CHECKPOINT_PREFIX}{iteration:06d}"
        self._save_complete(final, save, state)
        for old in self.list_checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def save_best(self, save: Callable[[str], Any], state: dict) -> Path:
        """Replace `best/` with a new complete checkpoint. The old one is moved aside before the
        new one is renamed in, and `best_checkpoint()` falls back to it if a crash falls between."""
        return self._save_complete(self.path / BEST, save, state)

    def _save_complete(self, final: Path, save: Callable[[str], Any], state: dict) -> Path:
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
        try:
            save(str(tmp))
            atomic_write_json(tmp / STATE_FILE, state)
            aside = final.parent / f"{_ASIDE}{final.name}"
            if final.exists():
                shutil.rmtree(aside, ignore_errors=True)
                os.replace(final, aside)
            os.replace(tmp, final)
            shutil.rmtree(aside, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def best_checkpoint(self) -> tuple[Path, dict] | None:
        """`best/` and its state, or the previous best if a replacement was cut off midway."""
        for path in (self.path / BEST, self.path / f"{_ASIDE}{BEST}"):
            state = read_state(path)
            if state is not None:
                return path, state
        return None

    def list_checkpoints(self) -> list[Path]:
        if not self.checkpoints.is_dir():
            return []
        return sorted(
            p for p in self.checkpoints.iterdir() if p.name.startswith(CHECKPOINT_PREFIX) and (p / STATE_FILE).is_file()
        )

    def latest_checkpoint(self) -> tuple[Path, dict] | None:
        for path in reversed(self.list_checkpoints()):
            state = read_state(path)
            if state is not None:
                return path, state
        return None

    # ---- progress ------------------------------------------------------------------------
    def append_progress(self, row: dict) -> None:
        """Append one row; a run resumed from before a new column gets its file rewritten with
        that column added (empty in the old rows), so the columns never shift."""
        path = self.path / "progress.csv"
        header: list[str] = []
        if path.exists():
            with path.open(newline="") as fh:
                header = next(csv.reader(fh), [])
            if header and set(row) - set(header):
                header = [*header, *(k for k in row if k not in header)]
                self._write_progress(self.read_progress(), header)
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header or list(row), restval="")
            if not header:
                writer.writeheader()
            writer.writerow(row)

    def read_progress(self) -> list[dict]:
        path = self.path / "progress.csv"
        if not path.exists():
            return []
        with path.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def truncate_progress(self, iteration: int) -> None:
        """On resume, drop rows logged after the checkpoint we continue from."""
        rows = [r for r in self.read_progress() if int(r["iteration"]) <= iteration]
        path = self.path / "progress.csv"
        if not rows:
            path.unlink(missing_ok=True)
            return
        self._write_progress(rows, list(rows[0]))

    def _write_progress(self, rows: list[dict], fieldnames: list[str]) -> None:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path / "progress.csv", text.getvalue())

    def write_result(self, result: dict) -> None:
        atomic_write_json(self.path / "result.json", result)
