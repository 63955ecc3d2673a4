"""Fréchet distances between sets of images: FID with Inception features, an honestly named stand-in
without them.

    extractor = feature_extractor(classifier)  # prints which features are used, and why
    real, fake = extractor(test_images), extractor(reconstructions)  # (N, d) float64
    value = feature_distance(real, fake)  # reported under the name extractor.metric
    floor = noise_floor(extractor(real_images), size=len(fake))  # needs 2 * size real images

The Fréchet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2) fitted to the features
of two image sets (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a
local Nash equilibrium") is

    d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2).            (1)

pytorch-fid computes tr sqrt(sigma1 sigma2) with SciPy's general matrix square root (a Schur
decomposition of the non-symmetric product, in complex arithmetic). Here it comes from eigenvalues
of symmetric matrices, in float64 with torch: for any factor B, (k, d), with sigma1 = B^T B,

    sigma1 sigma2 = B^T (B sigma2)  has the non-zero eigenvalues of  M = B sigma2 B^T,    (2)

a symmetric positive semi-definite (k, k) matrix, so tr sqrt(sigma1 sigma2) = sum_i sqrt(eig_i(M)).
From the statistics alone (:func:`frechet_distance`), B = L^T from a Cholesky factor sigma1 = L L^T
(k = d; sigma2's when sigma1 has none); where both covariances are singular, on the CPU, B = (P L)^T
from LAPACK's pivoted Cholesky P^T sigma1 P = L L^T, L (d, r) for the numerical rank r (``dpstrf``,
through SciPy), and elsewhere (CUDA) B = diag(sqrt(l)) U^T from sigma1 = U diag(l) U^T, whose
eigenvectors cost several times a Cholesky.
From the features themselves (:func:`feature_distance`), when the smaller set has fewer samples N
than dimensions d, B = (its centred features) / sqrt(N - 1) (k = N), and with B' the other
set's, M = (B B'^T)(B B'^T)^T: no covariance, no eigenvectors, an (N, N) matrix. The result equals
SciPy's route to about 1e-14 relative for full-rank covariances and 1e-8 for singular ones (tests
ask for 1e-6), and is several times faster (``benchmarks/fid_speed.py``).

Covariances of fewer samples than dimensions (2,000 images, 2048 Inception features) are singular:
their zero eigenvalues come out of ``eigh`` as tiny numbers of either sign, and a square root turns
a rounding error of 1e-16 into one of 1e-8. So eigenvalues of sigma1 and of M below
d * eps64 * largest (the numerical rank's tolerance of ``numpy.linalg.matrix_rank``) are set to 0,
negative ones included down to -sqrt(eps) * largest (eps of the input's dtype); a more negative one
means the matrix is not a covariance, and a ``ValueError`` says so. On singular covariances whose
distance is known exactly this route is exact to 1e-14, SciPy's to about 1e-8.

Features (:func:`feature_extractor`): pytorch-fid's InceptionV3 (pool3, 2048-d) when its weights are
cached or can be downloaded, with the images prepared as that protocol does (8-bit values, 3
channels, 299 x 299 bilinear resize); the metric is then "FID". Otherwise a frozen classifier the
caller trained on the same data gives the features, and the metric is named "FD (classifier
features)", never "FID": its values are not comparable with published FIDs. A line printed on
creation says which features are used and why.

:func:`noise_floor` measures the distance between two disjoint random draws of the real features at
a given sample size: the value a perfect generator would get against a fresh sample. Reconstructions
are different: each is paired with the real image it was made from, so a perfect autoencoder scores
0 against its own inputs, not the floor. What moves such a value is which real images were drawn:
measure it by computing each model's distance again on a second, disjoint set of real images of the
same size (and the real-vs-real distance between the two sets, :func:`feature_distance`).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import non_negative_int, positive_int

FID = "FID"
CLASSIFIER_FD = "FD (classifier features)"
INCEPTION_SIZE = 299  # pytorch-fid resizes every image to 299 x 299, bilinear, before InceptionV3
INCEPTION_DIMS = 2048  # pool3 features
DOWNLOAD_TIMEOUT_S = 60


# --------------------------------------------------------------------------------------------------
# The distance


def _as_float64(value, name: str) -> torch.Tensor:
    """``value`` (NumPy array, tensor, or nested sequence of numbers) as a float64 tensor; tensors
    on CUDA stay there, everything else is on the CPU (MPS has no float64)."""
    if isinstance(value, torch.Tensor):
        device = value.device if value.device.type == "cuda" else torch.device("cpu")
        return value.detach().to(device=device, dtype=torch.float64)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor of numbers; got "
                        f"{type(value).__name__}") from error
    return torch.from_numpy(array)


def _eps(value) -> float:
    """Machine epsilon of the dtype ``value`` came in (float32 inputs carry float32 rounding)."""
    dtype = value.dtype
    if isinstance(value, torch.Tensor):
        return torch.finfo(dtype).eps if dtype.is_floating_point else torch.finfo(torch.float64).eps
    floating = np.issubdtype(dtype, np.floating)
    return float(np.finfo(dtype if floating else np.float64).eps)


def _psd_eigenvalues(values: torch.Tensor, eps: float, name: str, of: str) -> torch.Tensor:
    """Eigenvalues ``(d,)`` of a symmetric positive semi-definite matrix, with the rounding of its zero
    eigenvalues set to exactly zero: those below ``d * eps64 * largest`` (numerical rank, as
    ``numpy.linalg.matrix_rank``), and negative ones down to ``-sqrt(eps) * largest``.

    Raises ``ValueError`` naming the argument ``name`` when one is more negative: more than rounding.
    ``of`` says which matrix the eigenvalues are of."""
    largest = values.abs().max()
    smallest = values.min()
    if smallest < -(eps ** 0.5) * largest:
        raise ValueError(f"{name} must be positive semi-definite (a covariance); the smallest eigenvalue of "
                         f"{of} is {smallest.item():.3g}, the largest {values.max().item():.3g}")
    rank_tolerance = values.numel() * torch.finfo(torch.float64).eps * largest
    return torch.where(values > rank_tolerance, values, torch.zeros_like(values))


def _check_statistics(mu1, sigma1, mu2, sigma2):
    """The four arguments as float64 tensors on one device, with shapes (d,), (d, d), (d,), (d, d)."""
    given = {"mu1": mu1, "sigma1": sigma1, "mu2": mu2, "sigma2": sigma2}
    tensors = {name: _as_float64(value, name) for name, value in given.items()}
    for name in ("mu1", "mu2"):
        if tensors[name].dim() != 1 or tensors[name].numel() == 0:
            raise ValueError(f"{name} must be a mean vector of shape (d,); got shape "
                             f"{tuple(tensors[name].shape)}")
    d = tensors["mu1"].shape[0]
    if tensors["mu2"].shape[0] != d:
        raise ValueError(f"mu1 and mu2 must have the same length; got {d} and {tensors['mu2'].shape[0]}")
    for name in ("sigma1", "sigma2"):
        if tuple(tensors[name].shape) != (d, d):
            raise ValueError(f"{name} must be a covariance of shape ({d}, {d}) to match mu1; got shape "
                             f"{tuple(tensors[name].shape)}")
    device = tensors["sigma1"].device
    tensors = {name: t.to(device) for name, t in tensors.items()}
    for name, t in tensors.items():
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} must be finite; it has {int((~torch.isfinite(t)).sum())} NaN or "
                             "infinite entries")
    for name in ("sigma1", "sigma2"):
        s = tensors[name]
        asymmetry = (s - s.T).abs().max()
        if asymmetry > 1e-6 * s.abs().max():
            raise ValueError(f"{name} must be symmetric (a covariance); its largest |sigma - sigma.T| is "
                             f"{asymmetry.item():.3g}, against entries up to {s.abs().max().item():.3g}")
        tensors[name] = (s + s.T) / 2  # exactly symmetric, as eigh assumes
    return tensors["mu1"], tensors["sigma1"], tensors["mu2"], tensors["sigma2"]


def cholesky_factor(sigma: torch.Tensor) -> torch.Tensor | None:
    """The lower Cholesky factor ``L`` ``(d, d)`` of a symmetric ``(d, d)`` float64 tensor, sigma = L L^T,
    or ``None`` where the factorisation fails: a singular covariance (fewer samples than dimensions,
    whose zero eigenvalues round to either sign) or one that is not positive definite."""
    factor, info = torch.linalg.cholesky_ex(sigma)
    return factor if int(info) == 0 else None


def pivoted_cholesky_factor(sigma: torch.Tensor, eps: float = 2.0 ** -52) -> torch.Tensor | None:
    """``A`` ``(d, r)`` with sigma = A A^T to rounding, for a symmetric positive semi-definite ``(d, d)``
    float64 CPU tensor of numerical rank ``r``: ``P L`` from LAPACK's pivoted Cholesky (``dpstrf``,
    with its default tolerance ``d * eps64 * max(diag)``). ``None`` for a tensor on another device.

    Raises ``ValueError`` naming ``sigma1`` when the factor leaves more than rounding behind
    (``sqrt(eps)`` of the largest diagonal entry, ``eps`` that of the input's dtype): the matrix is
    then not positive semi-definite."""
    if sigma.device.type != "cpu":
        return None
    lower, pivots, rank, info = scipy.linalg.lapack.dpstrf(sigma.numpy(), lower=1, tol=-1.0)
    if info < 0:
        raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
    factor = torch.zeros(sigma.shape[0], rank, dtype=torch.float64)
    factor[torch.from_numpy(pivots.astype(np.int64) - 1)] = torch.from_numpy(np.tril(lower)[:, :rank])
    left = (sigma - factor @ factor.T).abs().max()
    largest = sigma.diagonal().abs().max()
    if left > eps ** 0.5 * largest:
        raise ValueError(f"sigma1 must be positive semi-definite (a covariance); its pivoted Cholesky "
                         f"factor of rank {rank} leaves {left.item():.3g} behind, against a largest "
                         f"diagonal entry of {largest.item():.3g}")
    return factor


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor, eps: float = 2.0 ** -52) -> torch.Tensor:
    """tr sqrt(sigma1 sigma2) for symmetric positive semi-definite ``(d, d)`` float64 tensors, as a
    0-d float64 tensor, by equation (2) with a factor B of sigma1 or of sigma2 (tr sqrt(s1 s2) =
    tr sqrt(s2 s1)), the first of these that applies:

    * where sigma1 or sigma2 has a Cholesky factor L (positive definite), B = L^T of that one: a
      Cholesky, two products and one ``eigvalsh`` (no eigenvectors);
    * else (both singular), on the CPU, B = A^T from :func:`pivoted_cholesky_factor`: a pivoted
      Cholesky, two products and one ``eigvalsh`` of ``(r, r)``;
    * else (both singular, on CUDA) B = diag(sqrt l) U^T from ``eigh(sigma1)`` with eigenvectors,
      several times dearer than a Cholesky.

    ``eps`` is the rounding unit of the matrices' origin (float64 by default): eigenvalues below
    ``d * eps64 * largest`` and down to ``-sqrt(eps) * largest`` are set to 0; more negative ones
    raise ``ValueError``."""
    for name, first, second in (("sigma1", sigma1, sigma2), ("sigma2", sigma2, sigma1)):
        lower = cholesky_factor(first)  # tr sqrt(s1 s2) = tr sqrt(s2 s1): either may be factored
        if lower is not None:
            other = "sigma2" if name == "sigma1" else "sigma1"
            product = lower.T @ second @ lower  # M = L^T sigma L, symmetric PSD, (d, d)
            product = (product + product.T) / 2
            values = torch.linalg.eigvalsh(product)
            return _psd_eigenvalues(values, eps, other, f"L^T {other} L (equation 2)").sqrt().sum()
    pivoted = pivoted_cholesky_factor(sigma1, eps)
    if pivoted is not None:
        product = pivoted.T @ sigma2 @ pivoted  # M = A^T sigma2 A, symmetric PSD, (r, r)
        product = (product + product.T) / 2
        values = torch.linalg.eigvalsh(product)
        return _psd_eigenvalues(values, eps, "sigma2", "A^T sigma2 A (equation 2)").sqrt().sum()
    values, vectors = torch.linalg.eigh(sigma1)
    factor = (vectors * _psd_eigenvalues(values, eps, "sigma1", "sigma1").sqrt()).T  # B = diag(sqrt l) U^T
    product = factor @ sigma2 @ factor.T  # M = B sigma2 B^T, symmetric PSD, (d, d)
    product = (product + product.T) / 2
    values = _psd_eigenvalues(torch.linalg.eigvalsh(product), eps, "sigma2", "B sigma2 B^T (equation 2)")
    return values.sqrt().sum()


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The squared Fréchet distance (1) between N(mu1, sigma1) and N(mu2, sigma2), as a float.

    ``mu1``, ``mu2``: means, shape ``(d,)``; ``sigma1``, ``sigma2``: covariances, shape ``(d, d)``;
    NumPy arrays or tensors of any float dtype (as pytorch-fid's ``calculate_frechet_distance``
    takes), computed in float64 (on CUDA when ``sigma1`` is there, else on the CPU). In the squared
    units of the features; >= 0 up to rounding (about 1e-12 of the traces).

    Raises ``ValueError`` for shapes that do not match, non-finite values, or a sigma that is not
    symmetric or not positive semi-definite (beyond rounding, see the module's docstring).
    """
    eps = max(_eps(np.asarray(s) if not isinstance(s, torch.Tensor) else s) for s in (sigma1, sigma2))
    mu1, sigma1, mu2, sigma2 = _check_statistics(mu1, sigma1, mu2, sigma2)
    difference = mu1 - mu2
    value = (difference @ difference + sigma1.trace() + sigma2.trace()
             - 2 * trace_sqrt_product(sigma1, sigma2, eps))
    return float(value)


def _features(features, name: str) -> torch.Tensor:
    x = _as_float64(features, name)
    if x.dim() != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, d) with N >= 2 samples; got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite; {int((~torch.isfinite(x)).any(1).sum())} rows have NaN "
                         "or infinite values")
    return x


