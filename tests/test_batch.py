"""The batch runner, on small notebooks made here: it runs them in order, stops at the first
failure naming the notebook and the cell, and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from helpers.tools import batch


def _notebook(path, *sources):
    params = nbformat.v4.new_code_cell('PROFILE = None  # profile name')
    params.metadata["tags"] = ["parameters"]
    cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "helpers.tools.batch", "--no-progress", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    _notebook(src / "01_fine.ipynb", "value = 6 * 7", "assert value == 42")
    _notebook(src / "02_broken.ipynb", "x = 1", 'assert x == 2, "x is not 2"', "print('unreached')")
    _notebook(src / "03_later.ipynb", "print('later')")
    return tmp_path


def test_find_notebooks_in_order_and_by_prefix(folder):
    src = folder / "notebooks"
    names = [p.name for p in batch.find_notebooks(src)]
    assert names == ["01_fine.ipynb", "02_broken.ipynb", "03_later.ipynb"]
    assert [p.name for p in batch.find_notebooks(src, ["03", "01"])] == ["01_fine.ipynb", "03_later.ipynb"]
    with pytest.raises(ValueError, match="'99'.*01_fine"):
        batch.find_notebooks(src, ["99"])


def test_a_failing_cell_stops_the_run_and_is_named(folder):
    out = folder / "out"
    result = _run("--profile", "smoke", "--notebooks", str(folder / "notebooks"), "--output", str(out))
    assert result.returncode == batch.EXIT_FAILED
    named = """02_broken.ipynb failed at cell 4 (execution count 4: 'assert x == 2, "x is not 2"')"""
    assert named in result.stderr
    assert "AssertionError: x is not 2" in result.stderr
    assert (out / "01_fine.ipynb").exists() and (out / "02_broken.ipynb").exists()
    assert not (out / "03_later.ipynb").exists()  # stopped at the first failure
    ran = nbformat.read(out / "01_fine.ipynb", as_version=4)
    assert ran.metadata.papermill.parameters == {"PROFILE": "smoke"}
    assert batch.is_complete(folder / "notebooks" / "01_fine.ipynb", out / "01_fine.ipynb", "smoke")
    assert not batch.is_complete(folder / "notebooks" / "02_broken.ipynb", out / "02_broken.ipynb", "smoke")
    assert not batch.is_complete(folder / "notebooks" / "01_fine.ipynb", out / "01_fine.ipynb", "cpu")


def test_resume_skips_finished_notebooks_and_reports_where_results_are(folder):
    out = folder / "out"
    first = _run("--profile", "smoke", "--notebooks", str(folder / "notebooks"), "--output", str(out),
                 "--only", "01")
    assert first.returncode == 0, first.stderr
    assert f"Executed notebooks: {out}" in first.stdout
    again = _run("--profile", "smoke", "--notebooks", str(folder / "notebooks"), "--output", str(out),
                 "--only", "01", "03", "--resume")
    assert again.returncode == 0, again.stderr
    assert "01_fine: already complete, skipped" in again.stdout
    assert "[2/2] 03_later" in again.stdout and (out / "03_later.ipynb").exists()


def test_unknown_prefix_is_a_usage_error(folder):
    result = _run("--profile", "smoke", "--notebooks", str(folder / "notebooks"), "--only", "7")
    assert result.returncode == 2
    assert "matches no notebook" in result.stderr


def _assert_ends(pid, within=10):
    """Assert that process ``pid`` ends, and is reaped, within ``within`` seconds (a zombie still
    answers ``os.kill(pid, 0)``, so it does not count); kill it when it does not."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        state = next(line for line in status if line.startswith("State:"))  # 'Z (zombie)': not reaped
    except (OSError, StopIteration):
        state = "state unknown"
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"process {pid} outlived the run ({state})")


