"""The projection measurement of docs/conditioning.md: how well a painter's latents (and its
refined commands) reach real digits it never saw, digits it trained on, and its own samples.

The embedded digits are shuffled once, so the first 4,000 and the last 1,000 are both mixed
samples of all ten digits. ``split`` writes the first 4,000 as PNGs for a painter to train on
without the last 1,000::

    python scripts/projection_study.py split /tmp/digits4000
    OMP_NUM_THREADS=1 fpa train --preset cpu-demo --data /tmp/digits4000 --out runs/heldout \\
        --eval-every 0
    OMP_NUM_THREADS=1 python scripts/projection_study.py measure runs/heldout \\
        --figure docs/figures/projection-digits.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import fpa
from fpa.data.image_file import read_image
from fpa.viz import png_bytes

TRAINING = 4000
SHOWN = 8


def split(folder: Path) -> None:
    from fpa.data.mnist import build_mnist

    digits = build_mnist(image_size=(32, 32), channels=1)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(TRAINING):
        pixels = ((digits[index][0].numpy() + 1) * 127.5).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:04d}.png")


def measure(model: str, *, count: int, steps: int, refine_steps: int, figure: str | None) -> None:
    generator = fpa.load(model)
    size = generator.config.image_size
    latents = torch.randn(count, generator.latent_dim, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        samples = generator(latents)
    sets = {
        "held-out real digits": [f"mnist:{TRAINING + i}" for i in range(count)],
        "training digits": [f"mnist:{i}" for i in range(count)],
        "the painter's own samples": samples,
    }
    print(
        "| images | PSNR, latent (dB) | feature distance, latent | PSNR, refined (dB) | "
        "feature distance, refined |"
    )
    print("|---|---:|---:|---:|---:|")
    rows = []
    for name, chosen in sets.items():
        targets = (
            chosen
            if isinstance(chosen, torch.Tensor)
            else torch.stack([read_image(item, image_size=size) for item in chosen])
        )
        latent = fpa.project(generator, targets, features="digits", steps=steps)
        refined = fpa.project(
            generator, targets, features="digits", steps=steps, refine_steps=refine_steps
        )
        cells = [
            f"{latent.psnr.mean():.1f} ± {latent.psnr.std():.1f}",
            f"{latent.feature_distance.mean():.3f}",
            f"{refined.psnr.mean():.1f} ± {refined.psnr.std():.1f}",
            f"{refined.feature_distance.mean():.3f}",
        ]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)
        rows += [targets[:SHOWN], latent.images[:SHOWN], refined.images[:SHOWN]]
    if figure:
        with open(figure, "wb") as file:
            file.write(png_bytes(torch.cat(rows), columns=SHOWN, scale=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    split_parser = commands.add_parser("split", help="Write the first 4,000 digits as PNGs.")
    split_parser.add_argument("folder", type=Path)
    measure_parser = commands.add_parser("measure", help="Project and tabulate.")
    measure_parser.add_argument("model")
    measure_parser.add_argument("--count", type=int, default=100)
    measure_parser.add_argument("--steps", type=int, default=300)
    measure_parser.add_argument("--refine-steps", type=int, default=200)
    measure_parser.add_argument(
        "--figure", help="Per set, 8 images, their latent and refined projections (rows)."
    )
    args = parser.parse_args()
    if args.command == "split":
        split(args.folder)
    else:
        measure(
            args.model,
            count=args.count,
            steps=args.steps,
            refine_steps=args.refine_steps,
            figure=args.figure,
        )


if __name__ == "__main__":
    main()
