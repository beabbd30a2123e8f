"""The comparison report: one table (Markdown, CSV, HTML) and two plots.

Rows are runs, measured in the same ``dpstudio model compare`` call on the same machine
(:mod:`model.compare.measure`); runs that could not be measured are listed with the reason.
Plots: accuracy (GPS AP, and AUC10) against inference time per image, and the mean geodesic
error per coarse part of every run.
"""

from __future__ import annotations

import base64
import csv
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.surface.parts import COARSE_PARTS

#: Columns: header, key in a run's figures, format.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("GPS AP", "gps_AP", "pct"),
    ("AP50", "gps_AP50", "pct"),
    ("AP75", "gps_AP75", "pct"),
    ("APm", "gps_APm", "pct"),
    ("APl", "gps_APl", "pct"),
    ("GPSm AP", "gpsm_AP", "pct"),
    ("IOU AP", "iou_AP", "pct"),
    ("AUC10", "auc10", "f3"),
    ("AUC30", "auc30", "f3"),
    ("dense AUC10", "dense_auc10", "f3"),
    ("dense error cm", "dense_mean_error_cm", "f1"),
    ("params M", "parameters_m", "f1"),
    ("train s/iter", "train_s", "f2"),
    ("infer s/image", "infer_s", "f3"),
    ("peak MB", "peak_mb", "f0"),
)


@dataclass
class Comparison:
    """Measured runs and the ones skipped.

    Attributes:
        data: what the runs were scored on.
        rows: run name -> figures (see :mod:`model.compare.measure`).
        skipped: run name -> why it was not measured.
        notes: anything the reader must know (machine, load, limits).
    """

    data: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def cell(self, run: str, key: str, fmt: str) -> str:
        figures = self.rows[run]
        if key == "parameters_m":
            value = figures.get("parameters", math.nan) / 1e6
        elif key == "dense_mean_error_cm":
            value = figures.get("dense_mean_error_m", math.nan) * 100
        elif key.startswith("gps_") and key[4:] in ("APm", "APl"):
            value = figures.get("ap", {}).get("gps", {}).get(key[4:], math.nan)
        else:
            value = figures.get(key, math.nan)
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == -1:
            return "-"
        return {"pct": f"{100 * value:.1f}", "f3": f"{value:.3f}", "f2": f"{value:.2f}",
                "f1": f"{value:.1f}", "f0": f"{value:.0f}"}[fmt]

    def table(self) -> list[list[str]]:
        header = ["run", "preset", "iterations", *(c[0] for c in COLUMNS)]
        rows = [[run, str(f.get("preset", "")), str(f.get("iteration", "")),
                 *(self.cell(run, key, fmt) for _, key, fmt in COLUMNS)]
                for run, f in self.rows.items()]
        return [header, *rows]

    def markdown(self) -> str:
        header, *rows = self.table()
        lines = [f"# Model comparison on {self.data}", "",
                 "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        if self.skipped:
            lines += ["", "Skipped:", *[f"- {run}: {why}" for run, why in self.skipped.items()]]
        if self.notes:
            lines += ["", *[f"- {n}" for n in self.notes]]
        lines += ["", "![accuracy against speed](accuracy_vs_speed.png)", "",
                  "![error per part](per_part_error.png)"]
        return "\n".join(lines) + "\n"

    def write(self, out: Path) -> None:
        """report.md, report.csv, report.html, comparison.json and the two plots."""
        import json

        out.mkdir(parents=True, exist_ok=True)
        plot_accuracy_speed(self, out / "accuracy_vs_speed.png")
        plot_parts(self, out / "per_part_error.png")
        (out / "report.md").write_text(self.markdown())
        with open(out / "report.csv", "w", newline="") as f:
            csv.writer(f).writerows(self.table())
        (out / "report.html").write_text(self.html(out))
        (out / "comparison.json").write_text(json.dumps(
            {"data": self.data, "rows": self.rows, "skipped": self.skipped,
             "notes": self.notes}, indent=1, default=float))

    def html(self, out: Path) -> str:
        header, *rows = self.table()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in rows)
        images = "".join(
            f'<p><img alt="{name}" src="data:image/png;base64,'
            f'{base64.b64encode((out / name).read_bytes()).decode()}"></p>'
            for name in ("accuracy_vs_speed.png", "per_part_error.png"))
        extra = "".join(f"<li>{html.escape(f'{r}: {w}')}</li>" for r, w in self.skipped.items())
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<!doctype html><meta charset=utf-8><title>Model comparison</title>"
                f"<style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;"
                f"text-align:right}}table{{border-collapse:collapse}}tr:nth-child(even)"
                f"{{background:#eee}}</style><h1>Model comparison on "
                f"{html.escape(self.data)}</h1><table><tr>{head}</tr>{body}</table>"
                f"{'<p>Skipped:</p><ul>' + extra + '</ul>' if extra else ''}"
                f"{'<ul>' + notes + '</ul>' if notes else ''}{images}")


def plot_accuracy_speed(comparison: Comparison, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for ax, key, label in ((axes[0], "gps_AP", "GPS AP (%)"), (axes[1], "auc10", "AUC10")):
        for run, f in comparison.rows.items():
            x, y = f.get("infer_s", math.nan) * 1000, f.get(key, math.nan)
            y = 100 * y if key == "gps_AP" else y
            ax.scatter([x], [y], s=40)
            ax.annotate(run, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel("inference, ms per image (this machine)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle("Accuracy against speed")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_parts(comparison: Comparison, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = list(comparison.rows)
    fig, ax = plt.subplots(figsize=(12, 4), dpi=110)
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(COARSE_PARTS))
    for k, run in enumerate(runs):
        per_part = comparison.rows[run].get("per_part_cm", {})
        values = [per_part.get(name, math.nan) for name in COARSE_PARTS]
        ax.bar(x + k * width - 0.4 + width / 2, values, width, label=run)
    ax.set_xticks(x, COARSE_PARTS, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("mean geodesic error, cm (matched points)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
