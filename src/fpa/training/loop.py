"""The GAN training loop: the D step, the G step, the EMA, and what a run writes as it goes.

Everything random in a step (latents, augmentation) is drawn from the trainer's own
``torch.Generator``; :class:`~fpa.training.state.TrainState` saves it with everything else a
resume needs, so N steps + resume N steps equals 2N steps exactly.

Under ``torchrun`` (see :mod:`fpa.training.distributed`) every process runs this loop on its
share of the global batch with its own random streams; DistributedDataParallel averages the
gradients, so the weights (and the EMA made from them) stay identical on every rank. Rank 0
alone writes the run folder; the checkpoint carries every rank's random state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.profiler import record_function

from fpa.classes import labels_args
from fpa.devices import resolve_device
from fpa.errors import ConfigError, FpaError
from fpa.evaluation import Evaluator
from fpa.files import atomic_write_bytes
from fpa.runs.checkpoint import checkpoint_bytes, load_checkpoint
from fpa.runs.config import GeneratorModule, TrainConfig
from fpa.runs.run_dir import RunDir
from fpa.training.augment import DiffAugment, adapted_probability
from fpa.training.distributed import (
    World,
    gradient_sync,
    per_rank_batch,
    rank_seed,
    step_modules,
)
from fpa.training.losses import hinge_generator, mode_seeking
from fpa.training.lr_schedule import lr_factor, set_learning_rate
from fpa.training.precision import autocast, autocast_dtype, check_precision
from fpa.training.state import TrainState
from fpa.training.telemetry import Telemetry
from fpa.training.trial import trial_step
from fpa.viz import png_bytes

# Below this many training images DiffAugment is switched on by ``augment = "auto"``
# (Zhao et al. 2020 and Karras et al. 2020 show it matters most for small datasets).
SMALL_DATASET = 30_000


class TrainingDivergedError(FpaError):
    """The losses became NaN or infinite more often than the run allows."""


@dataclass
class TrainResult:
    """How a call to :meth:`Trainer.run` ended."""

    run_dir: Path
    step: int
    status: str
    images_per_second: float
    elapsed_seconds: float


class Trainer:
    """One run's training: builds its models and data, then alternates D and G steps.

    Each phase of a step is a ``torch.profiler`` range named ``fpa/...``, so a profile groups
    its operators by phase (benchmarks/profile_step.py).
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: RunDir,
        *,
        world: World | None = None,
        reasons: dict[str, str] | None = None,
    ) -> None:
        """Train ``config`` as decided (:func:`fpa.training.resolve.decide_run`, whose
        ``reasons`` the run keeps); it is never changed here."""
        if config.conditional and not config.generator.classes:
            raise ConfigError(
                "a conditional run's classes are decided before it trains: build the trainer "
                "with fpa.training.prepare_run, or decide_run's config"
            )
        self.config, self.run_dir = config, run_dir
        self.reasons = dict(reasons or {})
        self.world = world = world or World()
        self.rank_batch = per_rank_batch(config, world)
        local_rank = world.local_rank if world.launched else None
        self.device = resolve_device(config.device, local_rank=local_rank)
        check_precision(config.precision, self.device)
        self.autocast_dtype = autocast_dtype(config.precision)
        self.state = TrainState.new(config, world=world, device=self.device)
        use_augment = config.augment in ("on", "adaptive") or (
            config.augment == "auto" and len(self.state.batches.dataset) < SMALL_DATASET
        )
        self.augment = DiffAugment(ops=config.augment_ops) if use_augment else None
        self.adaptive = config.augment == "adaptive"
        self.modules = step_modules(
            generator=self.state.generator,
            discriminator=self.state.discriminator,
            config=config,
            device=self.device,
            world=world,
        )
        self.evaluator: Evaluator | None = None
        # The loggers besides metrics.jsonl; ``train()`` opens them once the folder is ready.
        self.telemetry = Telemetry({})

    @property
    def generator(self) -> GeneratorModule:
        return self.state.generator

    @property
    def discriminator(self) -> torch.nn.Module:
        return self.state.discriminator

    @property
    def step(self) -> int:
        return self.state.step

    def checkpoint(self) -> bytes | None:
        """The run's checkpoint with every rank's random streams, on rank 0 (``None`` on the
        others). Every rank calls it: each sends its streams to rank 0."""
        streams = self.world.gather(self.state.random_streams())
        if not self.world.is_main or streams is None:
            return None
        return checkpoint_bytes(self.state.checkpoint(rank_random=streams[1:]))

    def save(self) -> None:
        """Write ``latest.pt`` and, on checkpoint steps, a periodic copy; both atomic."""
        data = self.checkpoint()
        if data is None:
            return
        step = self.state.step
        if step % self.config.checkpoint_every == 0 and step > 0:
            atomic_write_bytes(self.run_dir.checkpoint_at(step), data)
        atomic_write_bytes(self.run_dir.latest_checkpoint, data)

    def prepare_evaluator(self) -> None:
        """Make the evaluator of ``--eval-every`` (rank 0), so that a missing extractor or
        weights file fails before the run starts."""
        if self.world.is_main and self.config.eval_every and self.evaluator is None:
            self.evaluator = Evaluator.for_config(self.config, device=self.device)

    def rehearse(self) -> None:
        """One trial step that leaves no trace (:func:`fpa.training.trial.trial_step`)."""
        trial_step(
            self.state,
            batch=self.rank_batch,
            device=self.device,
            autocast_dtype=self.autocast_dtype,
        )

    # ------------------------------------------------------------------ steps
    def latents(self) -> Tensor:
        """This rank's latents: its share of the global batch, from its own stream."""
        z = torch.randn(self.rank_batch, self.config.latent_dim, generator=self.state.random)
        return z.to(self.device)

    def real_batch(self) -> tuple[Tensor, Tensor | None]:
        """The next real images, with their labels in a conditional run (None otherwise)."""
        batch = next(self.state.batches)
        images, labels = batch if self.config.conditional else (batch, None)
        if labels is not None:
            labels = labels.to(self.device, non_blocking=True)
        return images.to(self.device, non_blocking=True), labels

    def augmented(self, images: Tensor) -> Tensor:
        if self.augment is None:
            return images
        prob = self.state.augment_prob if self.adaptive else self.config.augment_prob
        return self.augment(images, self.state.random, prob=prob)

    def adapt_augmentation(self, real_sign: float) -> None:
        """Move the adaptive probability after a step, from D's verdict on this step's reals
        (averaged over the ranks, so every rank moves it alike)."""
        c, s = self.config, self.state
        s.augment_prob = adapted_probability(
            s.augment_prob,
            real_sign=real_sign,
            target=c.augment_target,
            images=c.batch_size * c.grad_accum,
            adapt_images=c.augment_adapt_images,
            ceiling=c.augment_prob,
        )

    def discriminator_step(self) -> dict[str, float]:
        """One D update: hinge on reals against fakes, plus the lazy penalty every
        ``reg_every`` steps, over ``grad_accum`` micro-batches."""
        c, s, loss_module = self.config, self.state, self.modules.discriminator_loss
        s.discriminator.requires_grad_(True)
        s.optimizer_d.zero_grad(set_to_none=True)
        regularize = c.regularizer != "none" and s.step % c.reg_every == 0
        totals = {"loss_d": 0.0, "loss_recon": 0.0, **({"penalty": 0.0} if regularize else {})}
        backward_label = "fpa/D: loss, R1, backward" if regularize else "fpa/D: loss, backward"
        for index in range(c.grad_accum):
            with record_function("fpa/D: reals"):
                real, real_labels = self.real_batch()
                real = self.augmented(real)
            with (
                torch.no_grad(),
                autocast(self.device, self.autocast_dtype),
                record_function("fpa/D: fakes"),
            ):
                latents, fake_labels = self.latents(), s.labels(self.rank_batch)
                fake = self.augmented(
                    self.modules.generator(latents, *labels_args(fake_labels)).float()
                )
            last = index == c.grad_accum - 1
            with gradient_sync(loss_module, last=last), record_function(backward_label):
                loss, parts = loss_module(
                    real,
                    fake,
                    regularize=regularize,
                    **({} if real_labels is None else {"labels": (real_labels, fake_labels)}),
                )
                s.scaler_d.scale(loss / c.grad_accum).backward()
            for name, value in parts.items():
                totals[name] = totals.get(name, 0.0) + value.item() / c.grad_accum
            totals["loss_d"] += loss.item() / c.grad_accum
        with record_function("fpa/D: optimizer"):
            s.scaler_d.step(s.optimizer_d)
            s.scaler_d.update()
        return totals

    def generator_step(self) -> dict[str, float]:
        """One G update: hinge on D's verdict on fakes, plus the mode-seeking term; then the
        EMA follows."""
        c, s, generator = self.config, self.state, self.modules.generator
        s.discriminator.requires_grad_(False)
        s.optimizer_g.zero_grad(set_to_none=True)
        total = 0.0
        for index in range(c.grad_accum):
            with gradient_sync(generator, last=index == c.grad_accum - 1):
                with autocast(self.device, self.autocast_dtype):
                    latents, labels = self.latents(), s.labels(self.rank_batch, paired=True)
                    with record_function("fpa/G: forward"):
                        images = generator(latents, *labels_args(labels))
                    with record_function("fpa/G: D judges, losses"):
                        judged = self.modules.judge(self.augmented(images), *labels_args(labels))
                        loss = hinge_generator(judged.logits)
                        if judged.aux_logits is not None:
                            loss = loss + c.aux_weight * hinge_generator(judged.aux_logits)
                        if c.diversity_weight > 0:
                            loss = loss + c.diversity_weight * mode_seeking(images.float(), latents)
                with record_function("fpa/G: backward"):
                    s.scaler_g.scale(loss / c.grad_accum).backward()
            total += loss.item() / c.grad_accum
        with record_function("fpa/G: optimizer"):
            s.scaler_g.step(s.optimizer_g)
            s.scaler_g.update()
        with record_function("fpa/G: EMA"):
            s.ema.update_parameters(s.generator)
        return {"loss_g": total}

    # ------------------------------------------------------------------ outputs
    @torch.no_grad()
    def write_samples(self) -> Path:
        generator = self.state.ema_generator.eval()
        latents = self.state.fixed_latents.to(self.device)
        labels = self.state.fixed_labels
        labels = None if labels is None else labels.to(self.device)
        images = generator(latents, *labels_args(labels))
        columns = max(1, int(math.sqrt(len(images))))
        png = png_bytes(images, columns=columns)
        path = self.run_dir.write_samples(self.state.step, png)
        self.telemetry.samples(
            self.state.step, png, generator=generator, latents=latents, labels=labels
        )
        return path

    def log(self, record: dict[str, Any]) -> None:
        """Append a record to ``metrics.jsonl`` and hand the same numbers to the loggers."""
        rounded = {key: _rounded(value) for key, value in record.items()}
        self.run_dir.append_metrics(rounded)
        s = self.state
        rates = {
            "lr_g": s.optimizer_g.param_groups[0]["lr"],
            "lr_d": s.optimizer_d.param_groups[0]["lr"],
        }
        self.telemetry.record(rounded, learning_rates=rates)

    def evaluate(self) -> dict[str, float]:
        """Score the EMA generator against the cached real statistics, log the scores, and
        keep ``best.pt`` when the first of ``eval_metrics`` improved (lower is better)."""
        c, s = self.config, self.state
        assert self.evaluator is not None
        scores = self.evaluator.score(s.ema_generator.eval())
        self.log({"step": s.step, "event": "eval", "eval_n": c.eval_n, **scores})
        headline = scores[c.eval_metrics[0]]
        if headline < s.best_score:
            s.best_score = headline
            atomic_write_bytes(self.run_dir.best_checkpoint, checkpoint_bytes(s.checkpoint()))
        return scores

    def schedule_learning_rates(self) -> None:
        """Set both optimisers' rates for the update about to be made (``lr_decay_from``)."""
        c, s = self.config, self.state
        factor = lr_factor(step=s.step, train_steps=c.train_steps, decay_from=c.lr_decay_from)
        set_learning_rate(s.optimizer_g, c.lr * factor)
        set_learning_rate(s.optimizer_d, c.discriminator_lr * factor)

    def recover_from_divergence(self) -> None:
        """Reload the last good checkpoint and draw different randomness from there on."""
        s = self.state
        s.nan_restarts += 1
        if s.nan_restarts > self.config.max_nan_restarts:
            raise TrainingDivergedError(
                f"the losses became NaN/inf {s.nan_restarts} times (last at step "
                f"{s.step}); stopped. Try a lower --lr, --precision fp32, or another rule; "
                f"the last good checkpoint is {self.run_dir.latest_checkpoint}"
            )
        restarts = s.nan_restarts
        s.load(self.world.on_main(lambda: load_checkpoint(self.run_dir.latest_checkpoint)))
        s.nan_restarts = restarts
        s.random.manual_seed(rank_seed(self.config.seed, self.world.rank) + 1 + 7919 * restarts)
        if self.world.is_main:
            self.run_dir.truncate_metrics(s.step)
            record = {"step": s.step, "event": "nan_restart", "count": restarts}
            self.run_dir.append_metrics(record)

    # ------------------------------------------------------------------ main loop
    def run(
        self,
        *,
        stop_requested: Callable[[], bool] = lambda: False,
        on_step: Callable[[int, dict[str, float]], None] = lambda step, metrics: None,
    ) -> TrainResult:
        """Train until ``train_steps``, or until ``stop_requested()`` (then save and return).

        Under torchrun every rank runs this; a stop request or a NaN on any rank stops or
        restarts all of them together, and only rank 0 writes logs, samples and checkpoints
        and evaluates (the others wait for it at the next step).
        """
        c, s, main = self.config, self.state, self.world.is_main
        self.prepare_evaluator()
        if s.step == 0:
            self.save()
            if main:
                self.write_samples()
        images_per_second = 0.0
        while s.step < c.train_steps:
            if self.world.any(stop_requested()):
                self.save()
                if main and s.step % c.sample_every:  # the grid of the step it stopped at
                    self.write_samples()
                return self.result("interrupted", images_per_second)
            started = time.perf_counter()
            s.generator.train()
            self.schedule_learning_rates()
            metrics = self.world.mean({**self.discriminator_step(), **self.generator_step()})
            if not all(math.isfinite(value) for value in metrics.values()):
                self.recover_from_divergence()
                continue
            if self.adaptive:
                self.adapt_augmentation(metrics["real_sign"])
                metrics["augment_p"] = s.augment_prob
            seconds = time.perf_counter() - started
            s.step += 1
            s.elapsed += seconds
            images_per_second = c.batch_size * c.grad_accum / seconds
            metrics["images_per_s"] = images_per_second
            metrics["elapsed_s"] = s.elapsed
            last = s.step == c.train_steps
            if main and (s.step % c.log_every == 0 or last):
                self.log({"step": s.step, **metrics})
            if main and (s.step % c.sample_every == 0 or last):
                self.write_samples()
            # On the schedule alone (not at a run's last step), so that a run split by resumes
            # evaluates, and keeps best.pt, exactly where a straight one does.
            if main and c.eval_every and s.step % c.eval_every == 0:
                metrics.update(self.evaluate())
            if s.step % c.checkpoint_every == 0 or last:
                self.save()
            on_step(s.step, metrics)
        return self.result("finished", images_per_second)

    def result(self, status: str, images_per_second: float) -> TrainResult:
        s = self.state
        return TrainResult(self.run_dir.root, s.step, status, images_per_second, s.elapsed)


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
