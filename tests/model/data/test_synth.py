"""A real ``dpstudio synth`` folder: sparse points, dense points from the exact truth."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from annotator.synth.writer import load_ground_truth
from model.data.dataset import DensePoseCocoDataset
from model.data.errors import DatasetError

pytestmark = pytest.mark.slow  # renders the folder once per session (about 10 s)


def annotations(folder):
    doc = json.loads((folder / "densepose.json").read_text())
    return doc, {a["id"]: a for a in doc["annotations"]}


def test_a_synth_folder_loads_with_its_body_model(synth_folder):
    ds = DensePoseCocoDataset.from_synth(synth_folder)
    doc, _ = annotations(synth_folder)
    assert len(ds) == len(doc["images"]) == 3
    assert ds.body_model == "anny"
    assert ds.stats.densepose_persons == sum("dp_x" in a for a in doc["annotations"])


def test_dense_points_are_the_ground_truth_exactly(synth_folder):
    ds = DensePoseCocoDataset.from_synth(synth_folder, points="dense")
    doc, anns = annotations(synth_folder)
    checked = 0
    for index, record in enumerate(doc["images"]):
        truth = load_ground_truth(synth_folder / record["gt_file"])
        dp = ds[index].target["densepose"]
        assert dp.dense
        persons = [a for a in doc["annotations"] if a["image_id"] == record["id"]]
        for n, ann in enumerate(persons):
            mine = dp.person == n
            if "dp_x" not in ann:
                assert not mine.any() and not dp.has_points[n]
                continue
            rows, cols = np.nonzero(truth.instance == ann["instance"])  # row-major
            assert int(mine.sum()) == len(rows) > 0
            x, y, w, h = ann["bbox"]
            np.testing.assert_allclose(dp.x[mine].numpy(), (cols + 0.5 - x) / w * 255, atol=1e-4)
            np.testing.assert_allclose(dp.y[mine].numpy(), (rows + 0.5 - y) / h * 255, atol=1e-4)
            assert np.array_equal(dp.i[mine].numpy(), truth.i[rows, cols])
            assert np.array_equal(dp.u[mine].numpy(), truth.u[rows, cols])
            assert np.array_equal(dp.v[mine].numpy(), truth.v[rows, cols])
            checked += 1
    assert checked == sum("dp_x" in a for a in anns.values()) > 0


def test_annotated_points_are_dense_points_of_the_same_pixel(synth_folder):
    """Sparse and dense points follow one convention: the same pixel, the same target."""
    sparse = DensePoseCocoDataset.from_synth(synth_folder)
    dense = DensePoseCocoDataset.from_synth(synth_folder, points="dense")
    for index in range(len(sparse)):
        a, b = sparse[index].target["densepose"], dense[index].target["densepose"]
        for p in range(a.num_points):
            same = (b.person == a.person[p]) & ((b.x - a.x[p]).abs() < 1e-3)
            same &= (b.y - a.y[p]).abs() < 1e-3
            assert int(same.sum()) == 1
            k = int(torch.nonzero(same)[0])
            assert int(b.i[k]) == int(a.i[p])
            assert abs(float(b.u[k]) - float(a.u[p])) < 1e-6
            assert abs(float(b.v[k]) - float(a.v[p])) < 1e-6


def test_a_dense_sample_comes_from_the_generator(synth_folder):
    ds = DensePoseCocoDataset.from_synth(synth_folder, points="dense_sample", points_per_person=40)
    full = DensePoseCocoDataset.from_synth(synth_folder, points="dense")
    index = next(k for k in range(len(ds)) if full[k].target["densepose"].num_points > 200)
    one = ds.load(index, np.random.default_rng(5)).target["densepose"]
    same = ds.load(index, np.random.default_rng(5)).target["densepose"]
    other = ds.load(index, np.random.default_rng(6)).target["densepose"]
    assert torch.equal(one.x, same.x) and not torch.equal(one.x, other.x)
    counts = torch.bincount(one.person, minlength=len(one))
    full_dp = full[index].target["densepose"]
    full_counts = torch.bincount(full_dp.person, minlength=len(one))
    assert torch.equal(counts, full_counts.clamp(max=40))
    pairs = set(zip(full_dp.x.tolist(), full_dp.y.tolist(), strict=True))
    assert all(p in pairs for p in zip(one.x.tolist(), one.y.tolist(), strict=True))


def test_a_missing_ground_truth_file_is_named(synth_folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(synth_folder, copy)
    (copy / "gt" / "000001.npz").unlink()
    with pytest.raises(DatasetError, match=r"000001\.npz: image 2, gt_file.*not found"):
        DensePoseCocoDataset.from_synth(copy, points="dense")
    DensePoseCocoDataset.from_synth(copy)  # sparse points need no truth
    (copy / "gt" / "000002.npz").write_bytes(b"garbage")
    ds = DensePoseCocoDataset.from_synth(copy, points="dense", check_files=False)
    with pytest.raises(DatasetError, match=r"000002\.npz: image 3, gt_file.*re-run dpstudio"):
        ds[2]


def test_dense_samples_and_flips_resume_whatever_the_workers(synth_folder, flip_table):
    from model.data.loader import build_train_loader
    from model.data.transforms import TrainTransform

    ds = DensePoseCocoDataset.from_synth(synth_folder, points="dense_sample", points_per_person=30)
    options = {"batch_size": 1, "seed": 2, "transform": TrainTransform(flip_table=flip_table)}

    def run(workers: int, start: int, n: int) -> list:
        loader = build_train_loader(ds, num_workers=workers, start_iter=start, **options)
        out = []
        for images, targets, _ in itertools.islice(iter(loader), n):
            dp = targets[0]["densepose"]
            out.append((images[0], dp.x, dp.i, dp.u))
        return out

    straight, resumed = run(0, 0, 5), run(2, 2, 3)
    for a, b in zip(straight[2:], resumed, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
