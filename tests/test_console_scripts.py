"""Console scripts in pyproject: each names an importable main, and rlff-detectors dispatches."""

from __future__ import annotations

import importlib
import os

import pytest

from detectors import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_console_script_names_a_main():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert set(scripts) == {"rlff-train", "rlff-evaluate", "rlff-faces", "rlff-detectors"}
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def test_detectors_dispatcher(capsys):
    assert cli.main(["bogus"]) == 2 and "unknown command 'bogus'" in capsys.readouterr().err
    assert cli.main([]) == 2
    assert cli.main(["--help"]) == 0 and "report" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:  # the chosen command's own parser gets the rest
        cli.main(["report", "--help"])
    assert exit_.value.code == 0 and "--checkpoint" in capsys.readouterr().out
