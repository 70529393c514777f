"""GAN losses and discriminator regularisers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


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
