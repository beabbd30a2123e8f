"""detectron2's reference geodesics, read from tiny files of the same formats.

The files (``reference_data.py``) hold a handful of subdivided vertices; every expected value
below is worked out by hand from them.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from model.evaluation import evaluate, load_ground_truth, write_results
from model.evaluation.pairs import pair_errors
from model.evaluation.reference_files import ReferenceDataError
from model.evaluation.reference_geodesics import (
    ReferenceDistance,
    load_reference_geodesics,
)

from . import reference_data
from .helpers import detection, document, person
from .test_cli import parse

BOX = [50.0, 50.0, 100.0, 150.0]
#: A person's points (dp_x, dp_y, I, U, V): on vertices 1 and 2 of chart 1, 4 of chart 2.
POINTS = [(40.0, 30.0, 1, 0.1, 0.1), (200.0, 60.0, 1, 0.9, 0.1), (120.0, 200.0, 2, 0.2, 0.5)]
#: What a detection predicts at each of them: vertex 1 (exact), 3 (chart 1), 3 (the seam,
#: chart 2); U, V on the 1/255 grid of the results format.
PREDICTED = [(1, 26 / 255, 26 / 255), (1, 128 / 255, 230 / 255), (2, 204 / 255, 128 / 255)]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    return reference_data.write(tmp_path / "reference")


def the_person() -> dict:
    return person(1, 1, BOX, POINTS)


def the_detection(score: float = 0.9) -> object:
    """A detection on the person's box predicting ``PREDICTED`` where the points are read."""
    x, y, w, h = BOX
    writes = []
    for (dp_x, dp_y, *_), (i, u, v) in zip(POINTS, PREDICTED, strict=True):
        writes.append((int(dp_y * h / 255.0), int(dp_x * w / 255.0), i, u, v))
    return detection(1, (x, y, w, h), score, chart=0, writes=writes)


def test_nearest_vertex_of_the_chart_then_its_number(folder):
    tables = load_reference_geodesics(folder)
    i = np.array([1, 1, 1, 2, 2, 3, 3, 0])
    u = np.array([0.8, 0.45, 0.1, 0.75, 0.3, 0.5, 0.1, 0.5])
    v = np.array([0.2, 0.7, 0.12, 0.5, 0.5, 0.5, 0.9, 0.5])
    # (0.8, 0.2) is 0.14 from (0.9, 0.1), 0.71 from (0.1, 0.1): vertex 2; (0.45, 0.7) is
    # 0.21 from (0.5, 0.9): vertex 3; chart 2's (0.8, 0.5) is vertex 3 too (the seam);
    # charts 3..24 have two vertices at (0.5, 0.5): the first in the file (5) wins the tie;
    # background has none.
    assert tables.vertices(i, u, v).tolist() == [2, 3, 1, 3, 4, 5, 5, 0]


def test_distances_are_read_from_the_table_by_larger_then_smaller_vertex(folder):
    tables = load_reference_geodesics(folder)
    a = np.array([2, 3, 6, 1, 3, 0, 4])
    b = np.array([3, 2, 5, 6, 3, 2, 0])
    got = tables.distance(a, b)
    # (3, 2): entry 2 * 1 / 2 + 1 = 2 = 0.32; (6, 5): entry 5 * 4 / 2 + 4 = 14 = 0.65;
    # (6, 1): entry 10 = 0.61; the same vertex: 0; no vertex: infinite.
    f32 = [float(np.float32(x)) for x in (0.32, 0.32, 0.65, 0.61)]
    assert got.tolist() == [*f32, 0.0, np.inf, np.inf]


def test_gps_of_a_small_instance_and_its_ap(folder):
    gt = load_ground_truth(document([the_person()]))
    distance = ReferenceDistance(load_reference_geodesics(folder))
    errors = pair_errors(gt, [the_detection()], np.array([[0, 0]]), distance)
    d23 = float(np.float32(0.32))  # vertices 2 and 3
    d34 = float(np.float32(0.43))  # vertices 4 and 3
    assert errors.errors.tolist() == [0.0, d23, d34]
    # k = 0.351 (torso charts 1, 2): (1 + exp(-0.1024 / 0.2464) + exp(-0.1849 / 0.2464)) / 3
    #   = (1 + 0.6600 + 0.4722) / 3 = 0.7107
    gps = errors.gps(gt)[0]
    assert gps == pytest.approx(0.7107, abs=1e-4)
    report = evaluate(gt, [the_detection()], distance=distance, modes=("gps",))
    # one person, one detection of GPS 0.71: matched at 0.50, 0.55, ..., 0.70 (5 of 10).
    assert report.ap["gps"].stats["AP"] == pytest.approx(0.5)
    assert report.geodesics.startswith("reference")
    person_score = report.pointwise.per_person[0]
    assert person_score.mean_error == pytest.approx((d23 + d34) / 3)


def test_gps_squares_in_the_table_precision_when_every_point_is_tabulated(folder):
    distance = ReferenceDistance(load_reference_geodesics(folder))
    d = float(np.float32(0.32))
    errors = np.array([d, d, 0.0, d, np.inf, d])
    start = np.array([0, 2, 4, 6])  # all tabulated | with the same vertex | with a miss
    squared = distance.squared(errors, start)
    narrow, wide = float(np.float32(d) ** 2), d**2
    assert narrow != wide  # the two precisions differ here, so the test can tell them apart
    assert squared.tolist() == [narrow, narrow, 0.0, wide, np.inf, wide]
    wide_table = reference_data.write(folder.parent / "float64", np.float64)
    float64 = ReferenceDistance(load_reference_geodesics(wide_table))
    assert float64.squared(errors, start).tolist() == (errors**2).tolist()


