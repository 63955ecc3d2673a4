"""Speed and memory of the course's SSIM and MS-SSIM against peer libraries, printed as ratios.

    .venv/bin/python benchmarks/ssim_speed.py [--device cpu|cuda] [--threads 1] [--repeats 15]
        [--compile] [--markdown benchmarks/results/ssim_speed.md] [--shapes small]

1. Forward + backward together (the cost of a loss in training), at the course's shapes. Every
   contender runs once per round, rounds interleave them, and the median time of each is divided by
   the faster of piqa and pytorch-msssim: below 1 is faster, 0.5 is twice as fast. kornia and
   torchmetrics are listed when installed (``pip install -e '.[bench]'``).
2. Memory kept for the backward pass: the bytes of the distinct tensors autograd saves, as a ratio to
   piqa's (CPU and CUDA alike; on CUDA the peak allocated memory is printed as a ratio too).
3. The cost of adding ``0.5 * (1 - SSIM)`` to an MSE loss in a training step of a small CIFAR-sized
   convolutional autoencoder, as the median over interleaved steps of (step with SSIM) / (step
   with MSE alone) - 1.

Only ratios are printed (absolute times on a shared machine mean little), except on CUDA, where
``--absolute`` adds the medians in milliseconds. ``--compile`` adds the course's SSIM with its pointwise
algebra compiled (:func:`helpers.ssim.compile_pointwise`; the compilation happens in the warm-up
rounds) as a contender beside the eager one. ``--markdown PATH`` also writes the tables, with the
machine and date, for ``python -m helpers.tools.generate`` to copy into the README. ``--shapes small`` runs
tiny shapes only (a check that the script works, not a measurement).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from helpers import ssim as course_ssim
from helpers import ssim_kernel
from helpers.models.conv_autoencoder import ConvAutoencoder
from helpers.ssim import ms_ssim, ssim

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_report  # noqa: E402  (benchmarks/ is not a package)

SSIM_SHAPES = [(128, 3, 32, 32), (64, 3, 64, 64), (32, 1, 128, 128), (8, 3, 256, 256)]
MS_SSIM_SHAPES = [(8, 3, 256, 256), (32, 1, 256, 256)]
SMALL_SHAPES = {"SSIM": [(4, 3, 32, 32), (2, 1, 48, 48)], "MS-SSIM": [(2, 1, 176, 176)]}
PEERS = ("piqa", "pytorch-msssim")  # the ratios' reference: the faster of these two

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_COMPILED: dict = {}  # the compiled kernels of helpers.ssim, kept here while eager contenders run


def _eager(metric: Metric) -> Metric:
    """``metric`` with the course's pointwise algebra eager, whatever the other contenders use."""
    def run(x, y):
        ssim_kernel._compiled.clear()
        return metric(x, y)
    return run


def _compiled(metric: Metric) -> Metric:
    """``metric`` with the course's pointwise algebra compiled (:func:`helpers.ssim.compile_pointwise`)."""
    def run(x, y):
        ssim_kernel._compiled.update(_COMPILED)
        return metric(x, y)
    return run


def _course(metric: Metric) -> dict[str, Metric]:
    found = {"course": _eager(metric)}
    if _COMPILED:
        found["course, compiled"] = _compiled(metric)
    return found


def ssim_contenders(channels: int, device: torch.device) -> dict[str, Metric]:
    """SSIM as a mean over the batch, 11-tap Gaussian window, sigma 1.5, data range 1."""
    piqa = importlib.import_module("piqa")
    pytorch_msssim = importlib.import_module("pytorch_msssim")
    piqa_ssim = piqa.SSIM(n_channels=channels).to(device)
    found: dict[str, Metric] = {
        **_course(lambda x, y: ssim(x, y)),
        "piqa": piqa_ssim,
        "pytorch-msssim": lambda x, y: pytorch_msssim.ssim(x, y, data_range=1.0),
    }
    kornia = _optional("kornia")
    if kornia is not None:
        found["kornia"] = lambda x, y: kornia.metrics.ssim(x, y, 11, padding="valid").mean()
    tm = _optional("torchmetrics.functional.image")
    if tm is not None:
        found["torchmetrics"] = lambda x, y: tm.structural_similarity_index_measure(x, y, data_range=1.0)
    return found


def ms_ssim_contenders(channels: int, device: torch.device) -> dict[str, Metric]:
    """MS-SSIM with the five standard weights, 11-tap window, data range 1."""
    piqa = importlib.import_module("piqa")
    pytorch_msssim = importlib.import_module("pytorch_msssim")
    piqa_ms_ssim = piqa.MS_SSIM(n_channels=channels).to(device)
    found: dict[str, Metric] = {
        **_course(lambda x, y: ms_ssim(x, y)),
        "piqa": piqa_ms_ssim,
        "pytorch-msssim": lambda x, y: pytorch_msssim.ms_ssim(x, y, data_range=1.0),
    }
    tm = _optional("torchmetrics.functional.image")
    if tm is not None:
        found["torchmetrics"] = lambda x, y: tm.multiscale_structural_similarity_index_measure(
            x, y, data_range=1.0
        )
    return found


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _forward_backward(metric: Metric, x: torch.Tensor, y: torch.Tensor) -> None:
    prediction = x.clone().requires_grad_()
    (1 - metric(prediction, y)).backward()


