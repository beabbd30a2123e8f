import numpy as np

from annotator.accuracy.metrics import GPS_K, auc, gps, rcp, summarize


def test_auc_is_the_normalised_area_under_rcp():
    errors = np.random.default_rng(0).exponential(0.05, 500)
    t = np.linspace(0, 0.1, 200_001)
    numeric = np.trapezoid(rcp(errors, t), t) / 0.1
    assert abs(auc(errors, 0.1) - numeric) < 1e-4
    assert auc(np.zeros(10), 0.1) == 1.0 and auc(np.full(10, 0.5), 0.3) == 0.0


def test_rcp_counts_points_below_each_threshold():
    errors = np.array([0.01, 0.02, 0.05, 0.2])
    assert list(rcp(errors, np.array([0.0, 0.015, 0.05, 1.0]))) == [0.0, 0.25, 0.5, 1.0]
    assert np.isnan(rcp(np.zeros(0), np.array([0.1]))).all()


def test_gps_constant_gives_one_half_at_30_cm():
    assert abs(gps(np.array([0.3]), GPS_K) - 0.5) < 1e-3
    assert gps(np.zeros(3)) == 1.0


def test_summary_keeps_set_apart_points_apart():
    s = summarize(np.array([0.01, 0.03]), not_visible=4, off_body=1)
    assert s.count == 2 and abs(s.mean - 0.02) < 1e-12 and s.not_visible == 4 and s.off_body == 1
    empty = summarize(np.zeros(0), not_visible=3)
    assert empty.count == 0 and np.isnan(empty.mean) and empty.not_visible == 3
