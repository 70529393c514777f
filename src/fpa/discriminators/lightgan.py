"""The paper's discriminator: lightweight-gan's residual stack, auxiliary head and decoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from einops import rearrange, reduce
from torch import Tensor, nn

from fpa.discriminators.base import (
    Discriminator,
    check_channels,
    check_power_of_two_sides,
)
from fpa.discriminators.blocks import (
    Blur,
    DownBlock,
    ResidualAttention,
    UpBlock,
    apply_spectral_norm,
    kaiming_init,
    leaky_relu,
)
from fpa.discriminators.output import DiscriminatorOutput
from fpa.errors import ConfigError
from fpa.sizes import format_size, image_hw

FEATURE_SIDE = 8  # the stack stops when the shorter side of the feature map is 8
AUX_SIDE = 32  # the auxiliary head sees a copy whose shorter side is at most 32
MAX_UPSAMPLES = 4  # lightweight-gan's decoder: 4 up-sampling steps (8×8 -> 128×128)


class LightGanDiscriminator(Discriminator):
    """The paper's discriminator (lightweight-gan): residual stack to 8×8, 32×32 aux head, decoder.

    **Main path.** Residual :class:`DownBlock` s halve the image until its shorter side is 8
    (64×64: 64 -> 32 -> 16 -> 8, widths 128, 256, 512). Block ``i`` has
    ``min(width · 2^i, fmap_max)`` channels. The default ``width`` is ``min(128, 8192 // s)`` for
    shorter side ``s``, which gives exactly lightweight-gan's widths at 64, 128 and 256 and a
    proportionally cheaper net at 32 (128, 256) and 16 (128). Optional linear attention
    (pre-norm, residual) runs on the block inputs whose shorter side is in
    ``attention_resolutions``; the default is ``(32,)`` where such a feature map exists (the
    authors' setting), else none. The logit head is lightweight-gan's "1×1 output" head: blur,
    3×3 stride-2 conv, leaky ReLU, then one conv whose kernel covers the whole remaining map
    (4×4 for square images) down to a single logit.

    **Auxiliary head** (lightweight-gan's ``to_shape_disc_out``): a separate small network on a
    low-resolution copy of the *input image*, not on the main path's features. The copy is the
    image average-pooled by a power of two until its shorter side is at most 32 (lightweight-gan
    resizes to exactly 32×32 with nearest-neighbour; block means avoid aliasing and keep the
    aspect ratio). Images whose shorter side is already ≤ 32 (e.g. 16×16) are used as they are.
    Layers: 3×3 conv to 64 channels, linear attention, a :class:`DownBlock` to 32 channels, linear
    attention, adaptive average pool to 4×4, 4×4 conv to one logit. The two attention layers
    (8 heads of 64 on a 32×32 map) cost ~10× the rest of a 32×32 discriminator, so
    ``aux_attention`` defaults to on only where the shorter side is ≥ 64 (the paper's scale);
    ``aux_head=False`` drops the head (``aux_logits`` is None).

    **Decoder** (lightweight-gan's ``SimpleDecoder``, used only when ``reconstruct=True``): from
    the final 8×8 features, ``decoder_upsamples`` steps of nearest ×2 up-sampling, 3×3 conv and
    GLU, halving the channels each step and ending at ``channels`` (no output activation). The
    default is as many steps as bring it back to the input size, at most 4, so 64×64 images are
    reconstructed at 64×64 (lightweight-gan always does 4 steps, i.e. 128×128, even for 64×64
    images: pass ``decoder_upsamples=4`` for that). Its target is
    :meth:`reconstruction_target`. lightweight-gan's second decoder (a random 16×16 quadrant,
    only for images ≥ 512) is not included.

    Weights use He-normal initialisation, as lightweight-gan; ``spectral_norm=True`` adds
    spectral normalisation to every conv (lightweight-gan has none). Each side must be a power of
    two from 16 to 256; non-square sizes such as 32×64 work.
    """

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int],
        channels: int,
        width: int | None = None,
        fmap_max: int = 512,
        attention_resolutions: Sequence[int] | int | None = None,
        aux_head: bool = True,
        aux_attention: bool | None = None,
        decoder_upsamples: int | None = None,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.image_size = image_hw(image_size)
        self.channels = check_channels(channels)
        check_power_of_two_sides("lightgan", self.image_size, smallest=16, largest=256)
        height, width_px = self.image_size
        shorter = min(self.image_size)
        num_blocks = (shorter // FEATURE_SIDE).bit_length() - 1
        width = min(128, 8192 // shorter) if width is None else width
        if width < 1 or fmap_max < 1:
            raise ConfigError(f"lightgan width and fmap_max must be ≥ 1; got {width}, {fmap_max}")
        widths = [min(width * 2**i, fmap_max) for i in range(num_blocks)]
        self.attention_resolutions = self._check_attention(attention_resolutions, num_blocks)

        layers: list[nn.Module] = []
        channels_in = channels
        for i, channels_out in enumerate(widths):
            if shorter >> i in self.attention_resolutions:
                layers.append(ResidualAttention(channels_in))
            layers.append(DownBlock(channels_in, channels_out))
            channels_in = channels_out
        self.stack = nn.Sequential(*layers)

        scale = 2**num_blocks
        feature_size = (height // scale, width_px // scale)
        self.to_logit = nn.Sequential(
            Blur(),
            nn.Conv2d(widths[-1], widths[-1], 3, stride=2, padding=1),
            leaky_relu(),
            nn.Conv2d(widths[-1], 1, (feature_size[0] // 2, feature_size[1] // 2)),
        )

        # A class projection head reads the last block's features summed over space.
        self.feature_size = widths[-1]
        self.aux_factor = max(1, shorter // AUX_SIDE)
        if aux_attention is None:
            aux_attention = shorter >= 2 * AUX_SIDE
        self.aux_head = self._build_aux_head(aux_attention) if aux_head else None

        if decoder_upsamples is None:
            decoder_upsamples = min(MAX_UPSAMPLES, num_blocks)
        if isinstance(decoder_upsamples, bool) or not 1 <= decoder_upsamples <= 6:
            raise ConfigError(f"lightgan decoder_upsamples must be 1 to 6; got {decoder_upsamples}")
        self.decoder = self._build_decoder(widths[-1], decoder_upsamples)
        grow = 2**decoder_upsamples
        self.reconstruction_size = (feature_size[0] * grow, feature_size[1] * grow)

        kaiming_init(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def _check_attention(
        self, resolutions: Sequence[int] | int | None, num_blocks: int
    ) -> set[int]:
        shorter = min(self.image_size)
        allowed = sorted(shorter >> i for i in range(1, num_blocks))
        if resolutions is None:
            return {AUX_SIDE} if AUX_SIDE in allowed else set()
        chosen = {resolutions} if isinstance(resolutions, int) else set(resolutions)
        if not chosen <= set(allowed):
            choices = ", ".join(map(str, allowed)) or "none"
            raise ConfigError(
                f"lightgan attention_resolutions for {format_size(self.image_size)} images must "
                f"be feature-map sizes (shorter side) among: {choices}; got {sorted(chosen)}"
            )
        return chosen

    def _build_aux_head(self, attention: bool) -> nn.Sequential:
        def maybe_attention(channels: int) -> list[nn.Module]:
            return [ResidualAttention(channels)] if attention else []

        return nn.Sequential(
            nn.Conv2d(self.channels, 64, 3, padding=1),
            *maybe_attention(64),
            DownBlock(64, 32),
            *maybe_attention(32),
            nn.AdaptiveAvgPool2d((4, 4)),
            nn.Conv2d(32, 1, 4),
        )

    def _build_decoder(self, channels_in: int, upsamples: int) -> nn.Sequential:
        steps: list[nn.Module] = []
        for i in range(upsamples):
            last = i == upsamples - 1
            channels_out = self.channels if last else max(channels_in // 2, 8)
            steps.append(UpBlock(channels_in, channels_out))
            channels_in = channels_out
        return nn.Sequential(*steps)

    def forward(self, images: Tensor, *, reconstruct: bool = False) -> DiscriminatorOutput:
        """Logits (B,), auxiliary logits (B,) and, when asked, the reconstruction."""
        self.check_input(images)
        features = self.stack(images)
        logits = rearrange(self.to_logit(features), "b 1 1 1 -> b")
        aux_logits = None
        if self.aux_head is not None:
            small = images if self.aux_factor == 1 else F.avg_pool2d(images, self.aux_factor)
            aux_logits = rearrange(self.aux_head(small), "b 1 1 1 -> b")
        reconstruction = self.decoder(features) if reconstruct else None
        pooled = reduce(features, "b c h w -> b c", "sum")
        return DiscriminatorOutput(logits, aux_logits, reconstruction, pooled)
