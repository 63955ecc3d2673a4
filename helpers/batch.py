"""Run the course's notebooks in order with papermill: ``python -m helpers.batch``.

    python -m helpers.batch                      # every notebook, profile from $COURSE_PROFILE or the device
    python -m helpers.batch --profile smoke      # the CI profile
    python -m helpers.batch --only 01 03         # some notebooks, by number or name prefix
    python -m helpers.batch --resume             # skip notebooks already run to the end with this profile

Executed notebooks land in ``runs/<profile>/`` (git-ignored). Each notebook shows a progress bar over
its cells; the run stops at the first failure, names the notebook and the cell, and exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill

from helpers import config

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass
class NotebookFailure(Exception):
    """A notebook that stopped on an error: which one, which cell, and what was raised."""

    notebook: str
    cell_number: int | None  # 1-based position of the failing cell in the source notebook
    execution_count: int | None
    first_line: str  # the failing cell's first line of code
    error: str
    output: Path

    def __str__(self) -> str:
        where = "before any cell ran" if self.cell_number is None else (
            f"cell {self.cell_number} (execution count {self.execution_count}: {self.first_line!r})"
        )
        return (
            f"{self.notebook} failed at {where}\n  {self.error}\n"
            f"  the executed notebook, with the traceback, is {self.output}"
        )


def _source_cell_number(output: Path, executed_index: int | None) -> int | None:
    """Turn a cell's index in the executed notebook into its 1-based number in the source one,
    leaving out the cell of parameters that papermill injects."""
    if executed_index is None:
        return None
    cells = nbformat.read(output, as_version=4).cells[:executed_index]
    injected = sum("injected-parameters" in c.metadata.get("tags", []) for c in cells)
    return executed_index - injected + 1


def find_notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The ``NN_*.ipynb`` notebooks of ``folder`` in order; with ``only``, those whose name
    starts with one of its prefixes (``"01"``, ``"01_variance"``). Raises ``ValueError`` when a
    prefix matches nothing."""
    notebooks = config.course_notebooks(folder)
    if not only:
        return notebooks
    chosen = []
    for prefix in only:
        matches = [p for p in notebooks if p.name.startswith(prefix)]
        if not matches:
            names = ", ".join(p.stem for p in notebooks) or "none"
            raise ValueError(f"--only {prefix!r} matches no notebook in {folder}; there are: {names}")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


def is_complete(source: Path, output: Path, profile: str) -> bool:
    """True when ``output`` is a run of ``source`` with ``profile``, newer than ``source``, in
    which every code cell ran to the end without an error (an interrupted cell shows one)."""
    if not output.exists() or output.stat().st_mtime < source.stat().st_mtime:
        return False
    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # a half-written file
        return False
    meta = nb.metadata.get("papermill", {})
    if meta.get("exception") or meta.get("parameters", {}).get("PROFILE") != profile:
        return False
    code = [c for c in nb.cells if c.cell_type == "code"]
    return all(
        c.metadata.get("papermill", {}).get("status") == "completed"
        and not any(o.get("output_type") == "error" for o in c.get("outputs", []))
        for c in code
    )


def run_notebook(source: Path, output: Path, profile: str, progress: bool = True) -> float:
    """Execute ``source`` with ``PROFILE=profile`` into ``output``; return the seconds it took.

    Raises :class:`NotebookFailure` naming the failing cell.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters={"PROFILE": profile},
            kernel_name="python3",
            cwd=str(source.parent),
            progress_bar=progress,
        )
    except papermill.PapermillExecutionError as err:
        lines = (err.source or "").strip().splitlines()
        raise NotebookFailure(
            notebook=source.name,
            cell_number=_source_cell_number(output, err.cell_index),
            execution_count=err.exec_count,
            first_line=lines[0] if lines else "",
            error=f"{err.ename}: {err.evalue}",
            output=output,
        ) from None
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.batch",
        description="Run the course's notebooks in order with papermill.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default=None,
                        help="smoke, cpu or full; default: $COURSE_PROFILE, else full on CUDA, cpu otherwise")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="run only these notebooks (e.g. 01 03)")
    parser.add_argument("--resume", action="store_true",
                        help="skip notebooks that already ran to the end with this profile")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="folder of notebooks (default: notebooks/)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for executed notebooks (default: runs/<profile>/)")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    args = parser.parse_args(argv)

    try:
        profile = config.resolve_profile(args.profile)
        folder = args.notebooks or config.notebooks_dir()
        notebooks = find_notebooks(folder, args.only)
    except ValueError as err:
        parser.error(str(err))
    out_dir = args.output or config.runs_dir(profile)
    if not notebooks:
        parser.error(f"no notebooks named NN_*.ipynb in {folder}")

    print(f"Profile {profile!r} ({config.PROFILES[profile].description}); "
          f"{len(notebooks)} notebook(s) -> {out_dir}", flush=True)
    timings: list[tuple[str, str]] = []
    for i, source in enumerate(notebooks, 1):
        output = out_dir / source.name
        if args.resume and is_complete(source, output, profile):
            print(f"[{i}/{len(notebooks)}] {source.stem}: already complete, skipped", flush=True)
            timings.append((source.stem, "skipped"))
            continue
        print(f"[{i}/{len(notebooks)}] {source.stem}", flush=True)
        try:
            seconds = run_notebook(source, output, profile, progress=not args.no_progress)
        except NotebookFailure as failure:
            print(f"\nFAILED: {failure}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print(f"\nInterrupted in {source.name}. Finished notebooks are kept in {out_dir}; "
                  "run again with --resume (make course RESUME=1) to go on from here.",
                  file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        timings.append((source.stem, f"{seconds:.1f} s"))

    print("\nDone:")
    for stem, took in timings:
        print(f"  {stem:<32} {took}")
    print(f"Executed notebooks: {out_dir}")
    print(f"Figures: {config.figures_dir(profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
