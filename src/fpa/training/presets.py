"""Named starting points for ``fpa train --preset``; a config file and flags override them."""

from __future__ import annotations

import difflib
from typing import Any

from fpa.errors import ConfigError
from fpa.training.config import TrainConfig, read_toml

PRESETS: dict[str, dict[str, Any]] = {
    # Small enough to show digits on a 2-core CPU in about ten minutes. The choices that differ
    # from the paper (betas, discriminator, sizes) were measured on such a CPU: see the README.
    "cpu-demo": {},
    # cpu-demo with an LSTM of 512 units: FID 0.39 against 0.50 on the digit features (seed 0),
    # in more time per step on the CPU (docs/quality-study.md).
    "cpu-demo-512": {"painter_options": {"hidden_size": 512, "code_size": 32}},
    # The cpu-demo recipe on the built-in OpenMoji emoji, in colour (32×32 RGB on white).
    "cpu-emoji": {"data": "emoji", "channels": 3},
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
# 270 s on 64×64 emoji: FID 122 against paper-64's 315 (section 5 there). It keeps the
# paper's GP and lr 2e-4: R1 and lr 8e-4 were measured at 32×32 only.
PRESETS["fpa-64"] = {
    **PRESETS["paper-64"],
    "rate_activation": "softplus",
    "learned_canvas": True,
    "normalize_features": True,
    "diversity_weight": 0.2,
    "betas": [0.0, 0.99],
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        closest = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f"; did you mean {closest[0]!r}?" if closest else ""
        raise ConfigError(f"unknown preset {name!r}{hint} (presets: {', '.join(PRESETS)})")
    return PRESETS[name]


def resolve_config(
    *,
    preset_name: str | None = None,
    config_file: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Preset, then the TOML file's values, then explicit overrides (CLI flags) win.

    A config file may name its own ``preset``; an explicit ``preset_name`` wins over it.
    """
    from_file = dict(read_toml(config_file)) if config_file else {}
    name = preset_name or from_file.pop("preset", None) or "cpu-demo"
    from_file.pop("preset", None)
    return (
        TrainConfig()
        .with_overrides(preset(name))
        .with_overrides({**from_file, **(overrides or {})})
    )
