"""The paper's pointwise figures over a set of geodesic errors: RCP, AUC10 / AUC30, per part.

A *miss* (no matched detection, predicted background, or outside the detection's box) is an
infinite error: it is never "correct" at any threshold, so it lowers RCP and AUC, as in the
paper's multi-person evaluation. Mean and median are taken over the predicted points only
(finite errors), and the share of misses is reported beside them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from annotator.accuracy.metrics import auc, rcp
from annotator.surface.parts import COARSE_PARTS, FINE_PARTS, FINE_TO_COARSE

#: Thresholds of the reported RCP curve: 0 to 30 cm by 0.5 cm, metres.
RCP_THRESHOLDS = np.round(np.arange(61) * 0.005, 4)


@dataclass(frozen=True)
class ErrorStats:
    """Summary of N geodesic errors (metres; misses infinite).

    Attributes:
        points: N, every scored point.
        misses: points without a prediction (infinite error).
        auc10, auc30: (1/a) * integral of RCP from 0 to a = 10 cm, 30 cm (NaN when N is 0).
        mean, median: of the predicted points' errors, metres (NaN when none).
    """

    points: int
    misses: int
    auc10: float
    auc30: float
    mean: float
    median: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def error_stats(errors: np.ndarray) -> ErrorStats:
    errors = np.asarray(errors, np.float64)
    finite = errors[np.isfinite(errors)]
    nan = float("nan")
    return ErrorStats(
        points=len(errors),
        misses=int(len(errors) - len(finite)),
        auc10=auc(errors, 0.10) if len(errors) else nan,
        auc30=auc(errors, 0.30) if len(errors) else nan,
        mean=float(finite.mean()) if len(finite) else nan,
        median=float(np.median(finite)) if len(finite) else nan,
    )


@dataclass(frozen=True)
class ErrorFigures:
    """All figures of one set of errors.

    Attributes:
        overall: every point.
        rcp: RCP at :data:`RCP_THRESHOLDS` (share of points with error below each).
        per_chart: chart name -> stats of the points whose true chart it is (24).
        per_coarse: coarse part name -> stats (14).
    """

    overall: ErrorStats
    rcp: list[float]
    per_chart: dict[str, ErrorStats]
    per_coarse: dict[str, ErrorStats]

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "rcp": {"thresholds_m": RCP_THRESHOLDS.tolist(), "values": self.rcp},
            "per_chart": {k: v.as_dict() for k, v in self.per_chart.items()},
            "per_coarse": {k: v.as_dict() for k, v in self.per_coarse.items()},
        }


def error_figures(errors: np.ndarray, charts: np.ndarray) -> ErrorFigures:
    """Figures of ``errors [N]`` (metres) of points on true ``charts [N]`` (1..24)."""
    errors = np.asarray(errors, np.float64)
    charts = np.asarray(charts, np.int64)
    curve = rcp(errors, RCP_THRESHOLDS) if len(errors) else np.full(len(RCP_THRESHOLDS), np.nan)
    coarse = FINE_TO_COARSE[charts]
    return ErrorFigures(
        overall=error_stats(errors),
        rcp=[float(c) for c in curve],
        per_chart={n: error_stats(errors[charts == k + 1]) for k, n in enumerate(FINE_PARTS)},
        per_coarse={n: error_stats(errors[coarse == k + 1]) for k, n in enumerate(COARSE_PARTS)},
    )
