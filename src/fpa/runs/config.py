"""TrainConfig: every choice of a training run, with the generator's settings in one nested
:class:`~fpa.generator.GeneratorConfig`; round-trips to TOML (a ``[generator]`` table).

Flat keys that name a generator setting (``paint_steps``, ``updates_per_step`` …) are routed
into the generator table wherever overrides come from (CLI flags, ``--set``, ``--vary``,
presets, a flat config file), so each setting has one name everywhere. Stored configs carry
``format_version``; older ones are migrated by :func:`migrate_config`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w
from torch import nn

from fpa.baselines import BaselineConfig, BaselineGenerator
from fpa.config_checks import check_field_types, check_known_keys, choose, field_names
from fpa.discriminators.projection import ProjectionDiscriminator
from fpa.errors import ConfigError, error_summary
from fpa.generator import FastWeightPainter, GeneratorConfig
from fpa.limits import check_finite, check_seed
from fpa.plugins import build_discriminator, takes_options

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

# Version 1: one flat table, the generator's T called ``paint_steps`` (``steps`` in the
# checkpoint's generator config). Version 2: the generator's settings in a ``generator`` table.
CONFIG_VERSION = 2

PRECISIONS = ("fp32", "bf16", "fp16")
REGULARIZERS = ("gp", "r1", "none")
AUGMENT_MODES = ("auto", "on", "off", "adaptive")
AUGMENT_OPS = ("flip", "translation", "cutout", "color")
EVAL_METRICS = ("fid", "kid")
# The log every run writes (RUN/metrics.jsonl); named in ``--log`` only for clarity.
JSONL = "jsonl"

# The generator settings a run started with --init-from keeps as its own: the refiner it
# trains and how the rule is computed. Every other generator setting defines the painting and
# comes from the init checkpoint (image size and channels must match what was asked for).
OWN_GENERATOR_FIELDS = ("refiner", "refiner_options", "rule_impl")

# Fields a resumed run may change: they do not alter the maths of the run being continued.
RESUMABLE_FIELDS = frozenset(
    {
        "train_steps",
        "device",
        "sample_every",
        "checkpoint_every",
        "log_every",
        "data_root",
        "download",
        "quiet",
        "eval_every",
        "compile",
        "loggers",
    }
)


# What a run trains as its generator: a painter, or a conventional baseline to compare with.
GeneratorModule = FastWeightPainter | BaselineGenerator


def cpu_demo_generator() -> GeneratorConfig:
    """The generator of the ``cpu-demo`` recipe, the training default."""
    return GeneratorConfig(
        # softplus, not the paper's sigmoid: FID 4.2 against 6.0 at the cpu-demo budget
        # (docs/quality-study.md); paper-64 keeps sigmoid.
        rate_activation="softplus",
        learned_canvas=True,
        normalize_features=True,
        painter_options={"hidden_size": 256, "code_size": 32},
    )


@dataclass(frozen=True)
class TrainConfig:
    """One GAN training run. Defaults are the ``cpu-demo`` preset's, except that evaluation
    is off (``eval_every = 0``) until a preset or an option turns it on.

    Frozen: a run's config is decided once (``fpa.training.decide_run``) and never changed
    after; ``with_overrides`` makes a new one."""

    generator: GeneratorConfig = field(default_factory=cpu_demo_generator)
    discriminator: str = "small"
    discriminator_options: dict[str, Any] = field(default_factory=dict)
    # A conventional generator (e.g. "conv") trained instead of the painter, for comparison.
    baseline: str = ""
    baseline_options: dict[str, Any] = field(default_factory=dict)

    init_from: str = ""
    freeze_painter: bool = False
    reset_discriminator: bool = False

    data: str = "mnist"
    data_root: str = ""
    download: bool = False

    train_steps: int = 1800
    batch_size: int = 64
    grad_accum: int = 1
    # 8e-4, four times the paper's: FID 0.50 and 0.36 (seeds 0, 1) against 0.71 and 0.87 at 4e-4
    # and 1.85 at 2e-4, at the cpu-demo budget (docs/quality-study.md, section 6); paper-64 and
    # fpa-64 keep the paper's 2e-4.
    lr: float = 8e-4
    lr_d: float = 0.0
    # The refiner's own rate (0: lr). The refiner broke the 32×32 emoji at the painter's rates
    # (docs/quality-study.md §7, §9.5); at 2e-4 under lr 8e-4 it trains on them (§9.6).
    lr_refiner: float = 0.0
    # Both rates stay constant until this fraction of train_steps, then fall linearly to zero
    # at train_steps (1.0: constant throughout). docs/quality-study.md §9.
    lr_decay_from: float = 1.0
    betas: tuple[float, float] = (0.0, 0.99)
    ema_beta: float = 0.995
    aux_weight: float = 1.0
    recon_weight: float = 1.0
    diversity_weight: float = 0.2
    # R1 on real images rather than the paper's GP: FID 1.67 and 1.67 against 2.69 and 2.56 at
    # the cpu-demo budget, two seeds (docs/quality-study.md), at the same cost per step.
    regularizer: str = "r1"
    reg_weight: float = 10.0
    reg_every: int = 4
    # Off by default: on the 5,000 embedded digits DiffAugment cost FID at the cpu-demo budget
    # (2.3 without, 4.2 with; docs/quality-study.md). "auto" switches it on below 30,000 images;
    # "adaptive" starts at probability 0 and moves it as D overfits (ADA, Karras et al. 2020).
    augment: str = "off"
    augment_ops: tuple[str, ...] = ("flip", "translation", "cutout")
    # The probability a sample is augmented; under "adaptive", the most it may reach.
    augment_prob: float = 0.5
    # "adaptive": the share of reals D should call real (the mean sign of its logits, ADA's r_t);
    # above it the probability rises, below it falls, by 1 per augment_adapt_images reals seen.
    augment_target: float = 0.6
    augment_adapt_images: int = 20_000

    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    sample_every: int = 250
    sample_count: int = 64
    checkpoint_every: int = 500
    log_every: int = 10
    max_nan_restarts: int = 3
    quiet: bool = False
    # Loggers besides metrics.jsonl, which every run writes ("jsonl" is accepted and dropped):
    # names of the ``loggers`` plugin kind, e.g. ("tensorboard", "wandb").
    loggers: tuple[str, ...] = ()

    eval_every: int = 0
    eval_n: int = 2000
    eval_metrics: tuple[str, ...] = ("fid", "kid")
    eval_features: str = ""
    # Train G(z, y) and a projection discriminator D(x, y) on the data's classes, which fill
    # the generator's ``classes`` when the run starts (docs/design.md §11).
    conditional: bool = False

    def __post_init__(self) -> None:
        normal = object.__setattr__  # frozen: the stored values are normalised once, here
        if isinstance(self.generator, dict):
            normal(self, "generator", GeneratorConfig.from_dict(self.generator))
        if not isinstance(self.generator, GeneratorConfig):
            raise ConfigError(
                f"generator must be a table of generator options; got {self.generator!r}"
            )
        check_field_types(self)
        check_numbers(self)
        normal(self, "betas", tuple(float(b) for b in self.betas))
        normal(self, "augment_ops", tuple(self.augment_ops))
        normal(self, "loggers", tuple(dict.fromkeys(n for n in self.loggers if n != JSONL)))
        choose("precision", self.precision, PRECISIONS)
        choose("regularizer", self.regularizer, REGULARIZERS)
        choose("augment", self.augment, AUGMENT_MODES)
        for op in self.augment_ops:
            choose("augment_ops entry", op, AUGMENT_OPS)
        normal(self, "eval_metrics", tuple(self.eval_metrics))
        for metric in self.eval_metrics:
            choose("eval_metrics entry", metric, EVAL_METRICS)
        if not self.eval_metrics:
            raise ConfigError("eval_metrics needs at least one of " + ", ".join(EVAL_METRICS))
        if self.eval_every < 0:
            raise ConfigError(f"eval_every must be ≥ 0 (0 = off); got {self.eval_every}")
        positive = (
            "batch_size",
            "grad_accum",
            "reg_every",
            "sample_every",
            "sample_count",
            "checkpoint_every",
            "log_every",
            "eval_n",
            "augment_adapt_images",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.train_steps < 0:
            raise ConfigError(f"train_steps must be ≥ 0; got {self.train_steps}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1); got {self.betas}")
        if not 0 <= self.ema_beta < 1:
            raise ConfigError(f"ema_beta must be in [0, 1); got {self.ema_beta}")
        rates = (self.lr_d, self.lr_refiner)
        if not (self.lr > 0 and min(rates) >= 0 and math.isfinite(self.lr + sum(rates))):
            raise ConfigError("learning rates must be positive")
        if not 0 <= self.lr_decay_from <= 1:
            raise ConfigError(f"lr_decay_from must be in [0, 1]; got {self.lr_decay_from}")
        if self.baseline and (self.init_from or self.generator.refiner != "identity"):
            raise ConfigError(
                "a baseline generator is trained on its own: drop --init-from and --refiner"
            )
        if self.lr_refiner and (self.baseline or self.generator.refiner == "identity"):
            raise ConfigError("lr_refiner sets the refiner's rate: name a --refiner with weights")
        if self.freeze_painter and not self.init_from:
            raise ConfigError("--freeze-painter needs --init-from RUN_OR_CKPT (a trained painter)")
        if self.diversity_weight < 0:
            raise ConfigError(f"diversity_weight must be ≥ 0; got {self.diversity_weight}")
        if not 0 <= self.augment_prob <= 1:
            raise ConfigError(f"augment_prob must be in [0, 1]; got {self.augment_prob}")
        if not 0 <= self.augment_target <= 1:
            raise ConfigError(f"augment_target must be in [0, 1]; got {self.augment_target}")
        if self.generator.classes and not self.conditional:
            raise ConfigError("classes come from the data: train with --conditional instead")
        if self.conditional and self.init_from:
            raise ConfigError("--conditional starts a fresh run: drop --init-from")

    # The picture the run makes: the generator's settings, read by data, D and baselines too.
    @property
    def image_size(self) -> tuple[int, int]:
        return self.generator.image_size

    @property
    def channels(self) -> int:
        return self.generator.channels

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def discriminator_lr(self) -> float:
        return self.lr_d or self.lr

    @property
    def refiner_lr(self) -> float:
        return self.lr_refiner or self.lr

    def build_generator(self) -> GeneratorModule:
        """The generator this run trains: the painter, or the baseline when one is named."""
        if self.baseline:
            config = BaselineConfig(
                baseline=self.baseline,
                latent_dim=self.latent_dim,
                image_size=self.image_size,
                channels=self.channels,
                options=dict(self.baseline_options),
                classes=self.generator.classes,
                class_frequencies=self.generator.class_frequencies,
            )
            return BaselineGenerator(config=config)
        return FastWeightPainter(config=self.generator)

    def build_discriminator(self) -> nn.Module:
        """The discriminator this run trains, sized for the run's images; with classes, wrapped
        in a projection head (:class:`~fpa.discriminators.projection.ProjectionDiscriminator`)."""
        discriminator = build_discriminator(
            self.discriminator,
            image_size=self.image_size,
            channels=self.channels,
            **self.discriminator_options,
        )
        if not self.generator.classes:
            return discriminator
        return ProjectionDiscriminator(
            discriminator=discriminator,
            classes=len(self.generator.classes),
            name=self.discriminator,
        )

    def components(self) -> dict[str, str]:
        """The registered component of each kind this run uses (recorded in checkpoints)."""
        if self.baseline:
            return {"baselines": self.baseline, "discriminators": self.discriminator}
        return {
            "rules": self.generator.rule,
            "painters": self.generator.painter,
            "discriminators": self.discriminator,
            "refiners": self.generator.refiner,
        }

    def settings(self) -> dict[str, Any]:
        """Every setting by its one name, the generator's included: the flat view in which
        overrides, ablation axes and resume checks name them."""
        data = self.to_dict()
        generator = data.pop("generator")
        return {
            **generator,
            "classes": self.generator.classes,
            "class_frequencies": self.generator.class_frequencies,
            **data,
            "conditional": self.conditional,
        }

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data; ``conditional`` only when set, so that an unconditional
        run's config and checkpoints are what they were before classes existed."""
        data = asdict(self)
        data["generator"] = self.generator.to_dict()
        for key in ("betas", "augment_ops", "eval_metrics", "loggers"):
            data[key] = list(data[key])
        if not self.conditional:
            del data["conditional"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from stored or written data: a ``generator`` table, or flat generator keys
        (routed into it); a ``format_version`` older than this fpa's is migrated first."""
        return cls(**nested(migrate_config(data)))

    def to_toml(self) -> str:
        return tomli_w.dumps({"format_version": CONFIG_VERSION, **self.to_dict()})

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """This config with ``overrides`` applied: flat keys or a ``generator`` table, whose
        entries replace the generator's one by one.

        Options belong to the component they were given for: when ``overrides`` choose another
        rule, painter, refiner or discriminator without its options, the options in place are
        kept only if the new one takes them all (an LSTM's ``hidden_size`` serves a
        Transformer), else dropped (a preset's U-Net width means nothing to ``identity``). A
        baseline generator replaces the painter together with a refiner it was not given, and
        a refiner dropped so takes its own rate (``lr_refiner``) with it.
        """
        changes = nested(overrides)
        generator_changes = changes.pop("generator", {})
        if changes.get("baseline"):
            generator_changes.setdefault("refiner", "identity")
        generator = {**self.generator.to_dict(), **generator_changes}
        merged = {**self.to_dict(), **changes}
        for kind, choice in (("rules", "rule"), ("painters", "painter"), ("refiners", "refiner")):
            drop_options_not_taken(generator, generator_changes, kind=kind, choice=choice)
        if generator["refiner"] == "identity" and "lr_refiner" not in changes:
            merged["lr_refiner"] = 0.0  # the rate of a refiner that is no longer there
        drop_options_not_taken(merged, changes, kind="discriminators", choice="discriminator")
        return TrainConfig(**{**merged, "generator": generator})


def drop_options_not_taken(
    settings: dict[str, Any], changed: dict[str, Any], *, kind: str, choice: str
) -> None:
    """Empty ``settings``' options for ``choice`` when ``changed`` names a new component
    without options and the new one cannot take the options in place."""
    options = f"{choice}_options"
    if choice not in changed or options in changed:
        return
    if not takes_options(kind, settings[choice], settings[options]):
        settings[options] = {}


GENERATOR_KEYS = field_names(GeneratorConfig)
TRAIN_KEYS = field_names(TrainConfig)
SETTING_NAMES = [*GENERATOR_KEYS, *(key for key in TRAIN_KEYS if key != "generator")]


def nested(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every flat generator key moved into its ``generator`` table (a flat key
    wins over the table's entry); unknown keys are refused, naming the closest one."""
    table = data.get("generator", {})
    if not isinstance(table, dict):
        raise ConfigError(f"generator must be a table of generator options; got {table!r}")
    check_known_keys(table, known=GENERATOR_KEYS, what="generator option")
    check_known_keys(data, known=[*SETTING_NAMES, "generator"], what="training option")
    flat = {key: value for key, value in data.items() if key in GENERATOR_KEYS}
    rest = {key: value for key, value in data.items() if key not in GENERATOR_KEYS}
    if table or flat:
        rest["generator"] = {**table, **flat}
    return rest


def migrate_config(data: dict[str, Any]) -> dict[str, Any]:
    """Stored config data of any version as this version's (without ``format_version``).

    Version 1 (no ``format_version``) was one flat table whose names are today's, so routing
    the flat keys into the generator table (which :func:`nested` does) is all it needs.
    """
    data = dict(data)
    version = data.pop("format_version", 1)
    if not isinstance(version, int) or version > CONFIG_VERSION:
        raise ConfigError(
            f"this config has format_version {version!r}; this fpa reads up to "
            f"{CONFIG_VERSION}: upgrade fpa"
        )
    return data


def check_numbers(config: TrainConfig) -> None:
    """Refuse NaN and infinite floats (NaN slips past every range check: ``nan <= 0`` is
    false) and a seed that torch and NumPy cannot take."""
    for item in fields(config):
        value = getattr(config, item.name)
        if str(item.type) == "float":
            check_finite(item.name, value)
        elif item.name == "betas":
            for beta in value:
                if isinstance(beta, bool) or not isinstance(beta, int | float):
                    raise ConfigError(f"betas must be two numbers in [0, 1); got {value!r}")
                check_finite(item.name, beta)
    check_seed(config.seed, "seed")


def check_keys(data: dict[str, Any]) -> None:
    """Refuse keys that name no setting (for ablation axes and ``--set``)."""
    check_known_keys(data, known=SETTING_NAMES, what="training option")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into plain data, with a readable error for bad files."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not UTF-8 text, as TOML must be (byte "
            f"{error.object[error.start]:#04x} at offset {error.start}); save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error_summary(error)}") from None
