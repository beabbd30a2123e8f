"""Sample streams and loaders: deterministic, resumable, shardable, worker-count free."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from model.data.dataset import DensePoseCocoDataset, Sample
from model.data.loader import ConcatSource, build_test_loader, build_train_loader
from model.data.sampler import InferenceSampler, TrainingSampler
from model.data.transforms import TrainTransform
from tests.model.data.builders import official_style


@pytest.fixture()
def dataset(tmp_path):
    json_file, images, _ = official_style(tmp_path)
    return DensePoseCocoDataset(json_file, images, keypoints=True)


def take(iterable, n):
    return list(itertools.islice(iterable, n))


def test_every_epoch_of_the_stream_is_a_new_permutation():
    stream = take(TrainingSampler(7, seed=3), 21)
    epochs = [[index for index, _ in stream[k : k + 7]] for k in (0, 7, 14)]
    assert all(sorted(e) == list(range(7)) for e in epochs)
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]
    seeds = [seed for _, seed in stream]
    assert len(set(seeds)) == 21 and all(0 <= s < 2**63 for s in seeds)
    assert take(TrainingSampler(7, seed=3), 21) == stream
    assert take(TrainingSampler(7, seed=4), 21) != stream
    plain = [index for index, _ in take(TrainingSampler(3, seed=3, shuffle=False), 6)]
    assert plain == [0, 1, 2, 0, 1, 2]


def test_a_stream_started_later_is_the_same_stream():
    full = take(TrainingSampler(5, seed=1), 40)
    assert take(TrainingSampler(5, seed=1, start=17), 23) == full[17:]


def test_ranks_read_the_global_stream_in_turn():
    full = take(TrainingSampler(6, seed=2), 30)
    ranks = [take(TrainingSampler(6, seed=2, rank=r, world_size=3), 10) for r in range(3)]
    assert [ranks[g % 3][g // 3] for g in range(30)] == full
    resumed = take(TrainingSampler(6, seed=2, rank=1, world_size=3, start=4), 6)
    assert resumed == ranks[1][4:]
    with pytest.raises(ValueError, match="rank"):
        TrainingSampler(6, seed=2, rank=3, world_size=3)
    with pytest.raises(ValueError, match="empty"):
        TrainingSampler(0, seed=2)


def test_inference_shares_cover_every_index_once_in_order():
    shares = [list(InferenceSampler(10, rank=r, world_size=3)) for r in range(3)]
    assert shares == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert list(InferenceSampler(2, rank=2, world_size=3)) == []


def batches_of(loader, n):
    out = []
    for images, targets, infos in take(iter(loader), n):
        out.append((images, targets, [info.image_id for info in infos]))
    return out


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for (images_a, targets_a, ids_a), (images_b, targets_b, ids_b) in zip(a, b, strict=True):
        assert ids_a == ids_b
        for x, y in zip(images_a, images_b, strict=True):
            assert torch.equal(x, y)
        for s, t in zip(targets_a, targets_b, strict=True):
            assert torch.equal(s["boxes"], t["boxes"])
            assert torch.equal(s["keypoints"], t["keypoints"])
            for name in ("x", "i", "u", "v", "masks"):
                assert torch.equal(getattr(s["densepose"], name), getattr(t["densepose"], name))


def test_a_resumed_run_sees_the_same_samples_and_flips(dataset, flip_table):
    flip = TrainTransform(flip_table=flip_table)
    options = {"batch_size": 2, "seed": 11, "transform": flip}
    straight = batches_of(build_train_loader(dataset, num_workers=0, **options), 6)
    resumed = batches_of(build_train_loader(dataset, num_workers=2, start_iter=3, **options), 3)
    assert_same_batches(straight[3:], resumed)
    one_worker = batches_of(build_train_loader(dataset, num_workers=1, **options), 6)
    assert_same_batches(straight, one_worker)
    # The flips really happen (and differ between samples), so the test can catch a drift.
    flipped = [
        not torch.equal(image, dataset[dataset.image_ids.index(image_id)].image)
        for images, _, ids in straight
        for image, image_id in zip(images, ids, strict=True)
    ]
    assert any(flipped) and not all(flipped)


def test_two_ranks_split_the_batches_of_one_rank(dataset):
    one = batches_of(build_train_loader(dataset, batch_size=1, num_workers=0, seed=5), 8)
    rank0 = batches_of(
        build_train_loader(dataset, batch_size=1, num_workers=0, seed=5, rank=0, world_size=2), 4
    )
    rank1 = batches_of(
        build_train_loader(dataset, batch_size=1, num_workers=0, seed=5, rank=1, world_size=2), 4
    )
    assert_same_batches(one[0::2], rank0)
    assert_same_batches(one[1::2], rank1)


class ThreadProbe:
    """A source that reports the thread count of the process that loads each sample."""

    def __init__(self, inner: DensePoseCocoDataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> Sample:
        return self.load(index, np.random.default_rng(index))

    def load(self, index: int, rng: np.random.Generator) -> Sample:
        sample = self.inner.load(index, rng)
        sample.target["threads"] = torch.get_num_threads()
        return sample


def test_workers_run_one_thread_each(dataset):
    loader = build_train_loader(ThreadProbe(dataset), batch_size=2, num_workers=2, seed=0)
    threads = {t["threads"] for _, targets, _ in take(iter(loader), 4) for t in targets}
    assert threads == {1}
    assert loader.pin_memory == torch.cuda.is_available()


def test_the_test_loader_reads_each_image_once_unaugmented(dataset):
    seen = []
    for images, targets, infos in build_test_loader(dataset, batch_size=2, num_workers=1):
        assert isinstance(images, list) and isinstance(targets, list)
        for image, info in zip(images, infos, strict=True):
            assert torch.equal(image, dataset[dataset.image_ids.index(info.image_id)].image)
            seen.append(info.image_id)
    assert seen == dataset.image_ids
    shares = []
    for rank in range(2):
        loader = build_test_loader(dataset, rank=rank, world_size=2)
        shares.append([info.image_id for _, _, infos in loader for info in infos])
    assert shares == [[1, 2], [3]]


def test_sources_can_be_concatenated(dataset):
    both = ConcatSource([dataset, dataset])
    assert len(both) == 6
    assert torch.equal(both[4].image, dataset[1].image)
    assert both.load(3, np.random.default_rng(0)).info.image_id == dataset.image_ids[0]
    with pytest.raises(IndexError):
        both[6]
    loader = build_train_loader(both, batch_size=3, num_workers=0, seed=1)
    ids = [info.image_id for _, _, infos in take(iter(loader), 2) for info in infos]
    assert sorted(ids) == [1, 1, 2, 2, 3, 3]  # one epoch of the six: each image twice


@pytest.mark.slow  # two small detectors on the CPU: a few seconds
def test_targets_train_torchvision_detection_heads(tmp_path, flip_table):
    """Boxes, labels, masks and keypoints as torchvision's heads expect them (the extra
    ``densepose`` entry passes through its transform untouched)."""
    from torchvision.models.detection import KeypointRCNN, MaskRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    json_file, images, _ = official_style(tmp_path)
    source = DensePoseCocoDataset(
        json_file, images, instance_masks=True, keypoints=True, keep="with_persons"
    )
    loader = build_train_loader(
        source, batch_size=2, num_workers=0, seed=0, transform=TrainTransform(flip_table=flip_table)
    )
    images_b, targets, _ = next(iter(loader))
    torch.manual_seed(0)
    for head in (MaskRCNN, KeypointRCNN):
        backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None)
        model = head(
            backbone,
            num_classes=2,
            min_size=64,
            max_size=128,
            rpn_post_nms_top_n_train=16,
            box_batch_size_per_image=16,
        ).train()
        losses = model(images_b, targets)
        assert all(torch.isfinite(v) for v in losses.values())
        assert ("loss_mask" in losses) == (head is MaskRCNN)
