"""Notebook 07's verdicts, re-decided from its saved record (results/07_fid_analysis/runs.json) without
training, and :func:`helpers.experiments.vqvae.claims` on synthetic records with a known effect and with
none."""

import json

import numpy as np
import pytest

from helpers import results, stats
from helpers.experiments.vqvae import (
    CLAIMS,
    KEY_ORDERINGS,
    SHORT,
    claims,
    pairwise_orders,
    readme_summary,
    replicated_orders,
    voting_readings,
)

HOLDS, REVERSED, UNRESOLVED = stats.HOLDS, stats.REVERSED, stats.UNRESOLVED
NAMES = ("mse", "psnr", "ssim", "ms_ssim", "haarpsi", "gmsd", "ms_gmsd", "mse+haarpsi@0.5", "mse+gmsd@0.5",
         "mse+ms_gmsd@0.5")
READINGS = tuple(f"{layer} · {image_set}" for layer in ("block 1", "penultimate") for image_set in "AB")


def _words(text):
    return len(text.split())


@pytest.fixture(scope="module")
def saved():
    return results.load("07_fid_analysis", "runs")


@pytest.mark.parametrize("name", ["runs", "replication"])  # the replication: two threads, from scratch
def test_the_saved_record_reproduces_its_verdicts(name):
    saved = results.load("07_fid_analysis", name)
    data = saved["data"]
    assert saved["profile"] == results.REFERENCE_PROFILE and data["profile"] == results.REFERENCE_PROFILE
    found = {name: c.verdict for name, c in claims(data).items()}
    assert found == data["verdicts"]
    assert set(found.values()) <= set(stats.VERDICTS)
    assert set(CLAIMS) <= set(found)  # the reference run measures every claim of the write-up
    assert len(data["fd"]) == 2 * len(data["layers"])  # every layer on two image sets
    for per_configuration in data["fd"].values():
        assert set(per_configuration) == set(data["configurations"])
        assert all(len(v) == len(data["seeds"]) for v in per_configuration.values())


def test_the_saved_record_renders_the_readme_paragraph(saved):
    text = readme_summary(saved["data"])
    assert "\n" not in text and _words(text) <= 210
    assert text.startswith("The reference run (`cpu` profile")
    found = claims(saved["data"])
    assert f"{found['ssim < mse'].evidence['penultimate · B']['ssim < mse'].mean:+.3g}" in text
    verbs = {HOLDS: ("holds", "hold"), REVERSED: ("is reversed", "are reversed"),
             UNRESOLVED: ("is unresolved", "are unresolved")}
    for verdict, (one, many) in verbs.items():  # each verdict counted, each claim quoted
        names = [n for n in CLAIMS if found[n].verdict == verdict]
        if names:
            assert f"{len(names)} {one if len(names) == 1 else many} (" in text
    assert all(f"“{SHORT[n]}”" in text for n in CLAIMS)


def _record(effects, seeds=5, noise=1.0, seed=0, layers=READINGS):
    """FD = 100 + effect + a seed effect shared by every configuration (large) + small noise, per
    reading; ``effects``: configuration -> its true offset."""
    rng = np.random.default_rng(seed)
    fd = {}
    for reading in layers:
        shared = rng.normal(0.0, 20.0, seeds)  # what the seed does, to every configuration alike
        fd[reading] = {n: (100.0 + effects.get(n, 0.0) + shared + rng.normal(0.0, noise, seeds)).tolist()
                       for n in NAMES}
    return {"profile": "cpu", "data_set": "synthetic", "metric": "FD (synthetic)", "level": 0.95,
            "seeds": list(range(seeds)), "configurations": list(NAMES), "fid_images": 2000,
            "layers": ["block 1", "penultimate"], "codes": 512, "fd": fd}


