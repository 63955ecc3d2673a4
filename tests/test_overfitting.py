"""Notebook 06's experiment helpers: the objective, the cost model, the rules for the derived numbers,
and one run end to end."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from helpers.data import DatasetInfo, Splits
from helpers.experiments import overfitting
from helpers.experiments.overfitting import (
    PatternObjective,
    diverged,
    figures,
    forward_macs,
    gap_growth,
    gap_onset,
    mean_pattern_baseline,
    offset_parts,
    pattern_metrics,
    plateau_onset,
    read_snapshots,
    relative_gap,
    run_record,
    tail_mean,
    train_pattern_model,
)
from helpers.experiments.overfitting import runs as overfitting_runs
from helpers.experiments.overfitting.verdicts import _any_of
from helpers.models.gdn_autoencoder import GDNAutoencoder
from helpers.ssim import DEFAULT_WEIGHTS, ms_ssim
from helpers.train import Run, Step


def _info(split: str, size: int) -> DatasetInfo:
    return DatasetInfo("pseudo-lacbed", split, "random test pairs", False, ("P", "I", "F"), (1, 128, 128),
                       size)


def _data(train: int = 8, val: int = 4) -> Splits:
    g = torch.Generator().manual_seed(0)
    pairs = [tuple(torch.rand(n, 1, 128, 128, generator=g) for _ in range(2)) for n in (train, val)]
    return Splits(train=pairs[0], val=pairs[1], info=_info("train", train), val_info=_info("val", val))


def test_ms_ssim_loss_is_100_times_one_minus_the_7_tap_5_scale_value():
    torch.manual_seed(0)
    y = torch.rand(3, 1, 128, 128)
    x = (y + 0.2 * torch.rand_like(y)).clamp(0, 1)
    model = lambda inputs: x  # noqa: E731  (a stand-in network that returns fixed outputs)
    terms = PatternObjective("ms_ssim")(model, y, y, Step(1, 1, 1))
    expected = 100 * (1 - ms_ssim(x, y, window_size=7, weights=DEFAULT_WEIGHTS))
    assert len(DEFAULT_WEIGHTS) == 5
    assert torch.allclose(terms["loss"], expected, rtol=1e-5)
    assert float(pattern_metrics()["ms_ssim_loss"](x, y)) == pytest.approx(float(expected) / 100, rel=1e-5)


def test_losses_and_metrics_are_zero_at_identical_images_and_positive_otherwise():
    y = torch.rand(2, 1, 128, 128) * 0.98 + 0.01
    for name, metric in pattern_metrics().items():
        assert abs(float(metric(y, y))) < 1e-5, name
        assert float(metric(y.flip(-1), y)) > 1e-3, name
    for loss in overfitting.LOSS_SCALES:
        assert abs(float(PatternObjective(loss)(lambda t: y, y, y, Step(1, 1, 1))["loss"])) < 1e-3, loss


def test_forward_macs_match_torch_s_flop_counter():
    for width, code, bottleneck in ((8, 16, 4), (16, 64, 32)):
        model = GDNAutoencoder(1, width, code, bottleneck).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.rand(1, 1, 128, 128))
        counted = counter.get_total_flops() / 2  # the counter counts a multiply-add as 2
        assert forward_macs(width, code, bottleneck) == pytest.approx(counted, rel=0.01)
    assert 0.9e9 < forward_macs() < 1.5e9  # about 2.6 GFLOP per image at the study's width
    with pytest.raises(ValueError, match="width"):
        forward_macs(0)


def test_relative_gap_and_its_errors():
    history = [{"train_eval_loss": 1.0, "val_loss": 2.0}, {"train_eval_loss": 3.0, "val_loss": 2.0}]
    assert relative_gap(history).tolist() == [0.5, -0.5]
    with pytest.raises(ValueError, match="no column 'train_loss'"):
        relative_gap(history, "train_loss")
    with pytest.raises(ValueError, match="positive"):
        relative_gap([{"train_eval_loss": 1.0, "val_loss": 0.0}])
    with pytest.raises(ValueError, match="at least one epoch"):
        relative_gap([])


def test_gap_growth_is_the_tail_gap_less_the_first_epoch_gap():
    # gaps 0.5, 0.5, 0.6, 0.7, 0.8: the last three average 0.7, the first is 0.5
    history = [{"train_eval_loss": 10 - 10 * g, "val_loss": 10.0} for g in (0.5, 0.5, 0.6, 0.7, 0.8)]
    assert gap_growth(history) == pytest.approx(0.2)
    assert gap_growth(history, count=1) == pytest.approx(0.3)
    assert gap_growth(history[:1]) == 0.0  # one epoch: nothing has moved
    with pytest.raises(ValueError, match="no column"):
        gap_growth(history, "train_loss")


def test_mean_pattern_baseline_measures_the_mean_training_pattern():
    train = torch.stack([torch.full((1, 128, 128), v) for v in (0.2, 0.4)])
    val = torch.stack([torch.full((1, 128, 128), v) for v in (0.3, 0.9)])
    data = Splits(train=(train, train), val=(val, val), info=_info("train", 2), val_info=_info("val", 2))
    found = mean_pattern_baseline(data, {"mse": pattern_metrics()["mse"]}, batch_size=1)
    # the mean pattern is 0.3 everywhere: train (0.01 + 0.01) / 2, validation (0 + 0.36) / 2
    assert found["mse"]["train"] == pytest.approx(0.01) and found["mse"]["val"] == pytest.approx(0.18)
    assert found["mse"]["gap"] == pytest.approx((0.18 - 0.01) / 0.18)
    assert set(mean_pattern_baseline(data)) == {"mse", "bce", "ms_ssim_loss"}
    same = Splits(train=(train, train), val=(train, train), info=_info("train", 2), val_info=_info("val", 2))
    assert mean_pattern_baseline(same)["mse"]["gap"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        mean_pattern_baseline(data, batch_size=0)


def test_plateau_onset_rule():
    assert plateau_onset([10, 9, 8, 7, 6]) is None  # still improving by more than 1 % at the end
    # best 7 at epoch 3; 7.0, 6.99 and 7.2 are none 1 % below it: three epochs of patience
    assert plateau_onset([10, 8, 7, 7.0, 6.99, 7.2]) == 3
    assert plateau_onset([10, 8, 7, 7.0, 6.5, 7.2, 7.1, 7.0]) == 5  # 6.5 is a real improvement
    assert plateau_onset([10, 8, 7, 7.0, 6.5, 7.2]) is None  # after 6.5 only 1 epoch: too few to tell
    assert plateau_onset([10, 8, 7, 7.0, 6.5, 7.2], patience=1) == 3  # one epoch without improvement
    assert plateau_onset([5, 6, 7, 8]) == 1  # never better than the first epoch
    assert plateau_onset([10, 11, 9, 9.5, 9.5, 9.5]) == 3  # epoch 2 is not the best so far
    assert plateau_onset([10, 8, 7, 6.95, 6.95, 6.95, 6.95], tolerance=0.0) == 4
    assert plateau_onset([10, 8, 7, 6.95, 6.95, 6.95, 6.95]) == 3  # 6.95 is within 1 % of 7
    with pytest.raises(ValueError, match="finite"):
        plateau_onset([1.0, math.nan])
    with pytest.raises(ValueError, match="tolerance"):
        plateau_onset([1.0, 2.0], tolerance=1.5)
    with pytest.raises(ValueError, match="patience"):
        plateau_onset([1.0, 2.0], patience=0)


def test_gap_onset_rule():
    def history(train, val):
        return [{"train_eval_loss": t, "val_loss": v} for t, v in zip(train, val, strict=True)]

    # relative gaps 0.1, 0.0, 0.0, 0.2, 0.3, 0.3: floor 0, at least 5 points above it from epoch 4 on
    widening = history([9, 10, 10, 8, 7, 7], [10] * 6)
    assert gap_onset(widening) == 4
    assert gap_onset(widening, patience=4) is None  # 3 epochs wide, 4 asked for
    steady = history([9, 9.5, 9.6, 9.5], [10] * 4)  # 0.1, 0.05, 0.04, 0.05: 1 point above its floor
    assert gap_onset(steady) is None
    assert gap_onset(steady, rise=0.005, patience=1) == 4
    # one wide epoch at the end is not a widening gap
    assert gap_onset(history([10, 10, 10, 10, 7], [10] * 5)) is None
    # a lagging train-mode mean: -0.3, -0.2, -0.1, -0.02: rises 28 points but never opens a gap
    closing = history([13, 12, 11, 10.2], [10] * 4)
    assert gap_onset(closing) is None
    # from above to below validation: -0.2, 0.0, 0.1, 0.1, 0.1; no gap until epoch 2, then 10 points
    opening = history([12, 10, 9, 9, 9], [10] * 5)
    assert gap_onset(opening) == 3
    # wide, narrow, wide again: the onset is where it stays wide
    assert gap_onset(history([8, 10, 8, 8, 8], [10] * 5)) == 3
    assert gap_onset(history([8, 8.5, 8.5], [10] * 3)) is None  # open from the start, floor 0.15
    with pytest.raises(ValueError, match="rise"):
        gap_onset(steady, rise=0)
    with pytest.raises(ValueError, match="patience"):
        gap_onset(steady, patience=0)


def test_tail_mean_and_diverged():
    assert tail_mean([1.0, 2.0, 3.0, 4.0, 5.0]) == 4.0
    assert tail_mean([1.0, 2.0], count=3) == 1.5
    assert tail_mean([1.0, 2.0, 6.0], count=1) == 6.0
    with pytest.raises(ValueError, match="count"):
        tail_mean([1.0], count=0)
    # the MSE run of the first cpu sweep that diverged: 0.0276 at its best, 0.0739 at the end
    assert diverged([0.1, 0.05, 0.0276, 0.0548, 0.0739])
    assert not diverged([0.1, 0.05, 0.0281, 0.0290, 0.0358])  # 27 % above its best: noisy, not diverged
    assert diverged([0.1, 0.05, 0.0281, 0.0290, 0.0358], ratio=1.2)
    assert not diverged([3.0])
    with pytest.raises(ValueError, match="ratio"):
        diverged([1.0, 2.0], ratio=1.0)
    with pytest.raises(ValueError, match="finite"):
        diverged([1.0, math.inf])


def test_run_record_holds_the_final_measurements_the_claims_use():
    # relative gaps (own loss, eval mode) 0.5, 0.4, 0.3, 0.2: the last three average 0.3, growth -0.2
    history = [{"train_eval_loss": 10 * (1 - g), "val_loss": 10.0, "train_loss": 11.0,
                "train_eval_ms_ssim_loss": 0.1, "val_ms_ssim_loss": 0.2 + e, "train_eval_mse": 0.5,
                "val_mse": 1.0, "train_eval_bce": 2.0, "val_bce": 2.0}
               for e, g in enumerate((0.5, 0.4, 0.3, 0.2))]
    found = run_record(history, loss="mse", code=64, pairs=128, seed=2)
    identity = {k: found[k] for k in overfitting.RUN_IDENTITY}
    assert identity == {"loss": "mse", "code": 64, "pairs": 128, "seed": 2}
    assert found["train_eval_loss"] == pytest.approx(7.0) and found["val_loss"] == 10.0
    assert found["gap"] == pytest.approx(0.3) and found["growth"] == pytest.approx(-0.2)
    assert found["gap_train_mode"] == pytest.approx(-0.1)  # the train-mode mean above validation
    common = np.mean([(v - 0.1) / v for v in (1.2, 2.2, 3.2)])  # 1 - MS-SSIM: train 0.1, val 0.2 + epoch
    assert found["val_ms_ssim_loss"] == pytest.approx(2.2)
    assert found["gap_on_ms_ssim_loss"] == pytest.approx(common)
    assert found["gap_on_mse"] == pytest.approx(0.5) and found["gap_on_bce"] == 0.0  # the other common scales
    assert (found["val_first"], found["val_last"]) == (10.0, 10.0)
    assert found["gaps"] == pytest.approx([0.5, 0.4, 0.3, 0.2]) and found["passes_per_epoch"] == 1
    assert found["val_losses"] == [10.0] * 4
    four = run_record(history, loss="mse", code=64, pairs=128, seed=2, passes_per_epoch=4)
    assert four["passes_per_epoch"] == 4 and four["gaps"] == found["gaps"]
    with pytest.raises(ValueError, match="passes_per_epoch must be a positive int; got 0"):
        run_record(history, loss="mse", code=64, pairs=128, seed=2, passes_per_epoch=0)
    assert run_record(history, loss="mse", code=64, pairs=128, seed=2, tail=1)["gap"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="seed"):
        run_record(history, loss="mse", code=64, pairs=128, seed=-1)
    with pytest.raises(ValueError, match="loss must be one of"):
        run_record(history, loss="ssim", code=64, pairs=128, seed=0)


def test_any_of_is_the_verdict_of_either():
    any_of = _any_of
    assert any_of(["unresolved", "holds"]) == "holds"
    assert any_of(["reversed", "reversed"]) == "reversed"
    assert any_of(["reversed", "unresolved"]) == "unresolved"
    with pytest.raises(ValueError, match="verdicts"):
        any_of(["yes"])


def test_first_keeps_the_first_pairs_and_says_so():
    data = _data(8, 4)
    small = data.first(3)
    assert torch.equal(small.train[0], data.train[0][:3]) and small.info.size == 3
    assert small.val is data.val
    with pytest.raises(ValueError, match="at most the 8"):
        data.first(9)


def test_pattern_data_rejects_sets_without_densities(monkeypatch):
    class Loaded:
        densities = None
        images = torch.zeros(1)

    monkeypatch.setattr(overfitting_runs, "load_split", lambda *a, **k: Loaded())
    with pytest.raises(ValueError, match="paired density images"):
        overfitting.pattern_data(4, 4, name="mnist")


def test_a_run_trains_reloads_and_keeps_snapshots(tmp_path):
    data = _data(8, 4)
    kwargs = dict(code_size=3, width=4, epochs=2, batch_size=4, lr=1e-3, root=tmp_path, progress=False)
    run = train_pattern_model(data, "bce", 0, repeats=2, **kwargs)
    assert [row["epoch"] for row in run.history] == [1, 2]
    columns = {"train_loss", "train_eval_loss", "val_loss", *(f"{s}_{m}" for s in ("train_eval", "val")
                                                               for m in overfitting.METRICS)}
    assert columns <= set(run.history[0])
    # each epoch saw the 8 pairs twice: 16 images in 4 steps
    seen = run.history[0]["images_per_second"] * run.history[0]["train_seconds"]
    assert seen == pytest.approx(16, rel=1e-6)
    snapshots = read_snapshots(run.run_dir)
    assert sorted(snapshots) == [1, 2] and snapshots[2].shape == (4, 1, 128, 128)
    assert not run.model.training
    stamp = (run.run_dir / "checkpoint.pt").stat().st_mtime_ns
    again = train_pattern_model(data, "bce", 0, repeats=2, **kwargs)  # reused, not trained again
    assert again.run_dir == run.run_dir and (run.run_dir / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert again.history == run.history
    other = train_pattern_model(data, "bce", 0, repeats=1, **kwargs)
    assert other.run_dir != run.run_dir
    out = np.asarray(again.model(data.val[0]).detach())
    assert np.all((out >= 0) & (out <= 1))


def test_run_arguments_are_checked(tmp_path):
    data = _data(8, 4)
    kwargs = dict(code_size=3, width=4, epochs=1, batch_size=4, lr=1e-3, root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="loss must be one of"):
        train_pattern_model(data, "ssim", 0, **kwargs)
    with pytest.raises(ValueError, match="train_eval_size must be at most the 8"):
        train_pattern_model(data, "mse", 0, train_eval_size=9, **kwargs)
    with pytest.raises(ValueError, match="batch_size must be at most"):
        train_pattern_model(data, "mse", 0, **{**kwargs, "batch_size": 32})
    with pytest.raises(ValueError, match="lr must be"):
        train_pattern_model(data, "mse", 0, **{**kwargs, "lr": -1.0})
    with pytest.raises(ValueError, match="repeats"):
        train_pattern_model(data, "mse", 0, repeats=0, **kwargs)


def _checked_offsets(run, data, **kwargs):
    parts = offset_parts(run.model, data, "mse", seed=0, batch_size=4, repeats=2, epoch=2,
                         epoch_mean=run.history[-1]["train_loss"])
    assert parts["total"] == pytest.approx(parts["epoch_mean"] - parts["eval_end"])
    assert parts["lag"] + parts["batchnorm"] == pytest.approx(parts["total"])
    # eval mode on the epoch's batches is the eval-mode loss on all the training pairs
    assert parts["eval_end"] == pytest.approx(run.history[-1]["train_eval_loss"], rel=1e-5)
    return parts


def test_offset_parts_split_the_train_mode_offset(tmp_path):
    data = _data(8, 4)
    kwargs = dict(code_size=3, width=4, epochs=2, batch_size=4, repeats=2, train_eval_size=8, root=tmp_path,
                  progress=False)
    # weights that hardly move: the epoch's batches again, in train mode, give the epoch mean itself
    still = train_pattern_model(data, "mse", 0, lr=1e-12, **kwargs)
    before = {k: v.clone() for k, v in still.model.state_dict().items()}
    parts = _checked_offsets(still, data)
    assert abs(parts["lag"]) < 1e-6 * parts["epoch_mean"]
    assert abs(parts["batchnorm"]) > 1e-5 * parts["epoch_mean"]  # batch statistics do differ
    assert all(torch.equal(v, still.model.state_dict()[k]) for k, v in before.items())  # not touched
    # weights that move: the lag is no longer 0
    moving = train_pattern_model(data, "mse", 0, lr=1e-2, **kwargs)
    assert abs(_checked_offsets(moving, data)["lag"]) > 1e-4 * moving.history[-1]["train_loss"]
    with pytest.raises(ValueError, match="epoch_mean"):
        offset_parts(still.model, data, "mse", seed=0, batch_size=4, repeats=2, epoch=2, epoch_mean=math.nan)


def test_the_design_lists_every_arm_once_with_its_seeds_and_the_control():
    from helpers import config
    from helpers.experiments.overfitting import Study, arms_of
    from helpers.experiments.overfitting.costs import flops, profile_runs, samples

    cpu = config.notebook_settings("06_overfitting", "cpu")
    arms = arms_of(cpu, shown_code=64, question_seeds=3, generating_parameters=4)
    assert sum(arms.values()) == len(profile_runs(cpu)) == 34
    assert arms[("ms_ssim", 1, 128)] == arms[("ms_ssim", 4, 128)] == 3  # the control: question seeds
    assert arms[("ms_ssim", 2, 128)] == 2 and arms[("bce", 64, 512)] == 2  # the sweep: the profile's seeds
    assert ("ms_ssim", 1, 128) in arms_of(cpu) and arms_of(cpu)[("ms_ssim", 1, 128)] == 2  # no control
    trained, evaluated = samples(cpu)
    assert trained == 34 * cpu.epochs * (cpu.train_images // cpu.batch_size) * cpu.batch_size
    assert evaluated == sum(cpu.epochs * (pairs + cpu.val_images) for _, pairs in profile_runs(cpu))
    assert flops(cpu, 128) > flops(cpu, 16) > 0
    smoke = config.notebook_settings("06_overfitting", "smoke")
    study = Study(smoke, "smoke", _data(smoke.train_images, smoke.val_images), root=Path("unused"),
                  question_seeds=1, generating_parameters=4)
    assert set(study.baseline) == {str(n) for n in smoke.train_sizes}  # every size the claims compare
    assert study.seeds_of("mse", 64, smoke.code_pairs) == [0]
    with pytest.raises(ValueError, match=r"the arm \(loss, code, pairs\) must be one of the design's"):
        study.seeds_of("mse", 3, smoke.code_pairs)
    with pytest.raises(ValueError, match="data must hold the profile's 128 training pairs; got 8"):
        Study(smoke, "smoke", _data(8, 4), root=Path("unused"))


def test_the_curves_draw_the_mean_pattern_where_its_measures_lie(tmp_path):
    keys = ("train_loss", "train_eval_loss", "val_loss", "train_eval_ms_ssim_loss", "val_ms_ssim_loss")
    history = [{k: 0.5 - 0.1 * epoch for k in keys} for epoch in range(3)]
    arm = [Run(None, [dict(h, val_loss=h["val_loss"] * 1.1) for h in history], tmp_path)]
    baseline = {"ms_ssim_loss": {"val": 0.66, "gap": 0.013}, "mse": {"val": 0.0625, "gap": 0.047},
                "bce": {"val": 0.17, "gap": 0.04}}
    names = {"ms_ssim": "MS-SSIM", "mse": "MSE"}

    def dotted(ax):
        return [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]

    axes = figures.curves({"ms_ssim": arm, "mse": arm}, names, "t", baseline).axes  # rows of 2 columns
    assert dotted(axes[0]) == [pytest.approx(66.0)]  # MS-SSIM's own loss carries its factor of 100
    assert dotted(axes[1]) == [pytest.approx(0.0625)]
    assert dotted(axes[2]) == dotted(axes[3]) == [pytest.approx(0.66)]  # the common scale, 1 - MS-SSIM
    assert dotted(axes[4]) == [pytest.approx(0.013)] and dotted(axes[5]) == [pytest.approx(0.047)]
    for ax, gap in ((axes[4], 0.013), (axes[5], 0.047)):  # the curves' gaps are all 0.1 / 1.1
        low, high = ax.get_ylim()
        assert low < gap < high  # the reference gap stays in view
    assert all(not dotted(ax) for ax in figures.curves({"mse": arm}, names, "t").axes)
    plt.close("all")


def test_the_curves_name_a_diverging_seed_in_its_loss_panel(tmp_path):
    keys = ("train_loss", "train_eval_loss", "val_loss", "train_eval_ms_ssim_loss", "val_ms_ssim_loss")
    steady = [{k: 0.5 - 0.1 * epoch for k in keys} for epoch in range(3)]
    rising = [dict(h) for h in steady]
    rising[-1]["val_loss"] = 0.5  # last 0.5 against a best of 0.4: 1.25 times it
    arm = [Run(None, steady, tmp_path), Run(None, rising, tmp_path)]  # seeds 0 and 1 (no config.json)

    def notes(fig):
        return [t.get_text() for t in fig.axes[0].texts]

    flagged = notes(figures.curves({"mse": arm}, {"mse": "MSE"}, "t", diverge_ratio=1.2))
    assert flagged == ["seed 1 diverges:\nlast validation loss > 1.2 × its best"]
    assert notes(figures.curves({"mse": arm}, {"mse": "MSE"}, "t", diverge_ratio=1.3)) == []
    plt.close("all")
