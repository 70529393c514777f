"""The rule zoo against the Eckart–Young bound: every registered rule's ``fpa decompose`` error
on real digits and emoji at several T, beside the truncated SVD of rank T (docs/rules.md).

Each rule is fitted by ``fpa.decomposition.decompose`` (what ``fpa decompose`` calls: a
painter head's activations, the rule's declared commands such as gates and decays fitted
too, Adam from a seeded start, colour images one channel at a time). The rules are the plugin
registry's, so a third-party rule is measured as well; ``NAME:OPTION`` adds a variant with a
boolean option on (by default the per-column gates: KDA and GLA). Run from the repository
root::

    OMP_NUM_THREADS=1 python scripts/rule_zoo_decompose.py --count 100 --iterations 1000 \
        --steps 16,8,32 --shown 10 --json docs/results/rule-zoo-decompose.json \
        --traces rule-zoo-traces.pt --figure docs/figures/rule-zoo-steps.png

(36 minutes on one shared CPU thread.) ``--figure`` draws, for one image of each set, every
rule's partial paintings after steps 1, 2, 4, 8, 16 of its T = 16 fit, then the image and its
rank-16 SVD. ``--figure-only`` draws it again from ``--traces`` with no fitting.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from einops import rearrange

import fpa
from fpa.data.image_file import read_image
from fpa.data.registry import build_dataset
from fpa.decomposition import decompose, svd_truncation
from fpa.errors import ConfigError
from fpa.viz import labelled_png

SETS = {"digits": "mnist", "emoji": "emoji"}
VARIANTS = "gated-delta:per_column_gate,gated-hebb:per_column_gate"
SHOWN_T = 16
SHOWN_STEPS = (1, 2, 4, 8, 16)


def rule_specs(variants: str) -> list[str]:
    """Every registered rule, then the variants (``NAME:OPTION``) whose rule is registered."""
    names = fpa.available("rules")
    extra = [spec for spec in variants.split(",") if spec and spec.split(":")[0] in names]
    return [*names, *extra]


def rule_options(spec: str) -> tuple[str, dict[str, bool]]:
    """``NAME:OPTION:…`` as a rule name and its boolean options switched on."""
    name, *options = spec.split(":")
    return name, dict.fromkeys(options, True)


def sample(data: str, count: int) -> list[str]:
    """``count`` items of a built-in set, evenly spaced over it (the emoji are sorted by
    category, so the first ``count`` would all be faces)."""
    channels = 1 if data == "mnist" else 3
    size = len(build_dataset(data, image_size=(32, 32), channels=channels))
    return [f"{data}:{index * size // count}" for index in range(count)]


def fit_grid(args: argparse.Namespace) -> None:
    """Fit every rule on every set at every T; write the JSON after each fit (a stopped run
    keeps what it finished) and the shown image's T = 16 trace of every rule."""
    specs = rule_specs(args.variants) if args.rules is None else args.rules.split(",")
    steps = [int(value) for value in args.steps.split(",")]
    sources = {name: sample(data, args.count) for name, data in SETS.items()}
    images = {
        name: torch.stack([read_image(item, image_size=(32, 32)) for item in items])
        for name, items in sources.items()
    }
    record: dict = {
        "command": args.command_line,
        "images": sources,
        "iterations": args.iterations,
        "lr": args.lr,
        "per_row_rate": args.per_row_rate,
        "rules": specs,
        "errors": {},
        "seconds": {},
        "failed": {},
    }
    traces: dict = {"shown": args.shown, "targets": {}, "svd": {}, "partial": {}, "error": {}}
    for count in steps:
        for name, batch in images.items():
            for spec in specs:
                rule, options = rule_options(spec)
                started = time.perf_counter()
                key = f"{name}/{count}/{spec}"
                try:
                    result = decompose(
                        batch,
                        rule=rule,
                        rule_options=options,
                        steps=count,
                        iterations=args.iterations,
                        lr=args.lr,
                        per_row_rate=args.per_row_rate,
                    )
                except (ConfigError, RuntimeError) as error:
                    record["failed"][key] = str(error)
                    print(f"{key}: failed: {error}", flush=True)
                    continue
                seconds = time.perf_counter() - started
                cell = record["errors"].setdefault(name, {}).setdefault(str(count), {})
                cell[spec] = result.error.mean().item()
                cell["SVD"] = result.svd_error.mean().item()
                record["seconds"][key] = round(seconds, 1)
                print(
                    f"{key}: {cell[spec]:.4f} (SVD {cell['SVD']:.4f}), {seconds:.0f} s", flush=True
                )
                if count == SHOWN_T:
                    shown = result.trace.matrices[args.shown]
                    traces["partial"].setdefault(name, {})[spec] = shown.clone()
                    traces["error"].setdefault(name, {})[spec] = result.error[args.shown].item()
                    traces["targets"][name] = result.target[args.shown].clone()
                    traces["svd"][name] = svd_truncation(result.target, SHOWN_T)[args.shown].float()
                if args.json:
                    Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
                if args.traces:
                    torch.save(traces, args.traces)
    print_table(record)


