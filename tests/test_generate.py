from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from helpers import config, results
from helpers.tools import generate


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A copy of the course's notebooks and README in a scratch root."""
    (tmp_path / "helpers").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    shutil.copytree(config.notebooks_dir(), tmp_path / "notebooks")
    shutil.copy(config.repo_root() / "README.md", tmp_path / "README.md")
    if (config.repo_root() / "results").is_dir():
        shutil.copytree(config.repo_root() / "results", tmp_path / "results")
    shutil.copytree(config.repo_root() / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
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


def test_the_readme_agrees_with_the_committed_results():
    """Every generated part of the real README, the result paragraphs included, is what the committed
    results give: a number in a result paragraph that no run wrote fails here."""
    readme = (config.repo_root() / "README.md").read_text()
    for notebook in generate.RESULT_SUMMARIES:
        start, end = generate.result_markers(notebook)
        assert start in readme and end in readme, f"README.md lacks the result markers of {notebook}"
    assert generate.stale_files(write=False) == []


def test_a_result_paragraph_follows_its_results(course):
    start, end = generate.result_markers("04_el_vae")
    readme = course / "README.md"
    text = readme.read_text()
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(f"{head}{start}\nNotebook 04: a number nobody measured, 0.999.\n{end}{tail}")
    assert generate.stale_files(write=False) == [readme]
    generate.stale_files(write=True)
    assert "0.999" not in readme.read_text().split(start, 1)[1].split(end, 1)[0]
    assert generate.stale_files(write=False) == []


@pytest.mark.parametrize("name", sorted(generate.BENCHMARK_RESULTS))
def test_the_readme_benchmark_tables_are_the_benchmarks_own_output(name):
    """The README's speed, precision and FD-speed tables are the committed --markdown files, verbatim,
    and each states its machine, thread count, torch version and date."""
    readme = (config.repo_root() / "README.md").read_text()
    start, end = generate.benchmark_markers(name)
    assert start in readme and end in readme, f"README.md lacks the markers of {name}"
    block = readme.split(start, 1)[1].split(end, 1)[0].strip("\n")
    committed = (config.repo_root() / generate.BENCHMARK_RESULTS[name]).read_text().strip("\n")
    assert block == committed
    assert block.startswith("Measured on ") and " thread" in block and "torch " in block
    assert re.search(r", 20\d\d-\d\d-\d\d\.", block.splitlines()[0])


def test_a_benchmark_table_follows_its_file_and_is_never_rerun(course):
    path = course / generate.BENCHMARK_RESULTS["ssim_speed"]
    path.write_text("Measured on a test machine, 1 CPU thread, torch 0, 2000-01-01.\n\n| a |\n")
    readme = course / "README.md"
    assert generate.stale_files(write=False) == [readme]
    generate.stale_files(write=True)
    assert "| a |\n<!-- bench:ssim_speed:end -->" in readme.read_text()
    path.unlink()
    with pytest.raises(FileNotFoundError, match="benchmarks/results/ssim_speed.md is missing"):
        generate.stale_files(write=False)


def test_a_result_paragraph_says_what_its_replication_kept(course):
    folder = course / "results" / "04_el_vae"
    text = generate.render_results("04_el_vae")
    found = results.compare("04_el_vae", results.load("04_el_vae", "runs"),
                            results.load("04_el_vae", "replication"))
    changed = found.verdicts_changed
    kept = found.claims - len(changed)
    assert f" {kept} of {found.claims} verdicts the same; " in text
    assert text.endswith(" are read as unresolved.")
    assert all(f"{name}: {a} → {b}" in text for name, (a, b) in changed.items())  # few and short: named
    many = generate.render_results("06_overfitting")
    assert many.endswith("(named in the replication table below) are read as unresolved.")
    assert generate.render_results("07_fid_analysis").endswith("change from one run to the other.")
    (folder / "replication.json").unlink()
    alone = generate.render_results("04_el_vae")
    assert text.startswith(alone) and "Rerun" not in alone


def test_the_replication_table_leaves_out_what_each_run_measures_anew(course):
    table = generate.render_replication()
    row = next(line for line in table.splitlines() if line.startswith("| 07_fid_analysis "))
    assert "timing/" not in row  # step times are measured anew: left out of the numbers compared
    first, second, found = generate.replication("07_fid_analysis")
    every = results.compare("07_fid_analysis", first, second)
    assert found.numbers < every.numbers and found.verdicts_changed == every.verdicts_changed
    assert f"| {found.numbers} | {found.median_move:.2%} |" in row