def _interrupt_in_slow_cell(folder, slow_cell, deliver, ignored_on_start=False):
    """Run the folder's notebooks with 02 made slow, send the runner SIGINT once the slow cell runs
    (``deliver``: to its process group, as a terminal's Ctrl-C, or to its pid only) and return the
    exit code, stdout, stderr and the pid of 02's kernel. The slow cell first writes the kernel's pid
    to a file, then runs ``slow_cell``, so the interrupt lands inside it. With ``ignored_on_start``,
    the runner starts with SIGINT ignored."""
    src, out = folder / "notebooks", folder / "out"
    started = folder / "slow-cell-started"
    # written then renamed, so that the file is never seen empty
    announce = (f"pid_file = pathlib.Path({str(started)!r})\n"
                "pid_file.with_suffix('.tmp').write_text(str(os.getpid()))\n"
                "pid_file.with_suffix('.tmp').rename(pid_file)\n")
    _notebook(src / "02_broken.ipynb", "import os, pathlib, time", announce + slow_cell)
    stdout_path, stderr_path = folder / "stdout.txt", folder / "stderr.txt"
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        # files, not pipes: a pipe would also wait for any process that outlives the runner
        run = subprocess.Popen(
            [sys.executable, "-m", "helpers.tools.batch", "--no-progress", "--profile", "smoke",
             "--notebooks", str(src), "--output", str(out)],
            stdout=stdout, stderr=stderr, start_new_session=True,
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored_on_start else None,
        )
    try:
        deadline = time.monotonic() + 240
        while not started.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), f"the slow cell never started:\n{stderr_path.read_text()}"
        kernel = int(started.read_text())
        time.sleep(0.5)
        if deliver == "process group":
            os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        else:
            os.kill(run.pid, signal.SIGINT)
        run.wait(timeout=120)
        return run.returncode, stdout_path.read_text(), stderr_path.read_text(), kernel
    finally:  # leave nothing running when an assertion fails
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


@pytest.mark.parametrize("deliver, ignored", [
    ("process group", False),
    ("runner only", False),
    # as for a background job of a non-interactive shell (a test run in the background, say), where
    # Python leaves SIGINT ignored: the slow cell would sleep on and 03 would start
    ("process group", True),
], ids=["process group", "runner only", "ignored on start"])
def test_an_interrupted_run_keeps_finished_notebooks_and_says_how_to_resume(folder, deliver, ignored):
    src, out = folder / "notebooks", folder / "out"
    returncode, stdout, stderr, kernel = _interrupt_in_slow_cell(folder, "time.sleep(120)", deliver, ignored)
    try:
        assert returncode == batch.EXIT_INTERRUPTED, stderr
        assert "Interrupted in 02_broken.ipynb" in stderr, stderr
        assert "--resume" in stderr and "make course RESUME=1" in stderr
        assert batch.is_complete(src / "01_fine.ipynb", out / "01_fine.ipynb", "smoke")
        assert not batch.is_complete(src / "02_broken.ipynb", out / "02_broken.ipynb", "smoke")
        assert "[3/3]" not in stdout and not (out / "03_later.ipynb").exists()  # never started
    finally:
        _assert_ends(kernel)  # 02's kernel


def test_a_notebook_that_catches_the_interrupt_is_not_counted_complete(folder):
    # a cell that stops early on Ctrl-C, as a training loop may: it ends without an error, and papermill
    # marks every cell 'completed'
    slow_cell = "try:\n    time.sleep(120)\nexcept KeyboardInterrupt:\n    print('stopped early')"
    src, out = folder / "notebooks", folder / "out"
    returncode, stdout, stderr, kernel = _interrupt_in_slow_cell(folder, slow_cell, "process group")
    try:
        assert returncode == batch.EXIT_INTERRUPTED, stderr
        assert "Interrupted in 02_broken.ipynb" in stderr
        assert not batch.is_complete(src / "02_broken.ipynb", out / "02_broken.ipynb", "smoke")
        assert "[3/3]" not in stdout and not (out / "03_later.ipynb").exists()
    finally:
        _assert_ends(kernel)  # 02's kernel


def test_a_notebook_whose_kernel_died_is_not_counted_complete(folder):
    src, out = folder / "notebooks", folder / "out"
    _notebook(src / "02_broken.ipynb", "import os, signal", "os.kill(os.getpid(), signal.SIGKILL)", "x = 1")
    result = _run("--profile", "smoke", "--notebooks", str(src), "--output", str(out))
    assert result.returncode == batch.EXIT_FAILED
    assert "DeadKernelError" in result.stderr
    assert not (out / "03_later.ipynb").exists()
    assert batch.is_complete(src / "01_fine.ipynb", out / "01_fine.ipynb", "smoke")
    # papermill writes it with every cell marked 'completed'
    assert not batch.is_complete(src / "02_broken.ipynb", out / "02_broken.ipynb", "smoke")


def test_a_bad_profile_in_the_environment_is_a_usage_error(folder, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "tpu")
    result = _run("--notebooks", str(folder / "notebooks"))
    assert result.returncode == 2
    assert "$COURSE_PROFILE must be one of 'smoke', 'cpu', 'gpu', 'full'; got 'tpu'" in result.stderr
