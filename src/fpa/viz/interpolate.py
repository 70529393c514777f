"""Walks through latent space: slerp paths, the images along them, and GIF/APNG animations.

A smooth walk between latents shows whether a generator learned a continuous image space or
memorised a few pictures; with the painting steps shown too, it shows how the rank-1 painting
process itself changes along the way.
"""

from __future__ import annotations

import io

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from fpa.classes import labels_args
from fpa.errors import ConfigError
from fpa.generator import FastWeightPainter
from fpa.viz.progress import painting_progress

ANIMATION_FORMATS = ("gif", "apng")
_PARALLEL = 1e-6
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def slerp(z0: Tensor, z1: Tensor, t: Tensor | float) -> Tensor:
    """Spherical interpolation from ``z0 (D,)`` to ``z1 (D,)`` at each ``t``: ``t.shape + (D,)``.

    Follows the great circle between the two directions, so a walk between Gaussian latents
    stays in the shell where they live instead of cutting through the low-norm centre.
    ``t = 0`` and ``t = 1`` give ``z0`` and ``z1`` exactly (the weights are exactly 1 and 0);
    (anti)parallel latents, where the circle is undefined, fall back to linear interpolation.
    """
    if z0.shape != z1.shape or z0.dim() != 1:
        raise ConfigError(f"slerp needs two latents of shape (D,); got {z0.shape} and {z1.shape}")
    t = torch.as_tensor(t, dtype=torch.float64, device=z0.device)
    a, b = z0.double(), z1.double()
    cosine = (a @ b / (a.norm() * b.norm()).clamp_min(1e-30)).clamp(-1.0, 1.0)
    angle = torch.arccos(cosine)
    sine = torch.sin(angle)
    if sine.abs() < _PARALLEL:
        weight0, weight1 = 1.0 - t, t
    else:
        weight0, weight1 = torch.sin((1.0 - t) * angle) / sine, torch.sin(t * angle) / sine
    path = weight0.unsqueeze(-1) * a + weight1.unsqueeze(-1) * b
    return path.to(z0.dtype)


def interpolation_path(anchors: Tensor, *, frames_between: int, loop: bool = False) -> Tensor:
    """Latents ``(N, D)`` slerped through ``anchors (K, D)`` in order, each anchor on the path.

    ``frames_between`` frames per segment, counting its start anchor but not its end:
    ``N = (K - 1) · frames_between + 1``. With ``loop`` the path returns to the first anchor and
    stops one frame short of it (``N = K · frames_between``), so a repeating animation has
    no doubled frame.
    """
    if anchors.dim() != 2 or anchors.shape[0] < 2:
        raise ConfigError(f"need anchors of shape (K, D) with K ≥ 2; got {tuple(anchors.shape)}")
    if frames_between < 1:
        raise ConfigError(f"frames between anchors must be at least 1; got {frames_between}")
    t = torch.arange(frames_between, dtype=torch.float64) / frames_between
    ends = torch.cat([anchors[1:], anchors[:1]]) if loop else anchors[1:]
    segments = [slerp(start, end, t) for start, end in zip(anchors, ends, strict=False)]
    if not loop:
        segments.append(anchors[-1:])
    return torch.cat(segments)


def path_length(anchors: int, *, frames_between: int, loop: bool = False) -> int:
    """How many latents ``interpolation_path`` makes (known before any computing)."""
    return anchors * frames_between if loop else (anchors - 1) * frames_between + 1


def _device(generator: nn.Module) -> torch.device:
    return next(generator.parameters()).device


def _batches(latents: Tensor, batch_size: int) -> list[Tensor]:
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1; got {batch_size}")
    return list(latents.split(batch_size))


@torch.no_grad()
def interpolation_frames(
    generator: nn.Module, path_latents: Tensor, *, batch_size: int = 64, label: int | None = None
) -> Tensor:
    """``generator(z)`` for each latent of the path: ``(N, C, H, W)`` in ``[-1, 1]`` on the CPU;
    a conditional generator paints class ``label`` all along."""
    device = _device(generator)
    images = [
        generator(z.to(device), *labels_args(class_labels(label, len(z), device))).float().cpu()
        for z in _batches(path_latents, batch_size)
    ]
    return torch.cat(images)


def class_labels(label: int | None, n: int, device: torch.device) -> Tensor | None:
    """``n`` copies of class ``label``, or None for an unconditional generator."""
    return None if label is None else torch.full((n,), label, device=device)


