"""The accuracy pipeline end to end on gold tasks rendered from the rest body."""

import json
import subprocess
import sys

import numpy as np
import pytest

from annotator.accuracy.agreement import agreement
from annotator.accuracy.collect import collect_errors, stage1_scores
from annotator.accuracy.report import measure, numbers, write_report
from annotator.accuracy.simulate import PAPER_LIKE_ERRORS, SimulatedAnnotator
from annotator.dataset.records import AnswerStatus, PartMask, Person
from annotator.surface.geodesic import Geodesics

from .gold_project import make_gold_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gold(tmp_path_factory):
    directory = tmp_path_factory.mktemp("acc") / "project"
    project, atlas = make_gold_project(directory, azimuths=(0.0, 90.0, 180.0, 270.0))
    geo = Geodesics.load_or_build(atlas)
    yield project, atlas, geo
    project.close()


def test_simulated_annotator_errors_are_recovered_per_part(gold):
    project, atlas, geo = gold
    SimulatedAnnotator("sim", dict(PAPER_LIKE_ERRORS), seed=0).annotate(project, atlas)
    errors = collect_errors(project, geo, ["sim"])
    assert errors.measured.sum() > 250
    for part, configured in PAPER_LIKE_ERRORS.items():
        measured = errors.error[errors.measured & (errors.part == part)]
        assert len(measured), part
        assert abs(measured.mean() / configured - 1) < 0.05, (part, measured.mean(), configured)


def test_perfect_annotations_score_zero_and_auc_one(gold):
    project, atlas, geo = gold
    SimulatedAnnotator(
        "perfect", dict.fromkeys(range(1, 15), 0.0), not_visible_rate=0.2, seed=1
    ).annotate(project, atlas)
    data = measure(project, geo, ["perfect"])
    e = data.errors
    assert e.measured.sum() > 0 and np.nanmax(e.error) < 1e-3
    stage2 = numbers(data)["annotators"]["perfect"]["stage2"]
    assert stage2["auc10"] > 0.99 and stage2["auc30"] > 0.995
    # Not-visible points are counted apart, not as errors.
    assert stage2["not_visible"] == int((e.status == AnswerStatus.NOT_VISIBLE).sum()) > 0
    assert stage2["count"] == int(e.measured.sum())
    # The simulated annotator paints the true masks: stage-1 IoU is 1 for every part.
    scores = [s for s in stage1_scores(project, ["perfect"])]
    assert len(scores) == 4 and all(np.nanmin(s.iou) == 1.0 for s in scores)


def test_stage1_iou_drops_only_for_the_part_that_is_wrong(gold):
    project, _, _ = gold
    person = project.gold_person_ids()[0]
    truth = project.gold(person)
    labels = truth.labels.copy()
    labels[labels == 14] = 0  # forgot the head
    project.save_part_mask(person, "forgetful", PartMask(labels, truth.x0, truth.y0))
    (score,) = stage1_scores(project, ["forgetful"])
    assert score.iou[14] == 0.0
    assert np.nanmin(np.delete(score.iou, [0, 14])) == 1.0


def test_agreement_between_two_annotators_of_the_same_task(gold):
    project, atlas, geo = gold
    source = project.gold_person_ids()[1]
    truth = project.gold(source)
    plain = project.add_person(Person(project.person(source).image_id, project.person(source).box))
    project.set_sample_points(plain, project.sample_points(source))
    sim = SimulatedAnnotator("a", dict.fromkeys(range(1, 15), 0.03), seed=5)
    rng = np.random.default_rng(0)
    import potpourri3d as pp3d

    from annotator.accuracy.collect import true_points
    from annotator.surface.geodesic import welded_mesh

    tracer = pp3d.GeodesicTracer(*welded_mesh(atlas))
    points = project.sample_points(plain)
    face, bary, _ = true_points(truth, points.x, points.y)
    for name in ("a", "b"):
        for k in np.flatnonzero(face >= 0):
            picked = sim.walk(atlas, tracer, int(face[k]), bary[k], 0.03, rng)
            i, u, v = atlas.to_iuv(picked)
            project.save_answer(plain, int(k), name, iuv=(int(i[0]), float(u[0]), float(v[0])),
                                face=int(picked.face[0]), bary=picked.bary[0])  # fmt: skip
    agree = agreement(project, geo)
    assert agree.pairs() == [("a", "b")] and len(agree) == int((face >= 0).sum())
    # Two picks each 3 cm from the truth are 0 to 6 cm apart, about 4 cm on average.
    assert agree.distance.max() <= 0.061 and 0.025 < agree.distance.mean() < 0.055


def test_report_files_and_command_line(gold, tmp_path):
    project, atlas, geo = gold
    SimulatedAnnotator("cli-sim", seed=3).annotate(project, atlas)
    out = tmp_path / "report"
    write_report(measure(project, geo, ["cli-sim"]), geo, out)
    for name in ("report.html", "accuracy.json", "rcp.png", "heatmap.png"):
        assert (out / name).stat().st_size > 500
    nums = json.loads((out / "accuracy.json").read_text())
    assert set(nums["annotators"]) == {"cli-sim"}
    assert 0.5 < nums["annotators"]["cli-sim"]["stage2"]["auc10"] < 0.65
    html = (out / "report.html").read_text()
    assert "cli-sim" in html and "0.563" in html and "heatmap.png" in html

    cmd = [sys.executable, "-m", "annotator.cli", "accuracy", "report", str(project.directory)]
    done = subprocess.run([*cmd, "--out", str(tmp_path / "r2"), "--annotator", "cli-sim"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "cli-sim:" in done.stdout and "AUC10" in done.stdout
    future = subprocess.run([*cmd, "--out", str(tmp_path / "r3"), "--since", "2999-01-01"],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert (
        future.returncode == 0 and "annotators" in (tmp_path / "r3" / "accuracy.json").read_text()
    )
    bad = subprocess.run([*cmd, "--out", str(tmp_path / "r4"), "--since", "yesterday"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and "--since" in bad.stderr and "Traceback" not in bad.stderr