#: the write-up's qualitative picture, with wide margins: SSIM lowest, the gradient losses alone highest,
#: MSE rescuing them
WRITE_UP = {"ssim": -30.0, "psnr": -10.0, "ms_ssim": -15.0, "haarpsi": 200.0, "gmsd": 180.0, "ms_gmsd": 150.0,
            "mse+haarpsi@0.5": 20.0, "mse+gmsd@0.5": 5.0, "mse+ms_gmsd@0.5": 3.0}


def test_a_known_effect_holds_on_every_claim_and_its_opposite_is_reversed():
    found = claims(_record(WRITE_UP))
    assert {n: found[n].verdict for n in CLAIMS} == dict.fromkeys(CLAIMS, HOLDS)
    assert found["ssim < mse"].verdict == HOLDS and found["mse < haarpsi"].verdict == HOLDS
    opposite = claims(_record({n: -v for n, v in WRITE_UP.items()}))
    for name in ("ssim_alone_beats_mse", "psnr_alone_beats_mse", "ms_ssim_alone_beats_mse", "ssim_alone_best",
                 "gradient_losses_alone_worst", "mse_rescues_gradient_losses"):
        assert opposite[name].verdict == REVERSED, name
    # the shared seed effect (std 20) is 20 times the noise: unpaired it would hide a difference of 3
    small = claims(_record({"ssim": -3.0}))
    assert small["ssim_alone_beats_mse"].verdict == HOLDS


def test_no_effect_is_unresolved_and_says_what_the_design_could_resolve():
    for seed in range(3):
        found = claims(_record({}, seed=seed))
        assert all(c.verdict == UNRESOLVED for n, c in found.items()), seed
        d = found["ssim < mse"].evidence["block 1 · A"]["ssim < mse"]
        assert d.verdict == UNRESOLVED and 0 < d.resolvable < 5  # noise 1, paired: the seed effect cancels
        assert "the design resolves about" in "\n".join(found["ssim < mse"].lines())


def test_a_reading_that_disagrees_leaves_a_claim_unresolved():
    data = _record(WRITE_UP)
    data["fd"]["penultimate · B"]["ssim"] = [v + 60.0 for v in data["fd"]["penultimate · B"]["ssim"]]
    found = claims(data)
    claim = found["ssim_alone_beats_mse"]
    assert claim.per_reading["penultimate · B"] == REVERSED and claim.per_reading["block 1 · A"] == HOLDS
    assert claim.verdict == UNRESOLVED and found["ssim_alone_best"].verdict == UNRESOLVED


def test_a_layer_with_more_dimensions_than_images_does_not_vote():
    data = _record(WRITE_UP)
    data["fd"]["penultimate · B"]["ssim"] = [v + 60.0 for v in data["fd"]["penultimate · B"]["ssim"]]
    data["dims"] = {"block 1": 32, "penultimate": 3136}  # penultimate: d > n = 2000, so it does not vote
    found = claims(data)
    assert set(found["ssim_alone_beats_mse"].per_reading) == {"block 1 · A", "block 1 · B"}
    assert found["ssim_alone_beats_mse"].verdict == HOLDS  # the disagreeing reading no longer counts
    assert "2 readings of layers with more feature dimensions than images" in readme_summary(data)
    data["dims"] = {"block 1": 3136, "penultimate": 3136}  # no layer has d <= n: every reading votes
    assert claims(data)["ssim_alone_beats_mse"].verdict == UNRESOLVED
    data["dims"] = {"block 1": 32}
    with pytest.raises(ValueError, match="dims must give the dimension of every layer"):
        claims(data)


def test_one_seed_resolves_nothing():
    found = claims(_record(WRITE_UP, seeds=1))
    assert found and all(c.verdict == UNRESOLVED for c in found.values())


def test_claims_of_configurations_not_run_are_left_out():
    data = _record(WRITE_UP)
    data["fd"] = {r: {n: v for n, v in values.items() if n in ("mse", "ssim")}
                  for r, values in data["fd"].items()}
    found = claims(data)
    assert set(found) == {"ssim_alone_beats_mse", "ssim_alone_best", "ssim < mse"}
    every = claims(_record(WRITE_UP))
    assert all(f"{b} < {w}" in every for b, w in KEY_ORDERINGS if b in NAMES and w in NAMES)


