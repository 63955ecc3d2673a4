"""The loss-zoo experiments of notebook 07: configurations, data choice, runs, timings, scales, table."""

import itertools

import pytest
import torch

from helpers import vqvae_experiments as zoo
from helpers.data import DatasetInfo, Split
from helpers.models.vqvae import VQVAE
from helpers.train import Step
from helpers.vqvae_experiments import (
    CONFIGURATIONS,
    PUBLISHED_FID,
    VQObjective,
    ZooData,
    check_configurations,
    claim_checks,
    layout_table,
    loss_scales,
    mean_std,
    pairwise_orders,
    parse_configuration,
    ranks,
    relative_times,
    spearman,
    step_times,
    train_vqvae,
    zoo_data,
)


def test_the_write_ups_table_has_twenty_five_cells_all_trainable():
    assert len(CONFIGURATIONS) == len(set(CONFIGURATIONS)) == 25  # MSE + 6 losses x (alone, w = 1, 0.5, 0.25)
    assert set(CONFIGURATIONS) == set(PUBLISHED_FID)
    assert CONFIGURATIONS[:5] == ("mse", "psnr", "mse+psnr@1", "mse+psnr@0.5", "mse+psnr@0.25")
    assert parse_configuration("mse+ssim@0.5") == ("ssim", 0.5)
    assert parse_configuration("gmsd") == ("gmsd", None)
    assert all(parse_configuration(c)[0] in zoo.TITLES for c in CONFIGURATIONS)


@pytest.mark.parametrize("bad", ["", "ssim+mse@1", "mse+foo@1", "mse+ssim@-1", "ssim2"])
def test_bad_configuration_names_are_refused(bad):
    with pytest.raises(ValueError):
        parse_configuration(bad)


def test_check_configurations_wants_a_list_of_distinct_names():
    assert check_configurations(("mse", "ssim")) == ["mse", "ssim"]
    for bad in ("mse", [], ["mse", "mse"], ["mse", "nope"]):
        with pytest.raises(ValueError):
            check_configurations(bad)


def test_the_write_ups_own_table_satisfies_its_claims():
    published = {name: (value, 0.0) for name, value in PUBLISHED_FID.items()}
    assert all(claim_checks(published).values())
    missing = claim_checks({"mse": (1.0, 0.0), "psnr": (2.0, 0.0)})
    assert missing["ssim_alone_best"] is None and missing["psnr_alone_beats_mse"] is False
    assert missing["mse_rescues_gradient_losses"] is None


def test_layout_table_raw_and_scaled():
    summary = {"mse": (80.0, 2.0), "ssim": (40.0, 1.0), "mse+ssim@0.5": (60.0, 3.0)}
    raw = layout_table(summary)
    lines = raw.splitlines()
    assert len(lines) == 2 + 1 + len(zoo.ZOO)
    assert lines[2].startswith("| MSE | 80 ± 2 |")
    assert "| SSIM | 40 ± 1 | — | 60 ± 3 | — |" in raw
    scaled = layout_table(summary, scaled=True)
    assert "| SSIM | 1.00 ± 0.03 | — | 1.50 ± 0.07 | — |" in scaled
    with pytest.raises(ValueError):
        layout_table({})


def test_ranks_share_ties_and_spearman_is_signed():
    assert ranks([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2])


def test_pairwise_orders_agreement_and_resolution():
    summary = {"mse": (10.0, 0.0), "ssim": (5.0, 0.0), "psnr": (12.0, 0.0)}
    pairs = {(p.better, p.worse): p for p in pairwise_orders(summary, lambda a, b: 3.0)}
    # the write-up: ssim 69.0 < psnr 81.9 < mse 86.3
    assert pairs[("ssim", "mse")].agrees and pairs[("ssim", "mse")].resolved
    assert not pairs[("psnr", "mse")].agrees and not pairs[("psnr", "mse")].resolved  # 12 vs 10: within 3
    assert pairs[("ssim", "psnr")].agrees and pairs[("ssim", "psnr")].resolved


def test_mean_std_and_relative_times():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    assert mean_std([4.0]) == (4.0, 0.0)
    relative = relative_times({"mse": [1.0, 2.0, 9.0], "ssim": [2.2, 2.0, 2.4]})
    assert relative == {"mse": 1.0, "ssim": pytest.approx(1.1)}
    with pytest.raises(ValueError):
        relative_times({"ssim": [1.0]})
    with pytest.raises(ValueError):
        mean_std([])


def _tiny_model():
    torch.manual_seed(0)
    return VQVAE(1, 8, 16, 8)


def test_step_times_interleaves_rounds_with_a_rotating_order(monkeypatch):
    calls = []
    original = zoo._training_step

    def spy(model, optimizer, loss, x, beta):
        calls.append(loss.name)
        original(model, optimizer, loss, x, beta)

    monkeypatch.setattr(zoo, "_training_step", spy)
    ticks = itertools.count()
    seconds = step_times(_tiny_model, ["mse", "ssim", "gmsd"], torch.rand(4, 1, 16, 16), 3, beta=1.0,
                         clock=lambda: float(next(ticks)))
    assert {name: len(v) for name, v in seconds.items()} == {"mse": 3, "ssim": 3, "gmsd": 3}
    assert all(v == [1.0, 1.0, 1.0] for v in seconds.values())  # one clock tick per timed step
    assert calls[:3] == ["mse", "ssim", "gmsd"]  # untimed warm-up
    assert calls[3:] == ["mse", "ssim", "gmsd", "ssim", "gmsd", "mse", "gmsd", "mse", "ssim"]
    with pytest.raises(ValueError):
        step_times(_tiny_model, ["mse"], torch.rand(4, 1, 16, 16), 0, beta=1.0)


