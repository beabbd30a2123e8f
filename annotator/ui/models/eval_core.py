"""What the Evaluation dock shows, read from an evaluation folder. Qt-free.

``dpstudio model evaluate --out DIR`` writes ``DIR/evaluation.json``;
``python -m model.inference.gold_errors --out DIR`` adds ``DIR/gold_errors.json`` and the heat
maps of the model's and the people's errors on the gold tasks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.surface.parts import COARSE_PARTS

AP_COLUMNS = ("AP", "AP50", "AP75", "AR")
PART_COLUMNS = ("points", "misses", "AUC10", "AUC30", "mean cm", "median cm")


@dataclass
class EvaluationView:
    """Tables, curves and pictures of one evaluation.

    Attributes:
        title: checkpoint and data, one line.
        ap_rows: ``[mode, AP, AP50, AP75, AR]`` as text (percent).
        part_rows: ``[part, *PART_COLUMNS]`` as text, "all" first.
        rcp: curve name -> (thresholds in cm, ratio of correct points).
        heatmaps: (title, PNG file) of the model and the people.
        people_rows: the people's ``[part, *PART_COLUMNS]`` on the same gold tasks.
    """

    title: str = ""
    ap_rows: list[list[str]] = field(default_factory=list)
    part_rows: list[list[str]] = field(default_factory=list)
    rcp: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    heatmaps: list[tuple[str, Path]] = field(default_factory=list)
    people_rows: list[list[str]] = field(default_factory=list)


def read_evaluation(folder: Path) -> EvaluationView:
    """Read whatever of ``evaluation.json`` and ``gold_errors.json`` the folder holds.

    Raises:
        ValueError: the folder holds neither.
    """
    view = EvaluationView()
    evaluation = _load(folder / "evaluation.json")
    gold = _load(folder / "gold_errors.json")
    if evaluation is None and gold is None:
        raise ValueError(f"{folder}: no evaluation.json or gold_errors.json")
    if evaluation is not None:
        view.title = (
            f"{Path(str(evaluation.get('checkpoint', '?'))).parent.name} at iteration "
            f"{evaluation.get('iteration', '?')} on {Path(str(evaluation['ground_truth'])).name}"
        )
        for mode, stats in evaluation.get("ap", {}).items():
            view.ap_rows.append([mode.upper(), *(_percent(stats.get(k)) for k in AP_COLUMNS)])
        pointwise = evaluation.get("pointwise", {})
        view.part_rows = _part_rows(pointwise)
        view.rcp["model (evaluation)"] = _rcp(pointwise)
    if gold is not None:
        view.rcp["model (gold tasks)"] = _rcp(gold["model"])
        if gold["people"]["overall"]["points"]:
            view.rcp["people (gold tasks)"] = _rcp(gold["people"])
            view.people_rows = _part_rows(gold["people"])
        if not view.part_rows:
            view.part_rows = _part_rows(gold["model"])
        for name, file in gold.get("heatmaps", {}).items():
            view.heatmaps.append((name, folder / file))
        view.title = view.title or f"gold tasks, iteration {gold.get('iteration', '?')}"
    view.rcp = {k: v for k, v in view.rcp.items() if v[0]}
    return view


def _load(file: Path) -> Any:
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError):
        return None


def _part_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows = []
    if "overall" in figures:
        rows.append(["all", *_stats(figures["overall"])])
    per = figures.get("per_coarse", {})
    for part in COARSE_PARTS:
        s = per.get(part)
        if s and s.get("points"):
            rows.append([part, *_stats(s)])
    return rows


def _stats(s: dict[str, Any]) -> list[str]:
    points = int(s.get("points") or 0)
    misses = int(s.get("misses") or 0)
    return [
        str(points),
        f"{misses / points:.0%}" if points else "-",
        _number(s.get("auc10")),
        _number(s.get("auc30")),
        _number(s.get("mean"), 100, 1),
        _number(s.get("median"), 100, 1),
    ]


def _rcp(figures: dict[str, Any]) -> tuple[list[float], list[float]]:
    curve = figures.get("rcp") or {}
    pairs = [
        (100 * float(t), float(v))
        for t, v in zip(curve.get("thresholds_m", []), curve.get("values", []), strict=False)
        if v is not None and math.isfinite(float(v))
    ]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _percent(value: Any) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or value < 0)):
        return "-"
    return f"{100 * float(value):.1f}"


def _number(value: Any, scale: float = 1.0, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{scale * float(value):.{digits}f}"
