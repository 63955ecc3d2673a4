"""The write-up's configurations of notebook 07's loss zoo, their names, colours and published FIDs,
and its table's layout.

A *configuration* is a reconstruction loss by :func:`helpers.losses.get_loss`'s name: ``"mse"``, a
loss alone (``"ssim"``) or MSE + w * loss (``"mse+ssim@0.5"``). The write-up ("Better
Reconstruction Loss for VQ-VAE") trained 25: MSE, and each of six losses alone and with w = 1, 0.5,
0.25 (:data:`CONFIGURATIONS`; its issue's "22" is a miscount: 1 + 6 x 4 = 25).

    check_configurations(["mse", "mse+ssim@0.5"])  # the names, checked
    table = layout_table({name: (mean, std), ...})  # alone / MSE + w * loss, w = 1, 0.5, 0.25
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

from helpers.losses import LOSSES, get_loss

#: The six losses of the write-up, in its table's order.
ZOO = ("psnr", "ssim", "ms_ssim", "haarpsi", "gmsd", "ms_gmsd")
#: The weights w of its combinations MSE + w * loss.
WEIGHTS = (1.0, 0.5, 0.25)
#: Labels of the write-up's table.
TITLES = {"mse": "MSE", "psnr": "PSNR", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "haarpsi": "HaarPSI",
          "gmsd": "GMSD", "ms_gmsd": "MS-GMSD"}
#: One colour per loss, the same in every figure of notebook 07 (a mixture MSE + w * loss takes its
#: loss's colour, drawn hollow or dashed).
LOSS_COLOURS = {"mse": "tab:gray", "psnr": "tab:blue", "ssim": "tab:orange", "ms_ssim": "tab:green",
                "haarpsi": "tab:red", "gmsd": "tab:purple", "ms_gmsd": "tab:brown"}
#: The write-up's FIDs on 2,000 CIFAR-10 images (its section 3.2): configuration -> FID.
PUBLISHED_FID = {
    "mse": 86.3,
    "psnr": 81.9, "mse+psnr@1": 84.3, "mse+psnr@0.5": 81.6, "mse+psnr@0.25": 83.7,
    "ssim": 69.0, "mse+ssim@1": 84.2, "mse+ssim@0.5": 74.5, "mse+ssim@0.25": 72.3,
    "ms_ssim": 78.4, "mse+ms_ssim@1": 90.0, "mse+ms_ssim@0.5": 87.8, "mse+ms_ssim@0.25": 86.3,
    "haarpsi": 384.0, "mse+haarpsi@1": 251.0, "mse+haarpsi@0.5": 205.0, "mse+haarpsi@0.25": 161.0,
    "gmsd": 361.0, "mse+gmsd@1": 109.0, "mse+gmsd@0.5": 87.9, "mse+gmsd@0.25": 88.1,
    "ms_gmsd": 278.0, "mse+ms_gmsd@1": 97.1, "mse+ms_gmsd@0.5": 90.4, "mse+ms_gmsd@0.25": 83.8,
}


def configuration(loss: str, weight: float | None = None) -> str:
    """The name of ``loss`` alone (``weight=None``) or of MSE + ``weight`` * ``loss``."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    return loss if weight is None else f"mse+{loss}@{weight:g}"


#: The write-up's 25 configurations, in the order of its table (rows, then columns).
CONFIGURATIONS = ("mse", *(c for loss in ZOO for c in (configuration(loss),
                                                           *(configuration(loss, w) for w in WEIGHTS))))


def parse_configuration(name: str) -> tuple[str, float | None]:
    """``(loss, weight)`` of a configuration: ``("ssim", None)`` for ``"ssim"``, ``("ssim", 0.5)`` for
    ``"mse+ssim@0.5"``. Raises ``ValueError`` (from :func:`helpers.losses.get_loss`) for other names."""
    built = get_loss(name)
    if hasattr(built, "weight"):
        return built.loss.name, built.weight
    return built.name, None


