"""The class accuracy of a conditional digit painter (docs/conditioning.md): N seeded samples
of every class, read by the offline digit classifier (``fpa.build_features("digits")``), the
share it reads as the class asked for, per class and overall; then FID as ``fpa evaluate``
measures it (labels drawn from the data's class shares).

    OMP_NUM_THREADS=1 python scripts/class_accuracy.py RUN --per-class 100 --fid-n 2000
"""

from __future__ import annotations

import argparse
import json

import torch
from einops import repeat

import fpa
from fpa.plugins import build_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="A conditional run trained on mnist.")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fid-n", type=int, default=2000, help="Images for FID (0: none).")
    args = parser.parse_args()
    generator = fpa.load(args.run)
    classes = len(generator.classes)
    n = classes * args.per_class
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    labels = repeat(torch.arange(classes), "k -> (k m)", m=args.per_class)
    classifier = build_features("digits").eval()
    with torch.no_grad():
        images = torch.cat(
            [generator(zs, ys) for zs, ys in zip(z.split(200), labels.split(200), strict=True)]
        )
        predicted = classifier.logits(images).argmax(dim=1)
    # The classifier's class k is the digit k, and so is the painter's class named "k".
    asked = torch.tensor([int(generator.classes[label]) for label in labels])
    hits = predicted == asked
    per_class = {
        generator.classes[k]: round(float(hits[labels == k].float().mean()), 3)
        for k in range(classes)
    }
    result = {"accuracy": round(float(hits.float().mean()), 4), "n": n, "per_class": per_class}
    if args.fid_n:
        scores = fpa.evaluate(args.run, n=args.fid_n, features="digits", metrics="fid").scores
        result["fid"] = round(scores["fid"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