def _mean_and_factor(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(d,)`` and factor B = centred / sqrt(N - 1) ``(N, d)`` of ``x`` ``(N, d)``: sigma = B^T B."""
    mu = x.mean(0)
    return mu, (x - mu) / (x.shape[0] - 1) ** 0.5


def feature_statistics(features) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu, sigma)`` of ``features`` ``(N, d)`` (NumPy or tensor, N >= 2): the mean ``(d,)`` and the
    unbiased covariance ``(d, d)`` (divided by N - 1, as ``numpy.cov`` and pytorch-fid), float64."""
    mu, factor = _mean_and_factor(_features(features, "features"))
    return mu, factor.T @ factor


def feature_distance(features1, features2) -> float:
    """The squared Fréchet distance (1) between the Gaussians fitted to two feature sets ``(N1, d)``
    and ``(N2, d)`` (NumPy or tensors), as :func:`frechet_distance` of their statistics.

    When the smaller set has fewer samples than dimensions (2,000 images, 2048 Inception features),
    equation (2) takes the centred features as factors: no covariance and no eigenvectors, several
    times faster than from the statistics (it holds an ``(N1, N2)`` product). Otherwise
    :func:`frechet_distance` of the statistics."""
    x1, x2 = _features(features1, "features1"), _features(features2, "features2")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"features1 and features2 must have the same number of columns (dimensions); got "
                         f"{x1.shape[1]} and {x2.shape[1]}")
    x2 = x2.to(x1.device)
    (mu1, factor1), (mu2, factor2) = _mean_and_factor(x1), _mean_and_factor(x2)
    if min(x1.shape[0], x2.shape[0]) >= x1.shape[1]:
        return frechet_distance(mu1, factor1.T @ factor1, mu2, factor2.T @ factor2)
    cross = factor1 @ factor2.T  # B1 B2^T, (N1, N2)
    product = cross @ cross.T if x1.shape[0] <= x2.shape[0] else cross.T @ cross  # M, (min N, min N)
    product = (product + product.T) / 2
    eps = torch.finfo(torch.float64).eps
    values = _psd_eigenvalues(torch.linalg.eigvalsh(product), eps, "features2", "B1 B2^T (B1 B2^T)^T")
    trace_sqrt = values.sqrt().sum()
    difference = mu1 - mu2
    # tr(sigma) = |B|_F^2
    value = difference @ difference + (factor1 * factor1).sum() + (factor2 * factor2).sum() - 2 * trace_sqrt
    return float(value)


