"""The trial step: one forward and backward of G and D before a run touches its folder.

So a plugin that fails at its first forward, a rule that paints the wrong shape, or a batch
that does not fit in memory is reported while the folder (and an ``--overwrite``n run in it)
is as it was. The trial leaves no trace: buffers are restored, every random stream is forked,
no optimiser steps and the gradients are dropped, so a run with it trains exactly as without.
"""

from __future__ import annotations

import torch

from fpa.classes import labels_args, sample_labels
from fpa.errors import ConfigError, error_summary
from fpa.training.losses import DiscriminatorLoss, hinge_generator
from fpa.training.precision import autocast
from fpa.training.state import TrainState


def trial_step(
    state: TrainState, *, batch: int, device: torch.device, autocast_dtype: torch.dtype | None
) -> None:
    """Run G and D forward and backward once on ``batch`` latents; raise one ConfigError line
    when that fails."""
    config = state.config
    modules = (state.generator, state.discriminator)
    buffers = [{n: b.detach().clone() for n, b in m.named_buffers()} for m in modules]
    cuda = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            latents = torch.randn(batch, config.latent_dim, device=device)
            # From the forked global stream, never the run's own: the trial leaves no trace.
            frequencies = config.generator.class_frequencies
            labels = sample_labels(frequencies, batch).to(device) if frequencies else None
            state.generator.train()
            with autocast(device, autocast_dtype):
                images = state.generator(latents, *labels_args(labels))
                loss_g = hinge_generator(state.discriminator(images, *labels_args(labels)).logits)
            loss_d, _ = DiscriminatorLoss(
                discriminator=state.discriminator,
                fast=state.discriminator,
                config=config,
                autocast_dtype=autocast_dtype,
            )(
                images.detach().float(),
                images.detach().float(),
                regularize=True,
                **({} if labels is None else {"labels": (labels, labels)}),
            )
            (loss_g + loss_d).backward()
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ConfigError(
            "a trial step of this configuration failed, so nothing was written: "
            f"{error_summary(error)}"
        ) from None
    finally:
        for module, saved in zip(modules, buffers, strict=True):
            module.zero_grad(set_to_none=True)
            with torch.no_grad():
                for name, buffer in module.named_buffers():
                    buffer.copy_(saved[name])