def print_table(record: dict) -> None:
    """The mean relative errors as Markdown: a row per rule, a column per set and T; each
    rule's error also as a multiple of the bound where the bound is not 0."""
    columns = [(name, count) for name, by_t in record["errors"].items() for count in by_t]
    columns.sort(key=lambda column: (column[0], int(column[1])))
    head = " | ".join(f"{name} T={count}" for name, count in columns)
    print(f"\n| rule | {head} |\n|---|" + "---:|" * len(columns))
    for spec in ["SVD", *record["rules"]]:
        cells = []
        for name, count in columns:
            cell, bound = (
                record["errors"][name][count].get(spec),
                record["errors"][name][count]["SVD"],
            )
            ratio = f" ({cell / bound:.1f}×)" if spec != "SVD" and cell and bound > 1e-6 else ""
            cells.append("–" if cell is None else f"{cell:.4f}{ratio}")
        label = "truncated SVD (bound)" if spec == "SVD" else f"`{spec}`"
        print(f"| {label} | {' | '.join(cells)} |")


def draw_figure(traces: dict, path: str) -> None:
    """Per set: a row per rule (its name and final error on this image), the partial paintings
    after steps 1, 2, 4, 8, 16, then the image and its rank-16 SVD. The emoji go to ``path``,
    the digits beside it with ``-digits`` in the name."""
    for name, partial in traces["partial"].items():
        rows = []
        for matrices in partial.values():
            shown = matrices[[step - 1 for step in SHOWN_STEPS]]
            rows.append(
                torch.cat([shown, traces["targets"][name][None], traces["svd"][name][None]])
            )
        tiles = rearrange(torch.stack(rows), "rule column c h w -> (rule column) c h w")
        labels = [f"{spec}  {traces['error'][name][spec]:.3f}" for spec in partial]
        png = labelled_png(
            tiles.clamp(-1, 1),
            columns=len(SHOWN_STEPS) + 2,
            column_names=[*(f"t={step}" for step in SHOWN_STEPS), "image", "SVD 16"],
            row_names=labels,
            corner="rule, error",
            scale=3,
        )
        out = Path(path)
        if name != "emoji":
            out = out.with_name(f"{out.stem}-{name}{out.suffix}")
        out.write_bytes(png)
        print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="8,16,32", help="The values of T, comma-separated.")
    parser.add_argument("--count", type=int, default=100, help="Images per set.")
    parser.add_argument("--iterations", type=int, default=1000, help="Adam steps per fit.")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--rules", help="Comma list of NAME or NAME:OPTION (default: all).")
    parser.add_argument("--variants", default=VARIANTS, help="Added to the registered rules.")
    parser.add_argument(
        "--shown", type=int, default=1, help="Which sampled image the figure shows."
    )
    parser.add_argument(
        "--per-row-rate", action="store_true", help="One rate per row, as fpa decompose's flag."
    )
    parser.add_argument("--json", help="Write every mean error here.")
    parser.add_argument("--traces", help="Save (or, with --figure-only, read) the figure's traces.")
    parser.add_argument("--figure", help="Write the step-by-step figure here (PNG).")
    parser.add_argument("--figure-only", action="store_true", help="Draw from --traces only.")
    parser.add_argument("--table-only", action="store_true", help="Print the table of --json.")
    args = parser.parse_args()
    if args.figure and not args.traces:
        parser.error("--figure needs --traces (where the fitted traces are kept)")
    args.command_line = (
        "python scripts/rule_zoo_decompose.py "
        + " ".join(
            f"--{key.replace('_', '-')} {value}"
            for key, value in vars(args).items()
            if key in ("steps", "count", "iterations", "shown") and value is not None
        )
        + (" --per-row-rate" if args.per_row_rate else "")
    )
    if args.table_only:
        print_table(json.loads(Path(args.json).read_text()))
    elif not args.figure_only:
        fit_grid(args)
    if args.figure:
        draw_figure(torch.load(args.traces), args.figure)


if __name__ == "__main__":
    main()
