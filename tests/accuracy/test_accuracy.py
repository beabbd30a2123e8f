"""The accuracy pipeline end to end on gold tasks rendered from the rest body."""

import json
import subprocess
import sys

import numpy as np
import pytest

from annotator.accuracy.agreement import agreement
from annotator.accuracy.collect import collect_errors, stage1_scores
from annotator.accuracy.report import measure, numbers, write_report
from annotator.accuracy.simulate import (
    PAPER_LIKE_ERRORS,
    RAYLEIGH_CV,
    SimulatedAnnotator,
    draw_distances,
    make_tracer,
    pick_at_distance,
)
from annotator.dataset.records import AnswerStatus, PartMask, Person
from annotator.surface.geodesic import Geodesics
from annotator.surface.meshutil import triangle_areas
from annotator.surface.points import SurfacePoints

from .gold_project import make_gold_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gold(tmp_path_factory):
    directory = tmp_path_factory.mktemp("acc") / "project"
    project, atlas = make_gold_project(directory, azimuths=(0.0, 90.0, 180.0, 270.0))
    geo = Geodesics.load_or_build(atlas)
    yield project, atlas, geo
    project.close()


def random_surface_points(
    faces: np.ndarray, area: np.ndarray, n: int, rng: np.random.Generator
) -> SurfacePoints:
    """``n`` points uniform over the faces where ``faces`` (a face mask) is true."""
    ids = np.flatnonzero(faces)
    face = rng.choice(ids, size=n, p=area[ids] / area[ids].sum())
    return SurfacePoints(face, rng.dirichlet(np.ones(3), size=n))


#: Relative tolerance on a part's mean error, and how many standard errors it must span.
TOLERANCE, STANDARD_ERRORS = 0.05, 4.0


def test_simulated_errors_have_the_configured_mean_per_part(gold):
    """Each part's mean geodesic error, measured as the report measures it, is the configured
    one within 5 %. The distances are Rayleigh-distributed (standard deviation = 0.523 x the
    mean), so a part's sample mean has a relative standard error of 0.523 / sqrt(n): 5 % spans
    4 standard errors from n = (4 x 0.523 / 0.05)^2 = 1749 points on, the count used here."""
    _, atlas, geo = gold
    n = int(np.ceil((STANDARD_ERRORS * RAYLEIGH_CV / TOLERANCE) ** 2))
    assert 1700 < n < 1800
    rng = np.random.default_rng(7)
    tracer = make_tracer(atlas)
    area = triangle_areas(atlas.rest_vertices, atlas.faces)
    for part, mean in PAPER_LIKE_ERRORS.items():
        start = random_surface_points(atlas.face_coarse == part, area, n, rng)
        distance = draw_distances(np.full(n, mean), rng)
        end = pick_at_distance(atlas, tracer, start, distance, rng, geo)
        measured = geo.distance(start, end)
        assert abs(measured.mean() / mean - 1) < TOLERANCE, (part, measured.mean(), mean)
        # Walks that wrapped round a finger or toe were redrawn: a pick ends where it should.
        assert abs(measured.mean() / distance.mean() - 1) < 0.01, part


def test_simulated_errors_are_spread_not_a_staircase(gold):
    """Through the whole pipeline (sampled points, answers, report), each part's mean is
    recovered within 4 standard errors of its own count, and the errors spread like a
    Rayleigh distribution rather than sitting at one distance per part."""
    project, atlas, geo = gold
    SimulatedAnnotator("sim", dict(PAPER_LIKE_ERRORS), seed=0).annotate(
        project, atlas, geodesics=geo
    )
    errors = collect_errors(project, geo, ["sim"])
    assert errors.measured.sum() > 250
    for part, configured in PAPER_LIKE_ERRORS.items():
        measured = errors.error[errors.measured & (errors.part == part)]
        assert len(measured) >= 5, part
        allowed = STANDARD_ERRORS * RAYLEIGH_CV / np.sqrt(len(measured))
        assert abs(measured.mean() / configured - 1) < allowed, (part, measured.mean(), configured)
    scale = np.array([PAPER_LIKE_ERRORS[p] for p in errors.part[errors.measured]])
    relative = errors.error[errors.measured] / scale  # Rayleigh with mean 1
    assert abs(relative.std() / RAYLEIGH_CV - 1) < 0.2
    assert len(np.unique(np.round(relative, 2))) > 100  # no staircase


def test_the_simulated_annotator_is_deterministic_for_a_seed(gold):
    project, atlas, _ = gold
    person = project.gold_person_ids()[:1]
    for name in ("twin-a", "twin-b"):
        SimulatedAnnotator(name, seed=11).annotate(project, atlas, person)
    a, b = (project.answers(person[0], name) for name in ("twin-a", "twin-b"))
    assert a is not None and b is not None and (a.status == AnswerStatus.ANSWERED).sum() > 20
    np.testing.assert_array_equal(a.face, b.face)
    np.testing.assert_array_equal(a.bary, b.bary)


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
