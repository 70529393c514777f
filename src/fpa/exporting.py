"""``fpa.export``: a trained run as a model folder, measured, with its card and samples.

The folder (docs/design.md §9) keeps the EMA generator and what a reader needs to trust it,
and none of the training state (optimisers, random states, discriminator). Everything is made
and measured in memory first; the folder is then written whole, or not at all.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fpa._version import __version__
from fpa.classes import labels_args
from fpa.data.provenance import provenance
from fpa.errors import ConfigError
from fpa.evaluation import CONFIDENT, class_histogram, confident_share, evaluate
from fpa.features.base import build_features, default_features
from fpa.generator import FastWeightPainter
from fpa.models.card import Measurement, ModelCard, check_licence, render_card
from fpa.plugins import registry
from fpa.runs.checkpoint import component_origins, find_checkpoint, load_generator_and_state
from fpa.runs.config import GeneratorModule, TrainConfig
from fpa.runs.model_folder import (
    ModelFiles,
    check_target,
    is_model_folder,
    model_config,
    model_weights,
    write_model_folder,
)
from fpa.viz.progress import png_bytes

SAMPLE_COUNT = 64
SAMPLE_COLUMNS = 8
SAMPLE_SCALE = 2
SAMPLE_SEED = 0
GENERATOR_KINDS = ("rules", "painters", "refiners", "baselines")


def export(
    run: str | Path,
    folder: str | Path,
    *,
    name: str | None = None,
    paints: str | None = None,
    command: str | None = None,
    licence: str | None = None,
    evaluate_n: int = 2000,
    features: str | None = None,
    inception_weights: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    device: str = "cpu",
) -> Path:
    """Write the EMA generator of ``run`` (a run folder or checkpoint) as the model folder
    ``folder``, and return it.

    ``name`` defaults to the folder's name; ``paints`` (one phrase: what the model paints)
    to the picture size and what the training data holds; ``command`` (how it was trained) to
    ``fpa train --config training.toml``, with ``--train-steps`` and a note for a run that
    stopped before its ``train_steps``; ``licence`` (of the weights) to the training data's
    licence. With ``evaluate_n`` > 0 the card states FID/KID measured on that many images
    (latents of ``seed``) with ``features`` (the data's default extractor), and for a
    classifier extractor the class entropy and the share painted confidently.
    """
    source, target = Path(run), Path(folder)
    if licence is not None:
        check_licence(licence)
    if is_model_folder(source):
        raise ConfigError(f"{source} is already a model folder; copy it instead")
    check_target(target, overwrite=overwrite)
    checkpoint = find_checkpoint(source)
    generator, state = load_generator_and_state(checkpoint, ema=True, device=device)
    config = TrainConfig.from_dict(state["config"])
    measured = (
        measure(
            checkpoint,
            generator,
            data=config.data,
            n=evaluate_n,
            features=features,
            inception_weights=inception_weights,
            seed=seed,
            device=device,
        )
        if evaluate_n > 0
        else None
    )
    card = model_card(
        generator,
        config,
        name=name or target.resolve().name,
        paints=paints,
        command=command,
        licence=licence,
        step=state["step"],
        measured=measured,
    )
    files = ModelFiles(
        config=model_config(
            generator,
            components=generator_components(state, config),
            data=str(config.data),
            step=state["step"],
        ),
        weights=model_weights(generator),
        card=render_card(card),
        samples=samples_png(generator),
        training=config.to_toml(),
    )
    return write_model_folder(target, files, overwrite=overwrite)


def measure(
    checkpoint: Path,
    generator: GeneratorModule,
    *,
    data: str,
    n: int,
    features: str | None,
    inception_weights: str | None,
    seed: int,
    device: str,
) -> Measurement:
    """FID/KID against the training data, and for a classifier extractor the classes."""
    result = evaluate(
        checkpoint,
        n=n,
        features=features,
        inception_weights=inception_weights,
        seed=seed,
        device=device,
        metrics=("fid", "kid"),
    )
    extractor_name = features or default_features(data)
    entropy = share = threshold = None
    if callable(getattr(registry().get("features", extractor_name).factory, "logits", None)):
        classifier = build_features(extractor_name).to(next(generator.parameters()).device)
        entropy = class_histogram(generator, classifier, n=n, seed=seed).entropy_bits
        share = confident_share(generator, classifier, n=n, seed=seed)
        threshold = CONFIDENT
    return Measurement(
        scores=result.scores,
        features=result.features,
        data=result.data,
        n=n,
        seed=seed,
        class_entropy_bits=entropy,
        confident_share=share,
        threshold=threshold,
    )


def model_card(
    generator: GeneratorModule,
    config: TrainConfig,
    *,
    name: str,
    paints: str | None,
    command: str | None,
    licence: str | None,
    step: int,
    measured: Measurement | None,
) -> ModelCard:
    """The card: defaults from the run and its data's provenance where not given."""
    origin = provenance(str(config.data))
    height, width = generator.config.image_size
    notes = []
    if origin is None:
        notes.append(
            f"fpa does not know the licence of the training data {config.data!r}: check it "
            "before publishing the weights"
        )
    retrain = "fpa train --config training.toml"
    if step < config.train_steps:  # stopped early: training.toml's steps would train on
        retrain += f" --train-steps {step}"
        notes.append(
            f"training stopped at step {step:,} of the {config.train_steps:,} that "
            f"training.toml sets (Ctrl-C, SIGTERM or a time budget); --train-steps {step} "
            "trains the steps these weights had"
        )
    return ModelCard(
        name=name,
        paints=paints
        or f"{height}×{width} {colour_word(generator.config.channels)} "
        + (origin.holds if origin else f"images like those of {config.data}"),
        data=str(config.data),
        data_holds=origin.holds if origin else "a dataset fpa has no record of",
        data_licence=origin.licence if origin else "unknown",
        attribution=origin.attribution if origin else "unknown",
        licence=licence or (origin.licence if origin else "other"),
        command=command or retrain,
        generator=describe_generator(generator),
        parameters=sum(parameter.numel() for parameter in generator.parameters()),
        step=step,
        fpa_version=__version__,
        measured=measured,
        notes=notes,
    )


def colour_word(channels: int) -> str:
    return {1: "grey", 3: "colour", 4: "colour (RGBA)"}.get(channels, f"{channels}-channel")


def describe_generator(generator: GeneratorModule) -> str:
    """One line: what the generator is made of."""
    height, width = generator.config.image_size
    picture = (
        f"{height}×{width}, {generator.config.channels} channel(s), latent {generator.latent_dim}"
    )
    if not isinstance(generator, FastWeightPainter):
        baseline = generator.config.baseline
        return f"the conventional baseline {baseline!r} (not a painter); {picture}"
    config = generator.config
    return (
        f"rule `{config.rule}`, painter `{config.painter}`, refiner `{config.refiner}`; "
        f"{config.paint_steps} rank-1 updates per channel ({config.strokes} strokes); "
        f"{picture}"
    )


def generator_components(state: dict, config: TrainConfig) -> dict[str, dict]:
    """The plugin and distribution behind each of the generator's components (not the
    discriminator's, which the folder does not hold)."""
    recorded = state.get("components") or component_origins(config.components())
    return {kind: origin for kind, origin in recorded.items() if kind in GENERATOR_KINDS}


@torch.no_grad()
def samples_png(generator: GeneratorModule) -> bytes:
    """samples.png: the grid ``fpa sample FOLDER --seed 0 --scale 2`` paints."""
    latents = torch.randn(
        SAMPLE_COUNT,
        generator.latent_dim,
        generator=torch.Generator().manual_seed(SAMPLE_SEED),
    )
    device = next(generator.parameters()).device
    # A conditional generator paints its classes in turn, as fpa sample does.
    labels = torch.arange(SAMPLE_COUNT) % len(generator.classes) if generator.classes else None
    images = generator(latents.to(device), *labels_args(labels)).cpu()
    return png_bytes(images, columns=SAMPLE_COLUMNS, scale=SAMPLE_SCALE)
