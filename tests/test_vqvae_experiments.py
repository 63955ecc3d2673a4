"""The loss-zoo experiments of notebook 07: configurations, data choice, runs, timings, scales, table."""

import itertools
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.data import DatasetInfo, Split, Splits
from helpers.experiments import vqvae as zoo
from helpers.experiments.vqvae import (
    CONFIGURATIONS,
    HOLDS,
    PUBLISHED_FID,
    REVERSED,
    UNRESOLVED,
    VQObjective,
    check_configurations,
    claim_checks,
    costs,
    layout_table,
    loss_scales,
    ordering,
    orderings_on_all_readings,
    paired_difference,
    pairwise_orders,
    parse_configuration,
    runs,
    step_times,
    term_gradients,
    time_ratios,
    train_vqvae,
    zoo_data,
)
from helpers.models.vqvae import VQVAE
from helpers.train import FAILED, Step

ROOT = Path(__file__).resolve().parents[1]


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
    # papermill's -p passes a list as its text, -y as a list: both name the same configurations
    assert check_configurations('["ssim", "mse+ssim@0.5"]') == ["ssim", "mse+ssim@0.5"]
    for bad in ("mse", "[]", '"mse"', '["mse", "mse"]', "['mse']", [], ["mse", "mse"], ["mse", "nope"]):
        with pytest.raises(ValueError):
            check_configurations(bad)


def _readings(means, spread=(-0.5, 0.0, 0.5), layers=("a", "b")):
    """Every layer reads ``means`` with the same per-seed offsets: seed-paired differences are exact."""
    return {layer: {n: [m + d for d in spread] for n, m in means.items()} for layer in layers}


def test_the_write_ups_own_table_satisfies_its_claims():
    claims = claim_checks(_readings(PUBLISHED_FID))
    assert all(c.verdict == HOLDS for c in claims.values())
    assert all(set(c.per_reading.values()) == {HOLDS} for c in claims.values())
    missing = claim_checks(_readings({"mse": 1.0, "psnr": 2.0}))
    assert missing["ssim_alone_best"].verdict is None
    assert missing["mse_rescues_gradient_losses"].verdict is None
    assert missing["psnr_alone_beats_mse"].verdict == REVERSED


def test_a_claim_holds_only_where_every_reading_agrees():
    agree = {"mse": [10.0, 11.0, 12.0], "ssim": [5.0, 6.5, 7.0]}
    disagree = {"mse": [10.0, 11.0, 12.0], "ssim": [12.0, 13.0, 14.5]}
    noisy = {"mse": [10.0, 11.0, 12.0], "ssim": [5.0, 13.0, 9.0]}
    claims = claim_checks({"layer 1": agree, "layer 2": agree})
    assert claims["ssim_alone_beats_mse"].verdict == HOLDS
    claims = claim_checks({"layer 1": agree, "layer 2": disagree})
    assert claims["ssim_alone_beats_mse"].per_reading == {"layer 1": HOLDS, "layer 2": REVERSED}
    assert claims["ssim_alone_beats_mse"].verdict == UNRESOLVED
    assert claim_checks({"l": disagree, "m": disagree})["ssim_alone_beats_mse"].verdict == REVERSED
    assert claim_checks({"l": noisy})["ssim_alone_beats_mse"].verdict == UNRESOLVED  # the interval holds 0
    one_seed = {"mse": [10.0], "ssim": [1.0]}
    assert claim_checks({"l": one_seed})["ssim_alone_beats_mse"].verdict == UNRESOLVED
    with pytest.raises(ValueError, match="same configurations"):
        claim_checks({"l": agree, "m": {"mse": [1.0, 2.0, 3.0]}})


