"""What the commands that use a trained generator share: latents, checks, output files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from fpa.classes import class_index
from fpa.errors import ConfigError, error_summary
from fpa.files import atomic_write, atomic_write_bytes, load_tensors
from fpa.generator import FastWeightPainter
from fpa.limits import FLOAT_BYTES, check_memory, check_picture
from fpa.runs.config import GeneratorModule

# The help of the argument every command that uses a trained generator takes.
SOURCE_HELP = (
    "A run directory, a checkpoint, a model folder, or a model's name (fpa models lists them)."
)


def require_painter(generator, *, what: str) -> FastWeightPainter:
    """Painting steps exist only for painters; a baseline generator has none to show."""
    if not isinstance(generator, FastWeightPainter):
        raise ConfigError(
            f"{what} shows painting steps, and this run trained the baseline "
            f"{generator.config.baseline!r}, not a painter; use fpa sample"
        )
    return generator


LATENT_FORMATS = (".npy", ".pt")


def latents_format(path: Path, *, option: str = "latents") -> str:
    """``.npy`` (a NumPy array) or ``.pt`` (a torch tensor), by the file's extension."""
    suffix = path.suffix.lower()
    if suffix not in LATENT_FORMATS:
        raise ConfigError(f"{option} must be a .npy or .pt file; got {path.name}")
    return suffix


def write_latents(path: Path, latents: torch.Tensor) -> Path:
    """Write latents ``(N, latent_dim)`` atomically in the format the extension names, so that
    :func:`read_latents` (``--latents``) reads them back exactly."""
    suffix = latents_format(path, option="--save-latents")
    latents = latents.detach().float().cpu()
    if suffix == ".npy":
        import numpy as np

        return atomic_write(path, lambda file: np.save(file, latents.numpy(), allow_pickle=False))
    return atomic_write(path, lambda file: torch.save(latents.clone(), file))


def read_latents(path: Path, *, latent_dim: int) -> torch.Tensor:
    """Latents ``(N, latent_dim)`` of real numbers, N ≥ 1, from a ``.pt`` (a tensor) or
    ``.npy`` file; a ``.npy`` file's header is checked against its size and this machine's
    memory before its array is read."""
    if not path.is_file():
        raise ConfigError(f"latents file {path} does not exist")
    if latents_format(path) == ".npy":
        import numpy as np

        check_npy_header(path)
        try:
            array = np.load(path, allow_pickle=False)
            if not isinstance(array, np.ndarray):  # a zip archive: .npz, or a torch file
                raise ValueError("it holds an archive, not one array (a torch file? name it .pt)")
        except (ValueError, TypeError, OSError, EOFError) as error:
            raise ConfigError(
                f"{path} is not a plain .npy array of numbers: {error_summary(error)}"
            ) from None
        check_real(path, str(array.dtype), array.dtype.kind in "biuf")
        latents = torch.from_numpy(np.array(array, dtype=np.float32))
    else:
        try:
            latents = load_tensors(path)
        except Exception as error:
            raise ConfigError(
                f"{path} is not a readable tensor file: {error_summary(error)}"
            ) from None
        if not isinstance(latents, torch.Tensor):
            raise ConfigError(f"{path} must hold one tensor of latents")
        real = not (latents.is_complex() or latents.dtype == torch.bool)
        check_real(path, str(latents.dtype).removeprefix("torch."), real)
        latents = latents.float()
    if latents.dim() == 1:
        latents = latents.unsqueeze(0)
    if latents.dim() != 2 or latents.shape[1] != latent_dim:
        raise ConfigError(
            f"{path} holds latents of shape {tuple(latents.shape)}; this generator needs "
            f"(N, {latent_dim})"
        )
    if len(latents) == 0:
        raise ConfigError(f"{path} holds no latents (shape {tuple(latents.shape)}); give N ≥ 1")
    return latents


def check_real(path: Path, dtype: str, real: bool) -> None:
    """Latents are real numbers: complex ones would lose their imaginary part unsaid."""
    if not real:
        raise ConfigError(f"{path} holds {dtype} values; latents must be real numbers")


def check_npy_header(path: Path) -> None:
    """Refuse a ``.npy`` file whose header claims more values than the file holds, or more
    than this machine's memory, before NumPy allocates them."""
    import numpy as np

    try:
        with path.open("rb") as file:
            if file.read(len(np.lib.format.MAGIC_PREFIX)) != np.lib.format.MAGIC_PREFIX:
                return  # not a .npy array (an archive, a torch file): np.load says which
            file.seek(0)
            version = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(file)
            offset = file.tell()
    except (ValueError, TypeError, OSError, EOFError) as error:
        raise ConfigError(
            f"{path} is not a plain .npy array of numbers: {error_summary(error)}"
        ) from None
    count = math.prod(shape)
    need = count * dtype.itemsize
    check_memory(
        count * FLOAT_BYTES,
        what=f"the latents of shape {tuple(shape)} that {path} claims",
        device="cpu",
        advice="give fewer latents",
    )
    have = path.stat().st_size - offset
    if need > have:
        raise ConfigError(
            f"{path} claims latents of shape {tuple(shape)} ({need:,} bytes) in its header, "
            f"and holds {have:,} bytes: it is truncated or damaged"
        )


