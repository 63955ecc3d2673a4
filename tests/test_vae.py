"""The VAE, the classifier and the experiment helpers of notebooks 04 and 05."""

import math

import pytest
import torch
from scipy import ndimage

from helpers import models
from helpers.experiments.classify import accuracy
from helpers.experiments.vae import (
    COLLECTION,
    VAEObjective,
    beta_for_rate,
    edge_share,
    gradient_energy,
    high_frequency_ratio,
    pad_to,
    sample_diversity,
    sharpness_ratio,
)
from helpers.models import weights_hash
from helpers.models.classifier import Classifier
from helpers.models.vae import VAE, kl_divergence
from helpers.train import Step


def test_vae_shapes_and_output_range():
    model = VAE(side=32, channels=1, widths=(8, 16, 32, 64), latent=6)
    with torch.no_grad():
        out = model(torch.rand(5, 1, 32, 32))
    assert out.reconstruction.shape == (5, 1, 32, 32)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (5, 6)
    assert 0 <= float(out.reconstruction.min()) and float(out.reconstruction.max()) <= 1
    assert model.bottom == 2


def test_vae_eval_decodes_the_mean_and_train_samples():
    torch.manual_seed(0)
    model = VAE(16, 3, (4, 8), 5)
    x = torch.rand(4, 3, 16, 16)
    model.eval()
    out = model(x)
    assert torch.equal(out.z, out.mu)
    model.train()
    assert not torch.equal(model(x).z, model(x).mu)


def test_kl_divergence_matches_torch_distributions():
    mu, logvar = torch.randn(7, 4, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_divergence(mu, logvar), expected, rtol=1e-12, atol=1e-12)
    assert float(kl_divergence(torch.zeros(1, 3), torch.zeros(1, 3))) == 0.0


def test_conditional_vae_uses_its_labels():
    torch.manual_seed(0)
    model = VAE(16, 1, (4, 8), 3, classes=10).eval()
    z = torch.randn(2, 3)
    a = model.decode(z, torch.tensor([1, 1]))
    b = model.decode(z, torch.tensor([1, 7]))
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1], b[1])
    samples = model.sample(4, torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 1, 16, 16)
    with pytest.raises(ValueError, match="labels must be an int tensor of shape \\(2,\\)"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="labels must be None"):
        VAE(16, 1, (4, 8), 3)(torch.rand(2, 1, 16, 16), torch.tensor([0, 1]))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"side": 28}, "side must be a multiple of 2 \\*\\* len\\(widths\\) = 16"),
    ({"widths": ()}, "widths must be a non-empty sequence"),
    ({"latent": 0}, "latent must be a positive int"),
    ({"classes": -1}, "classes must be an int >= 0"),
])
def test_vae_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAE(**{"side": 32, "widths": (8, 16, 32, 64), **kwargs})


def test_vae_rejects_the_wrong_image_size():
    with pytest.raises(ValueError, match="x must have shape \\(N, 1, 32, 32\\); got \\(2, 1, 28, 28\\)"):
        VAE(32, 1, (4, 8), 2)(torch.rand(2, 1, 28, 28))


def test_models_rebuild_from_their_description():
    for model in (VAE(16, 1, (4, 8), 3, classes=2), Classifier(1, 4, 8)):
        rebuilt = models.build(models.describe(model))
        assert type(rebuilt) is type(model) and rebuilt.arguments == model.arguments


def test_classifier_features_and_accuracy():
    torch.manual_seed(0)
    model = Classifier(1, 3, 4, side=28).eval()
    x = torch.rand(6, 1, 28, 28)
    assert model.features(x).shape == (6, 16) and model(x).shape == (6, 3)
    with pytest.raises(ValueError, match="x must have shape \\(N, 1, 28, 28\\); got \\(6, 1, 32, 32\\)"):
        model.features(torch.rand(6, 1, 32, 32))
    predicted = model.predict(x)
    assert accuracy(model, x, predicted) == 1.0
    assert accuracy(model, x, (predicted + 1) % 3) == 0.0
    with pytest.raises(ValueError, match="same non-zero length"):
        accuracy(model, x, predicted[:2])


def test_pad_to_centres_and_checks():
    images = torch.ones(2, 1, 28, 28, dtype=torch.uint8)
    padded = pad_to(images, 32)
    assert padded.shape == (2, 1, 32, 32) and padded.dtype == torch.uint8
    assert int(padded.sum()) == 2 * 28 * 28 and int(padded[0, 0, 2, 2]) == 1 and int(padded[0, 0, 1, 2]) == 0
    with pytest.raises(ValueError, match="even difference"):
        pad_to(images, 31)