def random_halves(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random sets of ``size`` indices each into ``range(n)``, from ``seed``.

    Raises ``ValueError`` unless ``2 <= size`` and ``2 * size <= n``."""
    for name, value in (("n", n), ("size", size), ("seed", seed)):
        non_negative_int(name, value)
    if size < 2 or 2 * size > n:
        raise ValueError(f"size must be between 2 and n / 2 = {n // 2} (two disjoint draws of n = {n}); "
                         f"got {size}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:size], order[size:2 * size]


def noise_floor(features, size: int, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> torch.Tensor:
    """The Fréchet distance between two disjoint random draws of ``size`` rows of the real
    ``features`` ``(N, d)``, one value per seed: shape ``(len(seeds),)``, float64.

    A generator as good as the data scores this much at this sample size; differences between models
    smaller than these values and their spread are not resolved. Needs ``2 * size <= N``."""
    x = _as_float64(features, "features")
    if x.dim() != 2:
        raise ValueError(f"features must have shape (N, d); got shape {tuple(x.shape)}")
    if len(seeds) == 0:
        raise ValueError("seeds must name at least one seed; got none")
    values = []
    for seed in seeds:
        first, second = random_halves(x.shape[0], size, seed)
        values.append(feature_distance(x[first.to(x.device)], x[second.to(x.device)]))
    return torch.tensor(values, dtype=torch.float64)


# --------------------------------------------------------------------------------------------------
# The features


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        shown = (f"{images.dtype} tensor of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor)
                 else type(images).__name__)
        raise ValueError(f"images must be a floating tensor of shape (N, C, H, W) with values in [0, 1]; "
                         f"got {shown}")
    if images.numel() and (images.min() < 0 or images.max() > 1 or not torch.isfinite(images).all()):
        raise ValueError(f"images must have values in [0, 1]; got values from {images.min().item():.4g} to "
                         f"{images.max().item():.4g}")


def eight_bit(images: torch.Tensor) -> torch.Tensor:
    """``images`` in [0, 1] rounded to multiples of 1/255: what a PNG file holds, which is what
    pytorch-fid reads. Real data sets are 8-bit already; generated images are brought to the same."""
    return torch.round(images * 255) / 255


def inception_input(images: torch.Tensor) -> torch.Tensor:
    """``(N, 1 or 3, H, W)`` images in [0, 1] -> ``(N, 3, 299, 299)`` in [0, 1], as pytorch-fid feeds
    its InceptionV3: 8-bit values, grey replicated to 3 channels, bilinear resize (no corner
    alignment, no antialiasing) to 299 x 299. The network itself then maps [0, 1] to [-1, 1]."""
    _check_images(images)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels for Inception; got shape {tuple(images.shape)}")
    x = eight_bit(images.float())
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)


def weights_sha256(module: nn.Module) -> str:
    """SHA-256 (hex) of ``module``'s state dict, names and values: which weights gave the features."""
    digest = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(value.dtype).encode() + str(tuple(value.shape)).encode())
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def inception_weights_path() -> Path:
    """Where torch's hub cache keeps pytorch-fid's Inception weights (the file may not exist)."""
    from pytorch_fid.inception import FID_WEIGHTS_URL

    return Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_URL.rsplit("/", 1)[-1]


