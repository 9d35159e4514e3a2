"""Flags derived from dataclasses (envs.dataclass_cli): one field, one flag, one default."""

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from envs.dataclass_cli import add_arguments, flag_of, from_args, option


@dataclass
class Example:
    size: int = option(32, "crop side")
    rate: float | None = option(None, "optional rate")
    weights: tuple[float, ...] = option((0.5, 0.5), "two weights", type=float, nargs=2)
    items: dict = option({}, "KEY=VALUE items", action="append", cli_default=[])
    dry_run: bool = option(False, "tiny run")
    progress: bool = option(True, "no progress bar", flag="--no-progress")
    hidden: int = option(3)  # API only


def _parse(*argv):
    p = argparse.ArgumentParser()
    add_arguments(p, Example)
    return p, p.parse_args(list(argv))


def test_defaults_types_and_switches_follow_the_fields():
    p, args = _parse()
    assert from_args(Example, args, items={}) == Example()
    _, args = _parse("--size", "64", "--rate", "0.5", "--weights", "1", "2", "--dry-run", "--no-progress")
    opts = from_args(Example, args, items={}, weights=tuple(args.weights))
    assert (opts.size, opts.rate, opts.weights, opts.dry_run, opts.progress) == (64, 0.5, (1.0, 2.0), True, False)
    assert "hidden" not in vars(args) and flag_of(Example, "progress") == "--no-progress"
    with pytest.raises(SystemExit):  # typed: a bad int is argparse's usage error
        p.parse_args(["--size", "big"])


def test_a_true_switch_needs_a_negative_flag():
    @dataclass
    class Bad:
        progress: bool = option(True, "progress bar")

    with pytest.raises(TypeError, match="needs a flag such as --no-"):
        add_arguments(argparse.ArgumentParser(), Bad)


def test_detector_clis_are_their_settings():
    from detectors import judge
    from detectors import train as critic_train

    assert critic_train.parse_args([]) == critic_train.Settings()
    custom = critic_train.parse_args(["--epochs", "2", "--image-size", "64", "--dry-run", "--no-progress"])
    assert (custom.epochs, custom.image_size, custom.dry_run, custom.progress) == (2, 64, True, False)
    p = argparse.ArgumentParser()
    add_arguments(p, judge.Settings)
    args = p.parse_args([])
    assert from_args(judge.Settings, args, kind_weights=tuple(args.kind_weights)) == judge.Settings()
    for f in dataclasses.fields(judge.Settings):
        assert hasattr(args, f.name), f"judge setting {f.name} has no flag"
