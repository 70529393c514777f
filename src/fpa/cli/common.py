"""What the commands that use a trained generator share: latents, checks, output files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes
from fpa.generator import FastWeightPainter
from fpa.limits import check_picture

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


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write each ``name: bytes`` of ``files`` into ``folder``, made if missing (its parent
    exists: :func:`output_folder` checked it), each file whole or not at all."""
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        atomic_write_bytes(folder / name, data)


def json_bytes(record: dict) -> bytes:
    """A command's JSON record as the bytes of a file: indented, with a final newline."""
    return (json.dumps(record, indent=2) + "\n").encode()


def emit_json(record: dict, *, out: Path | None, as_json: bool) -> bool:
    """Write a command's result as JSON to ``out`` (when given) and print it with ``--json``;
    True when printed, so the command shows no table."""
    text = json.dumps(record, indent=2)
    if out is not None:
        atomic_write_bytes(out, (text + "\n").encode())
    if as_json:
        typer.echo(text)
    return as_json
