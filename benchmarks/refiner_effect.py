"""Before/after figures for a refiner: the same latents through the painter alone and refined.

    python benchmarks/refiner_effect.py runs/refine --out docs/figures/refiner.png

Until FID/KID land, quality is measured in pixel space against the run's real data, with two
nearest-neighbour distances (the idea of Kynkäänniemi et al. 2019's precision and recall):

- fidelity: mean distance from each generated image to its nearest real image (lower = each
  sample looks like some real digit);
- coverage: mean distance from each real image to its nearest generated image (lower = the
  samples cover more of the data);
- grey fraction: share of pixels with |x| < 0.5 (real digits are nearly black and white, so
  blotchy paintings score high).

None of these uses the discriminator that trained the model.
"""

from __future__ import annotations

import argparse
import json

import torch
from rich.console import Console
from rich.table import Table

import fpa
from fpa.data import build_dataset
from fpa.files import atomic_write_bytes
from fpa.runs.checkpoint import find_checkpoint, load_checkpoint
from fpa.training import TrainConfig
from fpa.viz import png_bytes


def nearest_distances(queries: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
    """For each query image, the L2 distance (per pixel, RMS) to its nearest image in pool."""
    flat_queries, flat_pool = queries.flatten(1), pool.flatten(1)
    best = torch.cdist(flat_queries, flat_pool).min(dim=1).values
    return best / flat_queries.shape[1] ** 0.5


def statistics(images: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    return {
        "fidelity": nearest_distances(images, real).mean().item(),
        "coverage": nearest_distances(real, images).mean().item(),
        "grey_fraction": (images.abs() < 0.5).float().mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run directory or checkpoint with a refiner")
    parser.add_argument("--n", type=int, default=1000, help="generated and real images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write a side-by-side grid (painted | refined) here")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    config = TrainConfig.from_dict(load_checkpoint(find_checkpoint(args.run))["config"])
    generator = fpa.load(args.run)
    dataset = build_dataset(config.data, image_size=config.image_size, channels=config.channels)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(args.seed))
    real = torch.stack([dataset[int(i)] for i in order[: args.n]])
    z = torch.randn(args.n, generator.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        traces = [generator.paint_trace(chunk) for chunk in z.split(250)]
    painted = torch.cat([t.painted for t in traces])
    refined = torch.cat([t.images for t in traces])
    rows = {
        "real (held-out half)": statistics(real[: args.n // 2], real[args.n // 2 :]),
        "painted (before refiner)": statistics(painted, real),
        "refined (after refiner)": statistics(refined, real),
    }
    table = Table(title=f"{args.run}: {args.n} images, pixel-space nearest neighbours")
    for column in ("images", "fidelity ↓", "coverage ↓", "grey fraction"):
        table.add_column(column, justify="right")
    for name, values in rows.items():
        table.add_row(name, *(f"{v:.3f}" for v in values.values()))
    Console().print(table)
    if args.out:
        pairs = torch.stack([painted[:32], refined[:32]], dim=1).flatten(0, 1)
        atomic_write_bytes(args.out, png_bytes(pairs, columns=16))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=2)


if __name__ == "__main__":
    main()
