"""The Fréchet distance of ``helpers.fid`` (float64 eigenvalues with torch) against SciPy's ``sqrtm``
route (pytorch-fid's), side by side in one process, printed as ratios.

    .venv/bin/python benchmarks/fid_speed.py [--threads 1] [--repeats 5] [--dims 2048] [--samples 2000]
        [--markdown benchmarks/results/fid_speed.md]

Two sets of ``--samples`` feature vectors of ``--dims`` dimensions (the size of FID on 2,000 images
with Inception's pool3 features). Each round computes equation (1) of ``helpers.fid`` in turn (the
order alternates between rounds): SciPy's route from the means and covariances; the course's from
the same statistics (``frechet_distance``: a Cholesky factor and one ``eigvalsh`` where a covariance
is positive definite, else a pivoted Cholesky and one ``eigvalsh``); the course's from the
features (``feature_distance``: with fewer samples than dimensions, one smaller ``eigvalsh`` and no
eigenvectors, its statistics included), against SciPy's route plus NumPy's mean and covariance.
Ratios are of median times: above 1, the course is faster. The features are synthetic (non-negative,
correlated, like pooled ReLU activations): the run times depend on the size of the matrices, not on
where they came from. With 2,000 samples of 2048 dimensions the covariances are singular, as in the
FID of the write-up, and ``frechet_distance`` takes its pivoted-Cholesky route (the line before the
rounds says which); ``--samples 4000`` gives full-rank ones and its Cholesky route.

The thread count applies to torch and to the BLAS/LAPACK libraries under NumPy and SciPy: the
variables that set it are written before those libraries are imported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_report  # noqa: E402  (benchmarks/ is not a package)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads of torch and of BLAS (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds, each timing both routes (default 5)")
    parser.add_argument("--dims", type=int, default=2048, help="feature dimensions (default 2048)")
    parser.add_argument("--samples", type=int, default=2000, help="feature vectors per set (default 2000)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the results as Markdown to PATH")
    args = parser.parse_args()
    for name in ("threads", "repeats", "dims", "samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive int; got {getattr(args, name)}")
    return args


def main() -> None:
    args = parse()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)

    import numpy as np
    import scipy
    import scipy.linalg
    import torch

    from helpers.fid import cholesky_factor, feature_distance, frechet_distance

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    def features(shift: float) -> np.ndarray:
        mixing = rng.standard_normal((64, args.dims)) / 8
        return np.abs(rng.standard_normal((args.samples, 64)) @ mixing
                      + 0.3 * rng.standard_normal((args.samples, args.dims)) + shift)

    x1, x2 = features(0.0), features(0.05)
    mu1, sigma1, mu2, sigma2 = x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False)

    def numpy_statistics() -> float:  # what SciPy's route needs first when it starts from the features
        np.cov(x1, rowvar=False), np.cov(x2, rowvar=False), x1.mean(0), x2.mean(0)
        return float("nan")

    def scipy_route() -> float:
        root = scipy.linalg.sqrtm(sigma1 @ sigma2)  # pytorch-fid's route, without the deprecated disp=False
        difference = mu1 - mu2
        return float(difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root).real)

    routes = {
        "scipy": scipy_route,
        "numpy statistics": numpy_statistics,
        "course, statistics": lambda: frechet_distance(mu1, sigma1, mu2, sigma2),
        "course, features": lambda: feature_distance(x1, x2),
    }
    times: dict[str, list[float]] = {name: [] for name in routes}
    values: dict[str, float] = {}
    print(f"Fréchet distance of {args.samples} samples x {args.dims} dimensions, {args.threads} thread(s), "
          f"median of {args.repeats} interleaved rounds (torch {torch.__version__}, "
          f"SciPy {scipy.__version__})", flush=True)
    positive_definite = [cholesky_factor(torch.from_numpy(s)) is not None for s in (sigma1, sigma2)]
    print(f"  covariances positive definite: {positive_definite}; frechet_distance takes the "
          f"{'Cholesky' if any(positive_definite) else 'pivoted Cholesky'} route", flush=True)
    for round_ in range(args.repeats):
        order = list(routes) if round_ % 2 == 0 else list(reversed(routes))
        for name in order:
            began = time.perf_counter()
            values[name] = routes[name]()
            times[name].append(time.perf_counter() - began)
        print(f"  round {round_ + 1}/{args.repeats}: SciPy / course from statistics = "
              f"{times['scipy'][-1] / times['course, statistics'][-1]:.2f}, from features = "
              f"{(times['scipy'][-1] + times['numpy statistics'][-1]) / times['course, features'][-1]:.2f}",
              flush=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    scipy_from_features = statistics.median(a + b for a, b in zip(times["scipy"], times["numpy statistics"],
                                                                   strict=True))
    rows = []
    for name, reference, route in (("statistics (frechet_distance)", median["scipy"], "course, statistics"),
                                   ("features (feature_distance)", scipy_from_features, "course, features")):
        agreement = abs(values[route] - values["scipy"]) / abs(values["scipy"])
        print(f"from {name}: {reference / median[route]:.1f}x faster than SciPy's sqrtm route (median "
              f"{median[route]:.2f} s against {reference:.2f} s); agrees to {agreement:.1e} relative")
        rows.append(f"| from {name} | {reference / median[route]:.1f}× | {agreement:.1e} |")
    if args.markdown:
        route = "Cholesky" if any(positive_definite) else "pivoted Cholesky"
        lines = [bench_report.machine_line(args.threads) + f" SciPy {scipy.__version__}. `python "
                 f"benchmarks/fid_speed.py --threads {args.threads} --repeats {args.repeats} "
                 f"--dims {args.dims} --samples {args.samples}`: two sets of {args.samples} synthetic "
                 f"feature vectors of {args.dims} dimensions (covariances positive definite: "
                 f"{positive_definite}, so "
                 f"`frechet_distance` takes its {route} route), median of {args.repeats} interleaved "
                 f"rounds.",
                 "", "| Fréchet distance | speed-up over SciPy's `sqrtm` route | relative agreement |",
                 "|---|---|---|", *rows]
        bench_report.write(args.markdown, "\n".join(lines))


if __name__ == "__main__":
    main()
