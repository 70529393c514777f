"""Training on several processes with ``torchrun``: which process this is, and its process group.

``torchrun --nproc-per-node N -m fpa train ...`` starts N copies of ``fpa train`` and tells each
its place through environment variables: ``RANK`` (0 … N−1 over all nodes), ``WORLD_SIZE`` and
``LOCAL_RANK`` (the process's index on its node, which picks its GPU), plus ``MASTER_ADDR`` and
``MASTER_PORT`` for the rendezvous. :class:`World` reads them; without them the run is one
process, and every collective below returns its input unchanged, so the training loop has a
single code path and a one-process run is exactly what it was before scale-out existed.

The models train under PyTorch's ``DistributedDataParallel``; this module joins the process
group (NCCL for CUDA tensors, gloo for CPU tensors), wraps the modules the steps call
(:func:`step_modules`, probing for unused parameters first), and offers the few small
collectives the loop needs around it: agreeing on a stop or a NaN, averaging logged losses,
sending rank 0's checkpoint to the others and gathering every rank's random state into it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

import numpy as np
import torch
from torch import Tensor, nn

from fpa.classes import labels_args
from fpa.errors import ConfigError, FpaError
from fpa.runs.config import TrainConfig
from fpa.training.compiling import compile_modules
from fpa.training.losses import DiscriminatorLoss
from fpa.training.precision import autocast_dtype

T = TypeVar("T")

# Rank 0 evaluates (FID/KID) and writes checkpoints between steps while the other ranks wait at
# the next collective; the default NCCL timeout (10 minutes) could cut a long evaluation short.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


class RankFailedError(FpaError):
    """Rank 0 failed at something it does for every rank (reading the run folder)."""


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``rank`` of ``size``).

    ``launched`` is true under ``torchrun`` (even with one process, so that the distributed code
    path can be exercised on one GPU); collectives then go through the process group.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> World:
        """The world ``torchrun`` describes in the environment; one process without it."""
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" not in env and "RANK" not in env:
            return cls()
        try:
            rank, size = int(env["RANK"]), int(env["WORLD_SIZE"])
            local_rank = int(env.get("LOCAL_RANK", rank))
        except KeyError as missing:
            raise ConfigError(
                f"the environment names a distributed run but lacks {missing.args[0]}; start "
                "several processes with torchrun (see docs/scale-out.md)"
            ) from None
        except ValueError:
            raise ConfigError(
                "RANK, WORLD_SIZE and LOCAL_RANK must be integers; got "
                f"{env.get('RANK')!r}, {env.get('WORLD_SIZE')!r}, {env.get('LOCAL_RANK')!r}"
            ) from None
        if size < 1 or not 0 <= rank < size or local_rank < 0:
            raise ConfigError(f"RANK {rank} does not fit WORLD_SIZE {size}")
        return cls(rank=rank, size=size, local_rank=local_rank, launched=True)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run folder and shows progress."""
        return self.rank == 0

    def split(self, batch_size: int) -> int:
        """Each process's share of the global ``batch_size``; refuses an uneven split."""
        if batch_size % self.size:
            lower = max(self.size, batch_size - batch_size % self.size)
            raise ConfigError(
                f"batch_size {batch_size} is the global batch and must split evenly over "
                f"{self.size} processes; use a multiple of {self.size} such as {lower} or "
                f"{lower + self.size}"
            )
        return batch_size // self.size

    # ------------------------------------------------------------------ process group
    @contextmanager
    def joined(self) -> Iterator[World]:
        """Join ``torchrun``'s process group for the block and leave it after.

        NCCL carries CUDA tensors (the gradients of models on GPUs) and gloo CPU tensors (the
        small control messages, and everything on a machine without CUDA). A group that the
        caller already initialised is used as it is and left alone.
        """
        distributed = torch.distributed
        if not self.launched or (distributed.is_available() and distributed.is_initialized()):
            yield self
            return
        if not distributed.is_available():
            raise ConfigError("this build of torch has no torch.distributed; run one process")
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise ConfigError(
                f"the environment names a distributed run but lacks {' and '.join(missing)}; "
                "start the processes with torchrun (see docs/scale-out.md)"
            )
        backend = "gloo"
        if torch.cuda.is_available() and self.local_rank < torch.cuda.device_count():
            torch.cuda.set_device(self.local_rank)
            backend = "cpu:gloo,cuda:nccl"
        distributed.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)
        try:
            yield self
        finally:
            distributed.destroy_process_group()

    # ------------------------------------------------------------------ collectives
    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank (a stop request, say)."""
        if not self.launched:
            return flag
        value = torch.tensor([int(flag)])
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the ranks (the keys must agree); a NaN anywhere spreads, so
        every rank sees a diverged step together."""
        if not self.launched:
            return values
        stacked = torch.tensor(list(values.values()), dtype=torch.float64)
        torch.distributed.all_reduce(stacked)
        return dict(zip(values, (stacked / self.size).tolist(), strict=True))

    def gather(self, item: T) -> list[T] | None:
        """Every rank's ``item`` as a list on rank 0 (``None`` on the others)."""
        if not self.launched:
            return [item]
        gathered: list[Any] | None = [None] * self.size if self.is_main else None
        torch.distributed.gather_object(item, gathered, dst=0)
        return gathered

    def broadcast(self, item: T) -> T:
        """Rank 0's ``item`` on every rank (the others pass a placeholder)."""
        if not self.launched:
            return item
        box = [item]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, work: Callable[[], T]) -> T:
        """Run ``work`` on rank 0 only and hand its result (or its failure) to every rank.

        Only rank 0 touches the run folder, so a resume works across nodes that do not share
        a file system; a failure there must reach the other ranks, which would otherwise wait
        forever for a result.
        """
        if not self.launched:
            return work()
        result: T | None = None
        failure: str | None = None
        if self.is_main:
            try:
                result = work()
            except Exception as error:
                failure = str(error) or type(error).__name__
                self.broadcast((None, failure))
                raise
        result, failure = self.broadcast((result, failure))
        if failure is not None:
            raise RankFailedError(f"rank 0 failed: {failure}")
        return cast(T, result)

    # ------------------------------------------------------------------ models
    def data_parallel(
        self, module: nn.Module, *, device: torch.device, find_unused_parameters: bool
    ) -> nn.Module:
        """``module`` under DistributedDataParallel when launched, else ``module`` itself."""
        if not self.launched:
            return module
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            module,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=find_unused_parameters,
        )