def colour(name: str) -> str:
    """The colour of configuration ``name``'s loss (:data:`LOSS_COLOURS`); a mixture takes its loss's."""
    loss, _ = parse_configuration(name)
    return LOSS_COLOURS.get(loss, "black")


def check_configurations(names: Sequence[str] | str) -> list[str]:
    """``names`` as a list, each a valid configuration, none twice; raises ``ValueError`` otherwise.

    ``names`` may also be the JSON text of such a list, ``'["ssim", "mse+ssim@0.5"]'``: what
    ``papermill -p CONFIGS '["ssim"]'`` passes (``-p`` gives text; ``-y "CONFIGS: ['ssim']"`` a list)."""
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except json.JSONDecodeError:
            raise ValueError(f"configurations given as text must be a JSON list of names such as "
                             f"'[\"mse\", \"mse+ssim@0.5\"]'; got {names!r}") from None
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise ValueError(f"configurations must be a non-empty list of names such as ['mse', 'mse+ssim@0.5'] "
                         f"(with papermill: -y \"CONFIGS: ['ssim']\" or -p CONFIGS '[\"ssim\"]'); "
                         f"got {names!r}")
    for name in names:
        parse_configuration(name)
    if len(set(names)) != len(names):
        raise ValueError(f"configurations must name each configuration once; got {list(names)}")
    return list(names)


# --------------------------------------------------------------------------------------------
# The table and the rankings
# --------------------------------------------------------------------------------------------


NOT_RUN = "n/r"  # a configuration of the write-up's table that this run did not train
NOT_APPLICABLE = "n/a"  # MSE + w * MSE is not a configuration


def _cell(value: tuple[float, float] | None, scale: float, digits: int | None) -> str:
    if value is None:
        return NOT_RUN
    mean, std = value[0] / scale, value[1] / scale
    if not std > 0 or not math.isfinite(std):  # one seed: no spread to show
        return f"{mean:.{digits}f}" if digits is not None else f"{mean:.4g}"
    if digits is not None:
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    decimals = max(0, 1 - math.floor(math.log10(std)))  # the std to 2 significant digits, the mean alike
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def layout_table(summary: Mapping[str, tuple[float, float]], scaled: bool = False, digits: int | None = None,
                 losses: Sequence[str] = ZOO, weights: Sequence[float] = WEIGHTS) -> str:
    """A Markdown table in the write-up's layout: one row for MSE and one per loss of ``losses``;
    columns "alone", then MSE + w·loss for each w of ``weights``. ``summary``: configuration ->
    (mean, std) over seeds; a configuration not in it reads "n/r" (not run), MSE's own row "n/a" under
    the w columns (MSE + w·MSE is no configuration). ``scaled``: every value divided by the lowest mean
    of the table (the write-up's "multiple of the lowest one"), so the best reads 1.00. ``digits``:
    decimals; default 2 when scaled, else the std to 2 significant digits and the mean to the same
    decimal place (no ± with a zero std: one seed)."""
    if not summary:
        raise ValueError("summary must hold at least one configuration; got none")
    scale = min(m for m, _ in summary.values()) if scaled else 1.0
    if scale <= 0:
        raise ValueError(f"scaled=True needs positive means; the lowest is {scale}")
    digits = 2 if scaled and digits is None else digits
    header = "| loss | alone | " + " | ".join(f"MSE + {w:g}·loss" for w in weights) + " |"
    lines = [header, "|---" * (2 + len(weights)) + "|"]
    lines.append("| MSE | " + _cell(summary.get("mse"), scale, digits) + " |"
                 + f" {NOT_APPLICABLE} |" * len(weights))
    for loss in losses:
        cells = [_cell(summary.get(configuration(loss)), scale, digits)]
        cells += [_cell(summary.get(configuration(loss, w)), scale, digits) for w in weights]
        lines.append(f"| {TITLES.get(loss, loss)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
