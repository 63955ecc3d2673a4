"""The parts of the notebooks and the README that must never drift, written from one place.

- the "Open in Colab" badge in each notebook's first cell, pointing at that notebook's own path;
- the setup cell, the same text in every notebook (its first code cell);
- the README's table of notebooks, between ``<!-- notebooks:start -->`` and ``<!-- notebooks:end -->``;
- the README's result paragraph of each training notebook, between ``<!-- results:NAME:start -->`` and
  ``<!-- results:NAME:end -->``, written from the per-run measurements its ``cpu`` run committed under
  ``results/NAME/`` (:mod:`helpers.results`) by the function :data:`RESULT_SUMMARIES` names;
- the README's benchmark tables, between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``,
  copied from the Markdown a benchmark wrote with ``--markdown`` (:data:`BENCHMARK_RESULTS`): the
  benchmarks are not re-run here, their last committed output is placed.

    python -m helpers.tools.generate           # rewrite whatever is out of date
    python -m helpers.tools.generate --check   # exit 1 and name what is out of date (the tests do this)

A notebook's first cell is: a ``# NN · Title`` line, the badge line, an italic one-line summary
(``*...*``, used in the README's table), then its introduction.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

import nbformat

from helpers import results
from helpers.config import course_notebooks, repo_root

REPOSITORY = "ssim-course/ssim-course"  # owner/name on GitHub; a fork changes it here only
BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
TABLE_START, TABLE_END = "<!-- notebooks:start -->", "<!-- notebooks:end -->"

SETUP_CELL = f"""\
# Setup, the same in every notebook. In Colab: fetch the course and install its helpers; Colab's
# own torch is kept (the package asks only for a lower bound). Anywhere else this does nothing:
# `make course`, `make test` or `pip install -e .` has installed the helpers already.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    COURSE_DIR = "/content/ssim-course"
    if not os.path.isdir(COURSE_DIR):
        subprocess.run(["git", "clone", "--depth=1", "--branch={BRANCH}",
                        "https://github.com/{REPOSITORY}", COURSE_DIR], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", COURSE_DIR], check=True)
    sys.path.insert(0, COURSE_DIR)
    os.environ.setdefault("COURSE_ROOT", COURSE_DIR)"""

#: notebook -> "module:function" that turns its committed results' ``data`` into the README's paragraph
RESULT_SUMMARIES = {
    "04_el_vae": "helpers.experiments.vae:el_vae_summary",
    "05_cvae": "helpers.experiments.vae:cvae_summary",
    "06_overfitting": "helpers.experiments.overfitting:readme_summary",
    "07_fid_analysis": "helpers.experiments.vqvae:readme_summary",
}
#: notebook -> the function that words what both runs kept of a result its verdicts do not record
#: (07: the write-up's pairwise orders), given the reference's and the replication's data
REPLICATION_NOTES = {"07_fid_analysis": "helpers.experiments.vqvae:replicated_orders"}
#: notebook -> the keys of its record measured anew on every run (step times), which a replication is
#: not expected to reproduce: left out of the numbers compared, their verdicts still compared
REMEASURED = {"07_fid_analysis": ("timing",)}

_BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*\)\]\(.*\)$", re.MULTILINE)
_TITLE = re.compile(r"^#\s+(.+)$", re.MULTILINE)
_SUMMARY = re.compile(r"^\*([^*].*[^*])\*$", re.MULTILINE)


def colab_url(notebook: Path) -> str:
    """The Colab address of ``notebook`` (a path inside the repository) on :data:`BRANCH`."""
    relative = notebook.resolve().relative_to(repo_root()).as_posix()
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{relative}"


def badge(notebook: Path) -> str:
    """The Markdown "Open in Colab" badge for ``notebook``."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook)})"


def _intro(nb: nbformat.NotebookNode, path: Path) -> str:
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        raise ValueError(f"{path.name}: the first cell must be Markdown (title, badge, summary)")
    return nb.cells[0].source


def title_and_summary(path: Path) -> tuple[str, str]:
    """The title (without ``NN ·``) and the one-line summary of a notebook's first cell."""
    intro = _intro(nbformat.read(path, as_version=4), path)
    title, summary = _TITLE.search(intro), _SUMMARY.search(intro)
    if title is None or summary is None:
        raise ValueError(f"{path.name}: the first cell needs a '# NN · Title' line and a '*summary*' line")
    return re.sub(r"^\d\d\s*·\s*", "", title.group(1).strip()), summary.group(1).strip()


def render_notebook(path: Path) -> str:
    """The notebook's JSON text with its badge and setup cell as they should be."""
    nb = nbformat.read(path, as_version=4)
    intro = _intro(nb, path)
    line = badge(path)
    if _BADGE_LINE.search(intro):
        intro = _BADGE_LINE.sub(lambda _: line, intro, count=1)
    else:  # put it right under the title
        head, _, rest = intro.partition("\n")
        intro = f"{head}\n{line}\n{rest}"
    nb.cells[0].source = intro
    code = [c for c in nb.cells if c.cell_type == "code"]
    if code:
        code[0].source = SETUP_CELL
    else:
        nb.cells.insert(1, nbformat.v4.new_code_cell(SETUP_CELL))
    return nbformat.writes(nb) + "\n"


def render_table(notebooks: list[Path]) -> str:
    """The README's Markdown table of ``notebooks``: number, title, what it shows, badge."""
    rows = ["| # | notebook | what it shows | |", "|---|---|---|---|"]
    for path in notebooks:
        title, summary = title_and_summary(path)
        relative = path.resolve().relative_to(repo_root()).as_posix()
        rows.append(f"| {path.name[:2]} | [{title}]({relative}) | {summary} | {badge(path)} |")
    return "\n".join(rows)


def _replace_between(text: str, start: str, end: str, content: str) -> str:
    if start not in text or end not in text:
        raise ValueError(f"README.md must hold the markers {start} and {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}\n{end}{tail}"


def result_markers(notebook: str) -> tuple[str, str]:
    """The README's markers around ``notebook``'s generated result paragraph."""
    return f"<!-- results:{notebook}:start -->", f"<!-- results:{notebook}:end -->"


def _function(path: str):
    """The function that ``"package.module:name"`` names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def replication(notebook: str) -> tuple[dict, dict, results.Replication] | None:
    """``notebook``'s committed reference record, its replication and the two compared (step times left
    out, :data:`REMEASURED`); None where no ``replication.json`` is committed."""
    reference = results.load(notebook, "runs")
    try:
        again = results.load(notebook, "replication")
    except FileNotFoundError:
        return None
    return reference, again, results.compare(notebook, reference, again, REMEASURED.get(notebook, ()))


def render_results(notebook: str) -> str:
    """``notebook``'s result paragraph, from its committed ``results/<notebook>/runs.json``; where a
    ``replication.json`` is committed too, a last sentence says how many verdicts the rerun kept and
    names the changed ones (read as unresolved) when they are few and short."""
    text = _function(RESULT_SUMMARIES[notebook])(results.load(notebook, "runs")["data"])
    found = replication(notebook)
    if found is None:
        return text
    reference, again, compared = found
    changed = compared.verdicts_changed
    if not changed:
        moved = "none changed"
    elif len(changed) <= 8 and all(len(name) <= 40 for name in changed):
        named = "; ".join(f"{name}: {a} → {b}" for name, (a, b) in changed.items())
        moved = f"the {len(changed)} that changed ({named}) are read as unresolved"
    else:
        moved = (f"the {len(changed)} that changed (named in the replication table below) are read as "
                 "unresolved")
    text += (f" Rerun from scratch with {again['environment']['threads']} threads: "
             f"{compared.claims - len(changed)} of {compared.claims} verdicts the same; {moved}.")
    if notebook in REPLICATION_NOTES:
        text += " " + _function(REPLICATION_NOTES[notebook])(reference["data"], again["data"])
    return text


REPLICATION_START, REPLICATION_END = "<!-- replication:start -->", "<!-- replication:end -->"

#: benchmark -> the Markdown file its ``--markdown`` run wrote (relative to the repository's root)
BENCHMARK_RESULTS = {
    "ssim_speed": "benchmarks/results/ssim_speed.md",
    "ssim_precision": "benchmarks/results/ssim_precision.md",
    "fid_speed": "benchmarks/results/fid_speed.md",
}


def benchmark_markers(name: str) -> tuple[str, str]:
    """The README's markers around benchmark ``name``'s table."""
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def render_benchmark(name: str) -> str:
    """Benchmark ``name``'s committed Markdown (:data:`BENCHMARK_RESULTS`), without its final newline."""
    path = repo_root() / BENCHMARK_RESULTS[name]
    if not path.is_file():
        raise FileNotFoundError(f"{BENCHMARK_RESULTS[name]} is missing: run the benchmark with --markdown "
                                f"{BENCHMARK_RESULTS[name]} first")
    return path.read_text().rstrip("\n")


def render_replication() -> str:
    """The README's table of each training notebook's reference run (``runs.json``) against its
    replication (``replication.json``, the same profile at another thread count)."""
    rows = ["| notebook | threads | claims | same verdict in both | verdicts that changed | "
            "numbers compared | median relative move | largest relative move |", "|---" * 8 + "|"]
    for notebook in RESULT_SUMMARIES:
        try:
            found = replication(notebook)
        except FileNotFoundError:
            rows.append(f"| {notebook} | | | | no reference results committed | | | |")
            continue
        if found is None:
            first = results.load(notebook, "runs")
            claims = len(first["data"]["verdicts"])
            rows.append(f"| {notebook} | {first['environment']['threads']} | {claims} | | not replicated yet "
                        "| | | |")
            continue
        first, second, c = found
        changed = "; ".join(f"{k}: {a} → {b}" for k, (a, b) in c.verdicts_changed.items()) or "none"
        kept = ", ".join(f"{n} {'hold' if verdict == 'holds' and n != 1 else verdict}"
                         for verdict, n in c.verdicts_kept.items()) or "none"
        threads = f"{first['environment']['threads']} and {second['environment']['threads']}"
        rows.append(f"| {notebook} | {threads} | {c.claims} | {kept} | {changed} | {c.numbers} "
                    f"| {c.median_move:.2%} | {c.largest_move:.2%} (`{c.largest_at}`) |")
    return "\n".join(rows)


def render_readme(text: str, notebooks: list[Path]) -> str:
    """``text`` (the README) with the table and every result paragraph whose markers it holds
    replaced."""
    text = _replace_between(text, TABLE_START, TABLE_END, render_table(notebooks))
    for notebook in RESULT_SUMMARIES:
        start, end = result_markers(notebook)
        if start in text:
            text = _replace_between(text, start, end, render_results(notebook))
    if REPLICATION_START in text:
        text = _replace_between(text, REPLICATION_START, REPLICATION_END, render_replication())
    for name in BENCHMARK_RESULTS:
        start, end = benchmark_markers(name)
        if start in text:
            text = _replace_between(text, start, end, render_benchmark(name))
    return text


def stale_files(write: bool) -> list[Path]:
    """The notebooks and README whose generated parts are out of date; with ``write``, fix them."""
    notebooks = course_notebooks()
    readme = repo_root() / "README.md"
    wanted = {path: render_notebook(path) for path in notebooks}
    wanted[readme] = render_readme(readme.read_text(), notebooks)
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if write:
        for path in stale:
            path.write_text(wanted[path])
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.tools.generate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is stale")
    args = parser.parse_args(argv)
    stale = stale_files(write=not args.check)
    for path in stale:
        verb = "out of date" if args.check else "rewritten"
        print(f"{path.relative_to(repo_root())}: {verb}")
    if args.check and stale:
        print("run `python -m helpers.tools.generate` to bring them up to date", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
