"""envs.faces.native_logs: mediapipe's C++ log lines are dropped, everything else on stderr kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from envs.faces import native_logs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABSL = b"W0000 00:00:1795432955.998131   18903 inference_feedback_manager.cc:114] Feedback manager.\n"
TFLITE = (b"INFO: ", b"Created TensorFlow Lite XNNPACK delegate for CPU.", b"\n")  # three writes


@pytest.mark.parametrize("apart", [False, True])
def test_filter_drops_native_lines_and_keeps_the_rest(apart):
    """Pieces as they reach stderr (True: native noise), bar updates landing inside TFLite's
    line; written at once or one piece at a time (the filter holds a line that may be noise)."""
    pieces = [
        (ABSL, True),
        (b"\rfaces:  25%|##  | 4/16", False),
        (ABSL, True),
        (TFLITE[0], True),
        (b"\rfaces:  50%|#### | 8/16", False),
        (TFLITE[1] + TFLITE[2], True),
        (b"\n", False),
        (b"Traceback: kept\n", False),
        (b"INFO:root:python logging kept\n", False),
        (b"E0000 00:00:1.5 12 x.cc:1] native error kept\n", False),
        (b"".join(TFLITE), True),
    ]
    proc = subprocess.Popen([sys.executable, native_logs.__file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for piece, _ in pieces if apart else [(b"".join(p for p, _ in pieces), None)]:
        proc.stdin.write(piece)
        proc.stdin.flush()
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=30)
    assert out == b"".join(p for p, noise in pieces if not noise)


def test_a_partial_line_is_held_only_while_it_may_become_a_native_line():
    assert native_logs.kept(b"done\nW0000 00:00:1.2   3 a.cc:1] no newline yet") == 5
    assert native_logs.kept(b"\rfaces: 25%|W00") == len(b"\rfaces: 25%|")
    assert native_logs.kept(b"\rfaces: 25%|") == len(b"\rfaces: 25%|")


def test_mediapipe_run_leaves_only_python_output_on_stderr():
    script = (
        "import sys, warnings\nfrom tqdm import tqdm\nfrom envs.faces import load_faces\n"
        "from envs.faces.detect import MediapipeDetector\n"
        "faces = load_faces('default')\nd = MediapipeDetector()\n"
        "found = [d.detect(faces.images[i]) is not None for i in tqdm(range(3), desc='bar')]\n"
        "warnings.warn('python warning')\nprint(found)\n"
    )
    env = {**os.environ, "RLFF_NATIVE_LOGS": "0"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "True" in out.stdout  # the graph really ran
    assert "W0000" not in out.stderr and "XNNPACK" not in out.stderr, out.stderr
    assert "UserWarning: python warning" in out.stderr and "bar: 100%" in out.stderr
