"""The notebook contract (CONTRIBUTING.md, from COURSE.md), checked on every notebook of the course."""

from __future__ import annotations

import ast
import json
import re
import sys

import nbformat
import pytest

from helpers.config import notebooks_dir, repo_root
from helpers.tools import generate

_URL = re.compile(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)")


def _read(path):
    return nbformat.read(path, as_version=4)


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_notebooks_are_numbered_once_each():
    names = sorted(p.name for p in notebooks_dir().glob("*.ipynb"))
    assert names, "no notebooks"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", n) for n in names), names
    numbers = [n[:2] for n in names]
    assert len(numbers) == len(set(numbers)), "two notebooks share a number"


def test_valid_nbformat(notebook_path):
    nbformat.validate(_read(notebook_path))


def test_outputs_and_execution_counts_are_stripped(notebook_path):
    raw = json.loads(notebook_path.read_text())
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"stored outputs in {notebook_path.name}"
            assert cell["execution_count"] is None
    assert "widgets" not in raw["metadata"]


def test_exactly_one_parameters_cell_of_literals(notebook_path):
    nb = _read(notebook_path)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    values = {}
    for stmt in ast.parse(tagged[0].source).body:
        assert isinstance(stmt, (ast.Assign, ast.AnnAssign)), ast.dump(stmt)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        assert all(isinstance(t, ast.Name) for t in targets)
        for target in targets:
            values[target.id] = ast.literal_eval(stmt.value)  # raises on anything computed
    assert "PROFILE" in values and values["PROFILE"] is None
    following = nb.cells[nb.cells.index(tagged[0]) + 1]
    assert "resolve_profile(PROFILE)" in following.source  # the profile is resolved right after


def test_first_code_cell_is_the_shared_setup_cell(notebook_path):
    assert _code(_read(notebook_path))[0].source == generate.SETUP_CELL


def test_colab_badge_points_at_this_notebook(notebook_path):
    intro = _read(notebook_path).cells[0]
    assert intro.cell_type == "markdown"
    urls = _URL.findall(intro.source)
    assert len(urls) == 1
    relative = notebook_path.relative_to(repo_root()).as_posix()
    assert urls[0].endswith(f"/blob/{generate.BRANCH}/{relative}")
    assert urls[0] == generate.colab_url(notebook_path)


def test_every_section_ends_in_an_assert(notebook_path):
    """Each numbered section ('## N ...') ends in a code cell whose last statement is an assert."""
    cells = _read(notebook_path).cells
    heads = [i for i, c in enumerate(cells)
             if c.cell_type == "markdown" and re.match(r"##\s+\d", c.source)]
    assert heads, "no numbered sections"
    ends = [*heads[1:], next((i for i, c in enumerate(cells) if i > heads[-1]
                               and c.cell_type == "markdown" and c.source.startswith("## ")),
                              len(cells))]
    for start, end in zip(heads, ends, strict=True):
        code = [c for c in cells[start:end] if c.cell_type == "code"]
        title = cells[start].source.splitlines()[0]
        assert code and isinstance(ast.parse(code[-1].source).body[-1], ast.Assert), title


def test_results_are_saved_under_the_notebook_profile(notebook_path):
    """``results.save`` is given the notebook's PROFILE: without it the profile comes from the
    environment, and a ``make course PROFILE=smoke`` run would overwrite the committed cpu results."""
    for cell in _code(_read(notebook_path)):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "results.save":
                given = [ast.unparse(a) for a in node.args[3:]] + [
                    ast.unparse(k.value) for k in node.keywords if k.arg == "profile"]
                assert given == ["PROFILE"], ast.unparse(node)


def test_generated_parts_are_up_to_date():
    assert generate.stale_files(write=False) == [], "run `python -m helpers.tools.generate`"


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    import subprocess

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("setup ran a command"))
    exec(generate.SETUP_CELL, {})


def test_setup_cell_in_colab_installs_the_course_but_not_torch(monkeypatch):
    import os
    import subprocess
    import types

    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd))
    monkeypatch.setattr(os.path, "isdir", lambda p: False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    # a copy of the environment, without COURSE_ROOT, that the cell may change: the real one is untouched
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k != "COURSE_ROOT"})
    exec(generate.SETUP_CELL, {})
    assert os.environ["COURSE_ROOT"] == calls[0][-1]  # the clone's folder
    clone, install = calls
    assert clone[:2] == ["git", "clone"] and f"https://github.com/{generate.REPOSITORY}" in clone
    assert install[1:4] == ["-m", "pip", "install"] and clone[-1] == install[-1]
    assert not any("torch" in part for part in install)
    assert sys.path[0] == clone[-1]


def test_the_contract_is_written_down_where_this_test_points():
    text = (repo_root() / "CONTRIBUTING.md").read_text()
    for part in ("## The notebook contract", "`parameters`", "assert", "helpers/stats.py", "results/",
                 "## Where a change goes"):
        assert part in text, f"CONTRIBUTING.md lacks {part!r}"
