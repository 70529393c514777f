"""Can a generator fit a fixed set of real images from fixed latents, with no discriminator?

A diagnostic for docs/quality-study.md §9.8: it tells what the generator can learn apart from
the GAN's dynamics. Each of N real images gets one latent, drawn once and kept; the generator
a run would train (a preset with ``--set`` overrides, as ``fpa train`` builds it) is fitted by
Adam to map each latent to its image (mean squared error in RGB). Printed every ``--every``
steps: the mean relative error ``‖G(z_i) − x_i‖ / ‖x_i‖`` over the N images, beside what a
rank-T truncated SVD of each RGB channel reaches on the same images (the Eckart–Young bound
for T rank-1 updates per channel). Run from the repository root, one thread::

    OMP_NUM_THREADS=1 python scripts/memorise.py --preset cpu-emoji --data oxygen --images 256 \
        --steps 1500 --grid memorise-painter.png
    OMP_NUM_THREADS=1 python scripts/memorise.py --preset cpu-emoji --data oxygen --images 256 \
        --steps 1500 --set baseline=conv --grid memorise-conv.png
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torchvision.utils import save_image

from fpa.cli.options import parse_set_options
from fpa.data.registry import build_dataset
from fpa.decomposition import relative_error, svd_errors
from fpa.training.presets import RunRequest
from fpa.training.resolve import decide_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-emoji")
    parser.add_argument("--data", default="oxygen")
    parser.add_argument("--set", action="append", default=[], dest="settings")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", help="PNG: the first 16 real images over their fits")
    parser.add_argument("--json", help="write the curve and the bound here")
    args = parser.parse_args()

    overrides = {"data": args.data, "seed": args.seed, **parse_set_options(args.settings)}
    request = RunRequest.read(preset_name=args.preset, overrides=overrides)
    config = decide_run(request).config
    # The images and latents come from their own generator, so every generator is fitted to
    # the same images from the same latents.
    draws = torch.Generator().manual_seed(args.seed)
    data = build_dataset(config.data, image_size=config.image_size, channels=config.channels)
    picked = torch.randperm(len(data), generator=draws)[: args.images]
    real = torch.stack([data[int(index)] for index in picked])
    latents = torch.randn(len(real), config.latent_dim, generator=draws)
    torch.manual_seed(args.seed)
    generator = config.build_generator()
    optimiser = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.9, 0.99))
    steps = config.generator.paint_steps
    bound = svd_errors(real, [steps]).mean().item()
    curve = []
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = torch.randint(len(real), (args.batch,), generator=draws)
        loss = (generator(latents[batch]) - real[batch]).square().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % args.every == 0 or step == args.steps:
            with torch.no_grad():
                fitted = torch.cat([generator(z) for z in latents.split(64)])
                error = relative_error(fitted, real).mean().item()
            curve.append({"step": step, "relative_error": error})
            print(
                f"step {step}: relative error {error:.4f} (rank-{steps} SVD per RGB channel "
                f"{bound:.4f}), {time.perf_counter() - started:.0f} s",
                flush=True,
            )
    if args.grid:
        with torch.no_grad():
            fitted = generator(latents[:16])
        save_image(torch.cat([real[:16], fitted]) * 0.5 + 0.5, args.grid, nrow=16, padding=1)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"args": vars(args), "svd_bound": bound, "curve": curve}, file, indent=1)


if __name__ == "__main__":
    main()
