"""The built-in discriminators: shapes, size checks, reconstruction, gradient flow, registration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fpa
from fpa.discriminators import (
    DiscriminatorOutput,
    LightGanDiscriminator,
    SmallDiscriminator,
    fpa_register_discriminators,
)
from fpa.discriminators.blocks import DownBlock
from fpa.errors import ConfigError


def images(batch: int, channels: int, size: tuple[int, int], *, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, *size, generator=generator) * 2 - 1


def hinge(logits: torch.Tensor, *, real: bool) -> torch.Tensor:
    return F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean()


def full_d_loss(discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The training loop's discriminator loss: hinge on both logits, reconstruction on reals."""
    out_real = discriminator(real, reconstruct=True)
    out_fake = discriminator(fake)
    loss = hinge(out_real.logits, real=True) + hinge(out_fake.logits, real=False)
    if out_real.aux_logits is not None:
        loss = loss + hinge(out_real.aux_logits, real=True)
        loss = loss + hinge(out_fake.aux_logits, real=False)
    if out_real.reconstruction is not None:
        target = discriminator.reconstruction_target(real)
        loss = loss + F.mse_loss(out_real.reconstruction, target)
    return loss


@pytest.mark.slow
@pytest.mark.parametrize("size", [16, 32, (32, 64), (64, 16), 64], ids=str)
@pytest.mark.parametrize("channels", [1, 3])
def test_lightgan_output_shapes(size, channels):
    discriminator = LightGanDiscriminator(image_size=size, channels=channels).eval()
    height, width = discriminator.image_size
    x = images(2, channels, (height, width))
    plain = discriminator(x)
    assert isinstance(plain, DiscriminatorOutput)
    assert plain.logits.shape == (2,)
    assert plain.aux_logits is not None and plain.aux_logits.shape == (2,)
    assert plain.reconstruction is None
    out = discriminator(x, reconstruct=True)
    # Up to 128 the default decoder reconstructs at the input size.
    assert out.reconstruction.shape == (2, channels, height, width)
    assert discriminator.reconstruction_target(x).shape == out.reconstruction.shape
    torch.testing.assert_close(out.logits, plain.logits)


@pytest.mark.parametrize("size", [8, 16, 32, (32, 64), (64, 16)])
def test_small_output_shapes(size):
    discriminator = SmallDiscriminator(image_size=size, channels=3)
    x = images(3, 3, discriminator.image_size)
    out = discriminator(x, reconstruct=True)
    assert out.logits.shape == (3,)
    assert out.aux_logits is None and out.reconstruction is None
    with pytest.raises(ConfigError, match="does not reconstruct"):
        discriminator.reconstruction_target(x)


@pytest.mark.slow
def test_lightgan_at_256_reconstructs_at_128_like_lightweight_gan():
    discriminator = LightGanDiscriminator(image_size=256, channels=1, aux_attention=False)
    assert discriminator.reconstruction_size == (128, 128)
    x = images(1, 1, (256, 256))
    out = discriminator(x, reconstruct=True)
    assert out.logits.shape == (1,) and out.reconstruction.shape == (1, 1, 128, 128)
    target = discriminator.reconstruction_target(x)
    torch.testing.assert_close(target, F.avg_pool2d(x, 2))


@pytest.mark.parametrize(
    ("factory", "size"),
    [
        (LightGanDiscriminator, 8),
        (LightGanDiscriminator, 48),
        (LightGanDiscriminator, 512),
        (LightGanDiscriminator, (32, 48)),
        (LightGanDiscriminator, (16, 8)),
        (LightGanDiscriminator, 0),
        (SmallDiscriminator, 4),
        (SmallDiscriminator, 24),
        (SmallDiscriminator, 1024),
        (SmallDiscriminator, (32, 33)),
    ],
)
def test_bad_image_sizes_raise_one_readable_line(factory, size):
    with pytest.raises(ConfigError) as info:
        factory(image_size=size, channels=3)
    message = str(info.value)
    assert "\n" not in message
    assert "power of two" in message or "positive" in message


@pytest.mark.parametrize("size", ["32", 32.0, (32,), (32, 32, 3), True])
def test_image_size_of_the_wrong_type_raises(size):
    with pytest.raises(ConfigError, match="image_size"):
        LightGanDiscriminator(image_size=size, channels=3)


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError, match=r"attention_resolutions .* among: 16, 32; got \[8\]"):
        LightGanDiscriminator(image_size=64, channels=3, attention_resolutions=(8,))
    with pytest.raises(ConfigError, match="among: none"):
        LightGanDiscriminator(image_size=16, channels=3, attention_resolutions=(16,))
    with pytest.raises(ConfigError, match="channels"):
        SmallDiscriminator(image_size=32, channels=0)
    with pytest.raises(ConfigError, match="decoder_upsamples"):
        LightGanDiscriminator(image_size=32, channels=3, decoder_upsamples=0)


