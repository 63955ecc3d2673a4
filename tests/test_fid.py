"""helpers.fid: the Fréchet distance against SciPy's square-root route and closed forms; feature
statistics; the real-vs-real noise floor; Inception and classifier features, honestly named."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from helpers import fid


def scipy_frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Equation (1) with SciPy's general matrix square root of the product (pytorch-fid's route, without
    the ``disp=False`` call that SciPy 1.17 deprecates)."""
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    difference = mu1 - mu2
    return float(difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root).real)


def correlated_features(rng: np.random.Generator, n: int, d: int, shift: float) -> np.ndarray:
    """Non-negative, correlated, non-Gaussian features (like pooled ReLU activations)."""
    mixing = rng.standard_normal((32, d)) / 4
    return np.abs(rng.standard_normal((n, 32)) @ mixing + 0.3 * rng.standard_normal((n, d)) + shift)


def statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("samples", [(512, 512), (100, 100), (100, 512)],
                         ids=["full-rank: Cholesky", "singular: pivoted Cholesky",
                              "first singular: second's Cholesky"])
@pytest.mark.parametrize("shift", [0.0, 0.05, 1.0])
def test_frechet_distance_equals_scipys_route(samples, shift):
    rng = np.random.default_rng(1)
    first = statistics(correlated_features(rng, samples[0], 256, 0.0))
    second = statistics(correlated_features(rng, samples[1], 256, shift))
    # which route equation (2) takes: a Cholesky factor exists only for the full-rank covariances
    factors = [fid.cholesky_factor(torch.from_numpy(s)) for s in (first[1], second[1])]
    assert [f is not None for f in factors] == [n > 256 for n in samples]
    expected = scipy_frechet_distance(*first, *second)
    got = fid.frechet_distance(*first, *second)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-6)
    assert fid.frechet_distance(*second, *first) == pytest.approx(expected, rel=1e-6)


def test_numpy_and_tensor_inputs_of_any_float_dtype_agree():
    rng = np.random.default_rng(2)
    first = statistics(correlated_features(rng, 300, 64, 0.0))
    second = statistics(correlated_features(rng, 300, 64, 0.2))
    reference = fid.frechet_distance(*first, *second)
    as_tensors = [torch.from_numpy(a) for a in (*first, *second)]
    assert fid.frechet_distance(*as_tensors) == reference
    float32 = [a.astype(np.float32) for a in (*first, *second)]
    assert fid.frechet_distance(*float32) == pytest.approx(reference, rel=1e-5)
    assert fid.frechet_distance(*second, *first) == pytest.approx(reference, rel=1e-12)  # symmetric


def test_closed_forms_one_dimension_and_commuting_covariances():
    # d = 1: (mu1 - mu2)^2 + (s1 - s2)^2 with standard deviations s
    assert fid.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0, rel=1e-14)
    # commuting covariances Q diag(a) Q^T, Q diag(b) Q^T: sum (sqrt a - sqrt b)^2 + |mu1 - mu2|^2
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((64, 64)))
    a, b = rng.uniform(0.1, 3, 64), rng.uniform(0.1, 3, 64)
    mu1, mu2 = rng.standard_normal(64), rng.standard_normal(64)
    exact = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    got = fid.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(exact, rel=1e-12)


def test_singular_covariances_rounding_of_zero_eigenvalues_is_set_to_zero():
    # rank 200 of 256: the 56 zero eigenvalues come out of eigh as +-1e-16; their square roots
    # (1e-8) would move the result by about 1e-8 relative, as they move SciPy's
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((256, 256)))
    a = np.r_[rng.uniform(0.1, 2, 200), np.zeros(56)]
    b = np.r_[rng.uniform(0.1, 2, 200), np.zeros(56)]
    sigma1, sigma2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert np.linalg.eigvalsh(sigma1).min() < 0  # the rounding is there
    exact = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    mu = np.zeros(256)
    assert fid.frechet_distance(mu, sigma1, mu, sigma2) == pytest.approx(exact, rel=1e-12)
    assert abs(scipy_frechet_distance(mu, sigma1, mu, sigma2) - exact) / exact > 1e-11  # SciPy keeps it
    # the same distribution: exactly zero up to rounding of the traces
    assert abs(fid.frechet_distance(mu, sigma1, mu, sigma1)) < 1e-12 * np.trace(sigma1)