def seeded_latents(generator: GeneratorModule, n: int, seed: int) -> torch.Tensor:
    """``n`` standard normal latents from ``seed`` (the same on every device)."""
    return torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))


def chosen_latents(
    generator: GeneratorModule, *, latents: Path | None, n: int, seed: int
) -> torch.Tensor:
    """Latents from a file when one is given, else ``n`` seeded ones."""
    if latents is not None:
        return read_latents(latents, latent_dim=generator.latent_dim)
    return seeded_latents(generator, n, seed)


def run_latents(generator: GeneratorModule, fixed: torch.Tensor | None, n: int) -> torch.Tensor:
    """The first ``n`` of a run's fixed latents, then seeded ones (seed 0) beyond them."""
    seeded = seeded_latents(generator, n, 0)
    if fixed is None:
        return seeded
    kept = fixed[:n]
    return torch.cat([kept, seeded[len(kept) :]])


def class_option(generator: GeneratorModule, wanted: str | None) -> int | None:
    """The class index ``--class`` names (a name or an index), None without it; ``--class``
    for an unconditional run is a one-line error."""
    classes = generator.classes
    if wanted is None:
        return None
    if not classes:
        raise ConfigError("--class needs a conditional run (fpa train --conditional)")
    return class_index(classes, wanted)


def chosen_labels(generator: GeneratorModule, wanted: str | None, n: int) -> torch.Tensor | None:
    """Labels for ``n`` samples: all of class ``--class`` when given, else a conditional
    generator's classes in turn (0, 1, ..., K-1, 0, ...); None for an unconditional one."""
    classes = generator.classes
    label = class_option(generator, wanted)
    if label is not None:
        return torch.full((n,), label, dtype=torch.int64)
    return torch.arange(n) % len(classes) if classes else None


def check_images(count: int, generator, *, tiles_per_image: int = 1, what: str, advice: str):
    """Refuse, before any latent is drawn, a picture of ``count`` images (each shown as
    ``tiles_per_image`` tiles, with the 2-pixel grid padding) that is too large to write."""
    height, width = generator.config.image_size
    pixels = count * tiles_per_image * (height + 2) * (width + 2)
    check_picture(pixels, what=f"{what} of {count:,} {height}×{width} images", advice=advice)


def require_positive(option: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{option} must be at least 1; got {value}")
    return value


def require_writable_folder(path: Path) -> Path:
    """The folder a file will be written into must exist (nothing is created half-way)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: folder {folder} does not exist")
    return path


def pixel_size(image: bytes) -> str:
    """``W×H px``: the width and height of an encoded image (PNG, GIF), as viewers print them."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(image)) as opened:
        width, height = opened.size
    return f"{width}×{height} px"


OVERWRITE_HELP = "Replace what an earlier command wrote there (refused without it)."


def refuse_to_replace(*outputs: tuple[str, Path | None], overwrite: bool) -> None:
    """An earlier result is never replaced silently, as a run is not: an ``(option, path)``
    whose file, or folder with files in it, is already there is refused unless ``overwrite``."""
    if overwrite:
        return
    for option, path in outputs:
        if path is None or not path.exists():
            continue
        if path.is_dir() and not any(path.iterdir()):
            continue
        held = "holds files" if path.is_dir() else "already exists"
        raise ConfigError(
            f"{path} {held} (an earlier result): name another with {option}, or give "
            "--overwrite to replace it"
        )


def output_folder(path: Path) -> Path:
    """A folder a command writes several files into: made if missing (its parent must exist),
    refused if it is a file."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file, not a folder")
    require_writable_folder(path)
    return path


@contextmanager
def stage_bars(
    *, console: Console, disable: bool, suffix: str = ""
) -> Iterator[Callable[[str, int, int], None]]:
    """A transient progress bar per stage (``real``, ``generated``, …), as the
    ``progress(stage, done, total)`` callback the evaluation functions take."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=disable,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(escape(f"{stage}{suffix}"), total=total)
            bar.update(tasks[stage], completed=done)

        yield progress


def emit_json(record: dict, *, out: Path | None, as_json: bool) -> bool:
    """Write a command's result as JSON to ``out`` (when given) and print it with ``--json``;
    True when printed, so the command shows no table."""
    text = json.dumps(record, indent=2)
    if out is not None:
        atomic_write_bytes(out, (text + "\n").encode())
    if as_json:
        typer.echo(text)
    return as_json