@pytest.mark.parametrize("factory", [LightGanDiscriminator, SmallDiscriminator])
def test_images_of_the_wrong_shape_raise_config_error(factory):
    discriminator = factory(image_size=(16, 32), channels=3)
    with pytest.raises(ConfigError, match=r"expects images \(B, 3, 16, 32\)"):
        discriminator(images(2, 3, (32, 16)))
    with pytest.raises(ConfigError, match="expects images"):
        discriminator(images(2, 1, (16, 32)))


@pytest.mark.slow
def test_decoder_runs_only_when_reconstruction_is_asked_for():
    discriminator = LightGanDiscriminator(image_size=32, channels=3)
    calls = []
    discriminator.decoder.register_forward_hook(lambda *args: calls.append(1))
    x = images(2, 3, (32, 32))
    out = discriminator(x)
    assert out.reconstruction is None and calls == []
    out.logits.sum().backward()
    assert all(p.grad is None for p in discriminator.decoder.parameters())
    assert discriminator(x, reconstruct=True).reconstruction is not None
    assert calls == [1]


def lightgan_variants():
    return [
        pytest.param(dict(image_size=32), id="32"),
        pytest.param(
            dict(image_size=32, attention_resolutions=(16,), aux_attention=True), id="32-attn"
        ),
        pytest.param(
            dict(image_size=(16, 32), attention_resolutions=(), spectral_norm=True), id="16x32-sn"
        ),
        pytest.param(dict(image_size=64, width=16, fmap_max=64, spectral_norm=True), id="64-sn"),
    ]


def assert_no_dead_parameters(discriminator, channels: int) -> None:
    """Every parameter is reached by the training loop's D loss and really moves the output.

    The first check (a gradient exists) is what DDP needs. The hinge loss can cancel exactly for
    the final bias (same number of active real and fake terms), so the second check (the
    gradient is non-zero) uses random weights on every output instead.
    """
    size = discriminator.image_size
    real, fake = images(4, channels, size, seed=1), images(4, channels, size, seed=2)
    full_d_loss(discriminator, real, fake).backward()
    unreached = [name for name, p in discriminator.named_parameters() if p.grad is None]
    assert unreached == []

    discriminator.zero_grad(set_to_none=True)
    out = discriminator(real, reconstruct=True)
    outputs = [t for t in (out.logits, out.aux_logits, out.reconstruction) if t is not None]
    generator = torch.Generator().manual_seed(3)
    loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in outputs)
    loss.backward()
    zero = [name for name, p in discriminator.named_parameters() if not p.grad.abs().sum() > 0]
    assert zero == []


@pytest.mark.slow
@pytest.mark.parametrize("options", lightgan_variants())
def test_lightgan_every_parameter_gets_a_gradient(options):
    torch.manual_seed(0)
    assert_no_dead_parameters(LightGanDiscriminator(channels=3, **options), channels=3)


@pytest.mark.parametrize("options", [{}, {"minibatch_std": False}, {"spectral_norm": False}])
def test_small_every_parameter_gets_a_gradient(options):
    torch.manual_seed(0)
    discriminator = SmallDiscriminator(image_size=32, channels=1, **options)
    assert_no_dead_parameters(discriminator, channels=1)


def test_gradient_penalty_on_reals_backpropagates_to_the_weights():
    discriminator = LightGanDiscriminator(
        image_size=32, channels=3, attention_resolutions=(16,), aux_attention=True
    )
    real = images(2, 3, (32, 32)).requires_grad_(True)
    out = discriminator(real)
    (grad,) = torch.autograd.grad(out.logits.sum(), real, create_graph=True)
    penalty = grad.pow(2).sum(dim=(1, 2, 3)).mean()
    penalty.backward()
    conv = discriminator.stack[0].main[1]
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def changed_logits(discriminator, batch: int, j: int) -> torch.Tensor:
    """Which samples' logits move when only sample j of the batch is changed."""
    x = images(batch, discriminator.channels, discriminator.image_size)
    y = x.clone()
    y[j] = -y[j]
    with torch.no_grad():
        before, after = discriminator(x), discriminator(y)
    moved = ~torch.isclose(before.logits, after.logits, rtol=0, atol=1e-6)
    if before.aux_logits is not None:
        moved |= ~torch.isclose(before.aux_logits, after.aux_logits, rtol=0, atol=1e-6)
    return moved


@pytest.mark.parametrize(
    "discriminator",
    [
        LightGanDiscriminator(image_size=32, channels=3, attention_resolutions=(16,)),
        LightGanDiscriminator(image_size=(16, 32), channels=1, spectral_norm=True),
        SmallDiscriminator(image_size=32, channels=3, minibatch_std=False),
    ],
    ids=["lightgan", "lightgan-sn", "small"],
)
def test_samples_are_scored_independently_in_eval_mode(discriminator):
    discriminator.eval()
    moved = changed_logits(discriminator, batch=4, j=2)
    assert moved.tolist() == [False, False, True, False]