def test_singular_covariances_take_the_pivoted_cholesky_which_equals_the_eigh_route(monkeypatch):
    rng = np.random.default_rng(4)
    first = statistics(correlated_features(rng, 100, 256, 0.0))  # rank 99 of 256
    second = statistics(correlated_features(rng, 120, 256, 0.3))
    sigma = torch.from_numpy(first[1])
    factor = fid.pivoted_cholesky_factor(sigma)
    assert factor.shape == (256, np.linalg.matrix_rank(first[1]))
    assert torch.allclose(factor @ factor.T, sigma, rtol=0, atol=1e-12 * sigma.diagonal().max().item())
    pivoted = fid.frechet_distance(*first, *second)
    monkeypatch.setattr(fid, "pivoted_cholesky_factor", lambda sigma, eps=None: None)  # as on CUDA
    assert fid.frechet_distance(*first, *second) == pytest.approx(pivoted, rel=1e-10)


def test_a_singular_sigma1_that_is_not_positive_semi_definite_is_refused():
    mu, sigma2 = np.zeros(3), np.diag([1.0, 1.0, 0.0])  # both singular: no Cholesky factor either way
    with pytest.raises(ValueError, match="sigma1 must be positive semi-definite.*pivoted Cholesky factor of "
                                         "rank 1 leaves 1 behind"):
        fid.frechet_distance(mu, np.diag([1.0, -1.0, 0.0]), mu, sigma2)


def test_bad_arguments_are_named():
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match=r"mu1 must be a mean vector of shape \(d,\); got shape \(1, 3\)"):
        fid.frechet_distance(mu[None], sigma, mu, sigma)
    with pytest.raises(ValueError, match="mu1 and mu2 must have the same length; got 3 and 4"):
        fid.frechet_distance(mu, sigma, np.zeros(4), sigma)
    with pytest.raises(ValueError, match=r"sigma2 must be a covariance of shape \(3, 3\) to match mu1; got "
                                         r"shape \(3, 4\)"):
        fid.frechet_distance(mu, sigma, mu, np.ones((3, 4)))
    with pytest.raises(ValueError, match="sigma1 must be finite; it has 1 NaN"):
        fid.frechet_distance(mu, np.diag([1.0, np.nan, 1.0]), mu, sigma)
    with pytest.raises(ValueError, match="sigma1 must be symmetric"):
        fid.frechet_distance(mu, np.triu(np.ones((3, 3))), mu, sigma)
    with pytest.raises(ValueError, match="sigma1 must be positive semi-definite.*smallest eigenvalue of "
                                         r".*sigma1.* is -1"):
        fid.frechet_distance(mu, np.diag([1.0, -1.0, 1.0]), mu, sigma)
    with pytest.raises(ValueError, match="sigma2 must be positive semi-definite"):
        fid.frechet_distance(mu, sigma, mu, np.diag([1.0, -0.5, 1.0]))
    with pytest.raises(TypeError, match="mu2 must be a NumPy array or a torch tensor of numbers; got dict"):
        fid.frechet_distance(mu, sigma, {"a": 1}, sigma)


def test_feature_statistics_are_numpys_mean_and_unbiased_covariance():
    x = np.random.default_rng(4).standard_normal((50, 6)).astype(np.float32)
    mu, sigma = fid.feature_statistics(x)
    assert mu.dtype == sigma.dtype == torch.float64 and mu.shape == (6,) and sigma.shape == (6, 6)
    np.testing.assert_allclose(mu.numpy(), x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12)
    assert fid.feature_distance(x, torch.from_numpy(x)) == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match=r"features must have shape \(N, d\) with N >= 2 samples; got shape "
                                         r"\(1, 6\)"):
        fid.feature_statistics(x[:1])
    with pytest.raises(ValueError, match="features must be finite; 1 rows"):
        fid.feature_statistics(np.where(np.arange(300).reshape(50, 6) == 7, np.inf, x))


