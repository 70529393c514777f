"""How many distinct classes the emoji (or digit) classifier reads in n real images, and the
entropy of its predictions: the reference for ``fpa evaluate RUN --classes`` on samples, whose
figures mean collapse when far below these.

    python benchmarks/real_class_spread.py --data emoji --n 1000 --image-size 64
"""

from __future__ import annotations

import argparse

import torch

from fpa.data import build_dataset
from fpa.evaluation.classes import ClassHistogram
from fpa.plugins import build_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="emoji")
    parser.add_argument("--features", default=None, help="default: the data's extractor")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    features = args.features or {"emoji": "emoji", "mnist": "digits"}[args.data]
    extractor = build_features(features)
    channels = extractor.input_channels
    data = build_dataset(
        args.data, image_size=(args.image_size, args.image_size), channels=channels
    )
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[: args.n]
    images = torch.stack([data[int(index)] for index in chosen]).float()
    predicted = torch.cat([extractor.logits(batch).argmax(dim=1) for batch in images.split(200)])
    counts = torch.bincount(predicted, minlength=extractor.num_classes)
    histogram = ClassHistogram(counts=counts.tolist())
    painted = int((counts > 0).sum())
    print(
        f"{args.n} real {args.data} at {args.image_size}×{args.image_size}, {features} classifier: "
        f"{painted:,} of {extractor.num_classes:,} classes, entropy "
        f"{histogram.entropy_bits:.2f} of {histogram.max_entropy_bits:.2f} bits"
    )


if __name__ == "__main__":
    main()