def load_inception(download: bool = True) -> tuple[nn.Module | None, str]:
    """pytorch-fid's InceptionV3 (pool3 block, inputs not resized: :func:`inception_input` does it),
    in eval mode, and a sentence saying where its weights came from; or ``(None, why not)``.

    The weights are taken from torch's hub cache when there, else downloaded when ``download``
    (with a time-out of ``DOWNLOAD_TIMEOUT_S`` seconds per connection)."""
    try:
        from pytorch_fid.inception import InceptionV3
    except ImportError as error:
        return None, f"pytorch-fid is not installed ({error}; pip install pytorch-fid)"
    path = inception_weights_path()
    cached = path.exists()
    if not cached and not download:
        return None, f"pytorch-fid's Inception weights are not cached at {path} and download=False"
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        network = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[INCEPTION_DIMS]], resize_input=False,
                              normalize_input=True)
    except Exception as error:  # any failure to fetch or read the weights means: no Inception
        where = "could not be read from" if cached else "are not cached and could not be downloaded to"
        return None, f"pytorch-fid's Inception weights {where} {path} ({type(error).__name__}: {error})"
    finally:
        socket.setdefaulttimeout(previous)
    how = "cached" if cached else "downloaded"
    return network.eval(), f"pytorch-fid's Inception weights are {how} at {path}"


