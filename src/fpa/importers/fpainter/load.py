"""An authors' checkpoint as fpa generators, in memory: read (:mod:`.read`), then mapped
(:mod:`.mapping`); nothing is written (:mod:`.write` makes the run folder)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from fpa.errors import error_summary
from fpa.generator import FastWeightPainter, GeneratorConfig
from fpa.importers.fpainter.mapping import FpainterFlags, fpa_state, generator_config
from fpa.importers.fpainter.model_types import SOURCE, FpainterImportError, find_model_type
from fpa.importers.fpainter.read import (
    Architecture,
    AuthorsCheckpoint,
    read_architecture,
    read_generators,
)

DISCRIMINATOR_NOTE = (
    "discriminator: not imported ({count} tensors); the authors' D differs from fpa's lightgan "
    "(no blur, an extra local attention branch, a nearest-resized auxiliary input), so the run "
    "holds a freshly initialised fpa discriminator"
)


@dataclass(kw_only=True)
class FpainterImport:
    """An imported model: the generator ``G`` and its EMA copy ``GE`` as fpa generators."""

    model_type: str
    config: GeneratorConfig
    generator: FastWeightPainter
    ema_generator: FastWeightPainter
    flags: FpainterFlags
    notes: list[str]
    provenance: dict[str, Any]
    run_dir: Path | None = None


def load_fpainter(
    path: str | Path,
    *,
    model_type: str,
    image_size: int | None = None,
    paint_steps: int | None = None,
    flags: FpainterFlags | None = None,
) -> FpainterImport:
    """Read an authors' checkpoint into fpa generators (eval mode, CPU); writes nothing.

    ``image_size`` and ``paint_steps`` are read from the weights where they are stored, and
    must agree when given; ``flags`` are the authors' training flags (not stored).
    """
    kind = find_model_type(model_type)
    flags = flags or FpainterFlags()
    checkpoint = read_generators(path, kind)
    try:
        arch = read_architecture(
            checkpoint.weights,
            kind,
            image_size=image_size,
            paint_steps=paint_steps,
            channels_hint=checkpoint.channels_hint(),
        )
    except (KeyError, IndexError) as error:  # a damaged or hand-edited state dict
        raise FpainterImportError(
            f"{path}: the {kind.name} generator's weights are incomplete or misshapen "
            f"({type(error).__name__}: {error_summary(error)})"
        ) from None
    config = generator_config(kind, arch, flags)

    def generator(weights: dict[str, Tensor]) -> FastWeightPainter:
        model = FastWeightPainter(config=config)
        model.load_state_dict(fpa_state(weights, kind, arch, model.state_dict()))
        return model.eval()

    return FpainterImport(
        model_type=kind.name,
        config=config,
        generator=generator(checkpoint.weights),
        ema_generator=generator(checkpoint.ema_weights),
        flags=flags,
        notes=import_notes(arch, checkpoint),
        provenance=provenance(Path(path), kind.name, checkpoint, flags),
    )


def import_notes(arch: Architecture, checkpoint: AuthorsCheckpoint) -> list[str]:
    """What the import read or chose that the user should know."""
    return [*arch.notes, DISCRIMINATOR_NOTE.format(count=len(checkpoint.discriminator))]


def provenance(
    path: Path, model_type: str, checkpoint: AuthorsCheckpoint, flags: FpainterFlags
) -> dict[str, Any]:
    """Where the imported run came from (stored in its checkpoint as ``imported_from``)."""
    return {
        "source": SOURCE,
        "model_type": model_type,
        "file": path.name,
        "sha256": file_sha256(path),
        "authors_version": checkpoint.version,
        "flags": asdict(flags),
        "discriminator_imported": False,
    }


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
