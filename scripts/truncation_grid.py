"""The truncation grid of docs/conditioning.md: the same latents of a painter at several ψ,
one row per ψ, with each row's FID and class entropy measured as ``fpa evaluate`` does, and
the share of paintings the digit classifier reads confidently (fidelity, as the model cards).

    OMP_NUM_THREADS=1 python scripts/truncation_grid.py digits \
        --out docs/figures/truncation-digits.png
"""

from __future__ import annotations

import argparse

import torch

import fpa
from fpa.evaluation import confident_share
from fpa.latents import truncate
from fpa.plugins import build_features
from fpa.viz import png_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="A run, model folder or model name.")
    parser.add_argument("--psi", default="0.2,0.4,0.6,0.8,1.0", help="Comma-separated ψ.")
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--n", type=int, default=2000, help="Images for FID (0: no FID).")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    psis = [float(value) for value in args.psi.split(",")]
    generator = fpa.load(args.model)
    z = torch.randn(args.columns, generator.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rows = [generator(truncate(z, psi)) for psi in psis]
    with open(args.out, "wb") as file:
        file.write(png_bytes(torch.cat(rows), columns=args.columns, scale=2))
    print("| ψ | FID | KID | class entropy (bits) | read confidently |")
    print("|---:|---:|---:|---:|---:|")
    classifier = build_features("digits")
    for psi in psis:
        if not args.n:
            continue
        result = fpa.evaluate(args.model, n=args.n, classes=True, truncation=psi)
        entropy = result.classes["entropy_bits"] if result.classes else float("nan")
        scores = result.scores
        share = confident_share(generator, classifier, n=args.n, truncation=psi)
        cells = f"{scores['fid']:.2f} | {scores['kid']:.4f} | {entropy:.2f} | {share:.1%}"
        print(f"| {psi} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
