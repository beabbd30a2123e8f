"""``dpstudio model evaluate`` and ``compare`` with ``--geodesics reference``, end to end.

A one-iteration run of the tiny CPU preset is evaluated on the true boxes; its written
results, scored here with the same reference files, must give the figures the command
reported. The comparison measures each run in a process of its own: a table too short for
the transform must make that process refuse the run, which shows it reads the files.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.evaluation import evaluate, read_results
from model.evaluation.reference_geodesics import ReferenceDistance, load_reference_geodesics

from ..engine.conftest import dpstudio, train_args
from . import reference_data
from .helpers import POINTS, document, person

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data JSON, a trained run, reference folder)."""
    root = tmp_path_factory.mktemp("reference-commands")
    rng = np.random.default_rng(0)
    people = [person(k, k, [10.0 + 5 * k, 12.0, 60.0, 90.0], POINTS) for k in (1, 2)]
    doc = document(people, images=2, size=128) | {"info": {"body_model": "anny"}}
    for image in doc["images"]:
        pixels = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / image["file_name"])
    data = root / "data.json"
    data.write_text(json.dumps(doc))
    run = root / "run"
    done = dpstudio(*train_args(data, run, "--max-iter", "1"))
    assert done.returncode == 0, done.stderr[-3000:]
    return data, run, reference_data.write(root / "reference")


def test_evaluate_measures_with_the_reference_geodesics(setup, tmp_path):
    data, run, folder = setup
    out = tmp_path / "ev"
    done = dpstudio("model", "evaluate", "--checkpoint", str(run), "--data", str(data),
                    "--gt-boxes", "--out", str(out), "--geodesics", "reference",
                    "--reference-data", str(folder))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    reported = json.loads((out / "evaluation.json").read_text())
    assert reported["geodesics"] == f"reference (detectron2's SMPL geodesics from {folder})"
    assert reported["pointwise"]["persons"] == 2 and reported["pointwise"]["matched"] == 2
    distance = ReferenceDistance(load_reference_geodesics(folder))
    results = read_results(out / "results.json")
    rescored = evaluate(data, results, distance=distance, gt_boxes=True).to_dict()
    for key in ("ap", "pointwise"):
        assert reported[key] == rescored[key]


def test_compare_measures_every_run_with_the_reference_geodesics(setup, tmp_path):
    data, run, folder = setup
    args = ["model", "compare", str(run), "--data", str(data), "--train-iterations", "0",
            "--geodesics", "reference", "--reference-data"]  # fmt: skip
    done = dpstudio(*args, str(folder), "--out", str(tmp_path / "cmp"))
    assert done.returncode == 0, done.stderr[-3000:]
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert f"detectron2's reference geodesics ({folder})" in " ".join(comparison["notes"])
    assert comparison["rows"]["run"]["gps_AP"] is not None
    short = reference_data.write(tmp_path / "short")  # the run's own process reads the table
    (short / "Pdist_matrix.pkl").write_bytes(
        pickle.dumps({"Pdist_matrix": reference_data.table()[:10]}, protocol=2)
    )
    done = dpstudio(*args, str(short), "--out", str(tmp_path / "cmp2"))
    skipped = json.loads((tmp_path / "cmp2" / "comparison.json").read_text())["skipped"]
    assert "'Pdist_matrix' has 10 distances" in skipped["run"]


def test_bad_reference_data_stop_evaluate_before_inference(setup, tmp_path):
    data, run, _ = setup
    done = dpstudio("model", "evaluate", "--checkpoint", str(run), "--data", str(data),
                    "--geodesics", "reference", "--reference-data", str(tmp_path))  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("dpstudio model: error: ") and "missing; download them" in lines[-1]
    assert "inference" not in done.stderr
