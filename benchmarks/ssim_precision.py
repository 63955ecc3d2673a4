"""Float32 error of SSIM and MS-SSIM on every photograph scikit-image ships, against float64.

    python benchmarks/ssim_precision.py [--threads 1] [--seeds 3] [--noise 0.01 0.05 0.2]
        [--markdown benchmarks/results/ssim_precision.md]

Each photograph (8-bit values divided by 255, RGB or grey, ``(1, C, H, W)``) is paired with a noisy
copy, ``clip(x + sigma * N(0, 1), 0, 1)``, for each noise level and seed. Both images are float32;
the reference is the course's function on the same float32 pixels held in float64 (exact up to
float64 rounding, about 1e-15). For each implementation the worst ``|float32 value - reference|``
over all pairs is printed, with the pair it came from. piqa and pytorch-msssim are listed for
comparison where they accept the image (pytorch-msssim's MS-SSIM needs sides above 160 px). Their
float32-built window adds its own error, even in float64 (notebook 02, section 5).

The course's bars are 1e-6 (SSIM) and 3e-7 (MS-SSIM). About three minutes on one thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from skimage import data

from helpers.ssim import ms_ssim, ms_ssim_min_size, ssim

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_report  # noqa: E402  (benchmarks/ is not a package)

PHOTOGRAPHS = ("astronaut", "brick", "camera", "cat", "cell", "clock", "coffee", "coins", "grass",
               "gravel", "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page",
               "retina", "rocket", "text")


def photograph(name: str) -> torch.Tensor:
    """``name`` from scikit-image as float32 ``(1, C, H, W)`` in [0, 1]: 8-bit values / 255."""
    image = torch.from_numpy(getattr(data, name)().astype(np.float32) / 255)
    return image[None, None] if image.dim() == 2 else image.permute(2, 0, 1)[None].contiguous()


def contenders(channels: int) -> dict[str, dict]:
    """``{metric: {implementation: function(x, y) -> float}}`` for images of ``channels`` channels."""
    found = {"ssim": {"course": lambda x, y: ssim(x, y).item()},
             "ms_ssim": {"course": lambda x, y: ms_ssim(x, y).item()}}
    try:
        import piqa
    except ImportError:
        piqa = None
    try:
        import pytorch_msssim
    except ImportError:
        pytorch_msssim = None
    if piqa is not None:
        found["ssim"]["piqa"] = lambda x, y: piqa.SSIM(n_channels=channels)(x, y).item()
        found["ms_ssim"]["piqa"] = lambda x, y: piqa.MS_SSIM(n_channels=channels)(x, y).item()
    if pytorch_msssim is not None:
        found["ssim"]["pytorch-msssim"] = lambda x, y: pytorch_msssim.ssim(x, y, data_range=1.0).item()
        found["ms_ssim"]["pytorch-msssim"] = lambda x, y: pytorch_msssim.ms_ssim(x, y, data_range=1.0).item()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--seeds", type=int, default=3, help="noise draws per level (default 3)")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.05, 0.2],
                        help="noise standard deviations (default 0.01 0.05 0.2)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown to PATH")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1; got {args.seeds}")
    torch.set_num_threads(args.threads)
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    pairs = 0
    for name in PHOTOGRAPHS:
        x = photograph(name)
        multi_scale = min(x.shape[-2:]) >= ms_ssim_min_size()
        functions = contenders(x.shape[1])
        for sigma in args.noise:
            for seed in range(args.seeds):
                noise = sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
                y = (x + noise).clamp(0, 1)
                pairs += 1
                for metric, implementations in functions.items():
                    if metric == "ms_ssim" and not multi_scale:
                        continue
                    exact = implementations["course"](x.double(), y.double())
                    for label, function in implementations.items():
                        try:
                            error = abs(function(x, y) - exact)
                        except (AssertionError, ValueError, RuntimeError):
                            continue  # this implementation refuses the size
                        where = f"{name}, sigma {sigma:g}, seed {seed}"
                        if error > worst.get((metric, label), (-1.0, ""))[0]:
                            worst[metric, label] = (error, where)
    print(f"{pairs} pairs ({len(PHOTOGRAPHS)} photographs x {len(args.noise)} noise levels x {args.seeds} "
          f"seeds), {torch.get_num_threads()} thread(s); worst |float32 - float64| of the same pixels:")
    for (metric, label), (error, where) in sorted(worst.items()):
        print(f"  {metric:8s} {label:15s} {error:.1e}  ({where})")
    if args.markdown:
        noise = " ".join(f"{sigma:g}" for sigma in args.noise)
        lines = [bench_report.machine_line(torch.get_num_threads())
                 + f" `python benchmarks/ssim_precision.py --threads {args.threads} --seeds {args.seeds} "
                 f"--noise {noise}`: worst |float32 − float64| of the same pixels over {pairs} pairs "
                 f"({len(PHOTOGRAPHS)} photographs × {len(args.noise)} noise levels × {args.seeds} seeds). "
                 f"The course's bars: 1e-6 (SSIM), 3e-7 (MS-SSIM).", "",
                 "| metric | implementation | worst error | where |", "|---|---|---|---|"]
        lines += [f"| {metric} | {label} | {error:.1e} | {where} |"
                  for (metric, label), (error, where) in sorted(worst.items())]
        bench_report.write(args.markdown, "\n".join(lines))


if __name__ == "__main__":
    main()
