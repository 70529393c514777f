"""The ``unet`` refiner: shapes, range, identity at init, config errors, gradients, independence."""

from __future__ import annotations

import pytest
import torch

import fpa
from fpa.discriminators.blocks import LinearAttention
from fpa.errors import ConfigError
from fpa.plugins import build_refiner
from fpa.refiners.unet import FullAttention, UNetRefiner

SMALL = {"width": 8, "multipliers": (1, 2, 4)}
PAINTER = {"hidden_size": 32, "input_size": 16}


def images(batch: int, channels: int, height: int, width: int, *, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1] with some pixels exactly at ±1, as a saturated painter produces."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, channels, height, width, generator=generator) * 2 - 1
    x[..., 0, :] = 1.0
    x[..., -1, :] = -1.0
    return x


def perturb_output(refiner: UNetRefiner, *, std: float = 0.5, seed: int = 1) -> None:
    """Make the zero-initialised output conv non-zero, as after some training."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in refiner.out.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


@pytest.mark.parametrize(
    ("image_size", "channels", "options"),
    [
        (16, 1, {}),
        (32, 3, {"multipliers": (1, 2)}),
        ((16, 32), 4, {}),
        ((8, 24), 3, {"multipliers": (1, 2, 2, 2), "blocks_per_level": 2}),
        ((12, 8), 1, {"linear_attention": False, "full_attention": False}),
    ],
)
@pytest.mark.parametrize("residual", [True, False])
def test_output_has_the_input_shape_and_stays_in_range(image_size, channels, options, residual):
    torch.manual_seed(0)
    refiner = UNetRefiner(
        image_size=image_size, channels=channels, residual=residual, **{**SMALL, **options}
    )
    perturb_output(refiner, std=5.0)
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    x = images(3, channels, height, width)
    out = refiner(x)
    assert out.shape == x.shape
    assert out.dtype == x.dtype
    assert torch.isfinite(out).all()
    assert out.abs().max() <= 1.0
    # The large output conv really changed the image, so the range check tested the squashing.
    assert (out - x).abs().max() > 0.5


def test_residual_refiner_is_the_identity_at_init():
    torch.manual_seed(0)
    refiner = UNetRefiner(image_size=(16, 32), channels=3, **SMALL)
    x = images(4, 3, 16, 32)
    error = (refiner(x) - x).abs().max().item()
    assert error <= 1.001e-3
    # The authors' form tanh(delta) starts far from the identity: the flag really switches it.
    torch.manual_seed(0)
    plain = UNetRefiner(image_size=(16, 32), channels=3, residual=False, **SMALL)
    assert (plain(x) - x).abs().max() > 0.5


@pytest.mark.parametrize(
    ("image_size", "options", "message"),
    [
        (18, {}, "multiples of 4"),
        ((16, 30), {}, "16×30"),
        ((32, 20), {"multipliers": (1, 2, 4, 8)}, "multiples of 8"),
        (16, {"width": 12, "groups": 8}, "multiple of groups"),
        (16, {"multipliers": ()}, "multipliers"),
        (16, {"blocks_per_level": 0}, "blocks_per_level"),
        ((16, 16, 16), {}, "(H, W) pair"),
    ],
)
def test_bad_configurations_raise_one_readable_line(image_size, options, message):
    with pytest.raises(ConfigError) as caught:
        UNetRefiner(image_size=image_size, channels=1, **{**SMALL, **options})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_images_of_another_size_are_refused():
    refiner = UNetRefiner(image_size=16, channels=1, **SMALL)
    with pytest.raises(ConfigError, match="16, 16"):
        refiner(images(1, 1, 32, 32))


def test_gradients_reach_every_parameter_and_the_input():
    torch.manual_seed(0)
    refiner = UNetRefiner(image_size=16, channels=3, blocks_per_level=2, **SMALL)
    perturb_output(refiner, std=0.1)
    x = images(2, 3, 16, 16).requires_grad_(True)
    target = images(2, 3, 16, 16, seed=5)
    (refiner(x) - target).square().mean().backward()
    dead = [
        name
        for name, parameter in refiner.named_parameters()
        if parameter.grad is None or parameter.grad.abs().max() == 0
    ]
    assert dead == []
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().max() > 0


def test_at_init_only_the_output_conv_learns_first():
    """The zero output conv blocks gradients to the body until it has moved: expected, checked."""
    refiner = UNetRefiner(image_size=16, channels=1, **SMALL)
    (refiner(images(2, 1, 16, 16)) - 0.3).square().mean().backward()
    assert refiner.out.weight.grad.abs().max() > 0
    assert refiner.stem.weight.grad.abs().max() == 0


@pytest.mark.parametrize("training", [False, True])
def test_samples_do_not_see_each_other(training):
    """GroupNorm and attention are per sample, in both modes (a BatchNorm would fail training)."""
    torch.manual_seed(0)
    refiner = UNetRefiner(image_size=(16, 8), channels=3, **SMALL).train(training)
    perturb_output(refiner)
    x = images(4, 3, 16, 8)
    changed = x.clone()
    changed[2] = images(1, 3, 16, 8, seed=9)[0]
    with torch.no_grad():
        before, after = refiner(x), refiner(changed)
    others = [0, 1, 3]
    torch.testing.assert_close(after[others], before[others], atol=1e-6, rtol=0)
    assert (after[2] - before[2]).abs().max() > 1e-3


def test_saturated_bfloat16_pixels_can_still_be_refined():
    """In bf16, (1 - 1e-3) rounds to 1 and atanh to inf, freezing ±1 pixels: fp32 is needed."""
    torch.manual_seed(0)
    refiner = UNetRefiner(image_size=8, channels=1, width=8, multipliers=(1, 2))
    perturb_output(refiner, std=2.0)
    x = torch.ones(2, 1, 8, 8, dtype=torch.bfloat16)
    x[:, :, :4] = -1.0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = refiner(x)
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out.float()).all()
    assert (out.float() - x.float()).abs().max() > 0.05
    out.float().square().sum().backward()
    grad = refiner.out.weight.grad
    assert torch.isfinite(grad).all() and grad.abs().max() > 0


def test_attention_flags_switch_the_attention_layers():
    def count(refiner: UNetRefiner, kind: type) -> int:
        return sum(isinstance(module, kind) for module in refiner.modules())

    both = UNetRefiner(image_size=16, channels=1, **SMALL)
    neither = UNetRefiner(
        image_size=16, channels=1, linear_attention=False, full_attention=False, **SMALL
    )
    # Linear attention on every level but the lowest, on both paths; softmax attention once.
    assert count(both, LinearAttention) == 2 * (len(SMALL["multipliers"]) - 1)
    assert count(both, FullAttention) == 1
    assert count(neither, LinearAttention) == count(neither, FullAttention) == 0


def test_unet_is_registered_and_built_by_name():
    assert "unet" in fpa.available("refiners")
    built = build_refiner("unet", image_size=(8, 16), channels=3, width=8)
    assert isinstance(built, UNetRefiner)
    assert built.image_size == (8, 16)


@pytest.mark.parametrize("image_size", [16, (16, 32)])
def test_generator_with_unet_refiner_paints_then_refines(image_size):
    torch.manual_seed(0)
    generator = fpa.build_generator(
        refiner="unet",
        refiner_options={"width": 16},
        image_size=image_size,
        channels=1,
        paint_steps=4,
        latent_dim=8,
        **PAINTER,
    )
    assert isinstance(generator.refiner, UNetRefiner)
    z = generator.sample_latents(3)
    with torch.no_grad():
        trace = generator.paint_trace(z)
        torch.testing.assert_close(trace.images, trace.painted, atol=1.001e-3, rtol=0)
        torch.testing.assert_close(generator(z), trace.images)
        perturb_output(generator.refiner, std=0.2)
        trace = generator.paint_trace(z)
    assert (trace.images - trace.painted).abs().max() > 1e-2
    assert trace.images.abs().max() <= 1.0
