"""The table of docs/conditioning.md: how close each rule's T rank-1 updates get to real images,
against the truncated SVD of rank T (the Eckart–Young bound).

Each rule is fitted by ``fpa.decomposition.decompose`` (Adam, seeded) with a painter head's
activations (softmax keys, linear values, softplus rates) and, for hebb, with free commands
(no activation at all); the error is the relative Frobenius error of ``M_T`` against the
image, averaged over the images. Run from the repository root::

    OMP_NUM_THREADS=1 python scripts/decomposition_table.py --json decomposition.json \
        --figure docs/figures/decomposition-rules.png
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from fpa.data.image_file import read_image
from fpa.decomposition import decompose
from fpa.viz import png_bytes

FREE = {"key_activation": "none", "value_activation": "none", "rate_activation": "none"}
FITS = {
    "hebb": ("hebb", {}),
    "delta": ("delta", {}),
    "oja": ("oja", {}),
    "hebb, free": ("hebb", FREE),
}
SETS = {
    "digits": [f"mnist:{index}" for index in range(4)],
    "emoji": [f"emoji:{index}" for index in (100, 1000, 2000, 3000)],
}


SHOWN = 1


def colour(image: torch.Tensor) -> torch.Tensor:
    """Grey images as RGB, so that digits and emoji share one grid."""
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="4,8,16,32", help="The values of T, comma-separated.")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--json", help="Also write every number to this file.")
    parser.add_argument(
        "--figure",
        help="Also a PNG: per set, its second image painted by each fit (rows: SVD, then the "
        "fits) at each T (columns), the image itself in the first column.",
    )
    args = parser.parse_args()
    steps = [int(value) for value in args.steps.split(",")]
    record: dict[str, dict[str, dict[str, float]]] = {}
    tiles: list[torch.Tensor] = []
    for data, sources in SETS.items():
        images = torch.stack([read_image(source, image_size=(32, 32)) for source in sources])
        record[data] = {}
        shown: dict[str, list[torch.Tensor]] = {name: [] for name in ["SVD", *FITS]}
        for count in steps:
            row: dict[str, float] = {}
            for name, (rule, options) in FITS.items():
                started = time.perf_counter()
                result = decompose(
                    images, rule=rule, steps=count, iterations=args.iterations, **options
                )
                row[name] = result.error.mean().item()
                row["SVD"] = result.svd_error.mean().item()
                shown[name].append(result.trace.painted[SHOWN])
                if len(shown["SVD"]) < len(shown[name]):
                    shown["SVD"].append(result.svd()[SHOWN])
                row[f"{name} s"] = time.perf_counter() - started
            record[data][str(count)] = row
            cells = " | ".join(f"{row[name]:.4f}" for name in ["SVD", *FITS])
            print(f"| {data} | {count} | {cells} |", flush=True)
        for paintings in shown.values():
            tiles += [colour(images[SHOWN]), *(colour(painting) for painting in paintings)]
    if args.figure:
        grid = png_bytes(torch.stack(tiles).clamp(-1, 1), columns=len(steps) + 1, scale=3)
        with open(args.figure, "wb") as file:
            file.write(grid)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"images": SETS, "iterations": args.iterations, "errors": record}, file)


if __name__ == "__main__":
    main()
