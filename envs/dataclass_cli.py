"""Command-line flags derived from a dataclass (CleanRL's `Args`, with argparse): each field is
declared once with its default and help text, and the parser follows. Used by train.py
(`agents.options`) and the detector CLIs, so settings, flags and defaults cannot drift apart."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any


def option(
    default: Any = None,
    help: str | None = None,
    *,
    flag: str | None = None,
    meta: dict | None = None,
    **argparse_kwargs,
):
    """A dataclass field that is also a flag. `help=None`: no flag (API only). `flag` renames
    it (a True switch needs one, e.g. "--no-progress"); `argparse_kwargs` are extra add_argument
    keywords (choices, nargs, metavar, action, and `cli_default` where the command line's
    default has another form than the field's, e.g. [] of KEY=VALUE items for a dict)."""
    metadata = {"help": help, "flag": flag, "argparse": argparse_kwargs, **(meta or {})}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_of(cls: type, name: str) -> str:
    """The flag of field `name` of dataclass `cls` (for error messages)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.metadata.get("flag") or "--" + name.replace("_", "-")


def is_flag(f: dataclasses.Field) -> bool:
    return f.metadata.get("help") is not None


def _scalar_type(annotation) -> Any:
    """int for `int | None`, and so on."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of `cls` that has a help text, in field order (`skip`: fields a
    command does not offer)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not is_flag(f) or f.name in skip:
            continue
        extra = dict(f.metadata["argparse"])
        default = extra.pop("cli_default", f.default)
        kind = _scalar_type(hints[f.name])
        flag = flag_of(cls, f.name)
        if kind is bool:  # a switch: --dry-run turns a False default on, --no-progress a True one off
            if default and flag == "--" + f.name.replace("_", "-"):
                raise TypeError(f"{cls.__name__}.{f.name}: a True switch needs a flag such as --no-...")
            action = "store_false" if default else "store_true"
            parser.add_argument(flag, dest=f.name, action=action, help=f.metadata["help"])
            continue
        if extra.get("action", "store") in ("store", "append"):
            extra.setdefault("type", str if kind is dict else kind)
            extra.setdefault("metavar", flag.lstrip("-").replace("-", "_").upper())
        parser.add_argument(flag, dest=f.name, default=default, help=f.metadata["help"], **extra)


def from_args(cls: type, args: argparse.Namespace, **overrides):
    """An instance of `cls` from parsed arguments (fields without a flag keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows a default only where there is one to show (not None, [] or a switch's bool); keeps
    the module docstring's layout as the description."""

    def _get_help_string(self, action):
        if action.default in (None, []) or isinstance(action.default, bool) or action.help is None:
            return action.help
        return super()._get_help_string(action)