def _last_linear(classifier: nn.Module) -> tuple[str, nn.Linear]:
    found = [(name, m) for name, m in classifier.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(f"classifier has no nn.Linear layer, so layer=None finds no penultimate features; "
                         f"name the layer whose output is the feature (one of {_layer_names(classifier)})")
    return found[-1]


def _layer_names(classifier: nn.Module) -> list[str]:
    return [name for name, _ in classifier.named_modules() if name]


class FeatureExtractor:
    """Images ``(N, C, H, W)`` in [0, 1] -> features ``(N, d)``, float64 on the CPU, through a frozen
    network; ``metric`` is the name of the Fréchet distance on them ("FID" or "FD (classifier
    features)"), ``record`` what a results table or run log should store about them.

    Made by :func:`feature_extractor`. The network runs in eval mode without gradients; a
    classifier's own training mode is restored after each call.
    """

    def __init__(self, network: nn.Module, metric: str, features: str, reason: str,
                 prepare: Callable[[torch.Tensor], torch.Tensor],
                 read: Callable[[torch.Tensor], torch.Tensor], device: torch.device, weights: str) -> None:
        self.network = network
        self.metric = metric
        self.features = features
        self.reason = reason
        self.device = device
        self.weights_sha256 = weights
        self._prepare = prepare
        self._read = read

    @property
    def record(self) -> dict[str, str]:
        """``{"metric", "features", "reason", "weights_sha256"}``: plain strings for a run's log."""
        return {"metric": self.metric, "features": self.features, "reason": self.reason,
                "weights_sha256": self.weights_sha256}

    def announcement(self) -> str:
        """The line printed when the extractor is made: the metric, its features, and why."""
        line = f"{self.metric}: {self.features}; because {self.reason}."
        if self.metric != FID:
            line += " This is not FID: its values are not comparable with published FIDs."
        return line

    def __call__(self, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
        """Features ``(N, d)`` float64 on the CPU of ``images`` ``(N, C, H, W)`` in [0, 1], in batches of
        ``batch_size`` moved to the network's device."""
        positive_int("batch_size", batch_size)
        _check_images(images)
        was_training = self.network.training
        self.network.eval()
        batches = []
        try:
            with torch.no_grad():
                for start in range(0, images.shape[0], batch_size):
                    x = self._prepare(images[start:start + batch_size].to(self.device))
                    batches.append(self._read(x).flatten(1).to("cpu", torch.float64))
        finally:
            self.network.train(was_training)
        if not batches:
            raise ValueError(f"images must hold at least one image; got shape {tuple(images.shape)}")
        return torch.cat(batches)


def _inception_extractor(network: nn.Module, reason: str, device: torch.device) -> FeatureExtractor:
    network = network.to(device)

    def read(x: torch.Tensor) -> torch.Tensor:
        return network(x)[0]  # (N, 2048, 1, 1), the pool3 block

    return FeatureExtractor(network, FID, f"pytorch-fid's InceptionV3, pool3, {INCEPTION_DIMS}-d (images "
                            f"8-bit, 3 channels, bilinear to {INCEPTION_SIZE} x {INCEPTION_SIZE})", reason,
                            inception_input, read, device, weights_sha256(network))


POOLS = ("flatten", "mean")  # how a layer's (N, C, H, W) output becomes (N, d): all of it, or per channel


def _classifier_extractor(classifier: nn.Module, layer: str | None, reason: str,
                          device: torch.device | None, pool: str = "flatten") -> FeatureExtractor:
    if not isinstance(classifier, nn.Module):
        raise TypeError(f"classifier must be a torch.nn.Module; got {type(classifier).__name__}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}; got {pool!r}")
    if layer is None:
        name, module = _last_linear(classifier)
        where = f"the input of its last linear layer {name!r} (penultimate features)"
        use_input = True
    else:
        modules = dict(classifier.named_modules())
        if not isinstance(layer, str) or layer not in modules or not layer:
            raise ValueError(f"layer must name a submodule of classifier, one of {_layer_names(classifier)}; "
                             f"got {layer!r}")
        module = modules[layer]
        where = f"the output of its layer {layer!r}"
        use_input = False
    if device is None:
        parameter = next(classifier.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    classifier.to(device)
    captured: list[torch.Tensor] = []

    def hook(_module, inputs, output):
        captured.append(inputs[0] if use_input else output)

    def read(x: torch.Tensor) -> torch.Tensor:
        captured.clear()
        handle = module.register_forward_hook(hook)
        try:
            classifier(x)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise RuntimeError(f"the feature layer ran {len(captured)} times in one forward pass; "
                               "expected once")
        found = captured[0]
        return found.mean(dim=tuple(range(2, found.dim()))) if pool == "mean" and found.dim() > 2 else found

    digest = weights_sha256(classifier)
    how = ", averaged over positions" if pool == "mean" else ""
    features = (f"the frozen classifier {type(classifier).__name__} (weights sha256 {digest[:12]}), "
                f"{where}{how}, images 8-bit")
    return FeatureExtractor(classifier, CLASSIFIER_FD, features, reason, eight_bit, read, device, digest)


def feature_extractor(classifier: nn.Module | None = None, *, layer: str | None = None,
                      pool: str = "flatten", inception: bool = True, download: bool = True,
                      device: torch.device | str | None = None, announce: bool = True) -> FeatureExtractor:
    """The features for a Fréchet distance: Inception's when possible, else ``classifier``'s.

    ``classifier``: a network trained on the same data's labels, used frozen (eval mode, no
    gradients), when pytorch-fid's Inception cannot be had (not installed, weights neither cached nor
    downloadable) or ``inception`` is False. Its features are the input of its last ``nn.Linear``
    (``layer=None``), or the output of the submodule named ``layer``, flattened per image
    (``pool="flatten"``) or, for an ``(N, C, H, W)`` map, averaged over its positions to ``(N, C)``
    (``pool="mean"``, as Inception's pool3 averages its last map).
    ``download``: try to download Inception's weights when they are not cached. ``device``: where
    the network runs (default: the best device for Inception; the classifier's own device).
    ``announce``: print which features are used and why (one line).

    Raises ``ValueError`` when neither Inception nor a classifier can be had, saying why.
    """
    if inception:
        network, reason = load_inception(download)
    else:
        network, reason = None, "Inception was not requested (inception=False)"
    if network is not None:
        from helpers.config import device as best_device

        chosen = _inception_extractor(network, reason, torch.device(device) if device else best_device())
    elif classifier is None:
        raise ValueError(f"no features for a Fréchet distance: {reason}, and no classifier was given; pass "
                         "classifier=<a network trained on the same data>")
    else:
        chosen = _classifier_extractor(classifier, layer, reason,
                                       torch.device(device) if device is not None else None, pool)
    if announce:
        print(chosen.announcement())
    return chosen


def classifier_layers(classifier: nn.Module, layers: Mapping[str, tuple[str | None, str]], reason: str,
                      device: torch.device | str | None = None) -> dict[str, FeatureExtractor]:
    """One classifier-feature extractor per entry of ``layers``: ``{label: (layer, pool)}`` with
    ``layer`` and ``pool`` as :func:`feature_extractor` takes them (``None``: the penultimate
    features), all named "FD (classifier features)" and recording ``reason`` (why not Inception).

    A ranking of image sets by a Fréchet distance can depend on the layer: one read on several layers
    claims only the orderings they share. Raises ``ValueError`` for an empty ``layers`` or an entry
    that is not a ``(layer, pool)`` pair."""
    if not isinstance(layers, Mapping) or not layers:
        raise ValueError(f"layers must be a non-empty mapping {{label: (layer, pool)}}; got {layers!r}")
    found = {}
    for label, entry in layers.items():
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise ValueError(f"layers[{label!r}] must be a (layer, pool) pair such as ('body.7', 'flatten'); "
                             f"got {entry!r}")
        found[label] = _classifier_extractor(classifier, entry[0], reason,
                                             torch.device(device) if device is not None else None, entry[1])
    return found
