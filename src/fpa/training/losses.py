"""GAN losses and discriminator regularisers, and D's whole loss as one module."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fpa.classes import labels_args
from fpa.runs.config import TrainConfig
from fpa.training.precision import autocast


def hinge_discriminator(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge loss for D: push real logits above +1 and fake logits below −1."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_generator(fake_logits: Tensor) -> Tensor:
    """Hinge loss for G: raise D's logit on fakes."""
    return -fake_logits.mean()


def input_gradients(logits: Tensor, images: Tensor) -> Tensor:
    """``d logits.sum() / d images``, kept in the graph so the penalty can be trained."""
    (gradients,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return gradients.flatten(1)


def gradient_penalty(logits: Tensor, images: Tensor) -> Tensor:
    """WGAN-GP-style penalty on reals: ``(‖∇_x D(x)‖ − 1)²`` (the paper's regulariser)."""
    return (input_gradients(logits, images).norm(dim=1) - 1).square().mean()


def r1_penalty(logits: Tensor, images: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): ``½ ‖∇_x D(x)‖²`` on reals."""
    return 0.5 * input_gradients(logits, images).square().sum(dim=1).mean()


def mode_seeking(images: Tensor, latents: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode-seeking term (Mao et al. 2019, MSGAN): small when two latents give two different
    images. Pairs sample i with sample i + B/2; returns ``1 / (image gap / latent gap + eps)``."""
    half = images.shape[0] // 2
    image_gap = (images[:half] - images[half : 2 * half]).abs().flatten(1).mean(dim=1)
    latent_gap = (latents[:half] - latents[half : 2 * half]).abs().mean(dim=1)
    return (1 / (image_gap / latent_gap + eps)).mean()


REGULARIZERS = {"gp": gradient_penalty, "r1": r1_penalty}


class DiscriminatorLoss(nn.Module):
    """D's whole loss on one micro-batch, as one module call: hinge on the main and auxiliary
    logits of reals and fakes, the decoder's reconstruction of reals, and the penalty on reals.

    Under DDP this module is what is wrapped, so that every D forward feeding the backward
    (reals with the decoder, fakes, and the penalty's probe with its double backward) happens
    inside one DDP forward, followed by one backward: the reducer then averages the gradients of
    all of them together, once. Which parts of D take part depends on the config and the plugin
    (lightgan's decoder, which sees only reals, runs only when ``recon_weight > 0``): DDP must
    then be told to look for unused parameters (see
    :func:`fpa.training.distributed.unused_parameters`). ``static_graph`` would not do, as the
    penalty joins the graph only every ``reg_every`` steps.
    """

    def __init__(
        self,
        *,
        discriminator: nn.Module,
        fast: nn.Module,
        config: TrainConfig,
        autocast_dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.discriminator, self.fast = discriminator, fast
        self.reconstruction_target = getattr(discriminator, "reconstruction_target", None)
        self.aux_weight, self.recon_weight = config.aux_weight, config.recon_weight
        self.reg_weight = config.reg_weight
        # ADA's overfitting signal, reported only where the adaptive augmentation reads it.
        self.reports_real_sign = config.augment == "adaptive"
        self.penalty = REGULARIZERS.get(config.regularizer)
        self.autocast_dtype = autocast_dtype

    def forward(
        self,
        real: Tensor,
        fake: Tensor,
        *,
        regularize: bool,
        labels: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``labels`` (of the reals, of the fakes) in a conditional run, for D's projection."""
        real_labels = labels_args(None if labels is None else labels[0])
        fake_labels = labels_args(None if labels is None else labels[1])
        with autocast(real.device, self.autocast_dtype):
            on_real = self.fast(real, *real_labels, reconstruct=self.recon_weight > 0)
            on_fake = self.fast(fake, *fake_labels)
            loss = hinge_discriminator(on_real.logits, on_fake.logits)
            if on_real.aux_logits is not None and on_fake.aux_logits is not None:
                aux = hinge_discriminator(on_real.aux_logits, on_fake.aux_logits)
                loss = loss + self.aux_weight * aux
        parts = {}
        if self.reports_real_sign:
            parts["real_sign"] = on_real.logits.detach().float().sign().mean()
        if on_real.reconstruction is not None:
            if self.reconstruction_target is None:
                raise TypeError("a discriminator that reconstructs needs reconstruction_target()")
            target = self.reconstruction_target(real)
            recon = F.mse_loss(on_real.reconstruction.float(), target.float())
            loss = loss + self.recon_weight * recon
            parts["loss_recon"] = recon.detach()
        if regularize and self.penalty is not None:
            # The penalty runs in float32, outside autocast: its double backward is sensitive
            # to rounding, and it runs only every ``reg_every`` steps. It uses the eager
            # discriminator even under --compile: compiled graphs have no double backward.
            probe = real.detach().requires_grad_(True)
            penalty = self.penalty(self.discriminator(probe, *real_labels).logits, probe)
            loss = loss + self.reg_weight * penalty
            parts["penalty"] = penalty.detach()
        return loss, parts
