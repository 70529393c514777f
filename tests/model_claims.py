"""What a model folder's card claims, measured again: the checks every shipped model passes
(tests/test_shipped_models.py) and that the model-folder tests show can fail."""

from __future__ import annotations

from pathlib import Path

import fpa
from fpa.evaluation import class_histogram, confident_share
from fpa.models import read_card
from fpa.models.layout import CARD_FILE, WEIGHTS_FILE

# A card's FID must be measured again within this share of itself (plus a small absolute
# margin for near-zero FIDs): the same images on another CPU or torch differ in the last bits.
FID_TOLERANCE = 0.05
FID_MARGIN = 0.02
# The bar for a digits painter: most paintings read as one clear digit, all ten drawn.
DIGITS_READ = 1000
DIGITS_CONFIDENT = 0.9
DIGITS_ENTROPY_BITS = 3.2
MAX_WEIGHTS_BYTES = 5_000_000


def measured_scores_hold(folder: Path) -> list[str]:
    """The card's FID measured again as the card says (same n, seed, extractor); the
    differences beyond the tolerance, as lines (empty when the claim holds)."""
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


def digits_read_clearly(folder: Path) -> list[str]:
    """The digit classifier reads at least 90% of 1,000 paintings with confidence ≥ 0.9, and
    the classes it reads have an entropy of at least 3.2 bits (log2 10 ≈ 3.32)."""
    generator = fpa.load(folder)
    classifier = fpa.build_features("digits")
    share = confident_share(
        generator, classifier, n=DIGITS_READ, threshold=DIGITS_CONFIDENT, seed=0
    )
    entropy = class_histogram(generator, classifier, n=DIGITS_READ, seed=0).entropy_bits
    failures = []
    if share < DIGITS_CONFIDENT:
        failures.append(f"{folder}: {share:.1%} of {DIGITS_READ} digits read confidently")
    if entropy < DIGITS_ENTROPY_BITS:
        failures.append(f"{folder}: class entropy {entropy:.3f} bits < {DIGITS_ENTROPY_BITS}")
    return failures


def small_enough(folder: Path) -> list[str]:
    size = (folder / WEIGHTS_FILE).stat().st_size
    return [f"{folder}: weights of {size:,} bytes"] if size > MAX_WEIGHTS_BYTES else []


def card_claims(folder: Path) -> list[str]:
    """Every check that applies to the model in ``folder``: its FID for all, the digit checks
    for a model trained on mnist."""
    failures = small_enough(folder) + measured_scores_hold(folder)
    if read_card(folder / CARD_FILE).data == "mnist":
        failures += digits_read_clearly(folder)
    return failures