def gradient_sync(module: nn.Module, *, last: bool) -> AbstractContextManager[Any]:
    """Skip DDP's gradient all-reduce on all but the ``last`` micro-batch of an accumulation."""
    no_sync = getattr(module, "no_sync", None)
    if last or no_sync is None:
        return nullcontext()
    return no_sync()


def rank_seed(seed: int, rank: int, *more: int) -> int:
    """A seed for ``rank``'s random streams (latents, augmentation, dropout).

    Rank 0 keeps ``seed`` itself, so a one-process run draws exactly what it always did; other
    ranks (and ``more`` components such as a step, for fresh streams) get independent seeds
    derived from all of them by numpy's ``SeedSequence``.
    """
    if rank == 0 and not more:
        return seed
    # A spawn key, not a longer entropy list: SeedSequence pads entropy with zeros, so
    # [seed, rank] and [seed, rank, 0] would give the same stream.
    key = (rank, *(value % 2**64 for value in more))
    return int(
        np.random.SeedSequence(seed % 2**64, spawn_key=key).generate_state(1, np.uint64)[0] >> 1
    )


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
    stack: list[Any] = [
        t.grad_fn for t in outputs if isinstance(t, Tensor) and t.grad_fn is not None
    ]
    seen: set[Any] = set()
    used: set[int] = set()
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


@dataclass
class StepModules:
    """What the training steps call. They share their parameters with the plain generator
    and discriminator, which checkpoints, the EMA and the samples use.

    ``generator``: G as the G step trains it (compiled with ``--compile``, DDP under torchrun).
    ``judge``: D as both steps consult it (compiled, never DDP: in the G step D's gradients
    are unwanted, so D's reducer must not see that forward).
    ``discriminator_loss``: D's whole loss as the D step trains it (DDP under torchrun).
    """

    generator: nn.Module
    judge: nn.Module
    discriminator_loss: nn.Module


def step_modules(
    *,
    generator: nn.Module,
    discriminator: nn.Module,
    config: TrainConfig,
    device: torch.device,
    world: World,
) -> StepModules:
    """Compile (``--compile``) and, under torchrun, wrap in DDP the modules the steps call.

    DDP averages the gradients of G (in the G step) and of D's whole loss (in the D step).
    Both are probed once, on the plain modules, for parameters that take no part (a plugin's,
    or lightgan's decoder when ``recon_weight`` is 0); DDP searches for them at every step only
    where the probe finds some.
    """
    fast_g, fast_d = generator, discriminator
    if config.compile:
        fast_g, fast_d = compile_modules([fast_g, fast_d], device=device)
    dtype = autocast_dtype(config.precision)
    loss = DiscriminatorLoss(
        discriminator=discriminator, fast=fast_d, config=config, autocast_dtype=dtype
    )
    if not world.launched:
        return StepModules(generator=fast_g, judge=fast_d, discriminator_loss=loss)
    images = torch.zeros(2, config.channels, *config.image_size, device=device)
    latents = torch.zeros(2, config.latent_dim, device=device)
    plain_loss = DiscriminatorLoss(
        discriminator=discriminator, fast=discriminator, config=config, autocast_dtype=None
    )
    classes = len(config.generator.classes)
    labels = torch.arange(2, device=device) % classes if classes else None
    unused_g = unused_parameters(generator, latents, *labels_args(labels))
    unused_d = unused_parameters(
        plain_loss,
        images,
        images,
        regularize=False,
        **({} if labels is None else {"labels": (labels, labels)}),
    )
    return StepModules(
        generator=world.data_parallel(fast_g, device=device, find_unused_parameters=bool(unused_g)),
        judge=fast_d,
        discriminator_loss=world.data_parallel(
            loss, device=device, find_unused_parameters=bool(unused_d)
        ),
    )
