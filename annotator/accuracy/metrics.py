"""Error summaries: ratio of correct points (RCP), its area (AUC), GPS; the paper's figures.

All distances are geodesic, in metres (reports print centimetres).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Human annotators in the DensePose paper (synthetic ground truth): AUC10, AUC30.
PAPER_HUMAN_AUC10 = 0.563
PAPER_HUMAN_AUC30 = 0.835

#: GPS normalisation: k = 0.255 m (a 0.3 m error scores 0.5), and per-part k by the true
#: coarse part (index 1..14, 0 unused): torso, hands, feet, upper legs, lower legs, upper
#: arms, lower arms, head.
GPS_K = 0.255
GPS_K_PER_PART = np.array(
    [np.nan, 0.351, 0.107, 0.107, 0.126, 0.126, 0.237, 0.237, 0.173, 0.173, 0.142, 0.142,
     0.128, 0.128, 0.150]
)  # fmt: skip


def rcp(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Ratio of correct points: share of ``errors`` below each threshold (metres)."""
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    if len(errors) == 0:
        return np.full(len(thresholds), np.nan)
    return np.searchsorted(errors, np.asarray(thresholds), side="left") / len(errors)


def auc(errors: np.ndarray, limit: float) -> float:
    """AUC_a = (1/a) * integral of RCP(t) from 0 to a, computed exactly.

    For one point of error e the integrand is 1 for t > e, so its share is max(0, 1 - e/a).
    """
    errors = np.asarray(errors, dtype=np.float64)
    if len(errors) == 0:
        return float("nan")
    return float(np.mean(np.clip(1.0 - errors / limit, 0.0, 1.0)))


def gps(errors: np.ndarray, k: float | np.ndarray = GPS_K) -> float:
    """Geodesic point similarity: mean of exp(-g^2 / (2 k^2))."""
    errors = np.asarray(errors, dtype=np.float64)
    if len(errors) == 0:
        return float("nan")
    return float(np.mean(np.exp(-(errors**2) / (2 * np.asarray(k) ** 2))))


@dataclass(frozen=True)
class ErrorSummary:
    """Summary of a set of geodesic errors (metres) and of the points set apart.

    Attributes:
        count: points with a spot on the body and a true surface point.
        mean, median, p90: of their errors, metres (NaN when count is 0).
        auc10, auc30: areas under the RCP curve up to 10 cm and 30 cm.
        not_visible: points the annotator marked "not visible / unsure" (not errors).
        off_body: answered points whose pixel has no true body (the annotator's part mask
            strayed off the person): no truth to compare with.
    """

    count: int
    mean: float
    median: float
    p90: float
    auc10: float
    auc30: float
    not_visible: int = 0
    off_body: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(errors: np.ndarray, not_visible: int = 0, off_body: int = 0) -> ErrorSummary:
    errors = np.asarray(errors, dtype=np.float64)
    if len(errors) == 0:
        nan = float("nan")
        return ErrorSummary(0, nan, nan, nan, nan, nan, not_visible, off_body)
    return ErrorSummary(
        count=len(errors),
        mean=float(errors.mean()),
        median=float(np.median(errors)),
        p90=float(np.percentile(errors, 90)),
        auc10=auc(errors, 0.10),
        auc30=auc(errors, 0.30),
        not_visible=not_visible,
        off_body=off_body,
    )
