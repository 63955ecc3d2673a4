"""The claims of notebooks 04 and 05, decided from their committed per-run measurements (no training),
and on synthetic records with a known effect and with none."""

import json

import numpy as np
import pytest

from helpers import results, stats
from helpers.experiments.vae import (
    EL_VAE_CLAIMS,
    cvae_claims,
    cvae_summary,
    el_vae_claims,
    el_vae_summary,
    rate_accuracy_correlation,
    sharpness_verdict,
)

COLUMNS = ("mse", "psnr", "ssim", "ms_ssim", "kl", "sharpness", "edges", "high_freq")


def _report(rng, shift=0.0, **fixed):
    row = {c: float(rng.normal(0.5, 0.05)) for c in COLUMNS}
    row.update({c: row[c] + shift for c in ("sharpness", "edges", "high_freq")})
    row.update(fixed)
    return row


def _el_vae_record(seeds, shift, seed=0):
    """Two arms whose seed s shares a seed effect; the 1 - MS-SSIM arm's sharpness columns moved by
    ``shift`` plus a small noise."""
    rng = np.random.default_rng(seed)
    mse = [_report(rng) for _ in range(seeds)]
    ms = [{c: v + (shift if c in ("sharpness", "edges", "high_freq") else 0.0) + float(rng.normal(0, 1e-3))
           for c, v in r.items()} for r in mse]
    return {"seeds": list(range(seeds)), "beta_star": 0.0025, "target_rate": 18.0, "reached_rate": 18.1,
            "rate_matched": True, "matched": {"mse": mse, "ms_ssim": ms},
            "at_collection": {"mse": mse, "ms_ssim": ms}}


def test_el_vae_claims_find_a_known_effect_and_claim_none_where_there_is_none():
    sharper = el_vae_claims(_el_vae_record(4, 0.05))
    assert sharpness_verdict(sharper) == "sharper"
    assert sharpness_verdict(el_vae_claims(_el_vae_record(4, -0.05))) == "blurrier"
    null = [sharpness_verdict(el_vae_claims(_el_vae_record(3, 0.0, seed=s))) for s in range(40)]
    assert null.count("sharper") == 0 and null.count("blurrier") == 0  # all three at once: (5 %)^3 at most
    one_seed = el_vae_claims(_el_vae_record(1, 0.05))
    assert all(d.verdict == stats.UNRESOLVED for d in one_seed.values())  # one seed resolves nothing


def test_el_vae_claims_pair_by_seed_and_skip_failed_runs():
    record = _el_vae_record(3, 0.05)
    record["matched"]["ms_ssim"][1] = None  # a run that went NaN: its seed drops out of every pair
    claims = el_vae_claims(record)
    assert claims["sharpness"].n == 2 and claims["sharpness"].mean == pytest.approx(0.05, abs=0.01)
    unmatched = el_vae_claims({**_el_vae_record(4, 0.05), "rate_matched": False})
    assert all(unmatched[n].verdict == stats.UNRESOLVED for n in EL_VAE_CLAIMS)
    with pytest.raises(ValueError, match="as many each"):
        el_vae_claims({**record, "matched": {"mse": record["matched"]["mse"][:2],
                                             "ms_ssim": record["matched"]["ms_ssim"]}})


def _cvae_record(seeds, alpha_effect, seed=0):
    rng = np.random.default_rng(seed)
    base = [_report(rng, accuracy=0.5, recon_acc=0.7, follows_label=0.2) for _ in range(seeds)]
    grid = []
    for alpha in (0.0, 0.5, 1.0):
        for beta in (0.00025, 0.001):
            reports = [{c: v + alpha * alpha_effect * (1 if c != "accuracy" else -1) - beta * 10
                        + float(rng.normal(0, 1e-3)) for c, v in r.items()} for r in base]
            grid.append({"alpha": alpha, "beta": beta, "reports": reports})
    return {"seeds": list(range(seeds)), "grid": grid}


def test_cvae_claims_orient_each_claim_as_worded():
    claims = cvae_claims(_cvae_record(4, 0.1))
    assert claims["alpha raises ssim @ beta 0.00025"].verdict == stats.HOLDS
    assert claims["alpha lowers accuracy @ beta 0.001"].verdict == stats.HOLDS
    assert claims["alpha raises kl @ beta 0.001"].verdict == stats.HOLDS
    assert claims["beta lowers ssim @ alpha 0"].verdict == stats.HOLDS  # beta * 10 lowers every column
    assert claims["beta raises accuracy @ alpha 0.5"].verdict == stats.REVERSED
    assert claims["beta lowers ssim @ alpha 1"].verdict == stats.HOLDS  # every alpha has its beta claims
    assert cvae_claims(_cvae_record(4, -0.1))["alpha raises ssim @ beta 0.001"].verdict == stats.REVERSED
    rho = rate_accuracy_correlation(_cvae_record(3, 0.1))
    assert rho.n == 6 and -1 <= rho.rho <= 1 and 0 < rho.p <= 1


def _with_matched_cell(record, effect, rate=20.0, reached=20.5):
    """``record`` with a matched cell: alpha 1 at another beta, its columns the reference cell's
    (alpha 0, beta 0.00025) moved by ``effect`` in each claim's direction, plus a little noise."""
    rng = np.random.default_rng(1)
    reference = next(c["reports"] for c in record["grid"] if c["alpha"] == 0.0 and c["beta"] == 0.00025)
    signs = {"ssim": 1, "sharpness": 1, "accuracy": -1, "follows_label": -1}
    reports = [{c: v + effect * signs.get(c, 0) + float(rng.normal(0, 1e-3)) for c, v in r.items()}
               for r in reference]
    return {**record, "matched_rate": {"alpha": 1.0, "beta": 0.0007, "reached_rate": reached,
                                       "tolerance": 0.1, "reports": reports,
                                       "reference": {"alpha": 0.0, "beta": 0.00025, "rate": rate}}}


