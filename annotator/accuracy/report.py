"""The accuracy report: numbers (JSON), figures (PNG) and one HTML page that shows them.

``dpstudio accuracy report PROJECT --out DIR`` writes::

    DIR/report.html     tables and figures, readable offline
    DIR/accuracy.json   every number of the report
    DIR/rcp.png         RCP curves per annotator
    DIR/heatmap.png     mean error on the body, all selected annotators
    DIR/heatmap_<annotator>.png   the same per annotator (when several)
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.accuracy.agreement import Agreement, agreement
from annotator.accuracy.collect import MaskScore, PointErrors, collect_errors, stage1_scores
from annotator.accuracy.metrics import PAPER_HUMAN_AUC10, PAPER_HUMAN_AUC30, summarize
from annotator.dataset.store import Project
from annotator.surface.geodesic import Geodesics
from annotator.surface.parts import COARSE_PARTS, N_COARSE
from annotator.surface.points import SurfacePoints


@dataclass
class AccuracyData:
    """Everything measured for a report (see :func:`measure`)."""

    errors: PointErrors
    masks: list[MaskScore]
    agreement: Agreement
    annotators: list[str]


def measure(
    project: Project,
    geodesics: Geodesics,
    annotators: Iterable[str] | None = None,
    since: float | None = None,
    until: float | None = None,
) -> AccuracyData:
    """Errors of the selected annotators on gold tasks, their stage-1 IoU, and agreement."""
    wanted = None if annotators is None else list(annotators)
    errors = collect_errors(project, geodesics, wanted, since, until)
    masks = [
        m
        for m in stage1_scores(project, wanted)
        if (since is None or (m.updated or 0) >= since)
        and (until is None or (m.updated or 0) < until)
    ]
    agree = agreement(project, geodesics)
    if wanted is not None:
        keep = np.isin(agree.first, wanted) | np.isin(agree.second, wanted)
        agree = Agreement(
            *(
                getattr(agree, k)[keep]
                for k in ("first", "second", "person", "index", "part", "distance")
            )
        )
    names = sorted({str(a) for a in errors.annotator} | {m.annotator for m in masks})
    return AccuracyData(errors, masks, agree, names)


def numbers(data: AccuracyData) -> dict:
    """All numbers of the report as plain JSON-able values (centimetres for distances)."""
    e = data.errors

    def summary(mask: np.ndarray) -> dict:
        s: dict[str, Any] = summarize(
            e.error[mask & e.measured],
            int((mask & e.not_visible).sum()),
            int((mask & e.off_body).sum()),
        ).as_dict()
        for key in ("mean", "median", "p90"):
            s[f"{key}_cm"] = _cm(float(s.pop(key) or np.nan))
        return s

    out: dict = {
        "paper_human": {"auc10": PAPER_HUMAN_AUC10, "auc30": PAPER_HUMAN_AUC30},
        "all": summary(np.ones(len(e), bool)),
        "annotators": {},
    }
    for name in data.annotators:
        mine = e.annotator == name
        parts = {
            COARSE_PARTS[p - 1]: summary(mine & (e.part == p))
            for p in range(1, N_COARSE + 1)
            if np.any(mine & (e.part == p))
        }
        ious = np.array([m.iou for m in data.masks if m.annotator == name]).reshape(
            -1, N_COARSE + 1
        )
        stage1 = {
            COARSE_PARTS[p - 1]: _round(float(np.nanmean(ious[:, p])))
            for p in range(1, N_COARSE + 1)
            if ious.size and np.isfinite(ious[:, p]).any()
        }
        out["annotators"][name] = {
            "stage2": summary(mine),
            "stage2_by_part": parts,
            "stage1_iou_by_part": stage1,
            "stage1_masks": len(ious),
        }
    agree = data.agreement
    out["agreement"] = {
        f"{a} / {b}": summarize(agree.distance[(agree.first == a) & (agree.second == b)]).as_dict()
        for a, b in agree.pairs()
    }
    for value in out["agreement"].values():
        for key in ("mean", "median", "p90"):
            value[f"{key}_cm"] = _cm(value.pop(key))
    return out


def _cm(metres: float) -> float | None:
    return None if not np.isfinite(metres) else round(metres * 100, 3)


def _round(x: float) -> float | None:
    return None if not np.isfinite(x) else round(x, 4)


def write_report(
    data: AccuracyData, geodesics: Geodesics, out_dir: Path, title: str = "Annotator accuracy"
) -> Path:
    """Write the HTML report, its figures and the JSON of numbers; returns the HTML path."""
    from PIL import Image

    from annotator.accuracy.figures import heatmap_figure, rcp_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    nums = numbers(data)
    (out_dir / "accuracy.json").write_text(json.dumps(nums, indent=2))
    e = data.errors
    groups = {name: e.error[(e.annotator == name) & e.measured] for name in data.annotators}
    Image.fromarray(rcp_figure(groups)).save(out_dir / "rcp.png")
    heatmaps = []
    selections = [("all annotators", np.ones(len(e), bool), "heatmap.png")]
    if len(data.annotators) > 1:
        selections += [(n, e.annotator == n, f"heatmap_{_slug(n)}.png") for n in data.annotators]
    for label, mask, name in selections:
        m = mask & e.measured
        if m.any():
            points = SurfacePoints(e.true_face[m], e.true_bary[m])
            Image.fromarray(heatmap_figure(geodesics, points, e.error[m], label)).save(
                out_dir / name
            )
            heatmaps.append(name)
    page = _html(title, nums, heatmaps)
    path = out_dir / "report.html"
    path.write_text(page)
    return path


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def _table(header: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "<td>–</td>"
        if isinstance(v, float):
            return f"<td>{v:.3f}</td>"
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


_STAGE2_COLUMNS = [
    "points",
    "mean cm",
    "median cm",
    "p90 cm",
    "AUC10",
    "AUC30",
    "not visible",
    "off body",
]


def _stage2_row(s: dict) -> list[object]:
    return [
        s["count"],
        s["mean_cm"],
        s["median_cm"],
        s["p90_cm"],
        s["auc10"],
        s["auc30"],
        s["not_visible"],
        s["off_body"],
    ]


def _html(title: str, nums: dict, heatmaps: list[str]) -> str:
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [
        f"<h1>{html.escape(title)}</h1><p>Generated {now}. Errors are geodesic distances on the "
        "rest body between the picked and the true surface point. The DensePose paper's human "
        f"annotators reached AUC10 {PAPER_HUMAN_AUC10} and AUC30 {PAPER_HUMAN_AUC30}.</p>",
        "<h2>Stage 2: correspondences on gold tasks</h2>",
        _table(
            ["annotator", *_STAGE2_COLUMNS],
            [[n, *_stage2_row(a["stage2"])] for n, a in nums["annotators"].items()]
            + [
                ["all", *_stage2_row(nums["all"])],
                [
                    "paper humans",
                    None,
                    None,
                    None,
                    None,
                    PAPER_HUMAN_AUC10,
                    PAPER_HUMAN_AUC30,
                    None,
                    None,
                ],
            ],
        ),
        '<p><img src="rcp.png" alt="RCP curves"></p>',
    ]
    for name in heatmaps:
        parts.append(f'<p><img src="{name}" alt="heat map"></p>')
    for name, a in nums["annotators"].items():
        parts.append(f"<h3>{html.escape(name)}: by part</h3>")
        rows = [
            [p, *_stage2_row(s), a["stage1_iou_by_part"].get(p)]
            for p, s in a["stage2_by_part"].items()
        ]
        parts.append(_table(["part", *_STAGE2_COLUMNS, "stage-1 IoU"], rows))
    parts.append("<h2>Agreement between annotators (non-gold tasks)</h2>")
    if nums["agreement"]:
        parts.append(
            _table(
                ["pair", "points", "mean cm", "median cm", "p90 cm"],
                [
                    [k, v["count"], v["mean_cm"], v["median_cm"], v["p90_cm"]]
                    for k, v in nums["agreement"].items()
                ],
            )
        )
    else:
        parts.append("<p>No task was answered by two annotators.</p>")
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}th{background:#f0f0f0}td:first-child{text-align:left}img{max-width:100%}"
    )
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(parts)}</body></html>"
