"""The GAN training loop: hinge losses, reconstruction, lazy penalty, DiffAugment, EMA, AMP.

Everything random in a step (latents, augmentation) is drawn from the trainer's own
``torch.Generator``, whose state goes into every checkpoint with the data position, the
optimisers and the global RNGs, so that N steps + resume N steps equals 2N steps exactly.

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
import torch.nn.functional as F
from torch import Tensor, nn

from fpa._version import __version__
from fpa.devices import resolve_device
from fpa.errors import ConfigError, FpaError
from fpa.files import atomic_write_bytes
from fpa.plugins import build_discriminator
from fpa.training.augment import DiffAugment
from fpa.training.checkpoint import checkpoint_bytes, component_origins, load_checkpoint
from fpa.training.compiling import compile_modules
from fpa.training.config import TrainConfig
from fpa.training.distributed import World, gradient_sync, rank_seed
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
        raise ConfigError(
            f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16; use fp32 or fp16"
        )
    available = getattr(torch.amp, "is_autocast_available", None)  # torch ≥ 2.4
    if precision == "bf16" and available is not None and not available(device.type):
        raise ConfigError(f"--precision bf16: no autocast on {device.type}; use fp32")


def per_rank_batch(config: TrainConfig, world: World) -> int:
    """Each process's share of the global ``batch_size``; refuses a split the losses cannot use."""
    share = world.split(config.batch_size)
    if config.diversity_weight > 0 and share < 2:
        raise ConfigError(
            f"diversity_weight pairs samples within each process's batch, which holds {share} "
            f"image(s) (batch_size {config.batch_size} over {world.size} process(es)); use "
            f"batch_size ≥ {2 * world.size} or diversity_weight 0"
        )
    return share


def unused_parameters(module: nn.Module, *inputs: Any, **options: Any) -> list[str]:
    """Names of ``module``'s trainable parameters that its output does not depend on.

    One forward, then a walk of its autograd graph, as DDP's own search does. The probe leaves
    no trace: the random state is forked, and the buffers (spectral norm's power-iteration
    vectors, running statistics) are put back. DDP is told to search at every step only where
    this finds something: the search costs a graph walk per step, and DDP warns about it when
    nothing is unused.
    """
    trainable = {id(p): name for name, p in module.named_parameters() if p.requires_grad}
    buffers = {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
    device = next(module.parameters()).device
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda), torch.enable_grad():
        outputs = module(*inputs, **options)
    with torch.no_grad():
        for name, buffer in module.named_buffers():
            buffer.copy_(buffers[name])
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    stack = [t.grad_fn for t in outputs if isinstance(t, Tensor) and t.grad_fn is not None]
    seen, used = set(), set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            used.add(id(variable))
        stack.extend(child for child, _ in node.next_functions)
    return [name for key, name in trainable.items() if key not in used]


