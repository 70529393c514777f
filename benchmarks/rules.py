"""Time each rule's parallel ``paint`` against folding ``step``: forward + backward, and memory.

    python benchmarks/rules.py                       # every registered rule, 32×32, T=16/64/256
    python benchmarks/rules.py --rules delta,hebb,oja --cases 64:64,128:128 --batch 20
    python benchmarks/rules.py --device cuda --json out.json

Rules are named as ``fpa train --rule`` takes them, with options after a colon
(``gated-delta:per_column_gate``). A rule's declared commands are drawn as the head starts them
(``initial_bias`` plus noise, through the command's activation). A rule without a parallel form
is timed by its step loop only.

Memory is the bytes autograd saves for the backward pass (each storage counted once), which is
what grows with the number of steps; on CUDA the peak allocated memory is reported as well.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from dataclasses import asdict, dataclass

import torch
from rich.console import Console
from rich.table import Table

import fpa
from fpa.painters.head import activation


@dataclass
class Case:
    batch: int
    channels: int
    size: int
    steps: int

    @classmethod
    def parse(cls, text: str, batch: int) -> Case:
        """``SIZE:STEPS`` or ``SIZE:STEPS:BATCH`` (square images, 3 channels)."""
        size, steps, *own = map(int, text.split(":"))
        return cls(own[0] if own else batch, 3, size, steps)

    @property
    def label(self) -> str:
        return f"{self.batch}×{self.channels} {self.size}×{self.size} T={self.steps}"


@dataclass
class Result:
    case: str
    rule: str
    impl: str
    dtype: str
    median_ms: float | None
    saved_mib: float | None
    peak_cuda_mib: float | None


def make_inputs(case: Case, rule, device: torch.device, dtype: torch.dtype, seed: int = 0):
    """Inputs shaped as the generator makes them: softmax keys, sigmoid rates, and values of
    unit expected norm (larger values make Oja's rule diverge, which would time NaNs); the
    rule's commands as a fresh head emits them. Returns the positional inputs and the commands."""
    generator = torch.Generator().manual_seed(seed)
    lead = (case.batch, case.channels, case.steps)
    keys = torch.randn(*lead, case.size, generator=generator).softmax(-1)
    values = torch.randn(*lead, case.size, generator=generator) / case.size**0.5
    lr = torch.rand(*lead, 1, generator=generator)
    commands = {}
    for command in rule.commands:
        width = command.width(height=case.size, width=case.size)
        raw = command.initial_bias + torch.randn(*lead, width, generator=generator)
        commands[command.name] = activation(command.activation, command.name)(raw)
    tensors = [t.to(device, dtype).requires_grad_(True) for t in (keys, values, lr)]
    return tensors, {name: t.to(device, dtype).requires_grad_(True) for name, t in commands.items()}


def build(spec: str):
    """A rule from ``NAME`` or ``NAME:OPTION`` (a boolean option switched on)."""
    name, *options = spec.split(":")
    return fpa.build_rule(name, **dict.fromkeys(options, True))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_backward(paint, inputs) -> None:
    out = paint(*inputs)
    if not torch.isfinite(out).all():
        raise RuntimeError("the painting is not finite: the benchmark would time NaNs")
    out.float().square().mean().backward()


def saved_bytes(paint, inputs) -> int:
    """Bytes autograd keeps for backward, each underlying storage counted once."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = paint(*inputs)
    del out
    return sum(storages.values())


def measure(paint, inputs, device: torch.device, repeats: int) -> tuple[float, float | None]:
    for _ in range(2):
        forward_backward(paint, inputs)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward_backward(paint, inputs)
        synchronize(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return statistics.median(times) * 1e3, peak


def run(cases, rules, device, dtype, repeats) -> list[Result]:
    results = []
    for case in cases:
        for name in rules:
            rule = build(name)
            inputs, commands = make_inputs(case, rule, device, dtype)
            forms = {"parallel": rule.paint, "step": rule.paint_by_steps}
            for impl, form in forms.items():
                if impl == "parallel" and not rule.has_parallel_form:
                    results.append(
                        Result(
                            case.label, name, impl, str(dtype).removeprefix("torch."), *[None] * 3
                        )
                    )
                    continue
                paint = functools.partial(form, **commands)
                median_ms, peak = measure(paint, inputs, device, repeats)
                saved = saved_bytes(paint, inputs) / 2**20
                results.append(
                    Result(
                        case.label,
                        name,
                        impl,
                        str(dtype).removeprefix("torch."),
                        median_ms,
                        saved,
                        peak,
                    )
                )
    return results


def print_markdown(results: list[Result], title: str) -> None:
    """The table as Markdown, for docs."""
    print(f"{title}\n")
    print("| case | rule | parallel ms | step ms | speed-up |")
    print("|---|---|---:|---:|---:|")
    keyed = {(r.case, r.rule, r.impl): r for r in results}
    for case, rule in dict.fromkeys((r.case, r.rule) for r in results):
        parallel, step = keyed[case, rule, "parallel"], keyed[case, rule, "step"]
        assert step.median_ms is not None
        if parallel.median_ms is None:
            print(f"| {case} | `{rule}` | step only | {step.median_ms:.1f} | |")
            continue
        speed_up = step.median_ms / parallel.median_ms
        print(
            f"| {case} | `{rule}` | {parallel.median_ms:.1f} | {step.median_ms:.1f} "
            f"| {speed_up:.1f}× |"
        )


def print_table(results: list[Result], title: str) -> None:
    table = Table(title=title)
    for column in ("case", "rule", "parallel ms", "step ms", "speed-up", "saved MiB par/step"):
        table.add_column(column, justify="right")
    keyed = {(r.case, r.rule, r.impl): r for r in results}
    for case, rule in dict.fromkeys((r.case, r.rule) for r in results):
        parallel, step = keyed[case, rule, "parallel"], keyed[case, rule, "step"]
        if parallel.median_ms is None:
            table.add_row(
                case, rule, "step only", f"{step.median_ms:.1f}", "", f"– / {step.saved_mib:.1f}"
            )
            continue
        table.add_row(
            case,
            rule,
            f"{parallel.median_ms:.1f}",
            f"{step.median_ms:.1f}",
            f"{step.median_ms / parallel.median_ms:.1f}×",
            f"{parallel.saved_mib:.1f} / {step.saved_mib:.1f}",
        )
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument(
        "--rules",
        default=",".join(
            [*fpa.available("rules"), "gated-delta:per_column_gate", "gated-hebb:per_column_gate"]
        ),
        help="comma list of NAME or NAME:OPTION (default: every registered rule)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--cases",
        default="32:16,32:64,32:256",
        help="comma list of SIZE:STEPS or SIZE:STEPS:BATCH (square images)",
    )
    parser.add_argument("--batch", type=int, default=64, help="batch size (× 3 channels)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    cases = [Case(2, 3, 16, 8)]
    if not args.quick:
        cases = [Case.parse(case, args.batch) for case in args.cases.split(",")]
    results = run(cases, args.rules.split(","), device, dtype, args.repeats)
    threads = torch.get_num_threads()
    name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {threads} threads"
    )
    title = f"rule forward+backward, median of {args.repeats} ({name}, {args.dtype})"
    (print_markdown if args.markdown else print_table)(results, title)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"device": name, "results": [asdict(r) for r in results]}, file, indent=2)


if __name__ == "__main__":
    main()
