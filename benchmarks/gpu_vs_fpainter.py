"""fpa's ``paper-64`` against the authors' own code (IDSIA/fpainter) on the same device.

Two measurements, each in images/s, side by side in one table:

- ``generator``: the generator's forward + backward, the same weights in both (their
  ``lstm_delta_split_v2`` generator, imported into fpa with ``fpa.importers.load_fpainter``);
  before timing, both paint the same latents and the largest pixel and gradient differences
  are printed.
- ``step``: one full training step of each code base: theirs is their ``Trainer.train()``
  itself (D update with their gradient penalty every 4th step, G update, their EMA every 10th
  step), fpa's is ``Trainer.discriminator_step()`` + ``generator_step()`` (as
  benchmarks/train.py times it).

Each at fp32 and under bf16 autocast (their code has no bf16 option: their whole step runs
inside ``torch.autocast``; ``fp16`` is their own ``--amp``, with their GradScaler), and fpa
also under ``torch.compile`` and under CUDA graphs (``torch.compile(mode="reduce-overhead")``).

The authors' code is imported at run time from a copy of github.com/IDSIA/fpainter (``--fpainter
DIR``, or ``FPAINTER_DIR``; default ``third_party/fpainter``, which git ignores); nothing of it
is in this repository. ``benchmarks/gpu_vs_fpainter.sh`` says how to place it and runs this on a
lent GPU.

    python benchmarks/gpu_vs_fpainter.py --device cuda --json out/gpu_vs_fpainter.json
    python benchmarks/gpu_vs_fpainter.py --device cpu --tiny     # a check that both run
    python benchmarks/gpu_vs_fpainter.py --report out/gpu_vs_fpainter.json

Their code asserts a CUDA GPU on import and moves everything with ``.cuda()``; with ``--device
cpu`` this script maps those calls to the CPU inside this process (``torch.cuda.is_available``
during their import, ``Tensor.cuda``/``Module.cuda``, and the ``torch.device('cuda:0')`` of
their ``train()``), without editing their files.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import synchronize, train_steps  # benchmarks/train.py

from fpa.data import InfiniteBatches, build_dataset
from fpa.importers import load_fpainter
from fpa.training import prepare_run, resolve_config

DEFAULT_FOLDER = "third_party/fpainter"
HOW_TO_GET = f"""no copy of the authors' code at {{folder}}.
Bring github.com/IDSIA/fpainter next to this repository's code, for example:
    git clone https://github.com/IDSIA/fpainter {DEFAULT_FOLDER}
