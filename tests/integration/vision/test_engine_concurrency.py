"""One `DlibFaceEngine` shared by many threads, as FastAPI's thread pool shares it.

dlib's HOG detector keeps scratch buffers in the detector object: two threads detecting at once
crashed the process (`double free or corruption`) within seconds. The stress runs in a child
process so that a crash is a failed test, not a dead test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
STRESS = Path(__file__).with_name("engine_stress.py")


def test_eight_threads_share_one_engine_without_crashing_or_diverging(images_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(STRESS), str(images_dir), "8", "50"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (
        f"stress child exited {done.returncode} (negative = killed by that signal)\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"calls": 400, "mismatches": []}