def test_matched_rate_claims_compare_with_the_reference_cell_and_need_the_rate_matched():
    claims = cvae_claims(_with_matched_cell(_cvae_record(4, 0.1), 0.05))
    names = [n for n in claims if n.startswith("at a matched rate")]
    assert names == [f"at a matched rate, alpha {claim}" for claim in (
        "raises ssim", "raises sharpness", "lowers accuracy", "lowers follows_label")]
    assert all(claims[n].verdict == stats.HOLDS for n in names)
    assert claims["at a matched rate, alpha raises ssim"].mean == pytest.approx(0.05, abs=0.005)
    opposite = cvae_claims(_with_matched_cell(_cvae_record(4, 0.1), -0.05))
    assert all(opposite[n].verdict == stats.REVERSED for n in names)
    none = cvae_claims(_with_matched_cell(_cvae_record(4, 0.1), 0.0))
    assert all(none[n].verdict == stats.UNRESOLVED for n in names)
    missed = _with_matched_cell(_cvae_record(4, 0.1), 0.05, reached=23.0)  # 15 % off: decides nothing
    assert not [n for n in cvae_claims(missed) if n.startswith("at a matched")]
    assert "The rate was not matched" in cvae_summary(missed) and "15 % apart" in cvae_summary(missed)
    text = cvae_summary(_with_matched_cell(_cvae_record(4, 0.1), 0.05))
    assert "At a matched rate (α = 1 at β = 0.0007: 20.5 nats against 20.0" in text
    assert "follows_label holds" in text
    assert not [n for n in cvae_claims(_cvae_record(4, 0.1)) if n.startswith("at a matched")]


@pytest.mark.parametrize(("notebook", "decide", "summary"), [
    ("04_el_vae", el_vae_claims, el_vae_summary),
    ("05_cvae", cvae_claims, cvae_summary),
])
def test_committed_results_decide_the_verdicts_the_notebook_printed(notebook, decide, summary):
    record = results.load(notebook, "runs")
    assert record["profile"] == results.REFERENCE_PROFILE and record["notebook"] == notebook
    data = record["data"]
    decided = {name: d.verdict for name, d in decide(data).items()}
    assert decided == data["verdicts"]
    assert len(data["seeds"]) >= 2  # the reference run pairs at least two seeds
    text = summary(data)
    assert text.startswith(f"Notebook {notebook[:2]}") and "nan" not in text
    if notebook == "04_el_vae":
        assert data["verdict"] == sharpness_verdict(decide(data))
    replication = results.results_dir(notebook, results.REFERENCE_PROFILE) / "replication.json"
    if replication.exists():  # the run at another thread count, decided by the same functions
        again = results.load(notebook, "replication")["data"]
        assert {name: d.verdict for name, d in decide(again).items()} == again["verdicts"]
        assert again["seeds"] == data["seeds"]


def test_results_are_written_whole_under_runs_for_other_profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    (tmp_path / "helpers").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    path = results.save("99_test", "runs", {"a": [1.0, 2], "b": {"c": "x"}}, profile="smoke")
    assert path == tmp_path / "runs" / "smoke" / "results" / "99_test" / "runs.json"
    assert json.loads(path.read_text())["data"] == {"a": [1.0, 2], "b": {"c": "x"}}
    assert results.load("99_test", "runs", "smoke")["environment"]["torch"]
    reference = results.save("99_test", "runs", {}, profile="cpu")
    assert reference == tmp_path / "results" / "99_test" / "runs.json"
    for bad in ({"a": float("nan")}, {1: 2}, {"a": object()}):
        with pytest.raises(ValueError, match="data"):
            results.save("99_test", "bad", bad, profile="smoke")
    with pytest.raises(FileNotFoundError, match="run notebook 99_test"):
        results.load("99_test", "missing", "smoke")


def test_compare_names_changed_verdicts_and_the_largest_move():
    first = {"data": {"seeds": [0, 1], "a": [1.0, 2.0], "b": {"c": 4.0},
                      "verdicts": {"x": "holds", "y": "holds"}}}
    second = {"data": {"seeds": [0, 1], "a": [1.0, 2.2], "b": {"c": 4.0},
                       "verdicts": {"x": "holds", "y": "unresolved"}}}
    found = results.compare("04_el_vae", first, second)
    assert found.verdicts_changed == {"y": ("holds", "unresolved")} and found.claims == 2
    assert found.verdicts_kept == {"holds": 1}  # x holds in both; y only in the first
    assert found.numbers == 3 and found.largest_at == "a/1"
    assert found.largest_move == pytest.approx(0.2 / 2.2)
    assert found.median_move == 0.0  # two of the three numbers did not move
    left = results.compare("04_el_vae", first, second, ignore=("a",))
    assert left.numbers == 1 and left.largest_move == 0.0 and left.verdicts_changed == found.verdicts_changed
    assert results.compare("04_el_vae", first, first).verdicts_changed == {}
    assert results.compare("04_el_vae", first, first).verdicts_kept == {"holds": 2}
    designed = {"data": {**first["data"], "design": {"seeds": 2, "epochs": 10}}}
    other = {"data": {**first["data"], "design": {"seeds": 2, "epochs": 20}}}
    assert results.compare("06_overfitting", designed, designed).numbers == 5  # the design's numbers too
    with pytest.raises(ValueError, match=r"same design to be compared; they differ in \['epochs'\]"):
        results.compare("06_overfitting", designed, other)
    with pytest.raises(ValueError, match=r"differ in \[.epochs., .seeds.\]"):  # one states none
        results.compare("06_overfitting", designed, first)
