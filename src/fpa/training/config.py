"""TrainConfig: every choice of a training run in one flat dataclass that round-trips to TOML."""

from __future__ import annotations

import difflib
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w
from torch import nn

from fpa.errors import ConfigError
from fpa.generator import (
    FastWeightPainter,
    GeneratorConfig,
    check_updates_per_step,
    image_hw,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PRECISIONS = ("fp32", "bf16", "fp16")
REGULARIZERS = ("gp", "r1", "none")
AUGMENT_MODES = ("auto", "on", "off")
AUGMENT_OPS = ("flip", "translation", "cutout", "color")
RULE_IMPLS = ("parallel", "step")
EVAL_METRICS = ("fid", "kid")

# The fields that define the painting; a refiner run started with --init-from takes them from
# the init checkpoint (image size and channels must match what was asked for).
PAINTER_FIELDS = (
    "rule",
    "painter",
    "paint_steps",
    "latent_dim",
    "key_activation",
    "value_activation",
    "rate_activation",
    "output_activation",
    "per_row_rate",
    "learned_canvas",
    "normalize_features",
    "updates_per_step",
    "rule_options",
    "painter_options",
)

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
    }
)


@dataclass
class TrainConfig:
    """One GAN training run. Defaults are the ``cpu-demo`` preset's."""

    rule: str = "delta"
    painter: str = "lstm"
    discriminator: str = "small"
    refiner: str = "identity"
    image_size: tuple[int, int] = (32, 32)
    channels: int = 1
    paint_steps: int = 16
    latent_dim: int = 64
    key_activation: str = "softmax"
    value_activation: str = "none"
    # softplus, not the paper's sigmoid: FID 4.2 against 6.0 at the cpu-demo budget
    # (docs/quality-study.md); paper-64 keeps sigmoid.
    rate_activation: str = "softplus"
    output_activation: str = "tanh"
    per_row_rate: bool = False
    learned_canvas: bool = True
    normalize_features: bool = True
    # Rank-1 updates per controller step: the controller runs paint_steps / updates_per_step
    # steps and emits that many (key, value, rate) triples at each.
    updates_per_step: int = 1
    rule_impl: str = "parallel"
    rule_options: dict[str, Any] = field(default_factory=dict)
    painter_options: dict[str, Any] = field(
        default_factory=lambda: {"hidden_size": 256, "code_size": 32}
    )
    discriminator_options: dict[str, Any] = field(default_factory=dict)
    refiner_options: dict[str, Any] = field(default_factory=dict)
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
    # (2.3 without, 4.2 with; docs/quality-study.md). "auto" switches it on below 30,000 images.
    augment: str = "off"
    augment_ops: tuple[str, ...] = ("flip", "translation", "cutout")
    augment_prob: float = 0.5

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

    eval_every: int = 0
    eval_n: int = 2000
    eval_metrics: tuple[str, ...] = ("fid", "kid")
    eval_features: str = ""

    def __post_init__(self) -> None:
        check_types(self)
        self.image_size = image_hw(self.image_size)
        self.betas = tuple(float(b) for b in self.betas)
        self.augment_ops = tuple(self.augment_ops)
        choose("precision", self.precision, PRECISIONS)
        choose("regularizer", self.regularizer, REGULARIZERS)
        choose("augment", self.augment, AUGMENT_MODES)
        choose("rule_impl", self.rule_impl, RULE_IMPLS)
        for op in self.augment_ops:
            choose("augment_ops entry", op, AUGMENT_OPS)
        self.eval_metrics = tuple(self.eval_metrics)
        for metric in self.eval_metrics:
            choose("eval_metrics entry", metric, EVAL_METRICS)
        if not self.eval_metrics:
            raise ConfigError("eval_metrics needs at least one of " + ", ".join(EVAL_METRICS))
        if self.eval_every < 0:
            raise ConfigError(f"eval_every must be ≥ 0 (0 = off); got {self.eval_every}")
        positive = (
            "paint_steps",
            "latent_dim",
            "batch_size",
            "grad_accum",
            "reg_every",
            "sample_every",
            "sample_count",
            "checkpoint_every",
            "log_every",
            "channels",
            "eval_n",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        check_updates_per_step(self.updates_per_step, self.paint_steps, steps_name="paint_steps")
        if self.train_steps < 0:
            raise ConfigError(f"train_steps must be ≥ 0; got {self.train_steps}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1); got {self.betas}")
        if not 0 <= self.ema_beta < 1:
            raise ConfigError(f"ema_beta must be in [0, 1); got {self.ema_beta}")
        if self.lr <= 0 or self.lr_d < 0:
            raise ConfigError("learning rates must be positive")
        if self.baseline and (self.init_from or self.refiner != "identity"):
            raise ConfigError(
                "a baseline generator is trained on its own: drop --init-from and --refiner"
            )
        if self.freeze_painter and not self.init_from:
            raise ConfigError("--freeze-painter needs --init-from RUN_OR_CKPT (a trained painter)")
        if self.diversity_weight < 0:
            raise ConfigError(f"diversity_weight must be ≥ 0; got {self.diversity_weight}")
        if not 0 <= self.augment_prob <= 1:
            raise ConfigError(f"augment_prob must be in [0, 1]; got {self.augment_prob}")

    @property
    def discriminator_lr(self) -> float:
        return self.lr_d or self.lr

    def generator_config(self) -> GeneratorConfig:
        """The generator this run trains."""
        return GeneratorConfig(
            rule=self.rule,
            painter=self.painter,
            refiner=self.refiner,
            image_size=self.image_size,
            channels=self.channels,
            steps=self.paint_steps,
            latent_dim=self.latent_dim,
            key_activation=self.key_activation,
            value_activation=self.value_activation,
            rate_activation=self.rate_activation,
            output_activation=self.output_activation,
            per_row_rate=self.per_row_rate,
            learned_canvas=self.learned_canvas,
            normalize_features=self.normalize_features,
            updates_per_step=self.updates_per_step,
            rule_impl=self.rule_impl,
            rule_options=dict(self.rule_options),
            painter_options=dict(self.painter_options),
            refiner_options=dict(self.refiner_options),
        )

    def build_generator(self) -> nn.Module:
        """The generator this run trains: the painter, or the baseline when one is named."""
        if self.baseline:
            from fpa.baselines import BaselineConfig, BaselineGenerator

            config = BaselineConfig(
                baseline=self.baseline,
                latent_dim=self.latent_dim,
                image_size=self.image_size,
                channels=self.channels,
                options=dict(self.baseline_options),
            )
            return BaselineGenerator(config=config)
        return FastWeightPainter(config=self.generator_config())

    def components(self) -> dict[str, str]:
        """The registered component of each kind this run uses (recorded in checkpoints)."""
        if self.baseline:
            return {"baselines": self.baseline, "discriminators": self.discriminator}
        return {
            "rules": self.rule,
            "painters": self.painter,
            "discriminators": self.discriminator,
            "refiners": self.refiner,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("image_size", "betas", "augment_ops", "eval_metrics"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        check_keys(data)
        return cls(**data)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        check_keys(overrides)
        return TrainConfig.from_dict({**self.to_dict(), **overrides})


SCALAR_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
CONTAINER_TYPES = {"tuple": (tuple, list), "dict": (dict,)}


def check_types(config: TrainConfig) -> None:
    """Refuse values of the wrong type (``--set lr=abc``) with one readable line."""
    for item in fields(config):
        value, annotation = getattr(config, item.name), str(item.type)
        expected = SCALAR_TYPES.get(annotation) or CONTAINER_TYPES.get(annotation.split("[")[0])
        if expected is None:
            continue
        wrong_bool = isinstance(value, bool) and annotation in ("int", "float")
        if wrong_bool or not isinstance(value, expected):
            raise ConfigError(f"{item.name} must be {annotation}; got {value!r}")


def choose(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}; got {value!r}")


def check_keys(data: dict[str, Any]) -> None:
    known = [f.name for f in fields(TrainConfig)]
    for key in data:
        if key not in known:
            closest = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {closest[0]!r}?" if closest else ""
            raise ConfigError(f"unknown training option {key!r}{hint}")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into plain data, with a readable error for bad files."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
