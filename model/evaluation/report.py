"""What an evaluation returns: AP per mode, pointwise and dense figures; JSON and Markdown."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from model.evaluation.dense_scores import DenseReport
from model.evaluation.densepose_eval import STAT_NAMES, APSummary
from model.evaluation.figures import ErrorFigures, ErrorStats
from model.evaluation.pointwise import PointwiseReport


@dataclass(frozen=True)
class EvaluationReport:
    """The scores of a set of detections against DensePose-COCO ground truth.

    Attributes:
        ground_truth: the ground-truth file scored against.
        detections: detections scored; images: images of the ground truth.
        kappa: GPS normalisation, ``"per_part"`` or metres.
        geodesics: the ruler of the geodesic errors (``PointDistance.describe``).
        ap: mode ("gps", "gpsm", "iou") -> AP / AR (fractions; detectron2 prints them x 100).
        pointwise: the paper's figures at the annotated points.
        dense: figures at every skin pixel (synthetic data), or None.
        seconds: time per stage.
        notes: what the reader should know (e.g. detections of other categories skipped).
    """

    ground_truth: str
    detections: int
    images: int
    kappa: str | float
    geodesics: str
    ap: dict[str, APSummary]
    pointwise: PointwiseReport
    dense: DenseReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (NaN and infinities become None)."""
        return _json_safe(
            {
                "ground_truth": self.ground_truth,
                "detections": self.detections,
                "images": self.images,
                "kappa": self.kappa,
                "geodesics": self.geodesics,
                "ap": {mode: summary.stats for mode, summary in self.ap.items()},
                "pointwise": self.pointwise.as_dict(),
                "dense": None if self.dense is None else self.dense.as_dict(),
                "seconds": self.seconds,
                "notes": self.notes,
            }
        )

    def summary(self) -> str:
        """A Markdown summary: AP table, pointwise and dense figures, per coarse part."""
        kappa = "per part" if self.kappa == "per_part" else f"{self.kappa} m"
        lines = [
            f"## DensePose evaluation against {self.ground_truth}",
            "",
            f"{self.detections} detections on {self.images} images; GPS kappa {kappa}; "
            f"geodesics: {self.geodesics}.",
        ]
        if self.ap:
            lines += ["", "| mode | " + " | ".join(STAT_NAMES) + " |"]
            lines.append("|---" * (len(STAT_NAMES) + 1) + "|")
            for mode, summary in self.ap.items():
                cells = [_percent(summary.stats[n]) for n in STAT_NAMES]
                lines.append(f"| {mode.upper()} | " + " | ".join(cells) + " |")
        p = self.pointwise
        lines += ["", f"### Pointwise: {p.persons} persons, {p.matched} matched ({p.matching})"]
        if p.measured:
            lines += _figures_table(p.figures, extra=f"mean mask IoU {p.mean_mask_iou:.3f}")
        else:
            lines += ["", f"Mean mask IoU {p.mean_mask_iou:.3f}; no geodesic figures."]
        if self.dense is not None:
            d = self.dense
            lines += ["", f"### Dense: {d.persons} persons on {d.images} synthetic images, "
                          f"{d.matched} matched"]  # fmt: skip
            lines += _figures_table(d.figures)
        if self.notes:
            lines += ["", *[f"- {n}" for n in self.notes]]
        return "\n".join(lines) + "\n"


def _percent(value: float) -> str:
    return "-" if value < 0 else f"{100 * value:.1f}"


def _stats_row(name: str, s: ErrorStats) -> str:
    miss = f"{s.misses / s.points:.1%}" if s.points else "-"
    return (
        f"| {name} | {s.points} | {miss} | {_num(s.auc10)} | {_num(s.auc30)} | "
        f"{_cm(s.mean)} | {_cm(s.median)} |"
    )


def _figures_table(figures: ErrorFigures, extra: str = "") -> list[str]:
    lines = [
        "",
        "| part | points | misses | AUC10 | AUC30 | mean cm | median cm |",
        "|---|---|---|---|---|---|---|",
        _stats_row("**all**", figures.overall),
    ]
    lines += [_stats_row(name, s) for name, s in figures.per_coarse.items() if s.points]
    if extra:
        lines += ["", extra + "."]
    return lines


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _cm(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
