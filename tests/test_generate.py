from __future__ import annotations

import shutil

import nbformat
import pytest

from helpers import config, generate


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A copy of the course's notebooks and README in a scratch root."""
    (tmp_path / "helpers").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    shutil.copytree(config.notebooks_dir(), tmp_path / "notebooks")
    shutil.copy(config.repo_root() / "README.md", tmp_path / "README.md")
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path))
    return tmp_path


def test_a_wrong_badge_or_setup_cell_is_found_and_rewritten(course):
    path = sorted((course / "notebooks").glob("*.ipynb"))[0]
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace(path.name, "00_elsewhere.ipynb")
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source = "import os"
    nbformat.write(nb, path)
    assert generate.stale_files(write=False) == [path]
    assert generate.main(["--check"]) == 1
    assert generate.stale_files(write=True) == [path]
    assert generate.stale_files(write=False) == []
    fixed = nbformat.read(path, as_version=4)
    assert generate.colab_url(path) in fixed.cells[0].source
    assert next(c for c in fixed.cells if c.cell_type == "code").source == generate.SETUP_CELL


def test_readme_table_lists_every_notebook_with_its_badge(course):
    new = course / "notebooks" / "02_extra.ipynb"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 02 · Extra\n*A one-line summary.*\n\nText."),
        nbformat.v4.new_code_cell("x = 1"),
    ])
    nbformat.write(nb, new)
    stale = generate.stale_files(write=True)
    assert course / "README.md" in stale and new in stale
    readme = (course / "README.md").read_text()
    assert "| 02 | [Extra](notebooks/02_extra.ipynb) | A one-line summary. |" in readme
    assert generate.colab_url(new) in readme
    assert generate.colab_url(new) in nbformat.read(new, as_version=4).cells[0].source


def test_notebook_without_summary_is_refused(course):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 02 · No summary")])
    nbformat.write(nb, course / "notebooks" / "02_bad.ipynb")
    with pytest.raises(ValueError, match="02_bad.ipynb.*summary"):
        generate.stale_files(write=False)
