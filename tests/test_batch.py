"""The batch runner, on small notebooks made here: it runs them in order, stops at the first
failure naming the notebook and the cell, and resumes."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from helpers import batch


def _notebook(path, *sources):
    params = nbformat.v4.new_code_cell('PROFILE = None  # profile name')
    params.metadata["tags"] = ["parameters"]
    cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "helpers.batch", "--no-progress", *args],
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


def test_an_interrupted_run_keeps_finished_notebooks_and_says_how_to_resume(folder):
    import signal
    import time

    src, out = folder / "notebooks", folder / "out"
    started = folder / "slow-cell-started"
    # now slow, not broken; the cell says when it has started, so the interrupt lands inside it
    _notebook(src / "02_broken.ipynb", "import pathlib, time",
              f"pathlib.Path({str(started)!r}).touch()\ntime.sleep(120)")
    run = subprocess.Popen(
        [sys.executable, "-m", "helpers.batch", "--no-progress", "--profile", "smoke",
         "--notebooks", str(src), "--output", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 240
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started.exists(), "the slow cell never started"
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == batch.EXIT_INTERRUPTED
    assert "Interrupted in 02_broken.ipynb" in stderr and "--resume" in stderr
    assert batch.is_complete(src / "01_fine.ipynb", out / "01_fine.ipynb", "smoke")
    assert not batch.is_complete(src / "02_broken.ipynb", out / "02_broken.ipynb", "smoke")


def test_a_bad_profile_in_the_environment_is_a_usage_error(folder, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    result = _run("--notebooks", str(folder / "notebooks"))
    assert result.returncode == 2
    assert "$COURSE_PROFILE must be one of 'smoke', 'cpu', 'full'; got 'gpu'" in result.stderr