def test_loss_scales_leave_the_model_alone_and_show_psnrs_large_gradient():
    model = _tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.rand(6, 1, 16, 16)
    found = loss_scales(model, ["mse", "psnr", "ssim"], images)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert found["psnr"]["grad_weights"] > 10 * found["mse"]["grad_weights"]
    assert 0 < found["mse"]["value"] < 1 and found["psnr"]["value"] > 5
    assert all(s["grad_output"] > 0 for s in found.values())


def test_objective_counts_codes_in_training_only():
    model = _tiny_model()
    objective = VQObjective("mse+ssim@0.5", beta=0.25, codes=16)
    x = torch.rand(3, 1, 16, 16)
    terms = objective(model.train(), x, None, Step(1, 1, 1))
    assert set(terms) == {"loss", "recon", "codebook", "commitment", "output", "target"}
    assert int(objective.counts.sum()) == 3 * 4 * 4
    objective(model.eval(), x, None, Step(1, 1, 1))
    assert int(objective.counts.sum()) == 3 * 4 * 4
    usage = objective.epoch_usage()
    assert 1 <= usage["perplexity"] <= 16 and usage["used_codes"] + usage["dead_codes"] == 16
    assert int(objective.counts.sum()) == 0


def _info(name, split, size, shape=(1, 16, 16)):
    return DatasetInfo(name, split, "random test bytes", True, ("a", "b", "c"), shape, size)


def _tiny_data():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (96, 1, 16, 16), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 3, (96,), generator=generator)
    return ZooData((images[:64], labels[:64]), (images[64:80], labels[64:80]), (images[80:], labels[80:]),
                   _info("fashion-mnist", "train", 64), _info("fashion-mnist", "val", 16),
                   _info("fashion-mnist", "test", 16), reason="test")


def test_train_vqvae_logs_codes_per_epoch_reuses_and_honours_a_failure(tmp_path):
    data = _tiny_data()
    arguments = dict(epochs=2, batch_size=16, width=8, embedding_dim=8, codes=16, beta=1.0, lr=1e-3,
                     root=tmp_path, device="cpu", progress=False)
    run = train_vqvae(data, "mse+ssim@0.5", 0, **arguments)
    assert run.failure is None and len(run.history) == 2 and run.model is not None
    assert [row["epoch"] for row in run.codes] == [1, 2]
    assert all(1 <= row["perplexity"] <= 16 and row["used_codes"] + row["dead_codes"] == 16
               for row in run.codes)
    checkpoint = run.run_dir / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = train_vqvae(data, "mse+ssim@0.5", 0, **arguments)
    assert again.run_dir == run.run_dir and checkpoint.stat().st_mtime_ns == stamp  # reused, not retrained
    assert again.codes == run.codes
    output = zoo.reconstruct(again.model, data.test[0])
    assert output.shape == (16, 1, 16, 16) and 0 <= float(output.min()) and float(output.max()) <= 1
    other = train_vqvae(data, "mse+ssim@0.5", 1, **arguments)
    assert other.run_dir != run.run_dir
    (other.run_dir / zoo.FAILED).write_text("'recon' is not finite at epoch 1, step 3\n")
    failed = train_vqvae(data, "mse+ssim@0.5", 1, **arguments)
    assert failed.model is None and "not finite" in failed.failure
    with pytest.raises(ValueError):
        train_vqvae(data, "mse+nothing@1", 0, **arguments)


def _fake_load_split(available):
    def load(name, split, mode="auto", size=None, progress=True, download=None):
        assert mode == "real"  # never a synthetic stand-in
        if name not in available:
            raise FileNotFoundError(f"no real {name} under data. Fix: stage it")
        count = size or 10
        return Split(torch.zeros(count, 1, 4, 4, dtype=torch.uint8), torch.zeros(count, dtype=torch.long),
                     _info(name, split, count, (1, 4, 4)))
    return load


def test_zoo_data_falls_back_to_real_data_and_says_why(monkeypatch):
    monkeypatch.setattr(zoo, "load_split", _fake_load_split({"fashion-mnist"}))
    data = zoo_data("cifar10", "fashion-mnist", 8, 2, 4)
    assert data.info.name == data.test_info.name == "fashion-mnist"
    assert "no real cifar10" in data.reason and "fashion-mnist stands in" in data.reason
    assert len(data.train[0]) == 8 and len(data.val[0]) == 2 and len(data.test[0]) == 4
    monkeypatch.setattr(zoo, "load_split", _fake_load_split({"cifar10", "fashion-mnist"}))
    assert zoo_data("cifar10", "fashion-mnist", 8, 2, 4).info.name == "cifar10"
    monkeypatch.setattr(zoo, "load_split", _fake_load_split(set()))
    with pytest.raises(FileNotFoundError):
        zoo_data("cifar10", "fashion-mnist", 8, 2, 4)
