"""`rlff-detectors COMMAND [ARGS]`: one console script over the detectors' command lines, which
also run as `python -m detectors.train`, `python -m detectors.report`, `python -m detectors.judge`
(the same arguments; `rlff-detectors COMMAND --help` lists them)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": ("detectors.train", "train the DCGAN realism critic"),
    "report": ("detectors.report", "score a critic on real vs fused crops (report.md, scores.png)"),
    "judge": ("detectors.judge", "train or score the independent realism judge (judge train|score)"),
}


def usage() -> str:
    lines = [f"  {name:<8}{text}" for name, (_, text) in COMMANDS.items()]
    return "usage: rlff-detectors {" + ",".join(COMMANDS) + "} [ARGS]\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return 0
    if not argv or argv[0] not in COMMANDS:
        given = f"unknown command {argv[0]!r}" if argv else "a command is required"
        print(f"{usage()}\nrlff-detectors: error: {given}", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[argv[0]][0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
