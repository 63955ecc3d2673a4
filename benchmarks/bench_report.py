"""What every benchmark's Markdown output states first: the machine, the thread count, torch, the date.

The benchmarks write their results as small Markdown files under ``benchmarks/results/`` (``--markdown``);
``python -m helpers.tools.generate`` copies each into the README between ``<!-- bench:NAME:start -->`` and
``<!-- bench:NAME:end -->``, so the README's numbers are always a benchmark's own output.
"""

from __future__ import annotations

import datetime
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line(threads: int, device: str = "cpu") -> str:
    """One sentence: where and when a benchmark ran, e.g. ``AMD EPYC, 1 thread, torch 2.x, 2026-01-31``."""
    import torch

    where = cpu_model()
    if device.startswith("cuda") and torch.cuda.is_available():
        where = f"{torch.cuda.get_device_name(0)} (host: {where})"
    plural = "s" if threads != 1 else ""
    return (f"Measured on {where}, {threads} CPU thread{plural}, torch {torch.__version__}, "
            f"{datetime.date.today().isoformat()}.")


def write(path: str | Path, text: str) -> None:
    """Write ``text`` (Markdown, ending in one newline) to ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")
    print(f"wrote {path}")