or, from a bare mirror (the project's fetch tool gives one):
    bash benchmarks/gpu_vs_fpainter.sh prepare /path/to/IDSIA+fpainter/repo
then pass --fpainter {DEFAULT_FOLDER} (or set FPAINTER_DIR)."""
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_MODES = {"compile": None, "cudagraphs": "reduce-overhead"}
# Their trainer dumps images every 100 steps before step 20,000 and starts its EMA (every 10th
# step) after it; timing from this step on measures their steady state. A multiple of 20, so
# the first timed step is a penalty step (every 4th) and an EMA step (every 10th).
AUTHORS_STEADY_STEP = 30_000


@dataclass(frozen=True)
class Sizes:
    """The architecture and batch both code bases are built with."""

    side: int
    steps: int
    hidden: int
    latent: int
    batch: int
    input_size: int
    code_size: int = 8


# The paper's CelebA configuration (their published script: lstm_delta_split_v2, batch 20).
PAPER = Sizes(side=64, steps=64, hidden=1024, latent=512, batch=20, input_size=128)
# Small enough for a busy CPU; 32×32 is the smallest side their discriminator builds.
TINY = Sizes(side=32, steps=8, hidden=32, latent=16, batch=4, input_size=16)


# --------------------------------------------------------------------------- their code
def authors_code(given: str | None) -> Path:
    """The folder that holds their ``painter.py`` (the repository's ``code/``)."""
    folder = Path(given or os.environ.get("FPAINTER_DIR") or DEFAULT_FOLDER)
    for code in (folder / "code", folder):
        if (code / "painter.py").is_file():
            return code.resolve()
    raise SystemExit(HOW_TO_GET.format(folder=folder))


class CpuTorch(types.ModuleType):
    """``torch`` as their ``painter`` module sees it on the CPU: ``torch.device('cuda:N')``
    is the CPU, everything else is torch itself."""

    def __init__(self) -> None:
        super().__init__("torch")

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def device(spec: Any, *args: Any) -> torch.device:
        return torch.device("cpu") if str(spec).startswith("cuda") else torch.device(spec, *args)


def import_authors(code: Path, device: torch.device, hold: contextlib.ExitStack) -> Any:
    """Import their ``painter`` module; on the CPU, ``hold`` keeps their CUDA calls mapped to
    the CPU for as long as it is open."""
    sys.path.insert(0, str(code))
    # Their torch.cuda.amp calls are deprecated in torch 2.x (and work): not worth a warning.
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.cuda\.amp")
    try:
        import kornia.filters
    except ImportError:
        # Only their Blur uses kornia, and their configuration (antialias off) builds none.
        def filter2d(*_: Any, **__: Any) -> None:
            raise RuntimeError("kornia is not installed (their Blur needs it: --antialias)")

        kornia = types.ModuleType("kornia")
        kornia.filters = types.ModuleType("kornia.filters")  # type: ignore[attr-defined]
        kornia.filters.filter2d = filter2d  # type: ignore[attr-defined]
        sys.modules.update({"kornia": kornia, "kornia.filters": kornia.filters})  # type: ignore[attr-defined]
    if device.type == "cpu":
        with mock.patch("torch.cuda.is_available", return_value=True):  # their import asserts
            import painter
        hold.enter_context(mock.patch.object(torch.Tensor, "cuda", lambda self, *_, **__: self))
        hold.enter_context(mock.patch.object(torch.nn.Module, "cuda", lambda self, *_, **__: self))
        hold.enter_context(mock.patch.object(painter, "torch", CpuTorch()))
    else:
        import painter
    return painter


def authors_trainer(painter: Any, sizes: Sizes, folder: str, *, amp: bool = False) -> Any:
    """Their ``Trainer`` with their published CelebA flags (README) and their main.py's
    defaults for the rest; checkpoints, sample images and FID never fall due while timing."""
    trainer = painter.Trainer(
        name="bench",
        base_dir=folder,
        fid_real_path=str(Path(folder) / "real"),
        model_type="lstm_delta_split_v2",
        image_size=sizes.side,
        num_decoding_steps=sizes.steps,
        batch_size=sizes.batch,
        gradient_accumulate_every=1,
        latent_dim=sizes.latent,
        v2_input_sigmoid=True,
        use_latent_to_init=True,
        mini_latent_dim=sizes.code_size,
        mini_input_size=sizes.input_size,
        rnn_hidden_size=sizes.hidden,
        num_layers=1,
        use_softmax=True,
        out_tanh=True,
        # main.py's defaults, which their script leaves as they are
        attn_res_layers=[32],
        disc_output_size=1,
        antialias=False,
        aug_prob=0.0,
        aug_types=["cutout", "translation"],
        fmap_max=512,
        lr=2e-4,
        ttur_mult=1.0,
        amp=amp,
        save_every=10**9,
        evaluate_every=10**9,
        calculate_fid_every=None,
    )
    trainer.init_GAN()
    trainer.steps = AUTHORS_STEADY_STEP
    return trainer


@contextlib.contextmanager
def authors_cudnn(deterministic: bool) -> Iterator[None]:
    """Their main.py sets ``cudnn.deterministic = True`` (and benchmark off) for every run."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    if deterministic:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


# --------------------------------------------------------------------------- fpa
def fpa_config(sizes: Sizes, *, data: str, device: str, precision: str, compiled: bool) -> Any:
    """fpa's ``paper-64`` at ``sizes``, on built-in data (speed does not depend on the pixels),
    DiffAugment off as theirs (and as paper-64's ``auto`` is on CelebA's 200k images)."""
    return resolve_config(
        preset_name="paper-64",
        overrides={
            "data": data,
            "device": device,
            "precision": precision,
            "compile": compiled,
            "augment": "off",
            "eval_every": 0,
            "image_size": [sizes.side, sizes.side],
            "paint_steps": sizes.steps,
            "latent_dim": sizes.latent,
            "batch_size": sizes.batch,
            "painter_options": {
                "hidden_size": sizes.hidden,
                "num_layers": 1,
                "input_mode": "v2",
                "code_size": sizes.code_size,
                "input_size": sizes.input_size,
            },
        },
    )


@contextlib.contextmanager
def compile_mode(mode: str | None) -> Iterator[None]:
    """Make fpa's ``--compile`` use ``torch.compile(mode=mode)`` (``reduce-overhead``: CUDA
    graphs) for the modules built inside."""
    if mode is None:
        yield
        return
    with mock.patch.object(torch, "compile", functools.partial(torch.compile, mode=mode)):
        yield


def authors_batches(config: Any) -> Iterator[torch.Tensor]:
    """The run's images as their loader gives them: CPU batches in [0, 1]."""
    dataset = build_dataset(config.data, image_size=config.image_size, channels=config.channels)
    for batch in InfiniteBatches(dataset, batch_size=config.batch_size, seed=0):
        yield (batch + 1) / 2


# --------------------------------------------------------------------------- timing
def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def time_generator(
    forward: Callable[[torch.Tensor], torch.Tensor],
    parameters: list[torch.nn.Parameter],
    latents: torch.Tensor,
    *,
    dtype: torch.dtype | None,
    warmup: int,
    repeats: int,
    mark_steps: bool = False,
) -> dict[str, float]:
    """Median over ``repeats`` of one forward + backward (after ``warmup``), as images/s."""
    device = latents.device

    def once() -> None:
        for parameter in parameters:
            parameter.grad = None
        if mark_steps:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(device, dtype):
            images = forward(latents)
        images.float().square().mean().backward()

    for _ in range(warmup):
        once()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        once()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {"images_per_s": len(latents) / median, "ms": 1000 * median}


def time_rounds(
    run: Callable[[int], None],
    device: torch.device,
    *,
    batch: int,
    warmup: int,
    steps: int,
    rounds: int,
) -> dict[str, float]:
    """Median images/s over ``rounds`` of ``steps`` training steps, after ``warmup`` steps."""
    run(warmup)
    rates = []
    for _ in range(rounds):
        synchronize(device)
        started = time.perf_counter()
        run(steps)
        synchronize(device)
        rates.append(batch * steps / (time.perf_counter() - started))
    rate = statistics.median(rates)
    return {"images_per_s": rate, "ms": 1000 * batch / rate}


# --------------------------------------------------------------------------- the benchmark
class Benchmark:
    """Builds both code bases once and measures one cell (part, code, precision, mode) at a
    time; every cell is isolated, so one that fails is recorded and the rest go on."""

    def __init__(self, args: argparse.Namespace, hold: contextlib.ExitStack) -> None:
        self.args = args
        self.sizes = TINY if args.tiny else PAPER
        self.device = torch.device(
            "cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu"
        )
        self.folder = hold.enter_context(tempfile.TemporaryDirectory())
        self.painter = import_authors(authors_code(args.fpainter), self.device, hold)
        torch.manual_seed(0)
        random.seed(0)
        gan = authors_trainer(self.painter, self.sizes, self.folder).GAN
        self.theirs = gan.G.train()
        # Their checkpoint format ({"GAN": state}), read back by fpa's importer.
        checkpoint = Path(self.folder) / "authors.pt"
        torch.save({"GAN": {k: v.cpu() for k, v in gan.state_dict().items()}}, checkpoint)
        imported = load_fpainter(checkpoint, model_type="lstm_delta_split_v2")
        self.ours = imported.generator.to(self.device).train()
        generator = torch.Generator().manual_seed(1)
        self.latents = torch.randn(self.sizes.batch, self.sizes.latent, generator=generator).to(
            self.device
        )

    # ---------------------------------------------------------------- the same pictures
    def check_same(self) -> dict[str, float]:
        """Their images against fpa's (mapped to their [0, 1] pixels) and the LSTM's gradients,
        in full float32 (TF32 off for the check)."""
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            theirs = self.theirs(self.latents)
            ours = (self.ours(self.latents) + 1) / 2
            theirs.square().sum().backward()
            ours.square().sum().backward()
            grad_theirs = self.theirs.decoder_rnn.weight_hh_l0.grad
            grad_ours = self.ours.painter.lstm.weight_hh_l0.grad
            result = {
                "image_max_abs_diff": (theirs - ours).abs().max().item(),
                "image_max_abs": theirs.abs().max().item(),
                "lstm_grad_max_abs_diff": (grad_theirs - grad_ours).abs().max().item(),
                "lstm_grad_max_abs": grad_theirs.abs().max().item(),
            }
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
            for module in (self.theirs, self.ours):
                module.zero_grad(set_to_none=True)
        return result

    # ---------------------------------------------------------------- cells
    def measure(self, part: str, code: str, precision: str, mode: str) -> dict[str, float]:
        torch._dynamo.reset()
        torch.manual_seed(0)
        random.seed(0)
        dtype = PRECISIONS[precision]
        if part == "generator":
            return self.generator_cell(code, dtype, mode)
        if code == "authors":
            return self.authors_step(precision, dtype)
        return self.fpa_step(precision, mode)

    def generator_cell(self, code: str, dtype: torch.dtype | None, mode: str) -> dict[str, float]:
        module = self.theirs if code == "authors" else self.ours
        forward = module if mode == "eager" else torch.compile(module, mode=COMPILE_MODES[mode])
        deterministic = code == "authors" and self.args.authors_cudnn == "deterministic"
        with authors_cudnn(deterministic):
            return time_generator(
                forward,
                list(module.parameters()),
                self.latents,
                dtype=dtype,
                warmup=self.args.warmup,
                repeats=self.args.repeats,
                mark_steps=mode == "cudagraphs",
            )

    def authors_step(self, precision: str, dtype: torch.dtype | None) -> dict[str, float]:
        """Their ``Trainer.train()``: fp16 is their ``--amp``; bf16 wraps it in autocast."""
        amp = precision == "fp16"
        trainer = authors_trainer(self.painter, self.sizes, self.folder, amp=amp)
        config = fpa_config(
            self.sizes, data=self.args.data, device="cpu", precision="fp32", compiled=False
        )
        trainer.loader = authors_batches(config)
        outer = None if amp else dtype  # their --amp sets up its own fp16 autocast

        def run(steps: int) -> None:
            for _ in range(steps):
                with autocast(self.device, outer):
                    trainer.train()

        with authors_cudnn(self.args.authors_cudnn == "deterministic"):
            return time_rounds(run, self.device, batch=self.sizes.batch, **self.step_counts())

    def fpa_step(self, precision: str, mode: str) -> dict[str, float]:
        config = fpa_config(
            self.sizes,
            data=self.args.data,
            device=self.device.type,
            precision=precision,
            compiled=mode != "eager",
        )
        with tempfile.TemporaryDirectory() as folder:
            with compile_mode(COMPILE_MODES.get(mode)):
                trainer = prepare_run(config, out=folder)
            trainer.generator.train()
            mark = mode == "cudagraphs"
            return time_rounds(
                lambda steps: train_steps(trainer, steps, mark_steps=mark),
                self.device,
                batch=self.sizes.batch,
                **self.step_counts(),
            )

    def step_counts(self) -> dict[str, int]:
        return {
            "warmup": self.args.step_warmup,
            "steps": self.args.steps,
            "rounds": self.args.rounds,
        }


def cells(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    """(part, code, precision, mode) in the order measured: what matters most first, so that a
    run cut short by its budget keeps it; the compiled cells (minutes to compile) last."""
    precisions = [p for p in args.precision.split(",") if p]
    compiled = [p for p in (args.compile_precision or args.precision).split(",") if p]
    modes = [m for m in args.fpa_modes.split(",") if m and m != "eager"]
    plan = []
    for part in ("generator", "step"):
        for precision in precisions:
            plan += [(part, "authors", precision, "eager"), (part, "fpa", precision, "eager")]
    for part in ("step", "generator"):
        plan += [(part, "fpa", p, mode) for p in compiled for mode in modes]
    if args.authors_compile:
        plan += [("generator", "authors", p, "compile") for p in compiled]
    return plan


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


# --------------------------------------------------------------------------- the table
def print_table(report: dict[str, Any]) -> None:
    """One table: every cell's images/s and its ratio to the authors' eager cell of the same
    part and precision."""
    order = {
        name: index
        for index, name in enumerate(
            ["generator", "step", *PRECISIONS, "authors", "fpa", "eager", *COMPILE_MODES]
        )
    }
    rows = sorted(
        report["results"],
        key=lambda r: [order.get(r[k], 99) for k in ("part", "precision", "code", "mode")],
    )
    base = {
        (r["part"], r["precision"]): r.get("images_per_s")
        for r in rows
        if r["code"] == "authors" and r["mode"] == "eager"
    }
    sizes = report["sizes"]
    title = (
        f"paper-64, fpa against the authors' code: {report['device']}, torch {report['torch']}; "
        f"{sizes['side']}×{sizes['side']}, T = {sizes['steps']}, LSTM {sizes['hidden']}, "
        f"batch {sizes['batch']}"
    )
    table = Table(title=title)
    for column in ("part", "precision", "code", "mode", "images/s", "ms", "vs authors eager"):
        table.add_column(column, justify="left" if column in ("part", "code", "mode") else "right")
    for r in rows:
        rate, reference = r.get("images_per_s"), base.get((r["part"], r["precision"]))
        if rate is None:
            shown, ms, ratio = r.get("error", "—")[:40], "", ""
        else:
            shown, ms = f"{rate:.1f}", f"{r['ms']:.1f}"
            ratio = f"{rate / reference:.2f}×" if reference else "—"
        table.add_row(r["part"], r["precision"], r["code"], r["mode"], shown, ms, ratio)
    console = Console(width=140)
    check = report.get("check") or {}
    if check:
        console.print(
            "same weights, same latents: largest image difference "
            f"{check['image_max_abs_diff']:.2e} (pixels up to {check['image_max_abs']:.2f}), "
            f"largest LSTM weight_hh gradient difference {check['lstm_grad_max_abs_diff']:.2e} "
            f"(gradients up to {check['lstm_grad_max_abs']:.2e})"
        )
    if not rows:
        return
    console.print(table)
    console.print(
        "generator: forward + backward, median of "
        f"{report['settings']['repeats']}; step: D + G update, median of "
        f"{report['settings']['rounds']} rounds of {report['settings']['steps']} steps; "
        f"authors' cuDNN: {report['settings']['authors_cudnn']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fpainter", help=f"their repository or its code/ (default {DEFAULT_FOLDER})"
    )
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument("--tiny", action="store_true", help="small sizes: a quick check on a CPU")
    parser.add_argument(
        "--data", default="mnist", help="fpa's built-in data standing in for CelebA"
    )
    parser.add_argument("--precision", default="fp32,bf16", help="comma list: fp32,bf16,fp16")
    parser.add_argument(
        "--fpa-modes",
        default="eager,compile,cudagraphs",
        help="comma list: eager,compile,cudagraphs",
    )
    parser.add_argument(
        "--compile-precision", help="precisions of the compiled cells (default: --precision)"
    )
    parser.add_argument(
        "--authors-compile", action="store_true", help="also their generator under torch.compile"
    )
    parser.add_argument(
        "--authors-cudnn",
        choices=("deterministic", "default"),
        default="deterministic",
        help="their main.py runs with cudnn.deterministic (default) or torch's defaults",
    )
    parser.add_argument("--warmup", type=int, default=5, help="generator: untimed calls")
    parser.add_argument("--repeats", type=int, default=20, help="generator: timed calls")
    parser.add_argument("--step-warmup", type=int, default=8, help="step: untimed steps")
    parser.add_argument(
        "--steps",
        type=int,
        default=20,
        help="step: steps per round (a multiple of 20 holds whole GP and EMA cycles)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="step: timed rounds")
    parser.add_argument("--budget", type=float, default=0, help="seconds; later cells are skipped")
    parser.add_argument("--json", help="write the results here (rewritten after every cell)")
    parser.add_argument("--report", help="only print the table of an earlier --json file")
    parser.add_argument(
        "--check-only", action="store_true", help="build both, compare their pictures, stop"
    )
    args = parser.parse_args()
    if args.report:
        print_table(json.loads(Path(args.report).read_text()))
        return
    if args.tiny:
        args.warmup, args.repeats = min(args.warmup, 1), min(args.repeats, 2)
        args.step_warmup, args.steps, args.rounds = min(args.step_warmup, 1), min(args.steps, 4), 1

    started = time.perf_counter()
    with contextlib.ExitStack() as hold:
        bench = Benchmark(args, hold)
        report: dict[str, Any] = {
            "device": device_name(bench.device),
            "torch": torch.__version__,
            "sizes": asdict(bench.sizes),
            "settings": {
                key: getattr(args, key)
                for key in (
                    "data",
                    "warmup",
                    "repeats",
                    "step_warmup",
                    "steps",
                    "rounds",
                    "authors_cudnn",
                )
            }
            | {
                "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                "tf32_cudnn": torch.backends.cudnn.allow_tf32,
                "fpa_rule_impl": bench.ours.rule_impl_used,
            },
            "check": bench.check_same(),
            "results": [],
        }

        def save() -> None:
            if args.json:
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(json.dumps(report, indent=2))

        save()
        for part, code, precision, mode in [] if args.check_only else cells(args):
            row: dict[str, Any] = {"part": part, "code": code, "precision": precision, "mode": mode}
            if bench.device.type != "cuda" and (precision == "fp16" or mode == "cudagraphs"):
                row["error"] = "skipped: needs CUDA"
            elif args.budget and time.perf_counter() - started > args.budget:
                row["error"] = "skipped: budget spent"
            else:
                cell_started = time.perf_counter()
                try:
                    row |= bench.measure(part, code, precision, mode)
                except Exception as error:  # one failing cell must not lose the others
                    traceback.print_exc()
                    first_line = (str(error).splitlines() or [""])[0]
                    row["error"] = f"{type(error).__name__}: {first_line}"
                row["seconds"] = round(time.perf_counter() - cell_started, 1)
            print(json.dumps(row), flush=True)
            report["results"].append(row)
            save()
    print_table(report)


if __name__ == "__main__":
    main()
