"""A model folder's card (``README.md``): what the model paints, its data and licences, how it
was trained and what it measured, with Hugging Face metadata on top.

The metadata block is YAML as the Hub reads it, written one ``key: value`` line per key with
each value in JSON (valid YAML flow syntax). The ``fpa`` key holds the whole card as one JSON
object, so fpa reads a card back exactly, without a YAML parser (docs/design.md §9).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fpa.errors import ConfigError, FpaError, did_you_mean, error_summary

FENCE = "---"
CARD_KEY = "fpa"
STD_SUFFIX = "_std"
TAGS = ("fpa", "fast-weight-painter", "gan", "unconditional-image-generation")
# Licence identifiers of the Hugging Face Hub's ``license`` metadata that a model card may
# state; "other" for any licence not listed (then say which in the card's notes).
LICENCES = (
    "apache-2.0",
    "mit",
    "bsd-2-clause",
    "bsd-3-clause",
    "cc0-1.0",
    "cc-by-3.0",
    "cc-by-4.0",
    "cc-by-sa-3.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "cc-by-nd-4.0",
    "cc-by-nc-nd-4.0",
    "gpl-3.0",
    "lgpl-3.0",
    "agpl-3.0",
    "mpl-2.0",
    "openrail",
    "unlicense",
    "other",
)
MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]#!|~{}]")


class ModelCardError(FpaError):
    """A model card that cannot be read back (hand-edited metadata, a missing block)."""


@dataclass(frozen=True)
class Measurement:
    """Scores measured on ``n`` generated images (latents of ``seed``) against the real
    ``data``, with the feature extractor ``features``; for a classifier extractor also the
    class entropy of the painted images and the share read with confidence ≥ ``threshold``."""

    scores: dict[str, float]
    features: str
    data: str
    n: int
    seed: int
    class_entropy_bits: float | None = None
    confident_share: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class ModelCard:
    """Everything a card states; :func:`render_card` writes it, :func:`parse_card` reads it."""

    name: str
    paints: str
    data: str
    data_holds: str
    data_licence: str
    attribution: str
    licence: str
    command: str
    generator: str
    parameters: int
    step: int
    fpa_version: str
    measured: Measurement | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        measured = data.get("measured")
        return cls(**{**data, "measured": Measurement(**measured) if measured else None})


def check_licence(licence: str) -> str:
    """A licence a card may state: one of :data:`LICENCES`."""
    if licence not in LICENCES:
        raise ConfigError(
            f"--license must be a Hub licence identifier ({', '.join(LICENCES)}); got "
            f"{licence!r}{did_you_mean(licence.lower(), LICENCES)}"
        )
    return licence


def plain(text: str) -> str:
    """Text as markdown that shows it as written, on one line: no HTML, no markup."""
    escaped = html.escape(" ".join(str(text).split()), quote=False)
    return MARKDOWN_SPECIAL.sub(lambda found: "\\" + found.group(0), escaped)


def code(text: str) -> str:
    """Text as a markdown code span, shown literally whatever backticks it holds; text with
    ``<``, ``>`` or ``&`` as :func:`plain` text instead (a code span cannot escape them, and a
    card holds no HTML, not even where a renderer would show it as text)."""
    line = " ".join(str(text).split())
    if any(character in line for character in "<>&"):
        return plain(line)
    fence = "`" * (max((len(run) for run in re.findall("`+", line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


def json_text(value: Any) -> str:
    """``value`` as JSON without a literal ``<``, ``>`` or ``&``: a viewer that shows the
    metadata block (GitHub renders it as a table) finds no HTML in it."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def metadata(card: ModelCard) -> dict[str, Any]:
    """The Hub's metadata keys (library, licence, tags, task) and fpa's own."""
    return {
        "library_name": "fpa",
        "license": card.licence,
        "tags": list(TAGS),
        "pipeline_tag": "unconditional-image-generation",
        CARD_KEY: card.to_dict(),
    }


