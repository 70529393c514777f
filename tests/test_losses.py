"""GAN losses, regularisers and augmentation: small checks of the formulas they implement."""

from __future__ import annotations

import pytest
import torch

from fpa.training.augment import OPS, DiffAugment
from fpa.training.losses import (
    gradient_penalty,
    hinge_discriminator,
    hinge_generator,
    mode_seeking,
    r1_penalty,
)


def test_hinge_losses_follow_their_definition():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.5])
    expected = (0 + 0.5 + 2.0) / 3 + (0 + 1.0 + 2.5) / 3
    assert hinge_discriminator(real, fake).item() == pytest.approx(expected)
    assert hinge_generator(fake).item() == pytest.approx(-fake.mean().item())


def test_penalties_on_a_linear_critic_have_closed_forms():
    weight = torch.tensor([3.0, 4.0])  # ‖∇x D‖ = 5 for D(x) = w·x
    images = torch.randn(6, 2, requires_grad=True)
    logits = images @ weight
    assert gradient_penalty(logits, images).item() == pytest.approx(16.0)
    assert r1_penalty(images @ weight, images).item() == pytest.approx(12.5)


def test_mode_seeking_rewards_different_images_for_different_latents():
    latents = torch.randn(8, 4)
    same = torch.zeros(8, 1, 4, 4)
    varied = torch.randn(8, 1, 4, 4)
    assert mode_seeking(same, latents) > 1e4 * mode_seeking(varied, latents)
    images = varied.clone().requires_grad_(True)
    mode_seeking(images, latents).backward()
    step = images - 0.01 * images.grad
    assert mode_seeking(step.detach(), latents) < mode_seeking(varied, latents)


@pytest.mark.parametrize("name", sorted(OPS))
def test_each_augmentation_keeps_shape_and_is_reproducible(name):
    images = torch.rand(5, 3, 8, 12) * 2 - 1
    first = OPS[name](images, torch.Generator().manual_seed(1))
    again = OPS[name](images, torch.Generator().manual_seed(1))
    assert first.shape == images.shape
    assert torch.equal(first, again)
    assert not torch.equal(first, images)


def test_diff_augment_with_probability_zero_is_the_identity_and_one_changes_all():
    images = torch.rand(6, 1, 8, 8) * 2 - 1
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert torch.equal(DiffAugment(ops=("flip", "cutout"))(images, generator, prob=0.0), images)
    assert torch.equal(generator.get_state(), state)  # nothing drawn: the run is unchanged
    changed = DiffAugment(ops=("cutout",))(images, generator, prob=1.0)
    assert all(not torch.equal(changed[i], images[i]) for i in range(6))


def test_diff_augment_lets_gradients_through():
    images = torch.rand(4, 3, 8, 8, requires_grad=True)
    augment = DiffAugment(ops=("flip", "translation", "cutout", "color"))
    augment(images, torch.Generator().manual_seed(2), prob=1.0).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
