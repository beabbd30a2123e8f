"""GPS / GPSm / IOU AP on hand-worked cases: each reference behaviour that changes AP.

AP values below are worked out by hand from COCO's interpolated precision at the 101 recall
thresholds: a TP then FP with one person gives 1 for recall <= 0.5 (51 thresholds), i.e.
51 / 101; an FP then TP gives 0.5 there.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model.evaluation import evaluate
from model.evaluation.results import Detection

from .helpers import POINTS, Point, detection, document, person

A_BOX = [50.0, 50.0, 100.0, 150.0]


def perfect(
    ann: dict,
    score: float = 0.9,
    box: tuple[float, float, float, float] | None = None,
    chart: int = 2,
    skip: tuple[int, ...] = (),
) -> Detection:
    """A detection that predicts the person's points exactly where the reference reads them
    (``chart`` everywhere else; points in ``skip`` predicted as background)."""
    gx, gy, gw, gh = ann["bbox"]
    box = box or (gx, gy, gw, gh)
    writes = []
    fields = zip(ann["dp_x"], ann["dp_y"], ann["dp_I"], ann["dp_U"], ann["dp_V"], strict=True)
    for k, (x, y, i, u, v) in enumerate(fields):
        col = int(x * gw / 255.0 + gx - box[0])
        row = int(y * gh / 255.0 + gy - box[1])
        if 0 <= col < int(box[2]) and 0 <= row < int(box[3]):
            writes.append((row, col, 0 if k in skip else i, u, v))
    return detection(ann["image_id"], box, score, chart=chart, writes=writes)


def run(annotations, detections, geodesics, images=1, **kwargs):
    return evaluate(document(annotations, images), detections, geodesics=geodesics, **kwargs)


def ap(report, mode="gps", name="AP"):
    return report.ap[mode].stats[name]


def test_perfect_prediction_scores_one(geodesics):
    a = person(1, 1, A_BOX)
    report = run([a], [perfect(a)], geodesics)
    for mode in ("gps", "gpsm", "iou"):
        assert ap(report, mode) == pytest.approx(1.0)
    assert report.pointwise.per_person[0].mean_error < 1e-3


def test_points_are_read_with_255_and_truncation_toward_zero(geodesics):
    # dp_x = 127.5 in a 100-wide box: 127.5 * 100 / 255 = 50.0 -> column 50 (/256 gives 49).
    point: list[Point] = [(127.5, 127.5, 1, 0.2, 0.2)]
    a = person(1, 1, [100.0, 100.0, 100.0, 100.0], point)
    right = detection(1, (100.0, 100.0, 100.0, 100.0), writes=[(50, 50, 1, 0.2, 0.2)])
    wrong = detection(1, (100.0, 100.0, 100.0, 100.0), writes=[(49, 49, 1, 0.2, 0.2)])
    assert ap(run([a], [right], geodesics, modes=("gps",))) == pytest.approx(1.0)
    assert ap(run([a], [wrong], geodesics, modes=("gps",))) == 0.0
    # dp_x = 0 read in a box starting 0.4 px to its right: int(-0.4) = 0, inside the box.
    edge = person(1, 1, [100.0, 100.0, 100.0, 100.0], [(0.0, 0.0, 1, 0.2, 0.2)])
    shifted = detection(1, (100.4, 100.4, 100.0, 100.0), writes=[(0, 0, 1, 0.2, 0.2)])
    assert ap(run([edge], [shifted], geodesics, modes=("gps",))) == pytest.approx(1.0)


def test_background_prediction_scores_zero_and_counts_in_the_mean(geodesics):
    a = person(1, 1, A_BOX, POINTS[:3])
    report = run([a], [perfect(a, skip=(0,))], geodesics, modes=("gps",))
    # GPS = (0 + 1 + 1) / 3: matched at 0.50, 0.55, 0.60, 0.65 of the ten thresholds.
    assert ap(report) == pytest.approx(0.4)
    assert report.pointwise.per_person[0].misses == 1


def test_detection_with_no_point_in_its_box_scores_zero(geodesics):
    right_half: list[Point] = [(p[0] / 2 + 128, *p[1:]) for p in POINTS]
    a = person(1, 1, A_BOX, right_half)
    left = detection(1, (50.0, 50.0, 50.0, 150.0), chart=2)  # box IoU 0.5: matched pointwise
    report = run([a], [left], geodesics, modes=("gps",))
    assert ap(report) == 0.0
    scored = report.pointwise.per_person[0]
    assert scored.detection == 0 and scored.misses == len(POINTS)
    assert report.pointwise.figures.overall.auc10 == 0.0


def test_unmatched_detection_on_an_unannotated_person_is_ignored(geodesics):
    a = person(1, 1, A_BOX)
    b = person(2, 1, [250.0, 50.0, 100.0, 150.0], points=None)  # no dp_x: ignored
    on_b = detection(1, (250.0, 50.0, 100.0, 150.0), score=0.95)  # first in score order
    assert ap(run([a, b], [perfect(a), on_b], geodesics)) == pytest.approx(1.0)
    near_b = detection(1, (260.0, 50.0, 100.0, 150.0), score=0.95)  # box IoU 90/110 >= 0.8
    assert ap(run([a, b], [perfect(a), near_b], geodesics)) == pytest.approx(1.0)
    off_b = detection(1, (268.0, 50.0, 100.0, 150.0), score=0.95)  # box IoU 82/118 < 0.8
    for mode in ("gps", "gpsm", "iou"):  # a false positive ranked first: precision 0.5
        assert ap(run([a, b], [perfect(a), off_b], geodesics), mode) == pytest.approx(0.5)


def test_detections_in_images_without_scored_persons_are_ignored(geodesics):
    a = person(1, 1, A_BOX)
    c = person(2, 2, A_BOX, points=None)
    stray = [detection(2, (250.0, 250.0, 100.0, 100.0), 0.99),
             detection(3, (250.0, 250.0, 100.0, 100.0), 0.99)]  # fmt: skip
    assert ap(run([a, c], [perfect(a), *stray], geodesics, images=3)) == pytest.approx(1.0)
    c_annotated = person(2, 2, A_BOX)
    assert ap(run([a, c_annotated], [perfect(a), *stray], geodesics, images=3)) < 1.0


def test_equal_scores_are_ordered_by_image_id(geodesics):
    p1, p2 = person(1, 1, A_BOX), person(2, 2, A_BOX)
    stray = (250.0, 250.0, 100.0, 100.0)
    fp_first = [detection(1, stray, 0.9), perfect(p2, 0.9)]
    tp_first = [perfect(p1, 0.9), detection(2, stray, 0.9)]
    assert ap(run([p1, p2], fp_first, geodesics, 2)) == pytest.approx(0.5 * 51 / 101)
    assert ap(run([p1, p2], tp_first, geodesics, 2)) == pytest.approx(51 / 101)


def test_gpsm_is_the_geometric_mean_of_gps_and_mask_iou(geodesics):
    a = person(1, 1, [100.0, 100.0, 100.0, 150.0])
    half = perfect(a)
    labels = half.densepose.labels
    labels[:, 50:][labels[:, 50:] == 2] = 0  # mask on the left half, points kept
    report = run([a], [half], geodesics)
    # IoU = (7500 + 1 point pixel on the right) / 15000 = 0.50007; GPS ~ 1.
    assert ap(report, "gps") == pytest.approx(1.0)
    assert ap(report, "iou") == pytest.approx(0.1)  # matched at 0.50 only
    assert ap(report, "gpsm") == pytest.approx(0.5)  # sqrt(0.50007) = 0.7072: 0.50..0.70
    assert report.pointwise.per_person[0].mask_iou == pytest.approx(7501 / 15000)


def test_area_ranges_use_the_area_field_with_inclusive_bounds(geodesics):
    s = person(1, 1, [10.0, 10.0, 25.0, 40.0], area=1000)  # below 32^2: neither range
    m = person(2, 1, [50.0, 10.0, 50.0, 100.0], area=5000)  # medium
    b = person(3, 1, [120.0, 10.0, 96.0, 96.0], area=96.0**2)  # both medium and large
    big = person(4, 1, [230.0, 10.0, 100.0, 200.0], area=20000)  # large
    missed_m = detection(1, (50.0, 10.0, 50.0, 100.0), 0.6)  # GPS 0: a false positive
    dets = [perfect(s, 0.9), perfect(b, 0.8), perfect(big, 0.7), missed_m]
    report = run([s, m, b, big], dets, geodesics, modes=("gps",))
    assert ap(report) == pytest.approx(76 / 101)  # TP, TP, TP, FP; recall 3 / 4
    assert ap(report, name="APm") == pytest.approx(51 / 101)  # B TP, M's FP; S, big ignored
    assert ap(report, name="APl") == pytest.approx(1.0)  # B and big; the FP takes M's ignore flag
    assert (ap(report, name="AR"), ap(report, name="ARm"), ap(report, name="ARl")) == (
        pytest.approx(0.75), pytest.approx(0.5), pytest.approx(1.0)
    )  # fmt: skip
    only_small = run([s], [perfect(s)], geodesics, modes=("gps",))
    assert ap(only_small, name="APm") == -1 and ap(only_small, name="APl") == -1


def test_paper_kappa_is_an_option(geodesics):
    a = person(1, 1, A_BOX, POINTS[:1])
    report = run([a], [perfect(a)], geodesics, kappa=0.255, modes=("gps",))
    assert report.kappa == 0.255 and ap(report) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="kappa"):
        run([a], [perfect(a)], geodesics, kappa="paper")


def test_detection_on_an_unknown_image_is_refused(geodesics):
    a = person(1, 1, A_BOX)
    with pytest.raises(ValueError, match="detection 1: image_id 9 is not in the ground truth"):
        run([a], [perfect(a), detection(9, (0.0, 0.0, 10.0, 10.0))], geodesics)


def test_more_than_twenty_detections_keep_the_best_twenty(geodesics):
    a = person(1, 1, A_BOX)
    strays = [detection(1, (250.0 + k, 250.0, 100.0, 100.0), 0.95) for k in range(20)]
    assert ap(run([a], [*strays, perfect(a, 0.5)], geodesics, modes=("gps",))) == 0.0
    assert ap(run([a], [*strays[:19], perfect(a, 0.5)], geodesics, modes=("gps",))) > 0.0


def test_gps_values_follow_the_per_part_formula(geodesics, atlas):
    """Errors 0, 10 cm, miss, 30 cm on charts 1, 3, 15, 23 (k = .351, .107, .142, .150)."""
    from model.evaluation.ground_truth import load_ground_truth
    from model.evaluation.pairs import PairErrors

    gt = load_ground_truth(document([person(1, 1, A_BOX)]))
    errors = PairErrors(
        pairs=np.array([[0, 0]]),
        start=np.array([0, 4]),
        errors=np.array([0.0, 0.10, np.inf, 0.30]),
        point=np.arange(4),
    )
    # (1 + exp(-0.01 / (2 * 0.107^2)) + 0 + exp(-0.09 / (2 * 0.150^2))) / 4
    assert errors.gps(gt)[0] == pytest.approx((1 + 0.646153 + 0 + 0.135335) / 4, abs=1e-6)
    # k = 0.255 for all: a 30 cm error scores 0.5 (the paper's calibration).
    assert errors.gps(gt, 0.255)[0] == pytest.approx((1 + 0.925988 + 0 + 0.500553) / 4, abs=1e-6)


def test_a_pairs_gps_is_the_mean_the_reference_takes_bit_for_bit():
    """The reference averages each pair's scores with np.mean (pairwise summation from 8
    values on): a sequential sum differs in the last bits, which can decide a match."""
    from model.evaluation.ground_truth import load_ground_truth
    from model.evaluation.pairs import PairErrors

    rng = np.random.default_rng(3)
    sizes = [1, 3, 7, 8, 9, 17, 129, 300]
    people = []
    for k, n in enumerate(sizes):
        points = [(1.0, 1.0, int(c), 0.5, 0.5) for c in rng.integers(1, 25, n)]
        people.append(person(k + 1, 1, A_BOX, points))
    gt = load_ground_truth(document(people))
    errors = rng.uniform(0, 0.6, gt.num_points)
    errors[rng.random(gt.num_points) < 0.1] = np.inf
    start = np.r_[0, np.cumsum(sizes)]
    pairs = np.stack([np.zeros(len(sizes), np.int64), np.arange(len(sizes))], axis=1)
    gps = PairErrors(pairs, start, errors, np.arange(gt.num_points)).gps(gt)
    k = np.array([0, 0.351, 0.351, 0.107, 0.107, 0.126, 0.126, *[0.237] * 4, *[0.173] * 4,
                  *[0.142] * 4, *[0.128] * 4, 0.150, 0.150])[gt.i]  # fmt: skip
    scores = np.exp(-(errors**2) / (2 * k**2))
    expected = [np.mean(scores[a:b]) for a, b in itertools.pairwise(start)]
    assert [x.hex() for x in gps.tolist()] == [float(x).hex() for x in expected]
