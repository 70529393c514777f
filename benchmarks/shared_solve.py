"""Time the delta rule on coloured strokes: one solve shared by the channels against one each.

    python benchmarks/shared_solve.py                  # the cpu-emoji and cpu-emoji-64 shapes
    python benchmarks/shared_solve.py --device cuda --batch 64

A coloured stroke gives every channel the same key and rate (broadcast views), so the delta
rule builds one Gram matrix and solves one triangular system with the channels as extra
columns. "copies" passes the same numbers as contiguous per-channel tensors, which takes the
general path: one Gram matrix and one solve per channel. Forward + backward, median of runs.
"""

from __future__ import annotations

import argparse

import torch
from rich.console import Console
from rich.table import Table
from rules import measure

import fpa


def coloured_inputs(*, batch, channels, size, steps, per_row, device, seed=0):
    """Leaf tensors of a coloured stroke: one key and rate per step, a value per channel."""
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randn(batch, 1, steps, size, generator=generator).softmax(-1)
    values = torch.randn(batch, channels, steps, size, generator=generator) / size**0.5
    rates = torch.rand(batch, 1, steps, size if per_row else 1, generator=generator)
    return [t.to(device).requires_grad_(True) for t in (keys, values, rates)]


def painter(rule, channels: int, *, copies: bool):
    def paint(keys, values, rates):
        keys = keys.expand(-1, channels, -1, -1)
        rates = rates.expand(-1, channels, -1, -1)
        if copies:
            keys, rates = keys.contiguous(), rates.contiguous()
        return rule.paint(keys, values, rates)

    return paint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--cases", default="32:64,64:32,64:64", help="comma list of SIZE:STEPS (square images)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    rule = fpa.build_rule("delta")
    table = Table(
        title=f"delta, coloured strokes, 3 channels, batch {args.batch}, forward+backward "
        f"({device.type}, {torch.get_num_threads()} threads)"
    )
    for column in ("case", "rates", "shared ms", "copies ms", "speed-up"):
        table.add_column(column, justify="right")
    for case in args.cases.split(","):
        size, steps = map(int, case.split(":"))
        for per_row in (False, True):
            inputs = coloured_inputs(
                batch=args.batch, channels=3, size=size, steps=steps, per_row=per_row, device=device
            )
            shared, _ = measure(painter(rule, 3, copies=False), inputs, device, args.repeats)
            copies, _ = measure(painter(rule, 3, copies=True), inputs, device, args.repeats)
            table.add_row(
                f"{size}×{size} T={steps}",
                "per row" if per_row else "per step",
                f"{shared:.2f}",
                f"{copies:.2f}",
                f"{copies / shared:.2f}×",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
