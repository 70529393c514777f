"""Grids of several generators on the same latents, side by side and labelled, with real
images first: the figures of docs/quality-study.md.

    python scripts/compare_grids.py --data oxygen --out docs/figures/shaded-gap.png \\
        "painter=runs/shaded/painter/seed-0/checkpoints/best.pt" \\
        "conv baseline=runs/shaded/baseline/baseline-conv_seed-0/checkpoints/best.pt"

Each panel is a 6×6 grid (``--n``); the latents are drawn with ``--seed``, the same for every
panel, so the panels show what each generator paints for one set of codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torchvision.utils import make_grid

import fpa
from fpa.data import build_dataset
from fpa.evaluation.sampling import seeded_images


def to_pil(images: torch.Tensor, *, rows: int, scale: int) -> Image.Image:
    grid = make_grid(images.clamp(-1, 1) * 0.5 + 0.5, nrow=rows, padding=1, pad_value=1.0)
    pixels = (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    image = Image.fromarray(pixels)
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("panels", nargs="+", help="LABEL=RUN_OR_CHECKPOINT")
    parser.add_argument("--data", required=True, help="Real images shown in the first panel.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=36)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2)
    args = parser.parse_args()
    rows = int(args.n**0.5)
    panels = []
    first = fpa.load(args.panels[0].split("=", 1)[1])
    size, channels = first.config.image_size, first.config.channels
    real = build_dataset(args.data, image_size=size, channels=channels)
    pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(args.seed))
    panels.append((f"real {args.data}", torch.stack([real[i] for i in pick[: args.n].tolist()])))
    for panel in args.panels:
        label, source = panel.split("=", 1)
        generator = fpa.load(source)
        images = next(seeded_images(generator, n=args.n, batch_size=args.n, seed=args.seed))
        panels.append((label, images))
    pictures = [(label, to_pil(images, rows=rows, scale=args.scale)) for label, images in panels]
    width = sum(picture.width for _, picture in pictures) + 8 * (len(pictures) - 1)
    height = max(picture.height for _, picture in pictures) + 18
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    left = 0
    for label, picture in pictures:
        draw.text((left + 2, 2), label, fill="black")
        sheet.paste(picture, (left, 18))
        left += picture.width + 8
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out} ({width}×{height} px, {len(pictures)} panels)")


if __name__ == "__main__":
    main()