def test_sharpness_ratio_sees_blur():
    torch.manual_seed(0)
    target = torch.rand(4, 1, 32, 32)
    blurred = torch.from_numpy(ndimage.gaussian_filter(target.numpy(), (0, 0, 1, 1))).float()
    assert sharpness_ratio(target, target) == pytest.approx(1.0)
    assert sharpness_ratio(blurred, target) < 0.2
    assert torch.all(gradient_energy(torch.full((2, 1, 8, 8), 0.5)) == 0)
    for measure in (edge_share, high_frequency_ratio):
        assert measure(target, target) == pytest.approx(1.0)
        assert measure(blurred, target) < 0.5
    # more contrast raises the gradient energy by the square, the in-place share only linearly, and
    # leaves the high-frequency fraction as it is
    stretched = 0.5 + 1.5 * (target - 0.5)
    assert sharpness_ratio(stretched, target) == pytest.approx(2.25, rel=1e-4)
    assert edge_share(stretched, target) == pytest.approx(1.5, rel=1e-4)
    assert high_frequency_ratio(stretched, target) == pytest.approx(1.0, rel=1e-4)
    # misplaced edges: energy without any of the originals' edges
    shifted = torch.roll(target, 5, dims=-1)
    assert sharpness_ratio(shifted, target) == pytest.approx(1.0, rel=0.05)
    assert abs(edge_share(shifted, target)) < 0.2


def test_objective_components_and_warmup():
    torch.manual_seed(0)
    model = VAE(16, 1, (4, 8), 3)
    x = torch.rand(4, 1, 16, 16)
    objective = VAEObjective("mse", beta=0.5, warmup=2)
    terms = objective(model, x, torch.zeros(4, dtype=torch.long), Step(1, 5, 10))
    assert objective.weight(Step(1, 5, 10)) == pytest.approx(0.125)
    assert objective.weight(Step(3, 1, 10)) == 0.5
    loss, expected = float(terms["loss"].detach()), float((terms["recon"] + 0.125 * terms["kl"]).detach())
    assert loss == pytest.approx(expected, rel=1e-6)
    assert float(terms["kl"].detach()) > 0
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        VAEObjective("mse", beta=-1)


def test_collection_objective_goes_nan_on_anticorrelated_images():
    """The collection's MSSIM (no clipping) is NaN once a scale's batch-mean cs is negative."""
    objective = VAEObjective(COLLECTION, beta=0.0)
    x = torch.rand(2, 1, 32, 32)
    assert torch.isnan(objective.recon(1 - x, x))
    assert torch.isfinite(objective.recon(x.clamp(0.1, 0.9), x))


def test_beta_for_rate_interpolates_in_log_log():
    betas = [1e-4, 1e-3, 1e-2]
    rates = [100.0, 40.0, 10.0]
    assert beta_for_rate(betas, rates, 40.0) == pytest.approx(1e-3)
    middle = beta_for_rate(betas, rates, 20.0)  # between 1e-3 and 1e-2, log-linear
    expected = math.exp(math.log(1e-3) + (math.log(20) - math.log(40)) / (math.log(10) - math.log(40))
                        * (math.log(1e-2) - math.log(1e-3)))
    assert middle == pytest.approx(expected)
    assert beta_for_rate(betas, rates, 5.0) > 1e-2  # extrapolated beyond the last
    with pytest.raises(ValueError, match="must be > 0"):
        beta_for_rate(betas, rates, 0.0)


def test_weights_hash():
    torch.manual_seed(0)
    a = Classifier(1, 2, 4)
    b = models.build(models.describe(a))
    assert weights_hash(a) != weights_hash(b)
    b.load_state_dict(a.state_dict())
    assert weights_hash(a) == weights_hash(b)


def _tiny_data():
    from helpers.data import DatasetInfo, Splits

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (96, 1, 16, 16), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 3, (96,), generator=generator)

    def info(split):
        return DatasetInfo("fashion-mnist", split, "random test bytes", False, ("a", "b", "c"), (1, 16, 16),
                           32)

    return Splits(train=(images[:64], labels[:64]), val=(images[64:80], labels[64:80]),
                  test=(images[80:], labels[80:]), info=info("train"), val_info=info("val"))


