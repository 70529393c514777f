"""Class conditioning: a learned class embedding added to the latent, and class lookup.

A conditional generator paints ``G(z, labels)``: the controller (or a baseline's first layer)
receives ``z + E[y]``, ``E`` a learned ``(classes, latent_dim)`` table (docs/design.md §11).
Adding rather than concatenating keeps the latent's width, so every painter and baseline,
fpa's or a plugin's, takes classes without knowing it, and an unconditional generator keeps
exactly its parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from fpa.errors import ConfigError, did_you_mean


def check_classes(names: Sequence[str], frequencies: Sequence[float]) -> None:
    """Class names are unique strings; frequencies are empty or one positive share each."""
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"class names must be distinct non-empty strings; got {list(names)}")
    if frequencies and (
        len(frequencies) != len(names) or not all(float(f) > 0 for f in frequencies)
    ):
        raise ConfigError(
            f"class_frequencies needs one positive share per class ({len(names)}); "
            f"got {list(frequencies)}"
        )


def class_index(names: Sequence[str], wanted: str | int) -> int:
    """The index of class ``wanted``: a name (``"7"``, ``"cat"``), or an index given as an int
    or as digits when no class has that name. One line with a did-you-mean otherwise."""
    if not names:
        raise ConfigError("this generator is unconditional: it takes no class")
    text = str(wanted)
    if text in names:
        return list(names).index(text)
    if text.lstrip("-").isdigit():
        index = int(text)
        if 0 <= index < len(names):
            return index
        raise ConfigError(f"class index {index} is out of range: 0 to {len(names) - 1}")
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise ConfigError(f"unknown class {text!r}{did_you_mean(text, names)} (classes: {shown})")


def chosen_class(names: Sequence[str], wanted: str | None) -> int | None:
    """The class index ``--class`` names (a name or an index), None without it; ``--class``
    for an unconditional generator (no ``names``) is a one-line error."""
    if wanted is None:
        return None
    if not names:
        raise ConfigError("--class needs a conditional run (fpa train --conditional)")
    return class_index(names, wanted)


def chosen_labels(names: Sequence[str], wanted: str | None, n: int) -> Tensor | None:
    """Labels for ``n`` samples: all of class ``wanted`` when given, else the classes ``names``
    in turn (0, 1, ..., K-1, 0, ...); None for an unconditional generator (no names)."""
    label = chosen_class(names, wanted)
    if label is not None:
        return torch.full((n,), label, dtype=torch.int64)
    return torch.arange(n) % len(names) if names else None


class ClassEmbedding(nn.Module):
    """``E (classes, latent_dim)``, initialised standard normal like the latents it is added to;
    ``forward(z, labels)`` returns ``z + E[labels]``."""

    def __init__(self, *, classes: int, latent_dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(classes, latent_dim)

    @property
    def classes(self) -> int:
        return self.table.num_embeddings

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        if labels.dim() != 1 or labels.shape[0] != z.shape[0] or labels.dtype.is_floating_point:
            raise ConfigError(
                f"labels must be integer classes of shape ({z.shape[0]},); got "
                f"{labels.dtype} {tuple(labels.shape)}"
            )
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.classes):
            raise ConfigError(f"labels must be classes 0 to {self.classes - 1}")
        return z + self.table(labels)


def condition(
    embedding: ClassEmbedding | None, z: Tensor, labels: Tensor | None, *, names: Sequence[str]
) -> Tensor:
    """The latent a generator paints from: ``z`` unconditionally, ``z + E[y]`` with classes.
    Labels for an unconditional generator, or none for a conditional one, are one-line errors."""
    if embedding is None:
        if labels is not None:
            raise ConfigError("this generator is unconditional: it takes no labels")
        return z
    if labels is None:
        raise ConfigError(
            f"this generator paints one of {len(names)} classes: pass labels, G(z, labels)"
        )
    return embedding(z, labels.to(z.device))


def sample_labels(
    frequencies: Sequence[float], n: int, *, generator: torch.Generator | None = None
) -> Tensor:
    """``n`` labels drawn with replacement from the classes' shares of the data."""
    weights = torch.tensor([float(f) for f in frequencies], dtype=torch.float64)
    return torch.multinomial(weights, n, replacement=True, generator=generator)


def conditional_dict(config: Any) -> dict[str, Any]:
    """A generator config (a painter's or a baseline's) as plain data: tuples as lists, and
    ``classes`` and ``class_frequencies`` left out when empty."""
    data = asdict(config)
    data["image_size"] = list(config.image_size)
    for name in ("classes", "class_frequencies"):
        if data[name]:
            data[name] = list(data[name])
        else:
            del data[name]
    return data


def class_embedding(config: Any) -> ClassEmbedding | None:
    """The learned class embedding of a conditional generator config, None without classes."""
    if not config.classes:
        return None
    return ClassEmbedding(classes=len(config.classes), latent_dim=config.latent_dim)


def labels_args(labels: Tensor | None) -> tuple[Tensor, ...]:
    """``(labels,)`` to pass to a conditional generator or discriminator, ``()`` otherwise, so
    an unconditional one (fpa's or a plugin's) is called exactly as it always was."""
    return () if labels is None else (labels,)
