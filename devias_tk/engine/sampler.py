"""The training sampler every trainer shares: a seeded permutation per epoch, split across ranks, whole batches
only, resumable mid-epoch (the loop's `set_epoch(epoch, skip_batches)`)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from devias_tk.errors import DeviasError


class EpochSampler(Sampler[tuple[int, int]]):
    """A seeded permutation per epoch, split across ranks, whole batches only, resumable mid-epoch.

    Yields (epoch, index) pairs. Every rank gets the same number of full batches; `skip_batches`
    drops the batches a resumed run has already trained on.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.size, self.batch_size, self.seed, self.rank, self.world = size, batch_size, seed, rank, world
        self.epoch, self.skip = 0, 0
        if self.batches_per_epoch == 0:
            raise DeviasError(f"{size} training videos are fewer than one batch of {batch_size} x {world} processes")

    @property
    def batches_per_epoch(self) -> int:
        return self.size // (self.batch_size * self.world)

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip = epoch, skip_batches

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        mine = order[self.rank :: self.world][: self.batches_per_epoch * self.batch_size]
        return iter([(self.epoch, i) for i in mine[self.skip * self.batch_size :]])

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.skip) * self.batch_size