def time_interleaved(
    contenders: dict[str, Callable[[], None]], repeats: int, device: torch.device, warmup: int = 2
) -> dict[str, float]:
    """Median seconds of each callable, run in rounds that alternate them (round-robin, rotating)."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        order = names[round_ % len(names):] + names[: round_ % len(names)]
        for name in order:
            _sync(device)
            start = time.perf_counter()
            contenders[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def saved_bytes(metric: Metric, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of ``metric(x, y)``."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    prediction = x.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        value = metric(prediction, y)
    del value
    return sum(storages.values())


def peak_cuda_bytes(metric: Metric, x: torch.Tensor, y: torch.Tensor) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    _forward_backward(metric, x, y)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def image_pair(
    shape: tuple[int, ...], device: torch.device, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random image in [0, 1] and a noisy copy: (N, C, H, W) each, float32."""
    generator = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    coarse = torch.rand(n, c, max(h // 8, 2), max(w // 8, 2), generator=generator)
    x = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    y = (x + 0.1 * torch.randn(shape, generator=generator)).clamp(0, 1)
    return x.to(device), y.to(device)


def compare(title: str, shapes, make_contenders, repeats: int, device: torch.device) -> list[dict]:
    """Print and return, per shape, the time and saved-memory ratios of every contender
    (``{"shape", "time", "memory", "seconds", "peak"}``; ``seconds``: the median times)."""
    print(f"\n{title}: forward + backward time and saved memory, as ratios to the faster of piqa and "
          f"pytorch-msssim (time) and to piqa (memory); lower is better", flush=True)
    rows = []
    for shape in shapes:
        x, y = image_pair(shape, device)
        contenders = make_contenders(shape[1], device)
        medians = time_interleaved(
            {
                name: (lambda m=metric, a=x, b=y: _forward_backward(m, a, b))
                for name, metric in contenders.items()
            },
            repeats, device,
        )
        reference = min(medians[p] for p in PEERS)
        memory = {name: saved_bytes(metric, x, y) for name, metric in contenders.items()}
        row = {"shape": shape, "time": {n: medians[n] / reference for n in contenders},
               "memory": {n: memory[n] / memory["piqa"] for n in contenders}, "seconds": medians}
        label = "x".join(map(str, shape))
        cells = "  ".join(f"{name} {row['time'][name]:5.2f}" for name in contenders)
        print(f"  {label:>14}  time: {cells}")
        cells = "  ".join(f"{name} {row['memory'][name]:5.2f}" for name in contenders)
        print(f"  {'':>14}  saved memory: {cells}")
        if device.type == "cuda":
            cells = "  ".join(f"{name} {1e3 * medians[name]:7.2f}" for name in contenders)
            print(f"  {'':>14}  median ms: {cells}")
            peak = {name: peak_cuda_bytes(metric, x, y) for name, metric in contenders.items()}
            row["peak"] = {n: peak[n] / peak["piqa"] for n in contenders}
            cells = "  ".join(f"{name} {row['peak'][name]:5.2f}" for name in contenders)
            print(f"  {'':>14}  peak CUDA memory: {cells}", flush=True)
        rows.append(row)
    return rows


def markdown(results: dict[str, list[dict]], overhead: dict[str, float] | None, args) -> str:
    """The tables of a run, with the machine, the date and the command, as Markdown."""
    command = "python benchmarks/ssim_speed.py " + " ".join(
        part for part in (f"--device {args.device}", f"--threads {args.threads}",
                          f"--repeats {args.repeats}",
                          "--compile" if args.compile else "", f"--steps {args.steps}" if overhead else "",
                          "--skip-training" if not overhead else "") if part)
    lines = [bench_report.machine_line(args.threads, args.device) + f" `{command}`:", ""]
    first = next(iter(results.values()))[0]
    names = list(first["time"])
    lines += ["| shape | " + " | ".join(f"time, {n}" for n in names) + " | saved memory, course |",
              "|---|" + "---|" * (len(names) + 1)]
    for title, rows in results.items():
        for row in rows:
            label = f"{title} {'×'.join(map(str, row['shape']))}"
            cells = " | ".join(f"{row['time'][n]:.2f}" for n in names)
            lines.append(f"| {label} | {cells} | {row['memory']['course']:.2f} |")
    lines += ["", "Times: median forward + backward time over interleaved rounds, as a ratio to the faster "
              "of piqa and pytorch-msssim (below 1 is faster; 0.4 is 2.5× as fast). Saved memory: bytes "
              "autograd keeps for the backward, as a ratio to piqa's."]
    if "course, compiled" in names:
        lines[-1] += (" `course, compiled`: the pointwise algebra through `torch.compile` "
                      "(`helpers.ssim.compile_pointwise(True)`; off by default).")
    if args.device.startswith("cuda"):
        lines += ["", "| shape | " + " | ".join(f"ms, {n}" for n in names) + " |",
                  "|---|" + "---|" * len(names)]
        for title, rows in results.items():
            for row in rows:
                cells = " | ".join(f"{1e3 * row['seconds'][n]:.2f}" for n in names)
                lines.append(f"| {title} {'×'.join(map(str, row['shape']))} | {cells} |")
    if overhead:
        lines += ["", f"Extra time of MSE + 0.5 (1 − SSIM) over MSE alone in a training step of a "
                  f"{args.batch}×3×32×32 convolutional autoencoder (width {args.width}), median of "
                  f"{args.steps} interleaved rounds: "
                  + ", ".join(f"{name} {value:+.1f} %" for name, value in overhead.items()) + "."]
    return "\n".join(lines)


def training_overhead(
    steps: int, device: torch.device, batch: int = 128, width: int = 128
) -> dict[str, float]:
    import piqa
    import pytorch_msssim

    torch.manual_seed(0)
    model = ConvAutoencoder(3, width).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, _ = image_pair((batch, 3, 32, 32), device)
    piqa_ssim = piqa.SSIM(n_channels=3).to(device)
    objectives: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
        "MSE": F.mse_loss,
        "course": lambda out, x: F.mse_loss(out, x) + 0.5 * (1 - ssim(out, x)),
        "piqa": lambda out, x: F.mse_loss(out, x) + 0.5 * (1 - piqa_ssim(out, x)),
        "pytorch-msssim": lambda out, x: F.mse_loss(out, x) + 0.5 * (
            1 - pytorch_msssim.ssim(out, x, data_range=1.0)
        ),
    }

    def step(objective) -> None:
        optimiser.zero_grad(set_to_none=True)
        objective(model(images), images).backward()
        optimiser.step()

    names = list(objectives)
    for name in names:  # warm-up
        step(objectives[name])
    def fastest_step(objective, repeats: int = 3) -> float:
        """The fastest of a few consecutive steps: robust to the machine's noise spikes."""
        times = []
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            step(objective)
            _sync(device)
            times.append(time.perf_counter() - start)
        return min(times)

    ratios: dict[str, list[float]] = {name: [] for name in names[1:]}
    for round_ in range(steps):  # each round times every objective, in a rotating order
        order = names[round_ % len(names):] + names[: round_ % len(names)]
        times = {name: fastest_step(objectives[name]) for name in order}
        for name in names[1:]:
            ratios[name].append(times[name] / times["MSE"])
    print(f"\nTraining step of a {batch}x3x32x32 convolutional autoencoder (width {width}): extra time of "
          f"MSE + 0.5 (1 - SSIM) over MSE alone (median of {steps} interleaved rounds)")
    extra = {name: 100 * (statistics.median(ratios[name]) - 1) for name in names[1:]}
    for name, value in extra.items():
        print(f"  {name:>15}  {value:+5.1f} %")
    return extra


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per shape (default 15)")
    parser.add_argument("--steps", type=int, default=30, help="training rounds (default 30)")
    parser.add_argument("--width", type=int, default=128, help="channels of the autoencoder (default 128)")
    parser.add_argument("--skip-training", action="store_true", help="leave out the training-step part")
    parser.add_argument("--training-only", action="store_true", help="run only the training-step part")
    parser.add_argument("--compile", action="store_true",
                        help="add the course's SSIM with its pointwise algebra compiled as a contender")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown to PATH")
    parser.add_argument("--shapes", choices=("course", "small"), default="course",
                        help="course: the shapes above (default); small: tiny ones, a dry run")
    args = parser.parse_args(argv)
    args.batch = 128
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    for name in ("threads", "repeats", "steps", "width"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive int; got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    if args.compile:
        if not course_ssim.compile_pointwise(True):
            parser.error("--compile: torch.compile is not available here")
        _COMPILED.update(ssim_kernel._compiled)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} thread(s), "
          f"{args.repeats} rounds", flush=True)
    results: dict[str, list[dict]] = {}
    overhead = None
    if not args.training_only:
        small = args.shapes == "small"
        results["SSIM"] = compare("SSIM", SMALL_SHAPES["SSIM"] if small else SSIM_SHAPES, ssim_contenders,
                                  args.repeats, device)
        results["MS-SSIM"] = compare("MS-SSIM", SMALL_SHAPES["MS-SSIM"] if small else MS_SSIM_SHAPES,
                                     ms_ssim_contenders, args.repeats, device)
    ssim_kernel._compiled.clear()
    if not args.skip_training:
        overhead = training_overhead(args.steps, device, batch=args.batch, width=args.width)
    if args.markdown:
        if not results:
            parser.error("--markdown needs the SSIM tables: leave out --training-only")
        bench_report.write(args.markdown, markdown(results, overhead, args))


if __name__ == "__main__":
    main()
