"""The GAN training loop: hinge losses, reconstruction, lazy penalty, DiffAugment, EMA, AMP.

Everything random in a step (latents, augmentation) is drawn from the trainer's own
``torch.Generator``, whose state goes into every checkpoint with the data position, the
optimisers and the global RNGs, so that N steps + resume N steps equals 2N steps exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from fpa._version import __version__
from fpa.devices import resolve_device
from fpa.errors import ConfigError, FpaError
from fpa.files import atomic_write_bytes
from fpa.generator import FastWeightPainter
from fpa.plugins import build_discriminator
from fpa.training.augment import DiffAugment
from fpa.training.checkpoint import checkpoint_bytes, component_origins, load_checkpoint
from fpa.training.config import TrainConfig
from fpa.training.ema import ema_model
from fpa.training.losses import (
    REGULARIZERS,
    hinge_discriminator,
    hinge_generator,
    mode_seeking,
)
from fpa.training.run_dir import RunDir
from fpa.viz import png_bytes

# Below this many training images DiffAugment is switched on by ``augment = "auto"``
# (Zhao et al. 2020 and Karras et al. 2020 show it matters most for small datasets).
SMALL_DATASET = 30_000
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs CUDA (and a gradient scaler); bf16 needs a device that supports it."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA device; use fp32 or bf16 on the CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16")


class Trainer:
    """Owns the models, optimisers, data and random state of one run."""

    def __init__(self, config: TrainConfig, run_dir: RunDir) -> None:
        from fpa.data import InfiniteBatches, build_dataset

        self.config, self.run_dir = config, run_dir
        self.device = resolve_device(config.device)
        check_precision(config.precision, self.device)
        torch.manual_seed(config.seed)
        self.generator = FastWeightPainter(config=config.generator_config()).to(self.device)
        self.discriminator = build_discriminator(
            config.discriminator,
            image_size=config.image_size,
            channels=config.channels,
            **config.discriminator_options,
        ).to(self.device)
        if config.freeze_painter:
            self.generator.freeze_painter()
        trained = [p for p in self.generator.parameters() if p.requires_grad]
        if not trained:
            raise ConfigError(
                "nothing to train: the painter is frozen and the refiner has no weights"
            )
        self.ema = ema_model(self.generator, beta=config.ema_beta)
        self.optimizer_g = torch.optim.Adam(trained, lr=config.lr, betas=config.betas)
        self.optimizer_d = torch.optim.Adam(
            self.discriminator.parameters(), lr=config.discriminator_lr, betas=config.betas
        )
        scaled = config.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=scaled)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=scaled)
        dataset = build_dataset(
            config.data,
            image_size=config.image_size,
            channels=config.channels,
            root=config.data_root or None,
            download=config.download,
        )
        self.dataset_size = len(dataset)
        self.batches = InfiniteBatches(dataset, batch_size=config.batch_size, seed=config.seed)
        use_augment = config.augment == "on" or (
            config.augment == "auto" and self.dataset_size < SMALL_DATASET
        )
        self.augment = (
            DiffAugment(ops=config.augment_ops, prob=config.augment_prob) if use_augment else None
        )
        self.random = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_latents = torch.randn(
            config.sample_count,
            config.latent_dim,
            generator=torch.Generator().manual_seed(config.seed + 2),
        )
        self.step = 0
        self.elapsed = 0.0
        self.nan_restarts = 0
        self.best_score = math.inf
        self.evaluator = None

    def initialize_from(self, state: dict[str, Any]) -> None:
        """Start from a trained run: its EMA painter (not its refiner), and its discriminator
        unless ``reset_discriminator``. The optimisers start fresh."""
        painting = {k: v for k, v in state["ema_generator"].items() if not k.startswith("refiner.")}
        missing = sorted(set(self.generator.painter_parameters()) - set(painting))
        if missing:
            raise ConfigError(f"the init checkpoint's painter lacks {', '.join(missing[:3])}")
        self.generator.load_state_dict(painting, strict=False)
        if not self.config.reset_discriminator:
            if state["config"]["discriminator"] != self.config.discriminator:
                raise ConfigError(
                    "the init checkpoint trained discriminator "
                    f"{state['config']['discriminator']!r}; pass --reset-discriminator to "
                    f"start a fresh {self.config.discriminator!r}"
                )
            try:
                self.discriminator.load_state_dict(state["discriminator"])
            except RuntimeError as error:
                raise ConfigError(
                    "the init checkpoint's discriminator does not fit this one (other options?);"
                    f" pass --reset-discriminator: {str(error).splitlines()[0]}"
                ) from None
        self.ema.module.load_state_dict(self.generator.state_dict())

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        c = self.config
        return {
            "fpa_version": __version__,
            "step": self.step,
            "elapsed": self.elapsed,
            "nan_restarts": self.nan_restarts,
            "best_score": self.best_score,
            "config": c.to_dict(),
            "generator_config": self.generator.config.to_dict(),
            "components": component_origins(
                {
                    "rules": c.rule,
                    "painters": c.painter,
                    "discriminators": c.discriminator,
                    "refiners": c.refiner,
                }
            ),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema_generator": self.ema.module.state_dict(),
            "ema_updates": self.ema.n_averaged.clone(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "data": self.batches.state_dict(),
            "random": self.random.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "fixed_latents": self.fixed_latents,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        try:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.ema.module.load_state_dict(state["ema_generator"])
            self.ema.n_averaged.copy_(state["ema_updates"])
            self.optimizer_g.load_state_dict(state["optimizer_g"])
            self.optimizer_d.load_state_dict(state["optimizer_d"])
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
            self.batches.load_state_dict(state["data"])
        except (KeyError, RuntimeError, ValueError) as error:
            raise ConfigError(f"the checkpoint does not fit this run: {error}") from None
        self.random.set_state(state["random"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.fixed_latents = state["fixed_latents"]
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.nan_restarts = int(state.get("nan_restarts", 0))
        self.best_score = float(state.get("best_score", math.inf))

    def save(self) -> None:
        """Write ``latest.pt`` and, on checkpoint steps, a periodic copy; both atomic."""
        data = checkpoint_bytes(self.state())
        if self.step % self.config.checkpoint_every == 0 and self.step > 0:
            atomic_write_bytes(self.run_dir.checkpoint_at(self.step), data)
        atomic_write_bytes(self.run_dir.latest_checkpoint, data)

    # ------------------------------------------------------------------ steps
    def autocast(self):
        dtype = AUTOCAST_DTYPES.get(self.config.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def latents(self) -> torch.Tensor:
        z = torch.randn(self.config.batch_size, self.config.latent_dim, generator=self.random)
        return z.to(self.device)

    def augmented(self, images: torch.Tensor) -> torch.Tensor:
        return self.augment(images, self.random) if self.augment else images

    def discriminator_step(self) -> dict[str, float]:
        c, discriminator = self.config, self.discriminator
        discriminator.requires_grad_(True)
        self.optimizer_d.zero_grad(set_to_none=True)
        regularize = c.regularizer != "none" and self.step % c.reg_every == 0
        totals = {"loss_d": 0.0, "loss_recon": 0.0}
        if regularize:
            totals["penalty"] = 0.0
        for _ in range(c.grad_accum):
            real = self.augmented(next(self.batches).to(self.device, non_blocking=True))
            with torch.no_grad(), self.autocast():
                fake = self.augmented(self.generator(self.latents()).float())
            with self.autocast():
                on_real = discriminator(real, reconstruct=c.recon_weight > 0)
                on_fake = discriminator(fake)
                loss = hinge_discriminator(on_real.logits, on_fake.logits)
                if on_real.aux_logits is not None and on_fake.aux_logits is not None:
                    aux = hinge_discriminator(on_real.aux_logits, on_fake.aux_logits)
                    loss = loss + c.aux_weight * aux
            if on_real.reconstruction is not None:
                target = discriminator.reconstruction_target(real)
                recon = F.mse_loss(on_real.reconstruction.float(), target.float())
                loss = loss + c.recon_weight * recon
                totals["loss_recon"] += recon.item() / c.grad_accum
            if regularize:
                # The penalty runs in float32, outside autocast: its double backward is
                # sensitive to rounding, and it runs only every ``reg_every`` steps.
                probe = real.detach().requires_grad_(True)
                penalty = REGULARIZERS[c.regularizer](discriminator(probe).logits, probe)
                loss = loss + c.reg_weight * penalty
                totals["penalty"] += penalty.item() / c.grad_accum
            self.scaler_d.scale(loss / c.grad_accum).backward()
            totals["loss_d"] += loss.item() / c.grad_accum
        self.scaler_d.step(self.optimizer_d)
        self.scaler_d.update()
        return totals

    def generator_step(self) -> dict[str, float]:
        c = self.config
        self.discriminator.requires_grad_(False)
        self.optimizer_g.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(c.grad_accum):
            with self.autocast():
                latents = self.latents()
                images = self.generator(latents)
                judged = self.discriminator(self.augmented(images))
                loss = hinge_generator(judged.logits)
                if judged.aux_logits is not None:
                    loss = loss + c.aux_weight * hinge_generator(judged.aux_logits)
                if c.diversity_weight > 0:
                    loss = loss + c.diversity_weight * mode_seeking(images.float(), latents)
            self.scaler_g.scale(loss / c.grad_accum).backward()
            total += loss.item() / c.grad_accum
        self.scaler_g.step(self.optimizer_g)
        self.scaler_g.update()
        self.ema.update_parameters(self.generator)
        return {"loss_g": total}

    # ------------------------------------------------------------------ outputs
    @torch.no_grad()
    def write_samples(self) -> Path:
        generator = self.ema.module.eval()
        images = generator(self.fixed_latents.to(self.device))
        columns = max(1, int(math.sqrt(len(images))))
        return self.run_dir.write_samples(self.step, png_bytes(images, columns=columns))

    def evaluate(self) -> dict[str, float]:
        """Score the EMA generator against the cached real statistics, log the scores, and
        keep ``best.pt`` when the first of ``eval_metrics`` improved (lower is better)."""
        from fpa.evaluation import TrainingEvaluator

        c = self.config
        if self.evaluator is None:
            self.evaluator = TrainingEvaluator.for_config(c, device=self.device)
        scores = self.evaluator.score(self.ema.module.eval())
        record = {"step": self.step, "event": "eval", "eval_n": c.eval_n, **scores}
        self.run_dir.append_metrics({k: _rounded(v) for k, v in record.items()})
        headline = scores[c.eval_metrics[0]]
        if headline < self.best_score:
            self.best_score = headline
            atomic_write_bytes(self.run_dir.best_checkpoint, checkpoint_bytes(self.state()))
        return scores

    def recover_from_divergence(self) -> None:
        """Reload the last good checkpoint and draw different randomness from there on."""
        self.nan_restarts += 1
        if self.nan_restarts > self.config.max_nan_restarts:
            raise TrainingDivergedError(
                f"the losses became NaN/inf {self.nan_restarts} times (last at step "
                f"{self.step}); stopped. Try a lower --lr, --precision fp32, or another rule; "
                f"the last good checkpoint is {self.run_dir.latest_checkpoint}"
            )
        restarts = self.nan_restarts
        self.load_state(load_checkpoint(self.run_dir.latest_checkpoint))
        self.nan_restarts = restarts
        self.random.manual_seed(self.config.seed + 1 + 7919 * restarts)
        self.run_dir.truncate_metrics(self.step)
        self.run_dir.append_metrics({"step": self.step, "event": "nan_restart", "count": restarts})

    # ------------------------------------------------------------------ main loop
    def run(
        self,
        *,
        stop_requested: Callable[[], bool] = lambda: False,
        on_step: Callable[[int, dict[str, float]], None] = lambda step, metrics: None,
    ) -> TrainResult:
        """Train until ``train_steps``, or until ``stop_requested()`` (then save and return)."""
        c = self.config
        if self.step == 0:
            self.save()
            self.write_samples()
        images_per_second = 0.0
        while self.step < c.train_steps:
            if stop_requested():
                self.save()
                return self.result("interrupted", images_per_second)
            started = time.perf_counter()
            self.generator.train()
            metrics = {**self.discriminator_step(), **self.generator_step()}
            if not all(math.isfinite(value) for value in metrics.values()):
                self.recover_from_divergence()
                continue
            seconds = time.perf_counter() - started
            self.step += 1
            self.elapsed += seconds
            images_per_second = c.batch_size * c.grad_accum / seconds
            metrics["images_per_s"] = images_per_second
            if self.step % c.log_every == 0 or self.step == c.train_steps:
                record = {"step": self.step, **metrics, "elapsed_s": self.elapsed}
                self.run_dir.append_metrics({k: _rounded(v) for k, v in record.items()})
            if self.step % c.sample_every == 0 or self.step == c.train_steps:
                self.write_samples()
            if c.eval_every and (self.step % c.eval_every == 0 or self.step == c.train_steps):
                metrics.update(self.evaluate())
            if self.step % c.checkpoint_every == 0 or self.step == c.train_steps:
                self.save()
            on_step(self.step, metrics)
        return self.result("finished", images_per_second)

    def result(self, status: str, images_per_second: float) -> TrainResult:
        return TrainResult(self.run_dir.root, self.step, status, images_per_second, self.elapsed)


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
