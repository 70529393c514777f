"""Named starting points for ``fpa train --preset``; a config file and flags override them.

Presets name settings flat, by their one name; generator settings go to the generator table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from fpa.errors import ConfigError, did_you_mean
from fpa.features.base import FALLBACK, default_features
from fpa.runs.config import SETTING_NAMES, TrainConfig, migrate_config, read_toml

# The CPU presets' data has offline feature extractors, so they score the EMA generator as
# they train (and keep best.pt): FID on 2,000 samples every 300 steps took 4 to 6 s on a
# shared 2-core CPU, against about 380 s for the 300 steps of cpu-demo there (1 to 2 %).
# KID is left out: its 100 subsets took 17 s on 1,000 samples (`fpa evaluate` computes it).
# Data without an offline extractor keeps evaluation off (see resolve_config).
CPU_EVAL: dict[str, Any] = {"eval_every": 300, "eval_n": 2000, "eval_metrics": ["fid"]}

# A U-Net refiner cheap enough for 64×64 on a CPU: two levels (width 8, then 16 at half the
# size), no attention. The default (three levels of 32, 64 and 128 with attention) ran at
# 3.8 images/s there against about 30 without a refiner.
SMALL_UNET: dict[str, Any] = {
    "width": 8,
    "multipliers": [1, 2],
    "groups": 4,
    "linear_attention": False,
    "full_attention": False,
}

# The emoji in colour as the CPU presets paint them, and the colour recipe before the MLP
# painter (the cpu-emoji-lstm preset): 32×32 RGB on white in coloured strokes (one key, value
# and rate per step, a colour per channel) painted in YCbCr (luminance and two chroma
# channels, mapped to RGB after the painting): on OpenMoji FID 18.3, 18.4 and 20.1 on the
# emoji features (seeds 0, 1, 2) against 22.5, 19.3 and 21.6 in RGB and 28.8, 22.1 per
# channel; the conv baseline's 19.8 and 18.7 (docs/quality-study.md §7).
EMOJI_COLOUR: dict[str, Any] = {
    "data": "emoji",
    "channels": 3,
    "strokes": "coloured",
    "colour_basis": "ycbcr",
    **CPU_EVAL,
}

# The MLP controller of the colour recipe: one hidden layer of 512, 128 numbers per controller
# step (two strokes' worth); fitted to fixed icons without D it learns them nearly as fast as
# the conv baseline, where the LSTM learns them half as well (docs/quality-study.md §9.9).
MLP_PAINTER: dict[str, Any] = {
    "painter": "mlp",
    "painter_options": {"hidden_size": 512, "code_size": 128},
}

# The colour recipe: EMOJI_COLOUR with the MLP painter, 32 strokes from 16 controller steps,
# the small U-Net refiner at its own learning rate (at the painter's 8e-4 it broke the flat
# emoji) and DiffAugment. On shaded icons (oxygen, 1,800 steps) FID 13.3 and 15.0 (seeds 0,
# 1; 16.3 and 18.7 on the independent icons features) against the conv baseline's 14.2 and
# 14.7 (14.6, 17.9) given the same DiffAugment, and ahead at equal time; before, with the
# LSTM and 16 strokes alone, 23.9 and 25.1 (docs/quality-study.md §9.9). On OpenMoji it
# holds: 18.3 and 19.1 (14.9 and 15.8 on the icons features) against the LSTM recipe's 19.6
# (17.3) at seed 0 and 18.3, 18.4, 20.1 over three seeds; 0.68x the LSTM recipe's images/s.
CPU_EMOJI: dict[str, Any] = {
    **EMOJI_COLOUR,
    **MLP_PAINTER,
    "paint_steps": 32,
    "updates_per_step": 2,
    "refiner": "unet",
    "refiner_options": SMALL_UNET,
    "lr_refiner": 2e-4,
    "augment": "on",
}

PRESETS: dict[str, dict[str, Any]] = {
    # Small enough to show digits on a 2-core CPU in a few minutes. The choices that differ
    # from the paper (betas, discriminator, sizes) were measured on such a CPU: docs/presets.md.
    # Its discriminator keeps the width of 64: at width 32 it ran 2.1x the images/s and scored
    # better on the digits (FID 0.44 and 0.47 against 0.53 and 0.67), but worse on grey icons
    # (oxygen in grey: 17.9 and 16.6 against 12.4 and 15.0; 14.4 and 12.7 against 11.2 and 11.0
    # on the icons features) and on a held-out grey set (17.6 against 12.2): docs/speed.md.
    "cpu-demo": {**CPU_EVAL},
    # cpu-demo with an LSTM of 512 units: FID 0.39 against 0.50 on the digit features (seed 0),
    # in more time per step on the CPU (docs/quality-study.md).
    "cpu-demo-512": {"painter_options": {"hidden_size": 512, "code_size": 32}, **CPU_EVAL},
    "cpu-emoji": CPU_EMOJI,
    # The colour recipe before the MLP painter (docs/quality-study.md §7, §9.2): the LSTM, 16
    # strokes, no refiner and no augmentation; 1.5x cpu-emoji's images/s, level with it on the
    # flat OpenMoji, behind on shaded icons (FID 23.9 against 13.3 on oxygen). The shipped
    # emoji model and the runs of the study before §9.9 were trained with it.
    "cpu-emoji-lstm": EMOJI_COLOUR,
    # The colour recipe at 64×64: T = 32 coloured strokes from 16 controller steps (so the
    # controller runs no more steps than at 32×32), lr 2e-4 (at 8e-4 D overpowered G from step
    # 800), and a small U-Net refiner (two levels of width 8 and 16, no attention; 0.63x the
    # images/s): best FID 36.7 against 49.9 without it and the conv baseline's 36.8, with
    # 517 emoji classes in 1,000 samples against 431 and 540 (docs/quality-study.md, §8.2).
    # The refiner draws the outlines: the painting under it is a hazy colour plaid. YCbCr,
    # inherited from cpu-emoji, helps here too: under the refiner best FID 28.9 and 26.9
    # (seeds 0, 1) against 36.7 and 31.5 in RGB, with 559 and 582 emoji named against 517
    # and 529 (§8.2). Strokes smooth over 2 pixels (stroke_scale 2) under the refiner: best
    # FID 28.5 and 21.1 against 28.9 and 26.9, 592 and 650 emoji named against 559 and 582,
    # and smoother insides (§8.3). The MLP painter (§9.9), seed 0: best FID 24.0 against 28.5
    # (24.6 against 28.7 on 1,000 samples; the conv baseline's 24.9), 599 emoji named against
    # 592, at the same images/s. It keeps no DiffAugment and no refiner rate of its own:
    # neither was measured at 64×64.
    "cpu-emoji-64": {
        **EMOJI_COLOUR,
        **MLP_PAINTER,
        "image_size": [64, 64],
        "paint_steps": 32,
        "updates_per_step": 2,
        "stroke_scale": 2,
        "lr": 2e-4,
        "refiner": "unet",
        "refiner_options": SMALL_UNET,
        "train_steps": 1200,
    },
    # The paper's CelebA 64×64 configuration (Irie & Schmidhuber 2023, "lstm_delta_split_v2").
    "paper-64": {
        "data": "celeba",
        "image_size": [64, 64],
        "channels": 3,
        "paint_steps": 64,
        "latent_dim": 512,
        "painter": "lstm",
        "painter_options": {
            "hidden_size": 1024,
            "num_layers": 1,
            "input_mode": "v2",
            "code_size": 8,
            "input_size": 128,
        },
        "rule_options": {"first_step_unit_rate": True},
        "rate_activation": "sigmoid",
        "learned_canvas": False,
        "normalize_features": False,
        "discriminator": "lightgan",
        "discriminator_options": {},
        "diversity_weight": 0.0,
        "batch_size": 20,
        "lr": 2e-4,
        "betas": [0.5, 0.9],
        "ema_beta": 0.995,
        "regularizer": "gp",
        "reg_weight": 10.0,
        "reg_every": 4,
        "augment": "auto",
        "train_steps": 150_000,
        "sample_every": 1000,
        "checkpoint_every": 1000,
    },
}
# Our GPU recipe: the paper's painter and discriminator at 64×64 with the changes that made
# painters train on the CPU (docs/quality-study.md): softplus rates, a learned canvas,
# LayerNorm before the head, the mode-seeking term, and Adam betas (0, 0.99). On an H100,
# 270 s on 64×64 emoji: FID 122 against paper-64's 315 (section 5 there), before the colour
# recipe it carries from the CPU studies: coloured strokes (sections 7, 8) painted in YCbCr
# (better in FID in every run measured: three seeds at 32×32, two at 64×64 under the small
# refiner, and the 64×64 painter alone, 46.5 against 49.9).
# Neither was measured on a GPU yet: benchmarks/gpu_emoji64.sh checks both at 64×64. It keeps
# the paper's GP and lr 2e-4 (at 64×64 on the CPU, lr 8e-4 let D win), and paints without
# a refiner, as the paper's FPA does; --refiner unet gives its "FPA + U-Net".
PRESETS["fpa-64"] = {
    **PRESETS["paper-64"],
    "rate_activation": "softplus",
    "learned_canvas": True,
    "normalize_features": True,
    "diversity_weight": 0.2,
    "betas": [0.0, 0.99],
    "strokes": "coloured",
    "colour_basis": "ycbcr",
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(
            f"unknown preset {name!r}{did_you_mean(name, PRESETS)} (presets: {', '.join(PRESETS)})"
        )
    return PRESETS[name]


def default_preset(given: dict[str, Any]) -> str:
    """The preset a run that names none starts from: ``cpu-emoji`` (the colour recipe) when
    it paints 3 channels, or the built-in emoji with no channel count given; else ``cpu-demo``.
    ``given`` holds the settings chosen (flat, or generator settings in a generator table)."""
    table = given.get("generator")
    generator = table if isinstance(table, dict) else {}
    channels = given.get("channels", generator.get("channels"))
    if channels == 3 or (channels is None and given.get("data") == "emoji"):
        return "cpu-emoji"
    return "cpu-demo"


def file_settings(config_file: str | None) -> dict[str, Any]:
    """A TOML config file's settings, migrated to this version; an error names the file."""
    if not config_file:
        return {}
    data = read_toml(config_file)
    try:
        return migrate_config(data)
    except ConfigError as error:
        raise ConfigError(f"config file {config_file}: {error}") from None


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """A run's settings as asked for, before anything is inferred from its data or the runs it
    starts from: a preset and a config file (read once, by :meth:`read`), or a whole
    ``base`` config (the library's ``fpa.train(config)``), then ``overrides`` (flags, ``--set``,
    an ablation cell's values); later layers win.

    A config file may name its own ``preset``; an explicit ``preset_name`` wins over it.
    """

    preset_name: str | None = None
    config_file: str | None = None
    from_file: dict[str, Any] = field(default_factory=dict)
    base: TrainConfig | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.base is not None and (self.preset_name or self.config_file):
            raise ConfigError("a run starts from a config, or from a preset and a config file")

    @classmethod
    def read(
        cls,
        *,
        preset_name: str | None = None,
        config_file: str | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> RunRequest:
        """The layers, with the config file read and migrated (the one read of it)."""
        from_file = file_settings(config_file)
        named = preset_name or from_file.get("preset") or None
        from_file.pop("preset", None)
        return cls(
            preset_name=named,
            config_file=config_file,
            from_file=from_file,
            overrides=dict(overrides or {}),
        )

    def with_overrides(self, changes: dict[str, Any]) -> RunRequest:
        """These layers with ``changes`` over the overrides."""
        return replace(self, overrides={**self.overrides, **changes})

    @property
    def given(self) -> dict[str, Any]:
        return {**self.from_file, **self.overrides}

    def picked(self) -> str | None:
        """The preset picked (:func:`default_preset`) when neither a preset nor a base config
        is given; None otherwise."""
        if self.preset_name or self.base is not None:
            return None
        return default_preset(self.given)

    def config(self) -> TrainConfig:
        """Preset, then the file's values, then the overrides. A preset's evaluation schedule
        is dropped for data with no offline feature extractor (a folder, a torchvision set)
        unless ``eval_every`` or ``eval_features`` is given. A base config takes the overrides
        alone."""
        if self.base is not None:
            return self.base.with_overrides(self.overrides)
        base = TrainConfig().with_overrides(preset(self.preset_name or default_preset(self.given)))
        if self.config_file:  # checked before the overrides apply, so that an error names it
            try:
                base.with_overrides(self.from_file)
            except ConfigError as error:
                raise ConfigError(f"config file {self.config_file}: {error}") from None
        config = base.with_overrides(self.given)
        if "eval_every" not in self.given and not has_offline_features(config):
            config = config.with_overrides({"eval_every": 0})
        return config

    def chosen(self) -> set[str]:
        """The settings, by their flat names, that were chosen: in the overrides, the config
        file, or a named preset (not the default one); a base config chose every one."""
        if self.base is not None:
            return set(SETTING_NAMES)
        named = preset(self.preset_name) if self.preset_name else {}
        return {
            name
            for layer in (named, self.from_file, self.overrides)
            for name in setting_names(layer)
        }


def setting_names(settings: dict[str, Any]) -> set[str]:
    """The flat names of the settings in ``settings`` (a ``generator`` table's included)."""
    table = settings.get("generator", {})
    names = {key for key in settings if key != "generator"}
    return names | (set(table) if isinstance(table, dict) else set())


def resolve_config(
    *,
    preset_name: str | None = None,
    config_file: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Preset, then the TOML file's values, then explicit overrides (CLI flags) win
    (:class:`RunRequest`); with no preset named, :func:`default_preset` picks one from the
    channels and data. Nothing is inferred from the data: ``fpa.training.decide_run`` does
    that for a run.
    """
    return RunRequest.read(
        preset_name=preset_name, config_file=config_file, overrides=overrides
    ).config()


def has_offline_features(config: TrainConfig) -> bool:
    """Whether the run names an extractor or its data has one registered (not Inception,
    whose weights may need a download)."""
    return bool(config.eval_features) or default_features(config.data) != FALLBACK