def test_paired_difference_is_worse_minus_better_by_seed():
    d = paired_difference({"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0, 3.5]}, "a", "b")  # above 0, but 3 seeds
    diffs = [1.0, 2.0, 0.5]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / 2)
    assert d.mean == pytest.approx(mean) and d.std == pytest.approx(sd)
    assert d.high - d.mean == pytest.approx(4.302652729749464 * sd / math.sqrt(3), rel=1e-6)
    assert d.verdict == UNRESOLVED and d.low < 0 < d.mean and d.n == 3
    assert d.resolvable > d.mean  # what three seeds at this spread could have resolved
    assert "unresolved" in d.describe() and "resolves about" in d.describe()
    # pairing matters: a seed effect shared by both arms cancels
    shared = paired_difference({"a": [1.0, 11.0, 21.0], "b": [1.5, 11.6, 21.4]}, "a", "b")
    assert shared.verdict == HOLDS
    assert paired_difference({"a": [1.0, 11.0, 21.0], "b": [1.5, 11.6, 21.4]}, "b", "a").verdict == REVERSED
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference({"a": [1.0, 2.0], "b": [1.0]}, "a", "b")
    with pytest.raises(ValueError, match="finite"):
        paired_difference({"a": [1.0, float("nan")], "b": [1.0, 2.0]}, "a", "b")
    with pytest.raises(ValueError, match="must hold 'c'"):
        paired_difference({"a": [1.0]}, "a", "c")


def test_orderings_on_all_readings_orient_pairs_and_keep_only_shared_orders():
    readings = {"x": {"a": [1.0, 2.0, 3.0], "b": [5.0, 6.0, 7.5], "c": [5.2, 6.1, 7.4]},
                "y": {"a": [1.0, 2.0, 3.0], "b": [5.0, 6.0, 7.5], "c": [9.0, 9.5, 10.0]}}
    found = {(o.better, o.worse): o.verdict for o in orderings_on_all_readings(readings)}
    assert found == {("a", "b"): HOLDS, ("a", "c"): HOLDS, ("b", "c"): UNRESOLVED}
    assert ordering(readings, "c", "a").verdict == REVERSED


def test_layout_table_raw_and_scaled():
    summary = {"mse": (80.0, 2.0), "ssim": (40.0, 1.0), "mse+ssim@0.5": (60.0, 3.0), "psnr": (208.63, 28.1),
               "gmsd": (512.345, 0.0)}
    raw = layout_table(summary)
    lines = raw.splitlines()
    assert len(lines) == 2 + 1 + len(zoo.ZOO)
    assert lines[2] == "| MSE | 80.0 ± 2.0 | n/a | n/a | n/a |"  # MSE + w·MSE is no configuration
    assert "| SSIM | 40.0 ± 1.0 | n/r | 60.0 ± 3.0 | n/r |" in raw  # n/r: not run
    assert "| PSNR | 209 ± 28 | n/r |" in raw  # the std to 2 significant digits, the mean to its place
    assert "| GMSD | 512.3 | n/r |" in raw  # one seed: no ±
    assert "—" not in raw
    scaled = layout_table(summary, scaled=True)
    assert "| SSIM | 1.00 ± 0.03 | n/r | 1.50 ± 0.07 | n/r |" in scaled
    with pytest.raises(ValueError):
        layout_table({})


def test_pairwise_orders_judge_the_write_ups_order_on_every_reading():
    readings = _readings({"mse": 10.0, "ssim": 5.0, "psnr": 12.0})
    readings["b"]["psnr"] = [8.0, 8.4, 9.1]  # the second reading puts PSNR below MSE
    pairs = {(p.better, p.worse): p for p in pairwise_orders(readings)}
    # the write-up: ssim 69.0 < psnr 81.9 < mse 86.3
    assert pairs[("ssim", "mse")].verdict == HOLDS
    assert pairs[("psnr", "mse")].ours.per_reading["a"].verdict == REVERSED
    assert pairs[("psnr", "mse")].ours.per_reading["b"].verdict == HOLDS
    assert pairs[("psnr", "mse")].verdict == UNRESOLVED
    assert pairs[("ssim", "psnr")].verdict == HOLDS and pairs[("ssim", "psnr")].published == (69.0, 81.9)


def test_time_ratios_pair_rounds_and_bound_the_median():
    slow_rounds = [1.0, 3.0, 1.2, 5.0, 1.1, 2.0]  # a shared machine: whole rounds slow down
    seconds = {"mse": slow_rounds, "ssim": [1.2 * t for t in slow_rounds]}
    found = time_ratios(seconds)
    assert found["mse"].estimate == found["mse"].low == found["mse"].high == 1.0
    assert found["ssim"].estimate == pytest.approx(1.2)
    assert found["ssim"].low == pytest.approx(1.2) and found["ssim"].high == pytest.approx(1.2)
    noisy = time_ratios({"mse": [1.0] * 20, "gmsd": [1.0 + 0.05 * (i % 5) for i in range(20)]})["gmsd"]
    assert noisy.low < noisy.estimate < noisy.high and noisy.excludes(0.99) and not noisy.excludes(1.1)
    assert time_ratios(seconds, seed=1)["ssim"] == found["ssim"]  # deterministic for a fixed interval
    with pytest.raises(ValueError, match="reference"):
        time_ratios({"ssim": [1.0, 2.0]})
    with pytest.raises(ValueError, match="number of rounds"):
        time_ratios({"mse": [1.0, 2.0], "ssim": [1.0]})
    with pytest.raises(ValueError, match="positive finite"):
        time_ratios({"mse": [1.0, 0.0], "ssim": [1.0, 1.0]})


def test_term_gradients_name_where_each_term_acts_and_leave_the_model_alone():
    model = _tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)]
    rows = term_gradients(model, "mse+ssim@0.5", batches, beta=1.0)
    keys = {"recon_encoder", "commitment_encoder", "recon_decoder", "codebook_codes", "mse_decoder",
            "weighted_decoder"}
    assert len(rows) == 2 and all(set(r) == keys for r in rows)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    heavier = term_gradients(model, "mse+ssim@1", batches, beta=1.0)
    for half, full in zip(rows, heavier, strict=True):  # w scales the weighted term, not MSE's
        assert full["weighted_decoder"] == pytest.approx(2 * half["weighted_decoder"], rel=1e-4)
        assert full["mse_decoder"] == pytest.approx(half["mse_decoder"], rel=1e-4)
    doubled_beta = term_gradients(model, "mse", batches[:1], beta=2.0)[0]
    single = term_gradients(model, "mse", batches[:1], beta=1.0)[0]
    assert doubled_beta["commitment_encoder"] == pytest.approx(2 * single["commitment_encoder"], rel=1e-4)
    assert "mse_decoder" not in single and single["recon_decoder"] > 0
    with pytest.raises(ValueError):
        term_gradients(model, "mse", [], beta=1.0)


