"""A model of the official DensePose charts (a zoo model) evaluated on Anny data: no GPS, no
point errors (its (I, U, V) name other surface points), IOU AP and mask IoU, and why."""

from __future__ import annotations

import json
from pathlib import Path

from tests.model.zoo.test_detectron2_fixture import FIXTURE, SPEC

from .conftest import dpstudio


def test_gps_is_refused_iou_and_mask_iou_are_scored(synth_data: Path, tmp_path: Path):
    ckpt = tmp_path / "zoo.pth"
    args = ["model", "import-detectron2", str(FIXTURE / "R_50_FPN_s1x_legacy.pkl")]
    args += ["--config", "R_50_FPN_s1x_legacy", "--out", str(ckpt)]
    for item in [*SPEC["overrides"], "model.min_size_test=96"]:
        args += ["--set", item]
    done = dpstudio(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "eval"
    done = dpstudio("model", "evaluate", "--checkpoint", str(ckpt), "--data", str(synth_data),
                    "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "official DensePose charts" in done.stdout and "GPS and point errors refused" in done.stdout
    )
    report = json.loads((out / "evaluation.json").read_text())
    assert set(report["ap"]) == {"iou"}
    assert report["pointwise"]["measured"] is False and "auc10" not in report["pointwise"]
    assert 0.0 <= report["pointwise"]["mean_mask_iou"] <= 1.0
    assert report["geodesics"].startswith("not measured")