@torch.no_grad()
def painting_strip(
    generator: FastWeightPainter,
    path_latents: Tensor,
    *,
    steps_shown: int,
    batch_size: int = 64,
    label: int | None = None,
) -> Tensor:
    """Partial images along the path: ``(N, S, C, H, W)`` in ``[-1, 1]`` on the CPU.

    ``S`` steps chosen by ``step_indices`` (ending at the last), each rescaled to the final
    matrix's norm as in ``painting_progress``; like it, before any refiner.
    """
    device = _device(generator)
    strips = []
    for z in _batches(path_latents, batch_size):
        labels = class_labels(label, len(z), device)
        flat = painting_progress(generator, z.to(device), columns=steps_shown, labels=labels)
        flat = flat.float().cpu()
        strips.append(rearrange(flat, "(frame step) c h w -> frame step c h w", frame=len(z)))
    return torch.cat(strips)


def strip_frames(strips: Tensor, *, padding: int = 2) -> Tensor:
    """Each row of ``strips (N, S, C, H, W)`` side by side as one image, white gaps between."""
    padded = F.pad(strips, (0, padding), value=1.0)
    frames = rearrange(padded, "frame step c h w -> frame c h (step w)")
    return frames[..., : frames.shape[-1] - padding] if padding else frames


def segment_grid(frames: Tensor, *, frames_between: int, loop: bool = False) -> Tensor:
    """The path's images as rows, one per anchor-to-anchor segment, both anchors shown.

    ``frames (N, ...)`` from a path of ``interpolation_path``; returns ``(R · (F + 1), ...)``
    row by row, ``R`` segments of ``F + 1 = frames_between + 1`` columns.
    """
    count = frames.shape[0]
    rows = count // frames_between if loop else (count - 1) // frames_between
    anchors = rows if loop else rows + 1
    if rows < 1 or path_length(anchors, frames_between=frames_between, loop=loop) != count:
        raise ConfigError(f"{count} frames are not a path with {frames_between} frames between")
    starts = torch.arange(rows) * frames_between
    index = (starts[:, None] + torch.arange(frames_between + 1)[None, :]) % count
    return frames[rearrange(index, "row col -> (row col)")]


ANIMATION_WIDTH = 256
"""The width, in pixels, below which the commands enlarge an animation: one of a few 32×32
paintings at scale 1 is too small to see."""


def to_uint8(images: Tensor) -> Tensor:
    """``[-1, 1]`` floats to ``0 … 255`` bytes, rounding as torchvision's ``save_image`` does."""
    unit = (images.float().cpu() + 1.0) / 2.0
    return unit.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def animation_bytes(
    frames: Tensor, *, format: str, duration_ms: int, scale: int = 1, min_width: int = 0
) -> bytes:
    """``frames (N, C, H, W)`` in ``[-1, 1]`` as a looping GIF or APNG, encoded by Pillow.

    1 channel is grey, 3 RGB, 4 RGBA. ``scale`` enlarges each pixel to a ``scale × scale``
    block (nearest neighbour) so 32×32 paintings are visible; a larger whole scale is taken
    where that makes the animation at least ``min_width`` pixels wide (the commands ask for
    ``ANIMATION_WIDTH``). GIF stores delays in 10 ms units
    and colour frames with a 256-colour palette; APNG is lossless. Either format may merge a
    frame identical to the one before into it (its delay added), as Pillow does.
    """
    from PIL import Image

    if format not in ANIMATION_FORMATS:
        raise ConfigError(f"animation format must be gif or apng; got {format!r}")
    if frames.dim() != 4 or frames.shape[0] < 1:
        raise ConfigError(f"need frames of shape (N, C, H, W); got {tuple(frames.shape)}")
    mode = _MODES.get(frames.shape[1])
    if mode is None:
        raise ConfigError(f"animations need 1, 3 or 4 channels; got {frames.shape[1]}")
    if duration_ms < 1 or scale < 1:
        raise ConfigError(f"duration and scale must be at least 1; got {duration_ms}, {scale}")
    scale = max(scale, -(-min_width // frames.shape[-1]))
    pixels = repeat(to_uint8(frames), "n c h w -> n (h sh) (w sw) c", sh=scale, sw=scale)
    images = [Image.fromarray(frame.squeeze(-1).numpy()) for frame in pixels]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF" if format == "gif" else "PNG",
        save_all=True,
        append_images=images[1:],
        loop=0,
        duration=duration_ms,
        **({"disposal": 2} if format == "gif" else {}),
    )
    return buffer.getvalue()
