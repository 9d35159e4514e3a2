"""Keep mediapipe's native log lines (`W0000 ... inference_feedback_manager.cc`, `INFO: Created
TensorFlow Lite XNNPACK delegate for CPU.`) off the terminal.

mediapipe 0.10.21 logs through absl (C++) before `absl::InitializeLog()`, and such messages go
to stderr whatever `GLOG_minloglevel`, `TF_CPP_MIN_LOG_LEVEL`, `GLOG_stderrthreshold` or
absl-py's verbosity say (all tried: no line fewer); its absl symbols are not exported, so the
level cannot be set from Python either. `quiet()` therefore sends file descriptor 2 through a
small filter process that drops exactly those INFO/WARNING lines. Errors, and everything
Python writes (tracebacks, warnings, tqdm bars), pass through unchanged; a process rather than
a thread, so nothing is lost when the caller dies. `RLFF_NATIVE_LOGS=1` keeps the lines.

This file is also the filter (run as a script: standard library only).
"""

from __future__ import annotations

import os
import re
import select
import signal
import sys

# absl writes a line at once; TFLite writes "INFO: ", its message and "\n" apart, so a progress
# bar (which starts with "\r") can land between the pieces.
NOISE = re.compile(
    rb"[IW]0000 00:00:\d+\.\d+ +\d+ [\w.]+:\d+\] [^\n]*\n"
    rb"|INFO: (?=Created TensorFlow Lite|\r)|Created TensorFlow Lite XNNPACK delegate for CPU\.\n?"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\n"
)
STARTS = (b"I0000 ", b"W0000 ", b"INFO: ", b"Created TensorFlow Lite XNNPACK", b"WARNING: All log messages before absl")
HOLD_S = 0.2  # a held-back partial line that has not become a noise line by then is passed on

_filter = None  # the filter process, once started


def quiet() -> None:
    """Filter this process's (and its future children's) stderr; call before mediapipe's first
    graph. Idempotent; a no-op with RLFF_NATIVE_LOGS=1."""
    global _filter
    if _filter is not None or os.environ.get("RLFF_NATIVE_LOGS") == "1":
        return
    import atexit
    import subprocess

    sys.stderr.flush()
    read, write = os.pipe()
    terminal = os.dup(2)
    _filter = subprocess.Popen([sys.executable, "-S", os.path.abspath(__file__)], stdin=read, stdout=terminal)
    os.close(read)
    os.dup2(write, 2)
    os.close(write)
    ours = os.fstat(2).st_ino

    def restore() -> None:  # at exit: close our end so the filter drains and ends before the prompt
        sys.stderr.flush()
        if os.fstat(2).st_ino != ours:  # fd 2 was pointed elsewhere since (e.g. pytest's capture)
            return
        os.dup2(terminal, 2)
        try:
            _filter.wait(timeout=2)
        except subprocess.TimeoutExpired:  # a child still holds the pipe: the filter serves it on
            pass

    atexit.register(restore)


def kept(buf: bytes) -> int:
    """How much of `buf` (noise already removed) can be passed on now: all but a last line
    that may still become a noise line (its start has come, its newline not yet)."""
    line = buf.rfind(b"\n") + 1
    cut = len(buf)
    for start in STARTS:
        i = buf.find(start, line)
        if i >= 0:
            cut = min(cut, i)
        for k in range(min(len(start) - 1, len(buf) - line), 0, -1):  # a start cut off at the end
            if buf.endswith(start[:k]):
                cut = min(cut, len(buf) - k)
                break
    return cut


def _write(data: bytes) -> None:
    while data:
        data = data[os.write(1, data) :]


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the caller; we end at EOF
    buf = b""
    while True:
        if not select.select([0], [], [], HOLD_S if buf else None)[0]:
            _write(buf)  # held long enough: not a noise line after all
            buf = b""
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            _write(NOISE.sub(b"", buf))
            return
        buf = NOISE.sub(b"", buf + chunk)
        cut = kept(buf)
        _write(buf[:cut])
        buf = buf[cut:]


if __name__ == "__main__":
    main()