def test_training_state_and_timing_claims():
    rng = np.random.default_rng(1)
    data = {"level": 0.95, "codes": 512,
            "val_recon": {"mse": [[0.05, 0.03, 0.025 + 0.001 * s] for s in range(3)]},
            "dead_codes": {"mse": [400, 410, 395], "ssim": [300, 320, 310]},
            "timing": [{"width": 32, "embedding_dim": 32, "seconds": {
                "mse": (rounds := (0.1 * (1 + rng.uniform(0, 2, 30)))).tolist(),  # whole rounds slow down
                "ssim": (1.02 * rounds * rng.uniform(0.99, 1.01, 30)).tolist(),
                "gmsd": (1.30 * rounds * rng.uniform(0.99, 1.01, 30)).tolist()}}]}
    found = claims(data)
    assert found["mse_still_improving"].verdict == HOLDS
    assert found["most_codes_dead"].verdict == HOLDS
    timing = found["time_under_10_percent · width 32, D = 32"]
    assert timing.per_reading == {"ssim": HOLDS, "gmsd": REVERSED} and timing.verdict == REVERSED
    data["dead_codes"]["gmsd"] = [100, 300, 200]  # one configuration not shown to have over half dead
    data["val_recon"]["mse"][1][-1] = 0.04  # one seed got worse
    found = claims(data)
    assert found["most_codes_dead"].verdict == UNRESOLVED
    assert found["mse_still_improving"].verdict == UNRESOLVED
    assert "mse_still_improving" not in claims({"level": 0.95, "val_recon": {"mse": [[0.05]] * 3}})


def test_the_readme_paragraph_is_formatted_from_the_record():
    data = _record(WRITE_UP)
    text = readme_summary(data)
    assert _words(text) <= 190 and "\n" not in text
    assert "7 claims, 7 hold (“SSIM alone < MSE”" in text and "synthetic" in text and "5 seeds" in text
    d = claims(data)["ssim < mse"].evidence["penultimate · B"]["ssim < mse"]
    assert f"{d.mean:+.3g} [{d.low:+.3g}, {d.high:+.3g}]" in text
    assert readme_summary(json.loads(json.dumps(data))) == text  # from the JSON record alike
    assert "7 claims, 7 are unresolved (" in readme_summary(_record({}))


def test_the_pair_orders_kept_in_both_runs_are_counted_from_the_two_records(saved):
    data = saved["data"]
    again = results.load("07_fid_analysis", "replication")["data"]
    votes = voting_readings(data["fd"], data.get("dims"), data["fid_images"])
    pairs = pairwise_orders(votes, level=data["level"])
    held, reversed_ = (sum(p.verdict == v for p in pairs) for v in (HOLDS, REVERSED))
    same = replicated_orders(data, data)  # a record against itself keeps every order
    assert same == (f"Of the {len(pairs)} pairs, {held} keep the write-up's order in both runs and "
                    f"{reversed_} are reversed in both; 0 change from one run to the other.")
    votes_again = voting_readings(again["fd"], again.get("dims"), again["fid_images"])
    verdicts = {(p.better, p.worse): p.verdict for p in pairwise_orders(votes_again, level=again["level"])}
    both = {v: sum(p.verdict == verdicts[(p.better, p.worse)] == v for p in pairs) for v in (HOLDS, REVERSED)}
    moved = sum(p.verdict != verdicts[(p.better, p.worse)] for p in pairs)
    expected = (f"Of the {len(pairs)} pairs, {both[HOLDS]} keep the write-up's order in both runs and "
                f"{both[REVERSED]} are reversed in both; {moved} change from one run to the other.")
    assert replicated_orders(data, again) == expected
