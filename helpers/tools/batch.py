"""Run the course's notebooks in order with papermill: ``python -m helpers.tools.batch``.

    python -m helpers.tools.batch                  # every notebook; profile: $COURSE_PROFILE or the device
    python -m helpers.tools.batch --profile smoke  # the CI profile
    python -m helpers.tools.batch --only 01 03     # some notebooks, by number or name prefix
    python -m helpers.tools.batch --resume         # skip notebooks already run to the end with this profile

Executed notebooks land in ``runs/<profile>/`` (git-ignored). Each notebook runs in a process of its own
and shows a progress bar over its cells; the run stops at the first failure, names the notebook and the
cell, and exits with 1. Ctrl-C stops the run (exit code 130): the running notebook is stopped with its
kernel and marked unfinished, the finished ones are kept, and --resume goes on from there.
"""

# Why a process per notebook: papermill drives the kernel from an asyncio loop in the process that calls
# it, so a KeyboardInterrupt raised there lands wherever that loop happens to be. Depending on where, the
# kernel's shutdown is cut short, or papermill writes the notebook with every cell that never ran marked
# 'completed' (its ``notebook_complete`` runs in a ``finally``) and --resume would skip it. So the runner
# never runs papermill itself. It starts ``python -m helpers.tools.batch --run-one NOTEBOOK`` in a session of
# its own, which a terminal's Ctrl-C does not reach; the runner's SIGINT handler only takes note and passes
# the signal on; the runner waits for the process (SIGTERM, then SIGKILL, if it does not stop) and then marks
# the notebook unfinished, when nothing can write it any more.

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill

from helpers import config

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
STOP_GRACE_S = 15  # after Ctrl-C, time for a notebook's process to shut its kernel down; then SIGTERM
KILL_GRACE_S = 5  # after SIGTERM; then SIGKILL


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
    """True when ``output`` is a run of ``source`` with ``profile``, newer than ``source``, not
    marked unfinished (:func:`mark_unfinished`), in which every code cell ran to the end without an
    error."""
    if not output.exists() or output.stat().st_mtime < source.stat().st_mtime:
        return False
    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # a half-written file
        return False
    meta = nb.metadata.get("papermill", {})
    if meta.get("exception") or meta.get("unfinished"):
        return False
    if meta.get("parameters", {}).get("PROFILE") != profile:
        return False
    code = [c for c in nb.cells if c.cell_type == "code"]
    return all(
        c.metadata.get("papermill", {}).get("status") == "completed"
        and not any(o.get("output_type") == "error" for o in c.get("outputs", []))
        for c in code
    )


def mark_unfinished(output: Path) -> None:
    """Mark the executed notebook ``output`` as a run that did not reach its end, so that
    :func:`is_complete` never counts it (papermill may have marked all its cells 'completed');
    remove it when it cannot be read. Nothing happens when there is no ``output``."""
    if not output.exists():
        return
    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # a half-written file
        output.unlink()
        return
    nb.metadata.setdefault("papermill", {})["unfinished"] = True
    nbformat.write(nb, output)


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


class _Runner:
    """Runs one notebook's process at a time and turns SIGINT (Ctrl-C) into a clean stop.

    Its SIGINT handler never raises: it sets :attr:`interrupted` and passes the signal on to the running
    process. A KeyboardInterrupt could land anywhere, for example inside ``subprocess.Popen`` after the
    fork, and leave behind a process that no Ctrl-C reaches any more.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self.child: subprocess.Popen | None = None

    def on_sigint(self, signum: int, frame: object) -> None:
        self.interrupted = True
        if self.child is not None:
            self.child.send_signal(signal.SIGINT)  # does nothing once the process has been waited for

    def run(self, command: list[str]) -> int:
        """Run ``command`` in a session of its own and return its exit code (negative: ended by that
        signal). After an interrupt it gets STOP_GRACE_S to stop, then SIGTERM, then SIGKILL."""
        # SIGINT is blocked while the process starts, so that the handler sees either no process or this
        # one; a blocked signal stays pending and is handled when unblocked. The process inherits the
        # blocked SIGINT through fork and exec and unblocks it once it can handle it (see _run_one).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.child = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        child = self.child
        try:
            while not self.interrupted:
                try:
                    return child.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            # interrupted, and the handler has passed SIGINT on: the process shuts its kernel down and exits
            try:
                return child.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.terminate()  # it ends without clean-up; its kernel follows (see _exit_with_runner)
            try:
                return child.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
            return child.wait()
        finally:
            self.child = None


def _exit_with_runner(runner_pid: int) -> None:
    """In a notebook's process: end it at once when the runner is gone (killed, or its terminal closed),
    as nothing else would stop a process in a session of its own. Its kernel then ends too:
    jupyter_client starts it with ``JPY_PARENT_PID`` set, and ipykernel's parent poller exits it within
    a second of its parent's end. The notebook written so far keeps its running cell marked 'running'."""

    def watch() -> None:
        while os.getppid() == runner_pid:
            time.sleep(1.0)
        os._exit(EXIT_INTERRUPTED)

    threading.Thread(target=watch, daemon=True).start()


