"""Time each rule's parallel ``paint`` against folding ``step``: forward + backward, and memory.

    python benchmarks/rules.py                       # paper scale and 128×128/T=128, on CPU
    python benchmarks/rules.py --device cuda --json out.json

Memory is the bytes autograd saves for the backward pass (each storage counted once), which is
what grows with the number of steps; on CUDA the peak allocated memory is reported as well.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass

import torch
from rich.console import Console
from rich.table import Table

import fpa


@dataclass
class Case:
    batch: int
    channels: int
    size: int
    steps: int

    @property
    def label(self) -> str:
        return f"{self.batch}×{self.channels} {self.size}×{self.size} T={self.steps}"


@dataclass
class Result:
    case: str
    rule: str
    impl: str
    dtype: str
    median_ms: float
    saved_mib: float
    peak_cuda_mib: float | None


def make_inputs(case: Case, device: torch.device, dtype: torch.dtype, seed: int = 0):
    """Inputs shaped as the generator makes them: softmax keys, sigmoid rates, and values of
    unit expected norm (larger values make Oja's rule diverge, which would time NaNs)."""
    generator = torch.Generator().manual_seed(seed)
    lead = (case.batch, case.channels, case.steps)
    keys = torch.randn(*lead, case.size, generator=generator).softmax(-1)
    values = torch.randn(*lead, case.size, generator=generator) / case.size**0.5
    lr = torch.rand(*lead, 1, generator=generator)
    return [t.to(device, dtype).requires_grad_(True) for t in (keys, values, lr)]


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
            rule = fpa.build_rule(name)
            inputs = make_inputs(case, device, dtype)
            for impl, paint in (("parallel", rule.paint), ("step", rule.paint_by_steps)):
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


def print_table(results: list[Result], title: str) -> None:
    table = Table(title=title)
    for column in ("case", "rule", "parallel ms", "step ms", "speed-up", "saved MiB par/step"):
        table.add_column(column, justify="right")
    keyed = {(r.case, r.rule, r.impl): r for r in results}
    for case, rule in dict.fromkeys((r.case, r.rule) for r in results):
        parallel, step = keyed[case, rule, "parallel"], keyed[case, rule, "step"]
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
    parser.add_argument("--rules", default="delta,hebb,oja")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--cases", default="64:64,128:128", help="comma list of SIZE:STEPS (square images)"
    )
    parser.add_argument("--batch", type=int, default=20, help="batch size (× 3 channels)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    cases = [Case(2, 3, 16, 8)]
    if not args.quick:
        sizes = [tuple(map(int, case.split(":"))) for case in args.cases.split(",")]
        cases = [Case(args.batch, 3, size, steps) for size, steps in sizes]
    results = run(cases, args.rules.split(","), device, dtype, args.repeats)
    threads = torch.get_num_threads()
    name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {threads} threads"
    )
    print_table(results, f"rule forward+backward, median of {args.repeats} ({name}, {args.dtype})")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"device": name, "results": [asdict(r) for r in results]}, file, indent=2)


if __name__ == "__main__":
    main()
