"""Train the offline feature extractors shipped in ``src/fpa/features/weights/``.

``digits``: a 10-way classifier on the built-in MNIST digits (32×32 grey, the training
resize). The 5,000 digits are split once with a fixed seed into 4,000 for training and 1,000
held out; the held-out accuracy goes into the weights file and docs/evaluation.md.

``emoji``: the built-in emoji carry no labels, so the net learns to tell the 4,495 emoji
apart under random shifts, rotations, scaling, contrast changes and noise (each emoji is its
own class). Its held-out figure is the accuracy on fresh augmented views drawn with another
seed. The pooled features then describe what an emoji looks like, which is what FID needs.

Everything is seeded and runs on the CPU (a few minutes on 2 cores)::

    python scripts/train_feature_extractors.py            # both
    python scripts/train_feature_extractors.py --only digits
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from fpa.data import build_dataset
from fpa.features.network import SmallConvNet

OUT = Path(__file__).resolve().parents[1] / "src" / "fpa" / "features" / "weights"


@dataclass(frozen=True)
class Recipe:
    """How one extractor is trained."""

    name: str
    data: str
    channels: int
    epochs: int
    max_shift: float
    max_rotate_degrees: float
    scale_range: tuple[float, float]
    width: int = 32
    batch_size: int = 128
    lr: float = 2e-3


RECIPES = {
    "digits": Recipe(
        name="digits",
        data="mnist",
        channels=1,
        epochs=30,
        max_shift=0.1,
        max_rotate_degrees=12,
        scale_range=(0.9, 1.1),
    ),
    "emoji": Recipe(
        name="emoji",
        data="emoji",
        channels=3,
        epochs=60,
        max_shift=0.1,
        max_rotate_degrees=10,
        scale_range=(0.85, 1.15),
    ),
}


def augment(images: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """Per-image random affine warp, contrast/brightness change and pixel noise."""
    batch = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(batch, generator=generator)

    angle = torch.deg2rad(uniform(-recipe.max_rotate_degrees, recipe.max_rotate_degrees))
    scale = 1 / uniform(*recipe.scale_range)
    shift_x, shift_y = (uniform(-recipe.max_shift, recipe.max_shift) * 2 for _ in range(2))
    theta = torch.stack(
        [
            torch.stack([scale * angle.cos(), -scale * angle.sin(), shift_x], dim=1),
            torch.stack([scale * angle.sin(), scale * angle.cos(), shift_y], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    contrast = uniform(0.8, 1.2).view(batch, 1, 1, 1)
    brightness = uniform(-0.1, 0.1).view(batch, 1, 1, 1)
    noise = uniform(0.0, 0.08).view(batch, 1, 1, 1) * torch.randn(warped.shape, generator=generator)
    return (warped * contrast + brightness + noise).clamp(-1, 1)


def load(recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = build_dataset(recipe.data, image_size=32, channels=recipe.channels)
    images = torch.stack([dataset[i] for i in range(len(dataset))])
    if dataset.labels is not None:
        return images, dataset.labels.long()
    return images, torch.arange(len(images))


def split(images, labels, recipe: Recipe, seed: int):
    """Digits: 4,000 train / 1,000 held out. Emoji: every emoji trains; fresh views test."""
    if recipe.data != "mnist":
        return (images, labels), (images, labels)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    train, test = order[:4000], order[4000:]
    return (images[train], labels[train]), (images[test], labels[test])


@torch.no_grad()
def accuracy(network, images, labels, recipe: Recipe, seed: int | None) -> float:
    network.eval()
    correct = 0
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    for start in range(0, len(images), 500):
        batch = images[start : start + 500]
        if generator is not None:
            batch = augment(batch, recipe, generator)
        predicted = network(batch).argmax(dim=1)
        correct += (predicted == labels[start : start + 500]).sum().item()
    return correct / len(images)


def train(recipe: Recipe, *, seed: int) -> dict:
    torch.manual_seed(seed)
    images, labels = load(recipe)
    (train_x, train_y), (test_x, test_y) = split(images, labels, recipe, seed)
    num_classes = int(labels.max()) + 1
    network = SmallConvNet(in_channels=recipe.channels, num_classes=num_classes, width=recipe.width)
    optimizer = torch.optim.AdamW(network.parameters(), lr=recipe.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_x) / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch
    )
    generator = torch.Generator().manual_seed(seed + 1)
    started = time.perf_counter()
    for epoch in range(recipe.epochs):
        network.train()
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), recipe.batch_size):
            index = order[start : start + recipe.batch_size]
            batch = augment(train_x[index], recipe, generator)
            loss = F.cross_entropy(network(batch), train_y[index], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % 10 == 0 or epoch + 1 == recipe.epochs:
            print(f"{recipe.name} epoch {epoch + 1}: loss {loss.item():.3f}", flush=True)
    # Ship half-precision weights and report the accuracy of exactly what ships.
    state = {k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}
    network.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    )
    held_out = (
        accuracy(network, test_x, test_y, recipe, seed=None)
        if recipe.data == "mnist"
        else accuracy(network, test_x, test_y, recipe, seed=seed + 1000)
    )
    return {
        "state_dict": state,
        "in_channels": recipe.channels,
        "num_classes": num_classes,
        "width": recipe.width,
        "dataset": recipe.data,
        "seed": seed,
        "epochs": recipe.epochs,
        "test_accuracy": held_out,
        "train_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, recipe in RECIPES.items():
        if args.only and name != args.only:
            continue
        result = train(recipe, seed=args.seed)
        torch.save(result, args.out / f"{name}.pt")
        print(
            f"{name}: held-out accuracy {result['test_accuracy']:.4f} "
            f"({result['train_seconds']} s) -> {args.out / (name + '.pt')}"
        )


if __name__ == "__main__":
    main()
