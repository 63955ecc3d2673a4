"""A lock between processes: the tasks of a job array (notebook 07) that share ``runs/`` on one disk.

    with exclusive(Path("runs/cpu/07_fid_analysis/classifier.lock")):
        ...  # one process at a time
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(lock_path: Path, timeout: float = 6 * 3600.0, poll: float = 1.0) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock_path`` (created if missing) for the ``with`` block:
    another process that asks for the same lock waits until it is released. For the tasks of a job
    array that start at once and would otherwise train the same run into the same folder, or rewrite
    the same figure manifest.

    A POSIX record lock (``fcntl.lockf``): it is released when its holder exits, even killed, so no
    stale lock remains, and NFS passes it to the server. Raises ``TimeoutError`` after ``timeout``
    seconds of waiting. Where ``fcntl`` does not exist (Windows) no lock is taken: one machine, one
    notebook at a time."""
    try:
        import fcntl
    except ImportError:  # Windows: no job arrays over a shared folder there
        yield
        return
    for name, value in (("timeout", timeout), ("poll", poll)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds; got {value!r}")
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"waited {timeout:g} s for the lock {lock_path}, which another "
                                       "process holds; is a task of the job array stuck?") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
