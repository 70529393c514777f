"""Combine the outputs of ``benchmarks/gpu_check.sh`` into one JSON and one readable table.

    python benchmarks/gpu_report.py gpu-check/      # writes gpu_check.json and gpu_check.md

Reads ``gpu.txt``, ``cuda_tests.log``, ``rules_*.json`` and ``train_*.json`` from the folder
(whatever of them exists: a stage that failed or timed out is reported as missing), checks the
issue's two targets, and prints the Markdown that goes into the GPU section of docs/speed.md.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

RULE_TARGET = 3.0  # parallel ≥ 3× the step loop, delta rule, 64×64/T=64, float32
BF16_TARGET = 1.5  # paper-64 images/s with bf16 ≥ 1.5× fp32 (parallel, no compile)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def test_summary(folder: Path) -> str:
    """pytest's last summary line (e.g. ``12 passed in 80.1s``), or why there is none."""
    try:
        lines = (folder / "cuda_tests.log").read_text().splitlines()
    except OSError:
        return "not run"
    finals = [line.strip("= ") for line in lines if re.search(r"\b(passed|failed|error)", line)]
    return finals[-1] if finals else "no summary (cut short?)"


def rule_rows(folder: Path) -> list[dict[str, Any]]:
    """One row per (dtype, case, rule): parallel and step times, speed-up, peak memory."""
    rows = []
    for path in sorted(folder.glob("rules_*.json")):
        data = read_json(path) or {"results": []}
        keyed = {(r["dtype"], r["case"], r["rule"], r["impl"]): r for r in data["results"]}
        for dtype, case, rule, impl in keyed:
            if impl != "parallel" or (dtype, case, rule, "step") not in keyed:
                continue
            parallel, step = keyed[dtype, case, rule, "parallel"], keyed[dtype, case, rule, "step"]
            rows.append(
                {
                    "dtype": dtype,
                    "case": case,
                    "rule": rule,
                    "parallel_ms": parallel["median_ms"],
                    "step_ms": step["median_ms"],
                    "speedup": step["median_ms"] / parallel["median_ms"],
                    "peak_mib": [parallel["peak_cuda_mib"], step["peak_cuda_mib"]],
                }
            )
    return rows


def train_rows(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("train_*.json")):
        rows += (read_json(path) or {"results": []})["results"]
    return rows


def targets(rules: list[dict[str, Any]], training: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured ratio (``None`` when not measured)."""

    def rate(precision: str, compiled: bool) -> float | None:
        for row in training:
            matches = row["precision"] == precision and row["rule_impl"] == "parallel"
            if matches and bool(row.get("compile")) == compiled:
                return row["images_per_s"]
        return None

    delta = next(
        (
            r
            for r in rules
            if r["dtype"] == "float32" and r["rule"] == "delta" and "64×64 T=64" in r["case"]
        ),
        None,
    )
    fp32, bf16, bf16_compiled = rate("fp32", False), rate("bf16", False), rate("bf16", True)
    checks = [
        ("rule time, delta 64×64/T=64: parallel vs step", RULE_TARGET, delta and delta["speedup"]),
        ("paper-64 images/s: bf16 vs fp32", BF16_TARGET, bf16 and fp32 and bf16 / fp32),
        (
            "paper-64 images/s: bf16 + compile vs fp32",
            BF16_TARGET,
            bf16_compiled and fp32 and bf16_compiled / fp32,
        ),
    ]
    return [
        {
            "target": name,
            "needs": needed,
            "ratio": ratio or None,
            "met": None if not ratio else ratio >= needed,
        }
        for name, needed, ratio in checks
    ]


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"GPU: **{report['gpu']}** ({report['torch']}); CUDA-marked tests: {report['tests']}",
        "",
        "| dtype | case | rule | parallel ms | step ms | speed-up | peak MiB, parallel / step |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in report["rules"]:
        peak = " / ".join("-" if p is None else f"{p:.0f}" for p in r["peak_mib"])
        lines.append(
            f"| {r['dtype']} | {r['case']} | {r['rule']} | {r['parallel_ms']:.2f} | "
            f"{r['step_ms']:.1f} | {r['speedup']:.1f}× | {peak} |"
        )
    lines += [
        "",
        "| preset | precision | rule_impl | compile | images/s |",
        "|---|---|---|---|---:|",
    ]
    for r in report["training"]:
        compiled = "on" if r.get("compile") else "off"
        lines.append(
            f"| {r['preset']} | {r['precision']} | {r['rule_impl']} | {compiled} | "
            f"{r['images_per_s']:.0f} |"
        )
    lines += ["", "| target | needs | measured | met |", "|---|---:|---:|---|"]
    for t in report["targets"]:
        measured = "not measured" if t["ratio"] is None else f"{t['ratio']:.2f}×"
        met = "-" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | ≥ {t['needs']}× | {measured} | {met} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    folder: Path = args.folder
    gpu_lines = (
        (folder / "gpu.txt").read_text().splitlines() if (folder / "gpu.txt").exists() else []
    )
    torch_line = (
        (folder / "torch.txt").read_text().strip() if (folder / "torch.txt").exists() else ""
    )
    rules, training = rule_rows(folder), train_rows(folder)
    report = {
        "gpu": gpu_lines[-1].strip() if gpu_lines else "unknown",
        "torch": torch_line or "torch version unknown",
        "tests": test_summary(folder),
        "rules": rules,
        "training": training,
        "targets": targets(rules, training),
    }
    (folder / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (folder / "gpu_check.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
