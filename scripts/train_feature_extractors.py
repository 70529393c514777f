"""Train the offline feature extractors shipped in ``src/fpa/features/weights/``.

``digits``: a 10-way classifier on the built-in MNIST digits (32×32 grey, the training
resize). The 5,000 digits are split once with a fixed seed into 4,000 for training and 1,000
held out; the held-out accuracy goes into the weights file and docs/evaluation.md.

``emoji``: the built-in emoji carry no labels, so the net learns to tell the 4,495 emoji
apart under random shifts, rotations, scaling, contrast changes and noise (each emoji is its
own class). Its held-out figure is the accuracy on fresh augmented views drawn with another
seed. The pooled features then describe what an emoji looks like, which is what FID needs.

``icons``: the same idea on a mix of colour sets, the emoji plus the shaded icons of Debian's
``tango``, ``oxygen`` and ``gnome`` themes (pictures that are pixel-identical at 32×32 are
kept once), with its own seed. It is a second, independent net to check scores tuned on the
``emoji`` features, so it is the default for no data set.

Everything is seeded and runs on the CPU (a few minutes on 2 cores each)::

    python scripts/train_feature_extractors.py            # all three
    python scripts/train_feature_extractors.py --only digits
    python scripts/train_feature_extractors.py --only icons --epochs 20   # a quicker try
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from fpa.data import build_dataset
from fpa.features.network import SmallConvNet

OUT = Path(__file__).resolve().parents[1] / "src" / "fpa" / "features" / "weights"


@dataclass(frozen=True)
class Recipe:
    """How one extractor is trained: ``data`` is a built-in dataset name, or a tuple of names
    whose images are pooled (unlabelled sets only; each image is then its own class)."""

    name: str
    data: str | tuple[str, ...]
    channels: int
    epochs: int
    max_shift: float
    max_rotate_degrees: float
    scale_range: tuple[float, float]
    width: int = 32
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    drop_duplicates: bool = False

    @property
    def sources(self) -> tuple[str, ...]:
        return (self.data,) if isinstance(self.data, str) else self.data


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
    "icons": Recipe(
        name="icons",
        data=("emoji", "tango", "oxygen", "gnome"),
        channels=3,
        epochs=45,
        max_shift=0.1,
        max_rotate_degrees=10,
        scale_range=(0.85, 1.15),
        seed=1,
        drop_duplicates=True,
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


def load(recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The images, their labels, and the data set each image came from.

    A labelled set (mnist) keeps its labels; otherwise each image is its own class. With
    ``drop_duplicates`` a picture whose 8-bit pixels repeat an earlier one is left out, since
    two classes holding the same picture cannot be told apart."""
    parts, origin = [], []
    for name in recipe.sources:
        dataset = build_dataset(name, image_size=32, channels=recipe.channels)
        if dataset.labels is not None:
            if len(recipe.sources) > 1:
                raise ValueError(f"{recipe.name}: cannot mix the labelled set {name!r}")
            return (
                torch.stack([dataset[i] for i in range(len(dataset))]),
                dataset.labels.long(),
                [name] * len(dataset),
            )
        parts.append(torch.stack([dataset[i] for i in range(len(dataset))]))
        origin += [name] * len(dataset)
    images = torch.cat(parts)
    if recipe.drop_duplicates:
        pixels = ((images + 1) * 127.5).round().to(torch.uint8)
        seen: set[str] = set()
        keep = []
        for i in range(len(images)):
            digest = hashlib.sha256(pixels[i].numpy().tobytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                keep.append(i)
        images, origin = images[keep], [origin[i] for i in keep]
    return images, torch.arange(len(images)), origin


def split(images, labels, recipe: Recipe, seed: int):
    """Digits: 4,000 train / 1,000 held out. Emoji: every emoji trains; fresh views test."""
    if recipe.data != "mnist":
        return (images, labels), (images, labels)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    train, test = order[:4000], order[4000:]
    return (images[train], labels[train]), (images[test], labels[test])


@torch.no_grad()
def hits(network, images, labels, recipe: Recipe, seed: int | None) -> torch.Tensor:
    """Whether each image (a fresh augmented view of it, with a seed) is classified right."""
    network.eval()
    correct = []
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    for start in range(0, len(images), 500):
        batch = images[start : start + 500]
        if generator is not None:
            batch = augment(batch, recipe, generator)
        predicted = network(batch).argmax(dim=1)
        correct.append(predicted == labels[start : start + 500])
    return torch.cat(correct)


def accuracy(network, images, labels, recipe: Recipe, seed: int | None) -> float:
    return hits(network, images, labels, recipe, seed).sum().item() / len(images)


def train(recipe: Recipe, *, seed: int) -> dict:
    torch.manual_seed(seed)
    images, labels, origin = load(recipe)
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
    correct = (
        hits(network, test_x, test_y, recipe, seed=None)
        if recipe.data == "mnist"
        else hits(network, test_x, test_y, recipe, seed=seed + 1000)
    )
    result = {
        "state_dict": state,
        "in_channels": recipe.channels,
        "num_classes": num_classes,
        "width": recipe.width,
        "dataset": "+".join(recipe.sources),
        "seed": seed,
        "epochs": recipe.epochs,
        "test_accuracy": correct.sum().item() / len(correct),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    if len(recipe.sources) > 1:  # every image trains and is tested: origin lines up with both
        for name in recipe.sources:
            mine = torch.tensor([source == name for source in origin])
            result[f"images_{name}"] = int(mine.sum())
            result[f"test_accuracy_{name}"] = correct[mine].float().mean().item()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RECIPES))
    parser.add_argument("--seed", type=int, help="default: the recipe's (digits/emoji 0, icons 1)")
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, recipe in RECIPES.items():
        if args.only and name != args.only:
            continue
        if args.epochs is not None:
            recipe = replace(recipe, epochs=args.epochs)
        result = train(recipe, seed=recipe.seed if args.seed is None else args.seed)
        torch.save(result, args.out / f"{name}.pt")
        print(
            f"{name}: held-out accuracy {result['test_accuracy']:.4f} "
            f"({result['train_seconds']} s) -> {args.out / (name + '.pt')}"
        )
        for source in recipe.sources if len(recipe.sources) > 1 else ():
            print(
                f"  {source}: {result[f'images_{source}']} images, "
                f"held-out accuracy {result[f'test_accuracy_{source}']:.4f}"
            )


if __name__ == "__main__":
    main()
