"""``fpa.ceiling``: the FID/KID of real images rebuilt from T rank-1 strokes.

A T-step painter paints each channel as a sum of T rank-1 matrices, so the real images rebuilt
from T strokes (:mod:`fpa.decomposition.low_rank`) are what the best painter of that budget
could paint. Scoring them with the same extractor and real statistics as a trained painter
says how much of the painter's FID the rank budget explains and how much is training: when the
rebuilt images score near 0 and the painter does not, the budget is not the limit.

The rebuilt images are the real subset the statistics are made of, so at full rank they score
0; a generator's FID carries sampling noise on top (its own ``n`` samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from fpa.decomposition.low_rank import LAYOUTS, low_rank_images
from fpa.decomposition.svd import relative_error
from fpa.devices import resolve_device
from fpa.errors import ConfigError
from fpa.evaluation.evaluator import Evaluator, Progress, check_metrics, no_progress
from fpa.evaluation.metrics import FeatureStats, scores
from fpa.painters.colour_basis import YCBCR_TO_RGB
from fpa.sizes import image_hw

# The painted-to-output colour matrices a ceiling can be fitted in (a learned basis has none
# until it is trained).
BASES = {"direct": None, "ycbcr": YCBCR_TO_RGB}


@dataclass
class CeilingRow:
    """The scores of the real images rebuilt from ``rank`` strokes in one layout."""

    strokes: str
    rank: int
    scores: dict[str, float]
    relative_error: float


@dataclass
class CeilingResult:
    """Every (layout, rank) row, with what they were measured against."""

    data: str
    image_size: tuple[int, int]
    channels: int
    colour_basis: str
    features: str
    n_real: int
    real_stats: str
    rows: list[CeilingRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ceiling(
    data: str,
    *,
    ranks: Sequence[int] = (4, 8, 16, 32),
    strokes: Sequence[str] = LAYOUTS,
    image_size: int | tuple[int, int] = 32,
    channels: int = 3,
    colour_basis: str = "ycbcr",
    n: int = 2000,
    metrics: tuple[str, ...] | str = ("fid",),
    features: str | None = None,
    data_root: str | None = None,
    download: bool = False,
    batch_size: int = 200,
    device: str = "auto",
    use_cache: bool = True,
    progress: Progress = no_progress,
) -> CeilingResult:
    """FID/KID of ``n`` real images of ``data`` rebuilt from each rank in ``ranks`` with each
    stroke layout in ``strokes`` (``per-channel``, ``shared-key``, ``coloured``), the strokes
    painted in ``colour_basis`` (``direct`` or ``ycbcr``) as a painter would.

    FID by default: KID pairs every rebuilt image with the real image it was made from, which
    its unbiased estimator counts as a cross term, so it reads below 0 near full rank."""
    if colour_basis not in BASES:
        raise ConfigError(
            f"a ceiling is fitted in the colour basis direct or ycbcr; got {colour_basis!r}"
        )
    if colour_basis == "ycbcr" and channels != 3:
        raise ConfigError(f"colour_basis 'ycbcr' needs 3 channels; got {channels}")
    unknown = [layout for layout in strokes if layout not in LAYOUTS]
    if unknown or not strokes:
        raise ConfigError(f"--strokes takes a comma list of {', '.join(LAYOUTS)}; got {unknown}")
    if not ranks or min(ranks) < 1:
        raise ConfigError(f"--ranks takes positive stroke counts; got {list(ranks)}")
    size = image_hw(image_size)
    if max(ranks) > min(size):
        raise ConfigError(
            f"a {size[0]}×{size[1]} image has rank at most {min(size)}; got rank {max(ranks)}"
        )
    evaluator = Evaluator(
        data=data,
        image_size=size,
        channels=channels,
        n=n,
        metrics=check_metrics(metrics),
        features=features,
        data_root=data_root,
        download=download,
        device=torch.device(resolve_device(device)),
        batch_size=batch_size,
        use_cache=use_cache,
        progress=progress,
    )
    real = torch.stack([evaluator.dataset[i] for i in evaluator.real_subset().tolist()])
    basis = BASES[colour_basis]
    mixing = None if basis is None or channels == 1 else torch.tensor(basis)
    result = CeilingResult(
        data=data,
        image_size=size,
        channels=channels,
        colour_basis=colour_basis,
        features=evaluator.features_name,
        n_real=evaluator.real.stats.count,
        real_stats=evaluator.real.origin,
    )
    for layout in strokes:
        for rank in ranks:
            rebuilt = rebuild(real, rank=rank, strokes=layout, mixing=mixing, chunk=batch_size)
            stage = f"{layout} rank {rank}"
            fake = FeatureStats.of(evaluator.features_of(rebuilt, stage=stage))
            error = float(relative_error(rebuilt, real).mean())
            row = CeilingRow(
                strokes=layout,
                rank=rank,
                scores=scores(evaluator.real.stats, fake, evaluator.metrics),
                relative_error=error,
            )
            result.rows.append(row)
    return result


def rebuild(
    real: torch.Tensor, *, rank: int, strokes: str, mixing: torch.Tensor | None, chunk: int
) -> torch.Tensor:
    """``real`` rebuilt from ``rank`` strokes, a chunk at a time, clipped to the pixel range
    (a painter's tanh cannot leave it)."""
    parts = [
        low_rank_images(real[start : start + chunk], rank=rank, strokes=strokes, mixing=mixing)
        for start in range(0, len(real), chunk)
    ]
    return torch.cat(parts).clamp(-1.0, 1.0)