def render_card(card: ModelCard) -> str:
    """The README.md of a model folder: metadata, then the card for people."""
    head = [FENCE, *(f"{key}: {json_text(value)}" for key, value in metadata(card).items())]
    lines = [
        *head,
        FENCE,
        "",
        f"# {plain(card.name)}: a fast weight painter",
        "",
        f"Paints {plain(card.paints)}. A generator trained with fpa "
        "(fast weight painters: each image channel is a weight matrix painted by a learning "
        "rule, one rank-1 update per step; Irie & Schmidhuber, ICLR 2023).",
        "",
        "![64 samples (latents of seed 0)](samples.png)",
        "",
        "## Use",
        "",
        "With fpa installed:",
        "",
        "```bash",
        "fpa sample FOLDER --seed 0 --scale 2            # samples.png, exactly",
        "fpa paint FOLDER --animate painting.gif         # watch it paint",
        "```",
        "",
        "`fpa.load(FOLDER)` returns the generator. FOLDER is this folder, or the model's name "
        "when a package registers it. Loading reads `config.json` and `model.safetensors` and "
        "runs no code from the folder.",
        "",
        "## Model",
        "",
        f"- generator: {card.generator}",
        f"- parameters: {card.parameters:,} (the EMA generator, refiner included)",
        f"- trained for {card.step:,} steps with fpa {card.fpa_version}",
        "",
        "## Training",
        "",
        f"- data: {code(card.data)}, {plain(card.data_holds)}; licence {plain(card.data_licence)}",
        f"- credit: {plain(card.attribution)}",
        f"- command: {code(card.command)} (the resolved settings: `training.toml`)",
        "",
        "## Evaluation",
        "",
        *evaluation_lines(card.measured),
        "",
        "## Licence",
        "",
        f"The weights: {plain(card.licence)}. The training data: {plain(card.data_licence)} "
        f"({plain(card.attribution)}).",
    ]
    if card.notes:
        lines += ["", "## Notes", "", *(f"- {plain(note)}" for note in card.notes)]
    return "\n".join(lines) + "\n"


def evaluation_lines(measured: Measurement | None) -> list[str]:
    """The card's evaluation section: the scores and how to measure them again."""
    if measured is None:
        return ["Not measured."]
    lines = ["| metric | value |", "|---|---:|"]
    metrics = [name for name in measured.scores if not name.endswith(STD_SUFFIX)]
    for name in metrics:
        spread = measured.scores.get(name + STD_SUFFIX)
        shown = f"{measured.scores[name]:.4g}" + (f" ± {spread:.2g}" if spread is not None else "")
        lines.append(f"| {name.upper()} | {shown} |")
    if measured.class_entropy_bits is not None:
        lines.append(f"| class entropy (bits) | {measured.class_entropy_bits + 0.0:.3f} |")
    if measured.confident_share is not None:
        lines.append(
            f"| read with confidence ≥ {measured.threshold} | {measured.confident_share:.1%} |"
        )
    lines += [
        "",
        f"{measured.n:,} generated images (latents of seed {measured.seed}) against up to "
        f"{measured.n:,} real {code(measured.data)} images, on the {code(measured.features)} "
        "feature extractor; again: "
        + code(
            f"fpa evaluate FOLDER --n {measured.n} --seed {measured.seed} "
            f"--features {measured.features} --metrics {','.join(metrics)}"
        )
        + ".",
    ]
    return lines


def parse_card(text: str, *, where: str) -> ModelCard:
    """The card in a README.md written by :func:`render_card`."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != FENCE or FENCE not in (line.strip() for line in lines[1:]):
        raise ModelCardError(f"{where} has no metadata block (--- ... ---) at its top")
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == FENCE)
    for line in lines[1:end]:
        key, _, value = line.partition(":")
        if key.strip() != CARD_KEY:
            continue
        try:
            return ModelCard.from_dict(json.loads(value))
        except (ValueError, TypeError) as error:
            raise ModelCardError(
                f"{where}: its '{CARD_KEY}' metadata is not a card fpa wrote: "
                f"{error_summary(error)}"
            ) from None
    raise ModelCardError(f"{where} has no '{CARD_KEY}' metadata")


def read_card(path: Path) -> ModelCard:
    """The card of a model folder's README.md."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelCardError(f"cannot read {path}: {error_summary(error)}") from None
    return parse_card(text, where=str(path))
