"""helpers.locks: one process at a time inside the lock, a clear time-out, checked arguments."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.locks import exclusive

ROOT = Path(__file__).resolve().parents[1]

_HOLD = """
import sys, time
from pathlib import Path
from helpers.locks import exclusive
lock, log, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
with exclusive(lock, poll=0.02):
    began = time.time()
    time.sleep(hold)
    with open(log, "a") as f:
        f.write(f"{began} {time.time()}\\n")
"""


def _python(code, *args):
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT)


def test_exclusive_lets_one_process_in_at_a_time_and_times_out(tmp_path):
    lock, log = tmp_path / "shared" / "x.lock", tmp_path / "log.txt"
    workers = [_python(_HOLD, lock, log, 0.6) for _ in range(3)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    spans = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines())
    assert len(spans) == 3
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))  # one inside
    holder = _python(_HOLD, lock, tmp_path / "other.txt", 5.0)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # wait until the holder has the lock
            try:
                with exclusive(lock, timeout=0.05, poll=0.01):
                    pass
                time.sleep(0.05)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError, match="another process holds"):
            with exclusive(lock, timeout=0.3, poll=0.05):
                pass
    finally:
        holder.wait(timeout=120)
    with exclusive(lock, timeout=1.0):  # released when its holder is done
        pass
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        with exclusive(lock, timeout=0):
            pass