@pytest.mark.parametrize("samples", [(80, 150), (150, 80), (400, 300)], ids=["fewer", "fewer-second", "more"])
def test_feature_distance_from_the_features_equals_the_route_from_statistics(samples):
    rng = np.random.default_rng(5)
    x1 = correlated_features(rng, samples[0], 128, 0.0)
    x2 = correlated_features(rng, samples[1], 128, 0.1)
    first, second = statistics(x1), statistics(x2)
    got = fid.feature_distance(x1, torch.from_numpy(x2))
    assert got == pytest.approx(fid.frechet_distance(*first, *second), rel=1e-6)
    assert got == pytest.approx(scipy_frechet_distance(*first, *second), rel=1e-6)
    with pytest.raises(ValueError, match="features1 and features2 must have the same number of columns "
                                         r"\(dimensions\); got 128 and 127"):
        fid.feature_distance(x1, x2[:, 1:])


def test_noise_floor_draws_disjoint_halves_per_seed_and_shrinks_with_more_samples():
    first, second = fid.random_halves(100, 40, seed=3)
    assert len(first) == len(second) == 40 and not set(first.tolist()) & set(second.tolist())
    assert torch.equal(fid.random_halves(100, 40, seed=3)[0], first)
    assert not torch.equal(fid.random_halves(100, 40, seed=4)[0], first)
    features = torch.randn(2000, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    small = fid.noise_floor(features, 50, seeds=(0, 1, 2))
    large = fid.noise_floor(features, 1000, seeds=(0, 1, 2))
    assert small.shape == (3,) and (small > 0).all() and (large > 0).all()
    assert len(set(small.tolist())) == 3  # each seed its own draw
    assert large.mean() < small.mean() / 5  # the floor falls about as 1/size
    assert torch.equal(fid.noise_floor(features, 50, seeds=(0, 1, 2)), small)
    with pytest.raises(ValueError, match=r"size must be between 2 and n / 2 = 1000 \(two disjoint draws of "
                                         r"n = 2000\); got 1001"):
        fid.noise_floor(features, 1001)
    with pytest.raises(ValueError, match="seeds must name at least one seed"):
        fid.noise_floor(features, 10, seeds=())


def test_inception_input_is_pytorch_fids_protocol():
    images = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    x = fid.inception_input(images)
    assert x.shape == (2, 3, 299, 299) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x[:, 0], x[:, 2])  # grey replicated
    quantised = torch.round(images * 255) / 255
    expected = F.interpolate(quantised, size=(299, 299), mode="bilinear", align_corners=False)
    torch.testing.assert_close(x[:, :1], expected, rtol=0, atol=1e-6)
    assert not torch.allclose(fid.eight_bit(images), images)  # the 8-bit step does something
    with pytest.raises(ValueError, match=r"images must have 1 or 3 channels for Inception; got shape "
                                         r"\(2, 2, 32, 32\)"):
        fid.inception_input(torch.rand(2, 2, 32, 32))
    with pytest.raises(ValueError, match="images must have values in \\[0, 1\\]; got values from -1"):
        fid.inception_input(torch.full((1, 3, 8, 8), -1.0))
    with pytest.raises(ValueError, match=r"images must be a floating tensor of shape \(N, C, H, W\)"):
        fid.inception_input(torch.zeros(3, 8, 8))


class SmallClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.ReLU(), nn.Flatten())  # (N, 4 * 8 * 8)
        self.hidden = nn.Linear(256, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(torch.relu(self.hidden(self.body(x))))


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch's hub cache in an empty folder: no Inception weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert torch.hub.get_dir().startswith(str(tmp_path))
    return tmp_path


def test_offline_the_classifier_gives_the_features_named_fd_not_fid(empty_hub, capsys):
    torch.manual_seed(0)
    classifier = SmallClassifier().train()
    extractor = fid.feature_extractor(classifier, download=False)
    line = capsys.readouterr().out
    assert extractor.metric == "FD (classifier features)" and "FID" not in extractor.metric
    assert line.startswith("FD (classifier features): the frozen classifier SmallClassifier")
    assert "not cached" in line and "This is not FID" in line and "'head'" in line
    images = torch.rand(5, 1, 16, 16)
    features = extractor(images, batch_size=2)
    assert features.shape == (5, 16) and features.dtype == torch.float64
    with torch.no_grad():
        expected = torch.relu(classifier.hidden(classifier.body(fid.eight_bit(images))))
    torch.testing.assert_close(features, expected.double())
    assert classifier.training  # the caller's mode is given back
    assert all(p.grad is None for p in classifier.parameters())
    record = extractor.record
    assert record["metric"] == "FD (classifier features)" and len(record["weights_sha256"]) == 64
    assert record["weights_sha256"][:12] in record["features"]
    with torch.no_grad():
        classifier.head.bias.add_(1.0)
    assert fid.weights_sha256(classifier) != record["weights_sha256"]
    by_name = fid.feature_extractor(classifier, layer="body", inception=False, announce=False)
    assert by_name.reason == "Inception was not requested (inception=False)"
    assert by_name(images).shape == (5, 256)


def test_without_inception_and_classifier_the_error_says_why(empty_hub, monkeypatch):
    with pytest.raises(ValueError, match="no features for a Fréchet distance: pytorch-fid's Inception "
                                         "weights are not cached at .* and download=False, and no "
                                         "classifier"):
        fid.feature_extractor(download=False)
    monkeypatch.setitem(__import__("sys").modules, "pytorch_fid.inception", None)  # as if not installed
    network, reason = fid.load_inception(download=False)
    assert network is None and reason.startswith("pytorch-fid is not installed")
    with pytest.raises(ValueError, match="layer must name a submodule of classifier, one of \\['body'"):
        fid.feature_extractor(SmallClassifier(), layer="nope", announce=False)
    with pytest.raises(ValueError, match="classifier has no nn.Linear layer"):
        fid.feature_extractor(nn.Sequential(nn.Conv2d(1, 2, 3)), announce=False)


def test_cached_inception_weights_give_fid_on_2048_features(empty_hub, capsys):
    pytest.importorskip("pytorch_fid")
    import torchvision

    # pytorch-fid's FID Inception has torchvision's InceptionV3 parameters (1008 classes, no auxiliary
    # head): random ones, saved where the real weights would be cached, test the loading offline
    torch.manual_seed(0)
    stand_in = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                               init_weights=False)
    path = fid.inception_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(stand_in.state_dict(), path)
    extractor = fid.feature_extractor(download=False, device="cpu")
    assert extractor.metric == "FID"
    assert capsys.readouterr().out.startswith("FID: pytorch-fid's InceptionV3, pool3, 2048-d")
    assert "cached" in extractor.reason and "not FID" not in extractor.announcement()
    features = extractor(torch.rand(2, 1, 32, 32), batch_size=1)
    assert features.shape == (2, 2048) and torch.isfinite(features).all() and (features >= 0).all()


def test_classifier_layers_read_several_layers_flat_or_averaged_over_positions():
    torch.manual_seed(0)
    classifier = SmallClassifier()
    wanted = {"conv, mean": ("body.0", "mean"), "conv, flat": ("body.0", "flatten"),
              "penultimate": (None, "flatten")}
    layers = fid.classifier_layers(classifier, wanted, "Inception is not here")
    images = torch.rand(5, 1, 16, 16)
    mean, flat, last = (layers[k](images) for k in ("conv, mean", "conv, flat", "penultimate"))
    assert mean.shape == (5, 4) and flat.shape == (5, 4 * 8 * 8) and last.shape == (5, 16)
    with torch.no_grad():
        conv = classifier.body[0](fid.eight_bit(images))
    torch.testing.assert_close(mean, conv.mean((2, 3)).double())  # averaged over positions, per channel
    torch.testing.assert_close(flat, conv.flatten(1).double())
    assert all(e.metric == "FD (classifier features)" and e.reason == "Inception is not here"
               for e in layers.values())
    assert "averaged over positions" in layers["conv, mean"].features
    assert "averaged" not in layers["conv, flat"].features
    with pytest.raises(ValueError, match="pool must be one of"):
        fid.classifier_layers(classifier, {"x": ("body.0", "max")}, "r")
    with pytest.raises(ValueError, match="must be a \\(layer, pool\\) pair"):
        fid.classifier_layers(classifier, {"x": "body.0"}, "r")
    with pytest.raises(ValueError, match="non-empty mapping"):
        fid.classifier_layers(classifier, {}, "r")