def test_the_data_are_read_once_per_process(folder, monkeypatch):
    from model.evaluation import reference_geodesics

    first = load_reference_geodesics(folder)
    assert load_reference_geodesics(folder / ".." / folder.name) is first
    lines: list[str] = []
    monkeypatch.setattr(reference_geodesics, "_SLOW", 0)  # every file counts as large
    other = reference_data.write(folder.parent / "other")
    load_reference_geodesics(other, progress=lines.append)
    assert lines == [f"reading {other / 'Pdist_matrix.pkl'} (0.0 GB, once per process)"]


def _damage(folder: Path, name: str, how: str) -> None:
    from scipy.io import savemat

    u, v, part, index = reference_data.vertices()
    path = folder / name
    if how == "garbage":
        path.write_bytes(b"not a MATLAB file at all" * 10)
    elif how == "no V":
        savemat(path, {"U_subdiv": u, "Part_ID_subdiv": part})
    elif how == "chart 25":
        savemat(path, {"U_subdiv": u, "V_subdiv": v, "Part_ID_subdiv": np.r_[part[:-1], 25]})
    elif how == "short index":
        savemat(path, {"index": index[:-1]})
    elif how == "code":
        path.write_bytes(b"cos\nsystem\n(Vtouch " + str(folder / "ran").encode() + b"\ntR.")
    elif how == "short table":
        path.write_bytes(pickle.dumps({"Pdist_matrix": reference_data.table()[:10]}, 2))


@pytest.mark.parametrize(
    ("name", "how", "message"),
    [
        ("SMPL_subdiv.mat", "garbage", r"SMPL_subdiv\.mat: not a MATLAB file scipy can read"),
        ("SMPL_subdiv.mat", "no V", r"SMPL_subdiv\.mat: no numeric array 'V_subdiv' in it"),
        ("SMPL_subdiv.mat", "chart 25", r"'Part_ID_subdiv' holds 25; it must hold whole "
                                        r"numbers 1\.\.24"),
        ("SMPL_SUBDIV_TRANSFORM.mat", "short index", r"'index' has 48 values for the 49 "
                                                     r"vertices of SMPL_subdiv\.mat"),
        ("Pdist_matrix.pkl", "code", r"Pdist_matrix\.pkl: refused: it refers to os\.system"),
        ("Pdist_matrix.pkl", "short table", r"'Pdist_matrix' has 10 distances; the 6 "
                                            r"vertices of SMPL_SUBDIV_TRANSFORM\.mat need 15"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_one_line_naming_it_and_where_to_get_it(folder, name, how, message):
    _damage(folder, name, how)
    with pytest.raises(ReferenceDataError, match=message) as caught:
        load_reference_geodesics(folder)
    text = str(caught.value)
    assert "\n" not in text
    assert f"download it again from https://dl.fbaipublicfiles.com/densepose/data/{name}" in text
    assert not (folder / "ran").exists()


def test_a_missing_folder_or_file_is_one_line_naming_what_to_download(tmp_path, folder):
    with pytest.raises(ReferenceDataError, match=r"nowhere: no such folder; put detectron2's"):
        load_reference_geodesics(tmp_path / "nowhere")
    (folder / "SMPL_SUBDIV_TRANSFORM.mat").unlink()
    (folder / "Pdist_matrix.pkl").unlink()
    expected = (
        r"SMPL_SUBDIV_TRANSFORM\.mat, Pdist_matrix\.pkl missing; download them from "
        r"https://dl\.fbaipublicfiles\.com/densepose/data/ into this folder"
    )
    with pytest.raises(ReferenceDataError, match=expected):
        load_reference_geodesics(folder)


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "gt.json"
    data.write_text(json.dumps(document([the_person()])))
    results = tmp_path / "results.json"
    write_results(results, [the_detection()])
    return data, results


def test_score_with_the_reference_geodesics_end_to_end(files, folder, tmp_path, capsys):
    data, results = files
    out = tmp_path / "report.json"
    argv = ["score", str(results), "--data", str(data), "--out", str(out)]
    args = parse([*argv, "--geodesics", "reference", "--reference-data", str(folder)])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "| GPS | 50.0 |" in printed and "geodesics: reference" in printed
    report = json.loads(out.read_text())
    assert report["geodesics"] == f"reference (detectron2's SMPL geodesics from {folder})"
    assert report["ap"]["gps"]["AP"] == pytest.approx(0.5)


def test_score_refuses_inconsistent_geodesics_options(files, folder, tmp_path):
    from annotator.cli import UserError

    data, results = files
    argv = ["score", str(results), "--data", str(data)]
    args = parse([*argv, "--geodesics", "reference"])
    with pytest.raises(UserError, match="--geodesics reference needs --reference-data DIR"):
        args.handler(args)
    args = parse([*argv, "--reference-data", str(folder)])
    with pytest.raises(UserError, match="--reference-data is only read with --geodesics reference"):
        args.handler(args)
    args = parse([*argv, "--geodesics", "reference", "--reference-data", str(tmp_path / "none")])
    with pytest.raises(UserError, match="none: no such folder"):
        args.handler(args)
