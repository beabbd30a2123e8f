"""Deterministic, infinite, shardable sample streams (detectron2's TrainingSampler idea).

Training reads one endless **global stream** of samples: epoch e is a permutation of the
data set drawn from (seed, e), and global position g of the stream is
``permutation_{g // size}[g % size]``. Rank r of a world of W processes takes positions
r, r + W, r + 2W, ...; its own position p is global position ``p * W + r``.

Each sample comes with a **sample seed** drawn from (seed, g): whatever draws its
augmentation (a flip, a sample of dense points) is seeded with it. Hence what a sample
looks like is a pure function of (seed, g), and:

* a run resumed at iteration k (rank-local position ``k * batch_size``) sees exactly the
  samples and flips of an uninterrupted run, without replaying the stream (O(1) jump);
* the number of loader workers changes nothing (workers only split the work);
* the same global stream is read whatever the world size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


def epoch_permutation(size: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the data set in epoch ``epoch`` of the stream seeded ``seed``."""
    return np.random.default_rng([seed, epoch, 0]).permutation(size)


def sample_seed(seed: int, position: int) -> int:
    """The seed of the sample at global ``position`` of the stream seeded ``seed`` (63 bits)."""
    state = np.random.SeedSequence([seed, position, 1]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class TrainingSampler(Sampler[tuple[int, int]]):
    """Endless ``(index, sample_seed)`` pairs of one rank.

    Args:
        size: number of samples in the data set (> 0).
        seed: the run's seed.
        shuffle: a new permutation every epoch (False: 0, 1, 2, ... repeated).
        rank: this process's rank, 0..world_size-1.
        world_size: number of processes sharing the stream.
        start: the rank-local position to start at (resume: iteration x batch size).
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
    ) -> None:
        if size <= 0:
            raise ValueError("the training set is empty: nothing to sample")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.start = start

    def global_position(self, position: int) -> int:
        """The global stream position of this rank's ``position``."""
        return position * self.world_size + self.rank

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start
        epoch, order = -1, np.arange(self.size)
        while True:
            g = self.global_position(position)
            e, offset = divmod(g, self.size)
            if self.shuffle and e != epoch:
                epoch, order = e, epoch_permutation(self.size, self.seed, e)
            yield int(order[offset]), sample_seed(self.seed, g)
            position += 1


class InferenceSampler(Sampler[int]):
    """Every index once, this rank's contiguous share (shares differ in size by at most 1).

    Args:
        size: number of samples.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, size: int, *, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        share, extra = divmod(size, world_size)
        begin = rank * share + min(rank, extra)
        self.indices = range(begin, begin + share + (1 if rank < extra else 0))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
