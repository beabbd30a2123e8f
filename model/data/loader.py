"""Training and test loaders: batches of (images, targets, infos) from a sample source.

A training batch is a list of samples, each a pure function of (run seed, position in the
sample stream) (:mod:`model.data.sampler`): the loader maps ``(index, sample_seed)`` to
``source.load(index, rng)`` then ``transform(image, target, rng)`` with
``rng = numpy.random.default_rng(sample_seed)``. The DataLoader hands batches to workers in
turn and returns them in order, so 0, 1 or 2 workers give the same batches.

Workers: each sets torch to one thread, so that two workers and the trainer do not fight
over the machine's cores; memory is pinned only when CUDA is there.

Fork safety: workers are forked from the training process. OpenCV's thread pool is not
fork-safe: a process that ran a multi-threaded OpenCV function (``cvtColor``, ``resize`` of
a large image, ...) and then forks workers that use OpenCV can hang them (reproduced here).
The data code therefore uses ``cv2.imread`` only (single-threaded decoding), flips and
converts in numpy, and resizes with Pillow; a trainer should not run OpenCV itself before
its loaders start (the app should train in a process of its own). A worker that stops
answering raises after ``timeout`` seconds instead of stalling the run.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from model.data.dataset import ImageInfo, Sample
from model.data.sampler import InferenceSampler, TrainingSampler

Batch = tuple[list[torch.Tensor], list[dict[str, Any]], list[ImageInfo]]

#: A worker that delivers no batch for this long is taken as hung: the loader raises.
WORKER_TIMEOUT_S = 300.0


class SampleSource(Protocol):
    """What the loaders read: :class:`~model.data.dataset.DensePoseCocoDataset` or a concat."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def load(self, index: int, rng: np.random.Generator) -> Sample: ...


class Augment(Protocol):
    """A training transform (:class:`~model.data.transforms.TrainTransform`)."""

    def __call__(
        self, image: torch.Tensor, target: dict[str, Any], rng: np.random.Generator
    ) -> tuple[torch.Tensor, dict[str, Any]]: ...


class ConcatSource:
    """Several sources read as one (e.g. DensePose-COCO and a synthetic folder).

    Args:
        sources: the sources, in order; index ``k`` runs through them one after another.
    """

    def __init__(self, sources: Sequence[SampleSource]) -> None:
        if not sources:
            raise ValueError("ConcatSource needs at least one source")
        self.sources = list(sources)
        self._ends = np.cumsum([len(s) for s in self.sources]).tolist()

    def __len__(self) -> int:
        return int(self._ends[-1])

    def _locate(self, index: int) -> tuple[SampleSource, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range 0..{len(self) - 1}")
        k = bisect.bisect_right(self._ends, index)
        return self.sources[k], index - (self._ends[k - 1] if k else 0)

    def __getitem__(self, index: int) -> Sample:
        source, local = self._locate(index)
        return source[local]

    def load(self, index: int, rng: np.random.Generator) -> Sample:
        source, local = self._locate(index)
        return source.load(local, rng)


class _TrainMapped(Dataset[Sample]):
    """``(index, sample_seed)`` -> augmented sample."""

    def __init__(self, source: SampleSource, transform: Augment | None) -> None:
        self.source = source
        self.transform = transform

    def __getitem__(self, key: tuple[int, int]) -> Sample:
        index, seed = key
        rng = np.random.default_rng(seed)
        sample = self.source.load(index, rng)
        if self.transform is None:
            return sample
        image, target = self.transform(sample.image, sample.target, rng)
        return Sample(image, target, sample.info)


class _TestMapped(Dataset[Sample]):
    def __init__(self, source: SampleSource) -> None:
        self.source = source

    def __getitem__(self, index: int) -> Sample:
        return self.source[index]

    def __len__(self) -> int:
        return len(self.source)


class _Batches(Sampler[list[tuple[int, int]]]):
    """Consecutive keys of an endless sampler, ``batch_size`` at a time."""

    def __init__(self, sampler: TrainingSampler, batch_size: int) -> None:
        self.sampler = sampler
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batch = []
        for key in self.sampler:
            batch.append(key)
            if len(batch) == self.batch_size:
                yield batch
                batch = []


def collate(samples: list[Sample]) -> Batch:
    """``(images, targets, infos)``: lists, one entry per sample (images differ in size)."""
    return (
        [s.image for s in samples],
        [s.target for s in samples],
        [s.info for s in samples],
    )


def worker_init(worker_id: int) -> None:
    """One torch thread per worker (the machine has few cores; workers parallelise already).

    OpenCV is left alone: ``cv2.setNumThreads`` in a forked worker hangs when the parent had
    started OpenCV's thread pool (measured: 6 hangs in 18 loader starts), and the data code
    calls no multi-threaded OpenCV function (``imread`` only).
    """
    torch.set_num_threads(1)


def _loader_options(num_workers: int, pin_memory: bool | None, seed: int) -> dict[str, Any]:
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    return {
        "num_workers": num_workers,
        "collate_fn": collate,
        "worker_init_fn": worker_init if num_workers else None,
        "pin_memory": torch.cuda.is_available() if pin_memory is None else pin_memory,
        "persistent_workers": num_workers > 0,
        "timeout": WORKER_TIMEOUT_S if num_workers else 0,
        # The loader draws its workers' base seed from this, not from torch's global RNG.
        "generator": torch.Generator().manual_seed(seed),
    }


def build_train_loader(
    source: SampleSource,
    *,
    batch_size: int,
    num_workers: int,
    seed: int,
    transform: Augment | None = None,
    start_iter: int = 0,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool | None = None,
) -> DataLoader[Sample]:
    """An endless loader of training batches for one rank.

    Args:
        source: the samples.
        batch_size: images per batch on this rank.
        num_workers: loader processes (0: load in the calling process).
        seed: the run's seed (the order of every epoch and every augmentation).
        transform: the augmentation (None: none).
        start_iter: the first iteration (resume: the next batch is the one an uninterrupted
            run would have read at that iteration).
        rank, world_size: this process in a distributed run.
        pin_memory: None: when CUDA is available.

    Returns:
        A DataLoader whose iteration never ends, yielding :data:`Batch` tuples.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sampler = TrainingSampler(
        len(source),
        seed=seed,
        rank=rank,
        world_size=world_size,
        start=start_iter * batch_size,
    )
    batches = _Batches(sampler, batch_size)
    return DataLoader(
        _TrainMapped(source, transform),
        batch_sampler=batches,
        **_loader_options(num_workers, pin_memory, seed),
    )


def build_test_loader(
    source: SampleSource,
    *,
    batch_size: int = 1,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool | None = None,
) -> DataLoader[Sample]:
    """Every sample once (this rank's contiguous share), in order, unaugmented."""
    sampler = InferenceSampler(len(source), rank=rank, world_size=world_size)
    return DataLoader(
        _TestMapped(source),
        batch_size=batch_size,
        sampler=sampler,
        **_loader_options(num_workers, pin_memory, 0),
    )
