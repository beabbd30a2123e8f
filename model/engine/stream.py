"""The training data stream of one process, laid out so that process count changes nothing.

A global batch of ``ims_per_batch`` images is ``G = ims_per_batch / micro_batch`` micro-batch
**slots**. Slot s reads lane s of the sample stream (:class:`TrainingSampler` with rank s of
G: global positions s, s + G, ...). Process r of W runs slots ``r*A .. r*A + A - 1``
(A = G / W accumulation steps). G does not depend on W, so one process with four images
in two micro-batches reads exactly what two processes with two images each read, and the
trainer seeds each slot alike (:func:`model.engine.trainer.micro_batch_seed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from annotator.surface.atlas import Atlas
from model.config import Config
from model.data.dataset import Sample, SampleSource
from model.data.loader import collate, worker_init
from model.data.sampler import TrainingSampler
from model.data.transforms import TrainTransform
from model.engine.distributed import World
from model.engine.trainer import BatchPlan


class _Augmented(Dataset[Sample]):
    """``(index, sample_seed)`` -> the sample, augmented with a generator of that seed."""

    def __init__(self, source: SampleSource, transform: TrainTransform | None) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, int]) -> Sample:
        index, seed = key
        rng = np.random.default_rng(seed)
        sample = self.source.load(index, rng)
        if self.transform is None:
            return sample
        image, target = self.transform(sample.image, sample.target, rng)
        return sample._replace(image=image, target=target)


class _SlotBatches(Sampler[list[tuple[int, int]]]):
    """This process's micro-batches in order: slot after slot, iteration after iteration."""

    def __init__(
        self, size: int, *, seed: int, plan: BatchPlan, world: World, start_iter: int
    ) -> None:
        slots = plan.accumulation * world.size
        first = world.rank * plan.accumulation
        self.micro = plan.micro_batch
        self.lanes = [
            TrainingSampler(
                size, seed=seed, rank=s, world_size=slots, start=start_iter * plan.micro_batch
            )
            for s in range(first, first + plan.accumulation)
        ]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        streams = [iter(lane) for lane in self.lanes]
        while True:
            for stream in streams:
                yield [next(stream) for _ in range(self.micro)]


def training_dataset(
    cfg: Config, data: Path, images: Path, atlas: Atlas, teacher_labels: Path | None = None
) -> SampleSource:
    """The training samples of ``cfg`` (points mode, masks / keypoints for the cascade, and a
    teacher's dense labels beside the points when ``teacher_labels`` is given).

    Raises:
        ValueError: the data's charts are not the atlas's (official DensePose-COCO uses SMPL's
            charts; synthetic folders name their body model).
    """
    from model.data.dataset import DensePoseCocoDataset

    dataset = DensePoseCocoDataset(
        data,
        images,
        points=cfg.data.points,  # type: ignore[arg-type]
        points_per_person=cfg.data.dense_points if cfg.data.points == "dense_sample" else None,
        keep="with_persons",
        instance_masks=cfg.model.cascade.masks,
        keypoints=cfg.model.cascade.keypoints,
        max_size=cfg.data.max_image_side or None,
    )
    body = dataset.body_model or "smpl"
    if body != atlas.body:
        raise ValueError(
            f"{data}: its (I, U, V) are on the {body} charts, but the run uses the "
            f"{atlas.body} atlas; train with --set data.body={body} (for SMPL, build its atlas "
            "first: dpstudio body atlas --body smpl --smpl-model FILE --uv-processed FILE)"
        )
    if teacher_labels is not None:
        from model.engine.distill import TeacherLabels, WithTeacher

        return WithTeacher(dataset, TeacherLabels(teacher_labels))
    return dataset


def train_transform(cfg: Config, atlas: Atlas) -> TrainTransform | None:
    """The augmentation ``cfg.data`` declares (None: none)."""
    from model.data.flip import load_flip_table

    if not cfg.data.hflip:
        return None
    return TrainTransform(flip_table=load_flip_table(atlas))


def micro_batches(
    dataset: SampleSource,
    *,
    plan: BatchPlan,
    world: World,
    seed: int,
    start_iter: int,
    num_workers: int,
    transform: TrainTransform | None,
) -> Iterator[tuple[list[torch.Tensor], list[dict[str, Any]]]]:
    """Endless ``(images, targets)`` micro-batches of this process from ``start_iter`` on.

    Args:
        transform: the augmentation (:func:`train_transform` of the run's config); required,
            so that no caller trains without the augmentation its config declares.
    """
    loader = DataLoader(
        _Augmented(dataset, transform),
        batch_sampler=_SlotBatches(
            len(dataset), seed=seed, plan=plan, world=world, start_iter=start_iter
        ),
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=worker_init if num_workers else None,
        pin_memory=world.device.type == "cuda",
        persistent_workers=num_workers > 0,
    )
    for images, targets, _ in loader:
        yield images, targets