def test_minibatch_std_couples_the_samples_of_a_group():
    torch.manual_seed(0)
    discriminator = SmallDiscriminator(image_size=16, channels=1, minibatch_std=True).eval()
    # Batch 8, group 4: sample j=1 shares a group with samples 1, 3, 5, 7 (members are 2 apart).
    moved = changed_logits(discriminator, batch=8, j=1)
    assert moved.tolist() == [False, True, False, True, False, True, False, True]


@pytest.mark.parametrize("batch", [1, 3, 6])
def test_minibatch_std_works_for_batches_not_divisible_by_the_group(batch):
    discriminator = SmallDiscriminator(image_size=8, channels=1, minibatch_std=True)
    assert discriminator(images(batch, 1, (8, 8))).logits.shape == (batch,)


def test_lightgan_widths_match_the_paper_at_64_and_shrink_below():
    def widths(size):
        d = LightGanDiscriminator(image_size=size, channels=3)
        return [m.main[1].out_channels for m in d.stack if isinstance(m, DownBlock)]

    assert widths(64) == [128, 256, 512]
    assert widths(128) == [64, 128, 256, 512]
    assert widths(32) == [128, 256]
    assert widths(16) == [128]

    def count(size):
        return LightGanDiscriminator(image_size=size, channels=3).num_parameters()

    assert count(16) < count(32) / 3 < count(64) / 3


def test_lightgan_default_attention_follows_the_authors_setting():
    def attention_layers(discriminator):
        return sum(type(m).__name__ == "ResidualAttention" for m in discriminator.modules())

    large = LightGanDiscriminator(image_size=64, channels=3)
    assert large.attention_resolutions == {32}
    assert LightGanDiscriminator(
        image_size=64, channels=3, attention_resolutions=16
    ).attention_resolutions == {16}
    assert attention_layers(large) == 3  # before the 32×32 block, and twice in the aux head
    assert attention_layers(LightGanDiscriminator(image_size=32, channels=3)) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "expected"), [(16, (16, 16)), (64, (32, 32)), ((64, 128), (32, 64))]
)
def test_aux_head_sees_a_block_mean_copy_at_most_32_on_the_shorter_side(size, expected):
    discriminator = LightGanDiscriminator(image_size=size, channels=3, aux_attention=False)
    seen = []
    discriminator.aux_head.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = images(2, 3, discriminator.image_size)
    discriminator(x)
    assert seen[0].shape == (2, 3, *expected)
    factor = discriminator.image_size[0] // expected[0]
    torch.testing.assert_close(seen[0], F.avg_pool2d(x, factor) if factor > 1 else x)


def test_aux_head_can_be_switched_off():
    discriminator = LightGanDiscriminator(image_size=32, channels=3, aux_head=False)
    assert discriminator(images(2, 3, (32, 32))).aux_logits is None


def test_reconstruction_target_resizes_reals_by_block_means_or_repetition():
    x = images(2, 3, (64, 64))
    coarse = LightGanDiscriminator(image_size=64, channels=3, decoder_upsamples=2)
    assert coarse.reconstruction_size == (32, 32)
    torch.testing.assert_close(coarse.reconstruction_target(x), F.avg_pool2d(x, 2))
    fine = LightGanDiscriminator(image_size=64, channels=3, decoder_upsamples=4)
    target = fine.reconstruction_target(x)
    assert target.shape == (2, 3, 128, 128) == fine(x, reconstruct=True).reconstruction.shape
    torch.testing.assert_close(target[..., ::2, ::2], x)
    torch.testing.assert_close(target[..., 1::2, 1::2], x)


def test_hook_registers_both_discriminators_with_descriptions():
    registered = {}

    def register(name, factory, *, description=""):
        registered[name] = (factory, description)

    fpa_register_discriminators(register)
    assert registered.keys() == {"lightgan", "small"}
    assert registered["lightgan"][0] is LightGanDiscriminator
    assert registered["small"][0] is SmallDiscriminator
    assert all(description for _, description in registered.values())


def test_registry_builds_discriminators_by_name():
    assert {"lightgan", "small"} <= set(fpa.available("discriminators"))
    built = fpa.build_discriminator("lightgan", image_size=32, channels=3)
    assert isinstance(built, LightGanDiscriminator) and built.image_size == (32, 32)
    small = fpa.build_discriminator("small", image_size=(16, 32), channels=1, minibatch_std=True)
    assert isinstance(small, SmallDiscriminator) and small.minibatch_std is not None


def test_minibatch_std_feature_is_the_mean_standard_deviation_over_each_group():
    from fpa.discriminators.small import MinibatchStd

    torch.manual_seed(0)
    x = torch.randn(6, 5, 3, 2, dtype=torch.float64)
    out = MinibatchStd(group_size=4, eps=0.0)(x)  # batch 6: groups of 3, members 2 apart
    for sample in range(6):
        members = x[sample % 2 :: 2]
        expected = members.std(dim=0, unbiased=False).mean()
        torch.testing.assert_close(out[sample, 5], torch.full((3, 2), expected.item()).double())
    torch.testing.assert_close(out[:, :5], x)