def _python(code, *args):
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT)


_CLASSIFY = """
import sys
import torch
from helpers.data import DatasetInfo
from helpers.experiments.classify import train_shared_classifier
from helpers.models import weights_hash
root = sys.argv[1]
g = torch.Generator().manual_seed(0)
images, labels = torch.rand(96, 1, 16, 16, generator=g), torch.randint(0, 3, (96,), generator=g)
def info(split, n):
    return DatasetInfo("fashion-mnist", split, "random test bytes", True, ("a", "b", "c"), (1, 16, 16), n)
clf = train_shared_classifier(images[:64], labels[:64], images[64:], labels[64:], root=root,
                              info=info("train", 64), val_info=info("val", 32), epochs=3, width=4,
                              batch_size=16, progress=False)
print(weights_hash(clf.model), clf.run_dir)
"""


def test_job_array_tasks_starting_at_once_train_the_classifier_once(tmp_path):
    tasks = [subprocess.Popen([sys.executable, "-c", _CLASSIFY, str(tmp_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [t.communicate(timeout=300)[0].split() for t in tasks]
    assert all(t.returncode == 0 for t in tasks)
    assert len({o[0] for o in outputs}) == 1 and len({o[1] for o in outputs}) == 1  # one classifier, reused
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1
    rows = (folders[0] / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3  # header and three epochs: trained once, not three times over each other


def _tiny_model():
    torch.manual_seed(0)
    return VQVAE(1, 8, 16, 8)


def test_step_times_interleaves_rounds_with_a_rotating_order(monkeypatch):
    calls = []
    original = costs._training_step

    def spy(model, optimizer, loss, x, beta):
        calls.append(loss.name)
        original(model, optimizer, loss, x, beta)

    monkeypatch.setattr(costs, "_training_step", spy)
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
    return Splits(train=(images[:64], labels[:64]), val=(images[64:80], labels[64:80]),
                  test=(images[80:], labels[80:]), info=_info("fashion-mnist", "train", 64),
                  val_info=_info("fashion-mnist", "val", 16), test_info=_info("fashion-mnist", "test", 16),
                  reason="test")


def test_train_vqvae_logs_codes_per_epoch_reuses_and_honours_a_failure(tmp_path):
    data = _tiny_data()
    arguments = dict(epochs=2, batch_size=16, width=8, embedding_dim=8, codes=16, beta=1.0, lr=1e-3,
                     root=tmp_path, device="cpu", progress=False)
    run = train_vqvae(data, "mse+ssim@0.5", 0, **arguments)
    assert run.failure is None and len(run.history) == 2 and run.model is not None
    codes = zoo.read_codes(run.run_dir)
    assert [row["epoch"] for row in codes] == [1, 2]
    assert all(1 <= row["perplexity"] <= 16 and row["used_codes"] + row["dead_codes"] == 16
               for row in codes)
    checkpoint = run.run_dir / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = train_vqvae(data, "mse+ssim@0.5", 0, **arguments)
    assert again.run_dir == run.run_dir and checkpoint.stat().st_mtime_ns == stamp  # reused, not retrained
    assert zoo.read_codes(again.run_dir) == codes
    output = zoo.reconstruct(again.model, data.test[0])
    assert output.shape == (16, 1, 16, 16) and 0 <= float(output.min()) and float(output.max()) <= 1
    other = train_vqvae(data, "mse+ssim@0.5", 1, **arguments)
    assert other.run_dir != run.run_dir
    (other.run_dir / FAILED).write_text("'recon' is not finite at epoch 1, step 3\n")
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
    monkeypatch.setattr(runs, "load_split", _fake_load_split({"fashion-mnist"}))
    data = zoo_data("cifar10", "fashion-mnist", 8, 2, 4)
    assert data.info.name == data.test_info.name == "fashion-mnist"
    assert "no real cifar10" in data.reason and "fashion-mnist stands in" in data.reason
    assert len(data.train[0]) == 8 and len(data.val[0]) == 2 and len(data.test[0]) == 4
    monkeypatch.setattr(runs, "load_split", _fake_load_split({"cifar10", "fashion-mnist"}))
    assert zoo_data("cifar10", "fashion-mnist", 8, 2, 4).info.name == "cifar10"
    monkeypatch.setattr(runs, "load_split", _fake_load_split(set()))
    with pytest.raises(FileNotFoundError):
        zoo_data("cifar10", "fashion-mnist", 8, 2, 4)


def test_image_set_effects_bias_slope_and_the_tables_from_known_readings():
    from helpers.experiments.vqvae import (
        bias_slope,
        codebook_table,
        effects_table,
        image_set_effects,
        term_ratios,
    )

    sizes = [250, 500, 1000, 2000]
    assert bias_slope(sizes, [600 / n for n in sizes]) == pytest.approx(-1.0)  # an O(1/n) bias
    assert bias_slope(sizes, [3 / n ** 0.5 for n in sizes]) == pytest.approx(-0.5)  # an O(1/sqrt n) noise
    with pytest.raises(ValueError, match="two or more positive numbers"):
        bias_slope([100], [1.0])
    # set B reads every value 0.5 higher, and differences between configurations move by 0.1 at most
    a = {"mse": [1.0, 1.2, 1.1], "ssim": [2.0, 2.1, 2.3]}
    b = {"mse": [1.5, 1.7, 1.6], "ssim": [2.6, 2.6, 2.8]}
    effects = image_set_effects({"pen · A": a, "pen · B": b}, ["mse", "ssim"])["pen"]
    assert effects["shift"] == pytest.approx(3.1 / 6) and effects["move"] == pytest.approx(0.5)
    # d = FD(ssim) - FD(mse) per seed: (1.0, 0.9, 1.2) on A, (1.1, 0.9, 1.2) on B
    assert effects["pair_move"] == pytest.approx(0.0) and effects["pair_move_max"] == pytest.approx(0.1)
    assert effects["pair_size"] == pytest.approx(1.0) and -1 <= effects["correlation"] <= 1
    assert "pen" in effects_table({"pen": effects}, {"pen": 0.3}, {"pen": (0.3, 0.01)})
    codes = {"mse": [[{"perplexity": 10.0, "dead_codes": 500}, {"perplexity": 20.0, "dead_codes": 400}]] * 2}
    assert "400 (400 to 400)" in codebook_table(codes)
    rows = [{"recon_encoder": 2.0, "commitment_encoder": 1.0, "codebook_codes": 0.5, "mse_decoder": 1.0,
             "weighted_decoder": 3.0},
            {"recon_encoder": 4.0, "commitment_encoder": 1.0, "codebook_codes": 0.7, "mse_decoder": 1.0,
             "weighted_decoder": 1.0}]
    ratios = term_ratios(rows)
    assert ratios["encoder"] == (3.0, 2.0, 4.0) and ratios["decoder"] == (2.0, 1.0, 3.0)