class DiscriminatorLoss(nn.Module):
    """D's whole loss on one micro-batch, as one module call: hinge on the main and auxiliary
    logits of reals and fakes, the decoder's reconstruction of reals, and the penalty on reals.

    Under DDP this module is what is wrapped, so that every D forward feeding the backward
    (reals with the decoder, fakes, and the penalty's probe with its double backward) happens
    inside one DDP forward, followed by one backward: the reducer then averages the gradients of
    all of them together, once. Which parts of D take part depends on the config and the plugin
    (lightgan's decoder, which sees only reals, runs only when ``recon_weight > 0``): DDP must
    then be told to look for unused parameters (see :func:`unused_parameters`). ``static_graph``
    would not do, as the penalty joins the graph only every ``reg_every`` steps.
    """

    def __init__(
        self,
        *,
        discriminator: nn.Module,
        fast: nn.Module,
        config: TrainConfig,
        autocast_dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.discriminator, self.fast = discriminator, fast
        self.aux_weight, self.recon_weight = config.aux_weight, config.recon_weight
        self.reg_weight = config.reg_weight
        self.penalty = REGULARIZERS.get(config.regularizer)
        self.autocast_dtype = autocast_dtype

    def forward(
        self, real: Tensor, fake: Tensor, *, regularize: bool
    ) -> tuple[Tensor, dict[str, Tensor]]:
        dtype = self.autocast_dtype
        with torch.autocast(real.device.type, dtype=dtype, enabled=dtype is not None):
            on_real = self.fast(real, reconstruct=self.recon_weight > 0)
            on_fake = self.fast(fake)
            loss = hinge_discriminator(on_real.logits, on_fake.logits)
            if on_real.aux_logits is not None and on_fake.aux_logits is not None:
                aux = hinge_discriminator(on_real.aux_logits, on_fake.aux_logits)
                loss = loss + self.aux_weight * aux
        parts = {}
        if on_real.reconstruction is not None:
            target = self.discriminator.reconstruction_target(real)
            recon = F.mse_loss(on_real.reconstruction.float(), target.float())
            loss = loss + self.recon_weight * recon
            parts["loss_recon"] = recon.detach()
        if regularize and self.penalty is not None:
            # The penalty runs in float32, outside autocast: its double backward is sensitive
            # to rounding, and it runs only every ``reg_every`` steps. It uses the eager
            # discriminator even under --compile: compiled graphs have no double backward.
            probe = real.detach().requires_grad_(True)
            penalty = self.penalty(self.discriminator(probe).logits, probe)
            loss = loss + self.reg_weight * penalty
            parts["penalty"] = penalty.detach()
        return loss, parts


class Trainer:
    """Owns the models, optimisers, data and random state of one run."""

    def __init__(self, config: TrainConfig, run_dir: RunDir, *, world: World | None = None) -> None:
        from fpa.data import InfiniteBatches, build_dataset

        self.config, self.run_dir = config, run_dir
        self.world = world or World()
        self.rank_batch = per_rank_batch(config, self.world)
        local_rank = self.world.local_rank if self.world.launched else None
        self.device = resolve_device(config.device, local_rank=local_rank)
        check_precision(config.precision, self.device)
        # The same seed on every rank: identical initial weights (DDP broadcasts rank 0's too).
        torch.manual_seed(config.seed)
        self.generator = config.build_generator().to(self.device)
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
        self.batches = InfiniteBatches(
            dataset,
            batch_size=config.batch_size,
            seed=config.seed,
            rank=self.world.rank,
            world_size=self.world.size,
        )
        use_augment = config.augment == "on" or (
            config.augment == "auto" and self.dataset_size < SMALL_DATASET
        )
        self.augment = (
            DiffAugment(ops=config.augment_ops, prob=config.augment_prob) if use_augment else None
        )
        # Latents and augmentation differ per rank (rank 0 keeps the one-process streams).
        self.random = torch.Generator().manual_seed(rank_seed(config.seed, self.world.rank) + 1)
        self.fixed_latents = torch.randn(
            config.sample_count,
            config.latent_dim,
            generator=torch.Generator().manual_seed(config.seed + 2),
        )
        if self.world.rank > 0:  # and so do dropout masks and other global-RNG draws
            torch.manual_seed(rank_seed(config.seed, self.world.rank))
        self.step = 0
        self.elapsed = 0.0
        self.nan_restarts = 0
        self.best_score = math.inf
        self.evaluator = None
        self.wrap_for_training()

    def wrap_for_training(self) -> None:
        """The modules the steps call: compiled with ``--compile``, and under DDP with torchrun.

        ``self.generator`` and ``self.discriminator`` stay the plain modules (checkpoints, EMA
        and samples use them); the wrappers share their parameters.
        """
        c = self.config
        fast_g, fast_d = self.generator, self.discriminator
        if c.compile:
            fast_g, fast_d = compile_modules([fast_g, fast_d], device=self.device)
        self.fast_generator, self.fast_discriminator = fast_g, fast_d
        self.discriminator_loss = DiscriminatorLoss(
            discriminator=self.discriminator,
            fast=fast_d,
            config=c,
            autocast_dtype=AUTOCAST_DTYPES.get(c.precision),
        )
        if not self.world.launched:
            self.train_generator, self.train_discriminator = fast_g, self.discriminator_loss
            return
        # DDP averages the gradients of G (in the G step) and of D's whole loss (in the D
        # step). Both are probed once, on the plain modules, for parameters that take no part
        # (a plugin's, or lightgan's decoder when recon_weight = 0); DDP searches for them at
        # every step only where the probe finds some.
        images = torch.zeros(2, c.channels, *c.image_size, device=self.device)
        latents = torch.zeros(2, c.latent_dim, device=self.device)
        plain_loss = DiscriminatorLoss(
            discriminator=self.discriminator, fast=self.discriminator, config=c, autocast_dtype=None
        )
        unused_g = unused_parameters(self.generator, latents)
        unused_d = unused_parameters(plain_loss, images, images, regularize=False)
        self.train_generator = self.world.data_parallel(
            fast_g, device=self.device, find_unused_parameters=bool(unused_g)
        )
        self.train_discriminator = self.world.data_parallel(
            self.discriminator_loss, device=self.device, find_unused_parameters=bool(unused_d)
        )

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
    def random_state(self) -> dict[str, Any]:
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

    def restore_random_state(self, state: dict[str, Any]) -> None:
        """This rank's streams from a checkpoint: rank 0's are the top-level ones, other ranks'
        are in ``rank_random``. A rank the saving run did not have (it ran on fewer processes)
        draws fresh streams derived from the seed, its rank and the step."""
        rank, others = self.world.rank, state.get("rank_random", [])
        if rank == 0:
            saved = state
        elif rank - 1 < len(others):
            saved = others[rank - 1]
        else:
            fresh = rank_seed(self.config.seed, rank, int(state["step"]))
            self.random.manual_seed(fresh + 1)
            torch.manual_seed(fresh)
            return
        self.random.set_state(saved["random"])
        torch.set_rng_state(saved["torch_rng"])
        cuda = saved["cuda_rng"]
        if cuda and self.world.launched and self.device.type == "cuda":
            torch.cuda.set_rng_state(cuda[0], self.device)
        elif cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda)

    def state(self, *, rank_random: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Everything a resume needs; ``rank_random`` holds the random state of ranks 1…N−1."""
        c = self.config
        return {
            "fpa_version": __version__,
            "step": self.step,
            "world_size": self.world.size,
            "elapsed": self.elapsed,
            "nan_restarts": self.nan_restarts,
            "best_score": self.best_score,
            "config": c.to_dict(),
            "generator_config": self.generator.config.to_dict(),
            "components": component_origins(c.components()),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema_generator": self.ema.module.state_dict(),
            "ema_updates": self.ema.n_averaged.clone(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "data": self.batches.state_dict(),
            **self.random_state(),
            "rank_random": list(rank_random or []),
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
        self.restore_random_state(state)
        self.fixed_latents = state["fixed_latents"]
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.nan_restarts = int(state.get("nan_restarts", 0))
        self.best_score = float(state.get("best_score", math.inf))

    def save(self) -> None:
        """Write ``latest.pt`` and, on checkpoint steps, a periodic copy; both atomic.

        Every rank calls it (each sends its random state to rank 0); only rank 0 writes.
        """
        streams = self.world.gather(self.random_state())
        if not self.world.is_main:
            return
        data = checkpoint_bytes(self.state(rank_random=streams[1:]))
        if self.step % self.config.checkpoint_every == 0 and self.step > 0:
            atomic_write_bytes(self.run_dir.checkpoint_at(self.step), data)
        atomic_write_bytes(self.run_dir.latest_checkpoint, data)

    # ------------------------------------------------------------------ steps
    def autocast(self):
        dtype = AUTOCAST_DTYPES.get(self.config.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def latents(self) -> torch.Tensor:
        """This rank's latents: its share of the global batch, from its own stream."""
        z = torch.randn(self.rank_batch, self.config.latent_dim, generator=self.random)
        return z.to(self.device)

    def augmented(self, images: torch.Tensor) -> torch.Tensor:
        return self.augment(images, self.random) if self.augment else images

    def discriminator_step(self) -> dict[str, float]:
        c = self.config
        self.discriminator.requires_grad_(True)
        self.optimizer_d.zero_grad(set_to_none=True)
        regularize = c.regularizer != "none" and self.step % c.reg_every == 0
        totals = {"loss_d": 0.0, "loss_recon": 0.0}
        if regularize:
            totals["penalty"] = 0.0
        for index in range(c.grad_accum):
            real = self.augmented(next(self.batches).to(self.device, non_blocking=True))
            with torch.no_grad(), self.autocast():
                fake = self.augmented(self.fast_generator(self.latents()).float())
            with gradient_sync(self.train_discriminator, last=index == c.grad_accum - 1):
                loss, parts = self.train_discriminator(real, fake, regularize=regularize)
                self.scaler_d.scale(loss / c.grad_accum).backward()
            for name, value in parts.items():
                totals[name] += value.item() / c.grad_accum
            totals["loss_d"] += loss.item() / c.grad_accum
        self.scaler_d.step(self.optimizer_d)
        self.scaler_d.update()
        return totals

    def generator_step(self) -> dict[str, float]:
        c = self.config
        self.discriminator.requires_grad_(False)
        self.optimizer_g.zero_grad(set_to_none=True)
        total = 0.0
        for index in range(c.grad_accum):
            with gradient_sync(self.train_generator, last=index == c.grad_accum - 1):
                with self.autocast():
                    latents = self.latents()
                    images = self.train_generator(latents)
                    # D judges through its plain (or compiled) module, never through DDP: its
                    # weights are frozen here and their gradients unwanted, so D's reducer must
                    # not see this forward; only G's gradients are averaged over the ranks.
                    judged = self.fast_discriminator(self.augmented(images))
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
        c = self.config
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
        self.load_state(self.world.on_main(lambda: load_checkpoint(self.run_dir.latest_checkpoint)))
        self.nan_restarts = restarts
        self.random.manual_seed(rank_seed(self.config.seed, self.world.rank) + 1 + 7919 * restarts)
        if self.world.is_main:
            self.run_dir.truncate_metrics(self.step)
            record = {"step": self.step, "event": "nan_restart", "count": restarts}
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
        c, main = self.config, self.world.is_main
        if main and c.eval_every and self.evaluator is None:
            from fpa.evaluation import Evaluator

            # Made before the first step, so a missing extractor or weights file fails at once.
            self.evaluator = Evaluator.for_config(c, device=self.device)
        if self.step == 0:
            self.save()
            if main:
                self.write_samples()
        images_per_second = 0.0
        while self.step < c.train_steps:
            if self.world.any(stop_requested()):
                self.save()
                return self.result("interrupted", images_per_second)
            started = time.perf_counter()
            self.generator.train()
            metrics = {**self.discriminator_step(), **self.generator_step()}
            metrics = self.world.mean(metrics)
            if not all(math.isfinite(value) for value in metrics.values()):
                self.recover_from_divergence()
                continue
            seconds = time.perf_counter() - started
            self.step += 1
            self.elapsed += seconds
            images_per_second = c.batch_size * c.grad_accum / seconds
            metrics["images_per_s"] = images_per_second
            last = self.step == c.train_steps
            if main and (self.step % c.log_every == 0 or last):
                record = {"step": self.step, **metrics, "elapsed_s": self.elapsed}
                self.run_dir.append_metrics({k: _rounded(v) for k, v in record.items()})
            if main and (self.step % c.sample_every == 0 or last):
                self.write_samples()
            if main and c.eval_every and (self.step % c.eval_every == 0 or last):
                metrics.update(self.evaluate())
            if self.step % c.checkpoint_every == 0 or last:
                self.save()
            on_step(self.step, metrics)
        return self.result("finished", images_per_second)

    def result(self, status: str, images_per_second: float) -> TrainResult:
        return TrainResult(self.run_dir.root, self.step, status, images_per_second, self.elapsed)


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
