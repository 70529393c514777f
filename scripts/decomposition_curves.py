"""The error after every step of a decomposition, against the truncated SVD at every rank:
does a rule's painting get close early (greedily) or only at the end? (docs/conditioning.md)

    OMP_NUM_THREADS=1 python scripts/decomposition_curves.py \
        --out docs/figures/decomposition-curves.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from fpa.data.image_file import read_image
from fpa.decomposition import decompose

FITS = {"hebb": {}, "delta": {}, "oja": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    images = torch.stack([read_image(f"mnist:{index}", image_size=(32, 32)) for index in range(4)])
    figure, axes = plt.subplots(figsize=(6, 3.6), dpi=110)
    ranks = range(1, args.steps + 1)
    svd = None
    for rule, options in FITS.items():
        result = decompose(
            images, rule=rule, steps=args.steps, iterations=args.iterations, **options
        )
        curve = result.errors_by_step.mean(dim=0)
        axes.plot(ranks, curve, marker="o", markersize=3, label=f"{rule} (partial painting M_t)")
        svd = result.svd_by_step.mean(dim=0)
        print(rule, [round(value, 4) for value in curve.tolist()])
    assert svd is not None
    axes.plot(ranks, svd, color="black", linestyle="--", label="truncated SVD of rank t")
    print("SVD", [round(value, 4) for value in svd.tolist()])
    axes.set_yscale("log")
    axes.set_xlabel("step t")
    axes.set_ylabel("relative error (mean of 4 digits)")
    axes.set_title(f"Fitted for T = {args.steps}: error after each step")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out)


if __name__ == "__main__":
    main()
