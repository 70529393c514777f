"""What a model folder's card claims, measured again: the checks every shipped model passes
(tests/test_shipped_models.py) and that the model-folder tests show can fail. Each check
returns the lines that describe a failure (none when the claim holds)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fpa
from fpa.evaluation import CONFIDENT, class_histogram, confident_share
from fpa.models import read_card
from fpa.runs.model_layout import CARD_FILE, WEIGHTS_FILE

# A card's FID must be measured again within this share of itself (plus a small absolute
# margin for near-zero FIDs): the same images on another CPU or torch differ in the last bits.
FID_TOLERANCE = 0.05
FID_MARGIN = 0.02
# The bar for a digits painter: most paintings read as one clear digit (probability
# ≥ CONFIDENT for the top class), and all ten digits drawn about equally often.
DIGITS_READ = 1000
DIGITS_CONFIDENT_SHARE = 0.9
DIGITS_ENTROPY_BITS = 3.2
MAX_WEIGHTS_BYTES = 5_000_000

Check = Callable[[Path], list[str]]


def small_enough(folder: Path) -> list[str]:
    size = (folder / WEIGHTS_FILE).stat().st_size
    return [f"{folder}: weights of {size:,} bytes"] if size > MAX_WEIGHTS_BYTES else []


def measured_fid_holds(folder: Path) -> list[str]:
    """The card's FID measured again as the card says (same n, seed, extractor)."""
    measured = read_card(folder / CARD_FILE).measured
    if measured is None:
        return [f"{folder}: its card states no measured scores"]
    result = fpa.evaluate(
        folder,
        n=measured.n,
        seed=measured.seed,
        features=measured.features,
        metrics="fid",
        use_cache=False,
    )
    claimed, again = measured.scores["fid"], result.scores["fid"]
    if abs(again - claimed) > FID_TOLERANCE * claimed + FID_MARGIN:
        return [f"{folder}: its card claims FID {claimed:.4g}, measured again {again:.4g}"]
    return []


def digits_read_confidently(folder: Path) -> list[str]:
    """At least 90 % of 1,000 paintings read as one digit with probability ≥ CONFIDENT."""
    share = confident_share(fpa.load(folder), fpa.build_features("digits"), n=DIGITS_READ, seed=0)
    if share < DIGITS_CONFIDENT_SHARE:
        return [f"{folder}: {share:.1%} of {DIGITS_READ} paintings read with p ≥ {CONFIDENT}"]
    return []


def digits_all_drawn(folder: Path) -> list[str]:
    """The digits read in 1,000 paintings have at least 3.2 bits of entropy (log2 10 ≈ 3.32)."""
    histogram = class_histogram(
        fpa.load(folder), fpa.build_features("digits"), n=DIGITS_READ, seed=0
    )
    if histogram.entropy_bits < DIGITS_ENTROPY_BITS:
        return [f"{folder}: class entropy {histogram.entropy_bits:.3f} bits"]
    return []


EVERY_MODEL: dict[str, Check] = {"small": small_enough, "fid": measured_fid_holds}
DIGITS: dict[str, Check] = {"confident": digits_read_confidently, "entropy": digits_all_drawn}


def checks_for(folder: Path) -> dict[str, Check]:
    """The checks that apply to the model in ``folder``: size and FID for every model, the
    digit checks for one trained on mnist."""
    data = read_card(folder / CARD_FILE).data
    return {**EVERY_MODEL, **(DIGITS if data == "mnist" else {})}
