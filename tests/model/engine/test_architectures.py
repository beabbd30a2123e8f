"""The paper's architectures train, evaluate and predict like the default; distillation and
the comparison report work end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from model.engine.checkpoint import load_checkpoint

from .conftest import dpstudio, train_args

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["fcn", "cascade"])
def test_architecture_evaluates_and_predicts(
    runs: dict[str, Path], synth_data: Path, tmp_path: Path, name: str
):
    ckpt = load_checkpoint(runs[name])
    assert ckpt.iteration == 2
    assert ckpt.config["model"]["architecture"] == ("fcn" if name == "fcn" else "rcnn")
    losses = json.loads((runs[name] / "metrics.jsonl").read_text().splitlines()[0])["losses"]
    if name == "cascade":
        assert {"loss_mask", "loss_keypoint", "loss_densepose_I_stage1"} <= set(losses)
    done = dpstudio(
        "model",
        "evaluate",
        "--checkpoint",
        str(runs[name]),
        "--data",
        str(synth_data),
        "--gt-boxes",
        "--limit",
        "2",
        "--out",
        str(tmp_path / "ev"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    pointwise = report["pointwise"]
    assert pointwise["persons"] > 0 and pointwise["matched"] == pointwise["persons"]
    assert report["dense"] is not None and report["dense"]["persons"] > 0
    image = next((synth_data / "images").iterdir())
    done = dpstudio(
        "model",
        "predict",
        "--checkpoint",
        str(runs[name]),
        str(image),
        "--out",
        str(tmp_path / "pred"),
        "--score-threshold",
        "0",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((tmp_path / "pred").glob("*.png"))) == 1
    assert json.loads((tmp_path / "pred" / "results.json").read_text())


def test_distillation_trains_a_student_on_the_teachers_labels(
    runs: dict[str, Path], synth_data: Path, tmp_path: Path
):
    labels = tmp_path / "labels"
    done = dpstudio(
        "model",
        "distill",
        "--teacher",
        str(runs["rcnn"]),
        "--data",
        str(synth_data),
        "--out",
        str(labels),
        "--points-per-person",
        "50",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((labels / "teacher.json").read_text())
    assert info["persons"] > 0 and 0 < info["points"] <= 50 * info["persons"]
    student = tmp_path / "student"
    done = dpstudio(
        *train_args(synth_data, student, "--max-iter", "1", "--set", f"data.teacher={labels}")
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_checkpoint(student).config["data"]["teacher"] == str(labels)


def test_compare_reports_every_readable_run(
    runs: dict[str, Path], synth_data: Path, tmp_path: Path
):
    out = tmp_path / "cmp"
    missing = tmp_path / "never-trained"
    done = dpstudio(
        "model",
        "compare",
        str(runs["rcnn"]),
        str(runs["fcn"]),
        str(missing),
        "--data",
        str(synth_data),
        "--out",
        str(out),
        "--limit",
        "2",
        "--train-iterations",
        "1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in (
        "report.md",
        "report.csv",
        "report.html",
        "accuracy_vs_speed.png",
        "per_part_error.png",
    ):
        assert (out / name).is_file(), name
    rows = list(csv.reader((out / "report.csv").open()))
    assert [r[0] for r in rows[1:]] == ["rcnn", "fcn"]
    header = rows[0]
    for row in rows[1:]:
        assert float(row[header.index("params M")]) > 1
        assert float(row[header.index("train s/iter")]) > 0
        assert float(row[header.index("infer s/image")]) > 0
    comparison = json.loads((out / "comparison.json").read_text())
    assert "never-trained" in comparison["skipped"]
    assert "no such checkpoint" in comparison["skipped"]["never-trained"]
