"""Built-in discriminators: ``lightgan`` (the paper's) and ``small`` (fast, for CPU runs)."""

from fpa.discriminators.base import Discriminator
from fpa.discriminators.lightgan import LightGanDiscriminator
from fpa.discriminators.output import DiscriminatorOutput
from fpa.discriminators.small import SmallDiscriminator
from fpa.plugins import hookimpl

__all__ = [
    "Discriminator",
    "DiscriminatorOutput",
    "LightGanDiscriminator",
    "SmallDiscriminator",
    "fpa_register_discriminators",
]


@hookimpl
def fpa_register_discriminators(register):
    register(
        "lightgan",
        LightGanDiscriminator,
        description="the paper's lightweight-gan discriminator: residual stack, 32×32 aux head, "
        "8×8 decoder",
    )
    register(
        "small",
        SmallDiscriminator,
        description="small fast CPU discriminator: strided spectral-norm convs, linear logit",
    )
