"""TrainState: everything a resume restores, saved into and loaded from a checkpoint.

The models, the EMA, both optimisers and gradient scalers, the data position, the counters,
the fixed sample latents and every random stream of this rank: its own generator (latents,
augmentation) and the global CPU and CUDA RNGs (dropout). Under torchrun each rank's streams
go into rank 0's checkpoint (``rank_random``), so N steps + resume N steps equals 2N steps
exactly (docs/design.md §5).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from fpa.classes import sample_labels
from fpa.data import ImageDataset, InfiniteBatches, build_dataset
from fpa.data.labels import LabelledImages, class_labels
from fpa.errors import ConfigError, error_summary
from fpa.generator import FastWeightPainter
from fpa.runs.checkpoint import model_state
from fpa.runs.config import GeneratorModule, TrainConfig
from fpa.training.distributed import World, rank_seed
from fpa.training.ema import ema_model
from fpa.training.lr_schedule import generator_groups
from fpa.training.resolve import check_classes


@dataclass
class TrainState:
    """What one rank trains with and a checkpoint holds; the counters start at zero."""

    config: TrainConfig
    world: World
    device: torch.device
    generator: GeneratorModule
    discriminator: nn.Module
    ema: AveragedModel
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    batches: InfiniteBatches
    # This rank's own stream: its latents and augmentation.
    random: torch.Generator
    # The latents of the sample grids, the same at every step.
    fixed_latents: torch.Tensor
    step: int = 0
    elapsed: float = 0.0
    nan_restarts: int = 0
    best_score: float = math.inf
    # The probability DiffAugment applies at under augment = "adaptive" (ADA), moved each step.
    augment_prob: float = 0.0

    def labels(self, n: int, *, paired: bool = False) -> Tensor | None:
        """``n`` class labels for fakes, drawn from the data's class shares with this rank's
        stream; None (and nothing drawn) for an unconditional run.

        ``paired``: sample i + n/2 gets sample i's class, so that the mode-seeking term, which
        compares those two paintings, asks for variety within a class (as MSGAN does for
        conditional generators) rather than rewarding the gap between two classes.
        """
        frequencies = self.config.generator.class_frequencies
        if not frequencies:
            return None
        if not paired:
            return sample_labels(frequencies, n, generator=self.random).to(self.device)
        half = sample_labels(frequencies, (n + 1) // 2, generator=self.random)
        return torch.cat([half, half])[:n].to(self.device)

    @property
    def fixed_labels(self) -> Tensor | None:
        """The labels of the sample grids: the classes in turn (0, 1, ..., K-1, 0, ...)."""
        classes = len(self.config.generator.classes)
        if not classes:
            return None
        return torch.arange(self.config.sample_count) % classes

    @property
    def ema_generator(self) -> GeneratorModule:
        """The EMA copy of the generator (what samples, scores and ``fpa.load`` use)."""
        return cast(GeneratorModule, self.ema.module)

    @classmethod
    def new(cls, config: TrainConfig, *, world: World, device: torch.device) -> TrainState:
        """A fresh run's models, optimisers, data and streams, on ``device``."""
        dataset: ImageDataset = build_dataset(
            config.data,
            image_size=config.image_size,
            channels=config.channels,
            root=config.data_root or None,
            download=config.download,
        )
        if config.conditional:  # the classes were decided up front: the data must hold them
            dataset = labelled(config, dataset)
        # The same seed on every rank: identical initial weights (DDP broadcasts rank 0's too).
        torch.manual_seed(config.seed)
        generator = config.build_generator().to(device)
        discriminator = config.build_discriminator().to(device)
        if config.freeze_painter and isinstance(generator, FastWeightPainter):
            generator.freeze_painter()
        trained = generator_groups(generator, config)
        if not trained:
            raise ConfigError(
                "nothing to train: the painter is frozen and the refiner has no weights"
            )
        scaled = config.precision == "fp16"
        state = cls(
            config=config,
            world=world,
            device=device,
            generator=generator,
            discriminator=discriminator,
            ema=ema_model(generator, beta=config.ema_beta),
            optimizer_g=torch.optim.Adam(trained, lr=config.lr, betas=config.betas),
            optimizer_d=torch.optim.Adam(
                discriminator.parameters(), lr=config.discriminator_lr, betas=config.betas
            ),
            scaler_g=torch.amp.GradScaler(device.type, enabled=scaled),
            scaler_d=torch.amp.GradScaler(device.type, enabled=scaled),
            batches=InfiniteBatches(
                dataset,
                batch_size=config.batch_size,
                seed=config.seed,
                rank=world.rank,
                world_size=world.size,
            ),
            # Latents and augmentation differ per rank (rank 0 keeps the one-process streams).
            random=torch.Generator().manual_seed(rank_seed(config.seed, world.rank) + 1),
            fixed_latents=torch.randn(
                config.sample_count,
                config.latent_dim,
                generator=torch.Generator().manual_seed(config.seed + 2),
            ),
        )
        if world.rank > 0:  # and so do dropout masks and other global-RNG draws
            torch.manual_seed(rank_seed(config.seed, world.rank))
        return state

    def initialize_from(self, checkpoint: dict[str, Any], *, source: str | Path = "") -> None:
        """Start from a trained run (the checkpoint read from ``source``): its EMA painter (not
        its refiner), and its discriminator unless ``reset_discriminator``. The optimisers
        start fresh."""
        painting = {
            k: v for k, v in checkpoint["ema_generator"].items() if not k.startswith("refiner.")
        }
        if not isinstance(self.generator, FastWeightPainter):
            raise ConfigError("--init-from starts a painter; a baseline trains on its own")
        missing = sorted(set(self.generator.painter_parameters()) - set(painting))
        if missing:
            raise ConfigError(f"the init checkpoint's painter lacks {', '.join(missing[:3])}")
        with fitting(source, "ema_generator", init=True):
            self.generator.load_state_dict(painting, strict=False)
        if not self.config.reset_discriminator:
            trained = checkpoint["config"]["discriminator"]
            if trained != self.config.discriminator:
                raise ConfigError(
                    f"the init checkpoint trained discriminator {trained!r}; pass "
                    f"--reset-discriminator to start a fresh {self.config.discriminator!r}"
                )
            try:
                self.discriminator.load_state_dict(checkpoint["discriminator"])
            except RuntimeError as error:
                raise ConfigError(
                    "the init checkpoint's discriminator does not fit this one (other options?);"
                    f" pass --reset-discriminator: {str(error).splitlines()[0]}"
                ) from None
        self.ema.module.load_state_dict(self.generator.state_dict())

    def random_streams(self) -> dict[str, Any]:
        """This rank's random streams: its own generator and the global CPU and CUDA RNGs."""
        if self.world.launched:
            cuda = [torch.cuda.get_rng_state(self.device)] if self.device.type == "cuda" else []
        else:
            cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        return {
            "random": self.random.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": cuda,
        }

    def restore_random_streams(
        self, checkpoint: dict[str, Any], *, source: str | Path = ""
    ) -> None:
        """This rank's streams from a checkpoint: rank 0's are the top-level ones, other ranks'
        are in ``rank_random``. A rank the saving run did not have (it ran on fewer processes)
        draws fresh streams derived from the seed, its rank and the step."""
        rank, others = self.world.rank, checkpoint.get("rank_random", [])
        if rank == 0:
            saved = checkpoint
        elif rank - 1 < len(others):
            saved = others[rank - 1]
        else:
            fresh = rank_seed(self.config.seed, rank, int(checkpoint["step"]))
            self.random.manual_seed(fresh + 1)
            torch.manual_seed(fresh)
            return
        with fitting(source, "random"):
            self.random.set_state(saved["random"])
        with fitting(source, "torch_rng"):
            torch.set_rng_state(saved["torch_rng"])
        with fitting(source, "cuda_rng"):
            cuda = saved["cuda_rng"]
            if cuda and self.world.launched and self.device.type == "cuda":
                torch.cuda.set_rng_state(cuda[0], self.device)
            elif cuda and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(cuda)

    def checkpoint(self, *, rank_random: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Everything a resume needs; ``rank_random`` holds the random streams of ranks 1…N−1."""
        return {
            **model_state(
                self.config,
                generator=self.generator,
                ema_generator=self.ema.module,
                discriminator=self.discriminator,
                step=self.step,
            ),
            "world_size": self.world.size,
            "elapsed": self.elapsed,
            "nan_restarts": self.nan_restarts,
            "best_score": self.best_score,
            "augment_prob": self.augment_prob,
            "ema_updates": self.ema.n_averaged.clone(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "data": self.batches.state_dict(),
            **self.random_streams(),
            "rank_random": list(rank_random or []),
            "fixed_latents": self.fixed_latents,
        }

    def load(self, checkpoint: dict[str, Any], *, source: str | Path = "") -> None:
        """Continue from ``checkpoint`` (read from ``source``): weights, optimisers, data
        position, streams, counters; a field that does not fit is one error naming it."""
        restored = (
            ("generator", self.generator.load_state_dict),
            ("discriminator", self.discriminator.load_state_dict),
            ("ema_generator", self.ema.module.load_state_dict),
            ("ema_updates", self.ema.n_averaged.copy_),
            ("optimizer_g", self.optimizer_g.load_state_dict),
            ("optimizer_d", self.optimizer_d.load_state_dict),
            ("scaler_g", self.scaler_g.load_state_dict),
            ("scaler_d", self.scaler_d.load_state_dict),
            ("data", self.batches.load_state_dict),
        )
        for name, restore in restored:
            with fitting(source, name):
                restore(checkpoint[name])
        self.restore_random_streams(checkpoint, source=source)
        fixed, shape = checkpoint["fixed_latents"], tuple(self.fixed_latents.shape)
        if tuple(fixed.shape) != shape:
            raise ConfigError(
                f"{source or 'the checkpoint'} does not fit this run: its 'fixed_latents' have "
                f"shape {tuple(fixed.shape)}, this run's {shape} (sample_count, latent_dim)"
            )
        self.fixed_latents = fixed
        self.step, self.elapsed = int(checkpoint["step"]), float(checkpoint["elapsed"])
        self.nan_restarts = int(checkpoint.get("nan_restarts", 0))
        self.best_score = float(checkpoint.get("best_score", math.inf))
        self.augment_prob = float(checkpoint.get("augment_prob", 0.0))


@contextmanager
def fitting(source: str | Path, name: str, *, init: bool = False) -> Iterator[None]:
    """Restore the checkpoint field ``name``: what does not fit this run (a damaged or edited
    checkpoint, one of other options) is one ConfigError naming the file and the field."""
    try:
        yield
    except KeyError as error:
        raise ConfigError(f"{unfit(source, init)}: its {name!r} lacks {error.args[0]!r}") from None
    except (RuntimeError, ValueError, TypeError, IndexError, AttributeError) as error:
        raise ConfigError(f"{unfit(source, init)}: its {name!r}: {error_summary(error)}") from None


def unfit(source: str | Path, init: bool) -> str:
    what = f"--init-from {source}" if init else str(source or "the checkpoint")
    return f"{what} does not fit this run"


def labelled(config: TrainConfig, dataset: ImageDataset) -> LabelledImages:
    """A conditional run's dataset yielding ``(image, label)``; data whose classes are not the
    ones the config names (decided up front, or saved by the run resumed) is refused."""
    classes = class_labels(dataset)
    check_classes(config, classes)
    return LabelledImages(dataset, classes=classes)
