"""Trained weights compared with reference weights written on another machine.

The rounding of sums differs between CPU models and thread counts. Adam divides a gradient by
its own size, so a number whose gradient is as small as that rounding can move by a whole
learning rate on one machine and not on another: a few numbers may differ by far more than
float rounding. A change to what a step computes moves nearly every number instead. So a part
(generator, discriminator) matches when at most ``FEW`` of its numbers lie outside the rounding
tolerance, and a failure says how many did and by how much.
"""

from __future__ import annotations

import torch

RTOL, ATOL = 1e-3, 1e-4
FEW = 0.01
"""The share of a part's numbers that may differ beyond rounding."""


def weights_mismatch(
    trained: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], *, part: str
) -> str | None:
    """None when ``trained`` matches ``reference``, else how many numbers differ and by how much."""
    if trained.keys() != reference.keys():
        return f"{part}: names differ: {sorted(trained.keys() ^ reference.keys())}"
    total, off, worst = 0, 0, []
    for name, tensor in trained.items():
        expected = reference[name]
        if tensor.shape != expected.shape:
            return f"{part}.{name}: shape {tuple(tensor.shape)}, expected {tuple(expected.shape)}"
        difference = (tensor.double() - expected.double()).abs()
        outside = int((difference > ATOL + RTOL * expected.double().abs()).sum())
        total, off = total + tensor.numel(), off + outside
        if outside:
            worst.append((difference.max().item(), outside, tensor.numel(), name))
    if off <= FEW * total:
        return None
    listed = "; ".join(
        f"{name} {count}/{size} up to {size_of:.2e}"
        for size_of, count, size, name in sorted(worst, reverse=True)[:4]
    )
    return (
        f"{part}: {off} of {total} numbers ({off / total:.1%}) differ by more than "
        f"{ATOL:g} + {RTOL:g}·|expected| (at most {FEW:.0%} may): {listed}"
    )