def test_train_vae_trains_reuses_and_honours_a_recorded_failure(tmp_path):
    from helpers.experiments.vae import REPORT_COLUMNS, test_report, train_vae
    from helpers.train import FAILED

    data = _tiny_data()
    arguments = dict(epochs=1, batch_size=16, widths=(4, 8), latent=3, root=tmp_path, device="cpu",
                     progress=False)
    run = train_vae(data, "mse", 1e-3, 0, **arguments)
    assert run.failure is None and len(run.history) == 1 and run.model is not None
    checkpoint = run.run_dir / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = train_vae(data, "mse", 1e-3, 0, **arguments)
    assert again.run_dir == run.run_dir and checkpoint.stat().st_mtime_ns == stamp  # reused, not retrained
    assert again.history == run.history
    report = test_report(again.model, data.test)
    assert set(report) == set(REPORT_COLUMNS) and report["kl"] >= 0 and 0 < report["sharpness"]
    other = train_vae(data, "ms_ssim", 1e-3, 0, **arguments)
    assert other.run_dir != run.run_dir
    (other.run_dir / FAILED).write_text("'recon' is not finite at epoch 1, step 3\n")
    failed = train_vae(data, "ms_ssim", 1e-3, 0, **arguments)
    assert failed.model is None and "not finite" in failed.failure


def test_signature_changes_with_the_network_and_a_changed_network_is_refused(tmp_path):
    from helpers.data.loader import TensorLoader
    from helpers.train import fit, load_run

    assert models.signature(Classifier(1, 3, 4)) == models.signature(Classifier(1, 3, 4))
    assert models.signature(Classifier(1, 3, 4)) != models.signature(Classifier(1, 3, 8))
    vae = VAE(16, 1, (4, 8), 3)
    deeper = VAE(16, 1, (4, 8, 8), 3)
    assert models.signature(vae) != models.signature(deeper)

    x = torch.rand(8, 1, 16, 16)
    loader = TensorLoader(x, torch.zeros(8, dtype=torch.long), batch_size=4)

    def objective(model, x, y, at):
        return {"loss": (model(x).reconstruction - x).pow(2).mean()}

    fit(vae, objective, loader, loader, 1, tmp_path, device="cpu", progress=False)
    with pytest.raises(ValueError, match="trained with another network than VAE as it is now"):
        fit(deeper, objective, loader, loader, 2, tmp_path, device="cpu", progress=False)
    assert load_run(tmp_path).model.arguments == vae.arguments


def test_label_following_tells_label_from_code():
    from helpers.experiments.vae import label_following

    torch.manual_seed(0)
    model = VAE(16, 1, (4, 8), 3, classes=4).eval()
    images, labels = torch.rand(8, 1, 16, 16), torch.arange(8) % 4

    class Oracle(torch.nn.Module):  # reads the class the decoder was given from the image's mean
        def __init__(self, mapping):
            super().__init__()
            self.mapping = mapping

        def predict(self, x):
            return self.mapping(x)

    # a judge that always names the label the decoder was given: the output follows the label
    given = {}
    original_decode = model.decode

    def decode(z, y):
        given["labels"] = y
        return original_decode(z, y)

    model.decode = decode
    follows_label = Oracle(lambda x: given["labels"])
    assert label_following(model, images, labels, follows_label) == (1.0, 0.0)
    follows_code = Oracle(lambda x: labels)
    assert label_following(model, images, labels, follows_code) == (0.0, 1.0)
    with pytest.raises(ValueError, match="must be conditional"):
        label_following(VAE(16, 1, (4, 8), 3), images, labels, follows_code)


def test_sample_diversity_is_the_mean_per_pixel_spread_within_each_class():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    same = torch.rand(1, 1, 8, 8, generator=g).repeat(6, 1, 1, 1)
    assert sample_diversity(same, labels) == 0.0  # every class one image: no variety
    # two classes, one constant image each, against two images 0 and 1: the per-pixel std of (0, 1) is
    # 1 / sqrt(2) in every pixel, so the classes' means are 0 and 0.7071; their mean 0.3536
    pairs = torch.cat([torch.zeros(2, 1, 4, 4), torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])])
    assert sample_diversity(pairs, torch.tensor([0, 0, 1, 1])) == pytest.approx(0.5 ** 0.5 / 2)
    noisy = torch.rand(6, 1, 8, 8, generator=g)
    assert sample_diversity(noisy, labels) > 0.2  # uniform noise: std 0.29 per pixel
    assert sample_diversity((noisy * 255).to(torch.uint8), labels) == pytest.approx(
        sample_diversity(noisy, labels), abs=3e-3)  # uint8 is scaled to [0, 1]
    with pytest.raises(ValueError, match="at least 2 images"):
        sample_diversity(noisy[:4], torch.tensor([0, 0, 0, 1]))
    with pytest.raises(ValueError, match="labels"):
        sample_diversity(noisy, labels[:5])
