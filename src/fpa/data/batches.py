"""Endless, seeded, exactly resumable batches for a training loop.

Epoch ``e`` visits the dataset in the permutation that ``numpy.random.default_rng([seed, e])``
draws, so the order depends only on (seed, epoch) and not on how many batches were drawn
before, nor on any global random state. The position is (epoch, batches already served in
it): saving it with :meth:`InfiniteBatches.state_dict` and restoring it with
:meth:`~InfiniteBatches.load_state_dict` continues with exactly the batches that would have
come next, which is what an exact training resume needs.

Several training processes (``rank`` of ``world_size``) share one global batch: every rank
computes the same epoch order and the same global batches, and serves its own contiguous slice
of each. The position counts global batches, so it is the same on every rank and a run can
resume on another number of processes: the union of the ranks' slices is still exactly the
global batch that a single process would have read next.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from fpa.data.arrays import ImageDataset
from fpa.errors import ConfigError, DataError

Sampler = Callable[[int], Sequence[int]] | Iterable[int]


class _RemainingBatches:
    """The DataLoader's batch sampler: the rest of the current epoch, read at ``iter()``.

    It holds its owner weakly: a reference cycle through the DataLoader would leave worker
    processes to the garbage collector, whose shutdown then stalls for seconds.
    """

    def __init__(self, owner: InfiniteBatches) -> None:
        self.owner = weakref.ref(owner)

    def _remaining(self) -> list[list[int]]:
        owner = self.owner()
        if owner is None:
            return []
        return [owner.shard(batch) for batch in owner._epoch_batches(owner.epoch)[owner.batch :]]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._remaining())

    def __len__(self) -> int:
        return len(self._remaining())


class InfiniteBatches:
    """Yield batches of ``dataset`` forever in a seeded order whose position can be saved.

    ``sampler`` replaces the seeded permutation: either a callable ``epoch -> indices`` or an
    iterable of indices (a ``set_epoch(epoch)`` method, as torch's ``DistributedSampler`` has,
    is called first). Resume is exact only if it gives the same indices for the same epoch.
    With ``drop_last`` (default) every batch has ``batch_size`` items. ``batch_size`` is the
    global batch: with ``world_size`` processes, each serves ``batch_size / world_size`` items
    of it (rank ``rank`` the ``rank``-th slice), and the sampler must give every rank the
    same order.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        *,
        batch_size: int,
        seed: int,
        drop_last: bool = True,
        num_workers: int = 0,
        sampler: Sampler | None = None,
        pin_memory: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} does not fit world_size {world_size}")
        if batch_size % world_size:
            raise ConfigError(
                f"batch_size {batch_size} is the global batch and must split evenly over "
                f"{world_size} processes"
            )
        if world_size > 1 and not drop_last:
            raise ConfigError("several processes need drop_last: a short batch would not split")
        self.rank, self.world_size = rank, world_size
        self.dataset, self.batch_size, self.seed = dataset, batch_size, int(seed)
        self.drop_last, self.sampler = drop_last, sampler
        self.epoch, self.batch = 0, 0
        self._plan_cache: tuple[int, list[list[int]]] | None = None
        self._loader = DataLoader(
            dataset,
            batch_sampler=_RemainingBatches(self),
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=num_workers > 0,
            # Its own generator: a new DataLoader iterator draws a worker seed, and drawing it
            # from the global RNG would make a resumed run's global RNG differ.
            generator=torch.Generator().manual_seed(self.seed),
        )
        self._iterator: Iterator[Any] | None = None
        if not self._epoch_batches(0):
            raise DataError(
                f"the dataset has {len(self.epoch_order(0))} items, fewer than one batch of "
                f"{batch_size}; use a smaller batch size"
            )

    def epoch_order(self, epoch: int) -> list[int]:
        """The item indices of epoch ``epoch``, in the order they are served."""
        if self.sampler is None:
            entropy = [self.seed % 2**64, epoch]
            return np.random.default_rng(entropy).permutation(len(self.dataset)).tolist()
        if callable(self.sampler):
            return [int(i) for i in self.sampler(epoch)]
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        return [int(i) for i in self.sampler]

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        if self._plan_cache is None or self._plan_cache[0] != epoch:
            order, size = self.epoch_order(epoch), self.batch_size
            batches = [order[i : i + size] for i in range(0, len(order), size)]
            if self.drop_last and batches and len(batches[-1]) < size:
                batches.pop()
            self._plan_cache = (epoch, batches)
        return self._plan_cache[1]

    def shard(self, batch: list[int]) -> list[int]:
        """This rank's contiguous slice of one global batch."""
        size = len(batch) // self.world_size
        return batch[self.rank * size : (self.rank + 1) * size]

    @property
    def batches_per_epoch(self) -> int:
        """How many batches the current epoch has."""
        return len(self._epoch_batches(self.epoch))

    def __iter__(self) -> InfiniteBatches:
        return self

    def __next__(self) -> Any:
        for _ in range(2):  # at most one epoch boundary per batch
            if self._iterator is None:
                if self.batch >= len(self._epoch_batches(self.epoch)):
                    self.epoch, self.batch = self.epoch + 1, 0
                self._iterator = iter(self._loader)
            try:
                item = next(self._iterator)
            except StopIteration:
                self._iterator = None
                self.epoch, self.batch = self.epoch + 1, 0
                continue
            self.batch += 1
            return item
        raise DataError(f"epoch {self.epoch} of the sampler holds no full batch")

    def state_dict(self) -> dict[str, int]:
        """The position: the next batch is batch ``batch`` of epoch ``epoch``, counted in global
        batches, so it is the same on every rank and for any number of processes."""
        epoch, batch = self.epoch, self.batch
        if batch >= len(self._epoch_batches(epoch)):  # an epoch just ended: name the next one
            epoch, batch = epoch + 1, 0
        return {
            "epoch": epoch,
            "batch": batch,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "dataset_size": len(self.dataset),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a saved position; the seed, batch size and dataset must match."""
        for key, value in (
            ("seed", self.seed),
            ("batch_size", self.batch_size),
            ("dataset_size", len(self.dataset)),
        ):
            if key in state and state[key] != value:
                raise ConfigError(
                    f"cannot resume the batch order: it was saved with {key} {state[key]}, "
                    f"now {value}"
                )
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self._iterator = None


# The function-style name the issue asked for; it is the class itself, not a second signature.
infinite_batches = InfiniteBatches