def _run_one(source: Path, output: Path, profile: str, progress: bool, runner_pid: int) -> int:
    """The process that runs one notebook for the runner (``--run-one``). Exits with 0 when the notebook
    ran to the end, with EXIT_FAILED after printing the failure, with EXIT_INTERRUPTED on the SIGINT that
    the runner passes on (the runner then says so and marks the notebook unfinished)."""
    _exit_with_runner(runner_pid)
    try:
        # SIGINT has been blocked since this process started (see _Runner.run); one that came meanwhile
        # raises KeyboardInterrupt here, inside the try
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        run_notebook(source, output, profile, progress=progress)
    except NotebookFailure as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception:
        # e.g. the kernel died: papermill has written the notebook with the cells that never ran marked
        # 'completed'
        mark_unfinished(output)
        raise
    return 0


def _interrupted(where: str, out_dir: Path) -> int:
    print(f"\nInterrupted {where}. Finished notebooks are kept in {out_dir}; "
          "run again with --resume (make course RESUME=1) to go on from here.",
          file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.tools.batch",
        description="Run the course's notebooks in order with papermill.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default=None,
                        help="smoke, cpu, gpu or full; default: $COURSE_PROFILE, else gpu on CUDA or cpu")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="run only these notebooks (e.g. 01 03)")
    parser.add_argument("--resume", action="store_true",
                        help="skip notebooks that already ran to the end with this profile")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="folder of notebooks (default: notebooks/)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for executed notebooks (default: runs/<profile>/)")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    # internal: the runner starts one process per notebook with these, and --profile and --output
    parser.add_argument("--run-one", type=Path, metavar="NOTEBOOK", help=argparse.SUPPRESS)
    parser.add_argument("--runner-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run_one is not None:
        if args.profile is None or args.output is None or args.runner_pid is None:
            parser.error("--run-one needs --profile, --output and --runner-pid")
        return _run_one(args.run_one, args.output / args.run_one.name, args.profile,
                        not args.no_progress, args.runner_pid)

    runner = _Runner()
    # installed even when SIGINT was ignored at start, as for a background job of a non-interactive
    # shell: Python leaves it ignored then, and the run would go on through a Ctrl-C or a kill -INT
    previous_handler = signal.signal(signal.SIGINT, runner.on_sigint)
    try:
        return _run_all(parser, args, runner)
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def _run_all(parser: argparse.ArgumentParser, args: argparse.Namespace, runner: _Runner) -> int:
    """The runner: each notebook in its own process, in order, until one fails or Ctrl-C."""
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
        if runner.interrupted:
            return _interrupted(f"before {source.name}", out_dir)
        output = out_dir / source.name
        if args.resume and is_complete(source, output, profile):
            print(f"[{i}/{len(notebooks)}] {source.stem}: already complete, skipped", flush=True)
            timings.append((source.stem, "skipped"))
            continue
        print(f"[{i}/{len(notebooks)}] {source.stem}", flush=True)
        command = [sys.executable, "-m", "helpers.tools.batch", "--run-one", str(source), "--output",
                   str(out_dir), "--profile", profile, "--runner-pid", str(os.getpid())]
        if args.no_progress:
            command.append("--no-progress")
        start = time.perf_counter()
        returncode = runner.run(command)
        if returncode == 0:  # ran to the end, even if Ctrl-C came as it finished
            timings.append((source.stem, f"{time.perf_counter() - start:.1f} s"))
            continue
        if runner.interrupted or returncode == EXIT_INTERRUPTED:
            mark_unfinished(output)  # its process is gone: nothing writes the notebook after this
            return _interrupted(f"in {source.name}", out_dir)
        if returncode != EXIT_FAILED:  # ended by a signal or an exit code of its own, and said nothing
            mark_unfinished(output)
            how = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
            print(f"\nFAILED: {source.name} stopped ({how}); the executed notebook so far is {output}",
                  file=sys.stderr, flush=True)
        return EXIT_FAILED

    print("\nDone:")
    for stem, took in timings:
        print(f"  {stem:<32} {took}")
    print(f"Executed notebooks: {out_dir}")
    print(f"Figures: {config.figures_dir(profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
