"""Rebuild the accuracy figures of the README (docs/images/accuracy_*.png).

    .venv/bin/python scripts/make_accuracy_figures.py

Gold tasks: the rest body rendered from eight directions (exact truth per pixel). A simulated
annotator answers them with errors close to the DensePose paper's humans (about 2 cm on face,
hands and feet, 7 cm on the torso); the report measures it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator.accuracy.report import measure, numbers, write_report  # noqa: E402
from annotator.accuracy.simulate import SimulatedAnnotator  # noqa: E402
from annotator.surface.geodesic import Geodesics  # noqa: E402
from tests.accuracy.gold_project import make_gold_project  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp())
    try:
        azimuths = tuple(float(a) for a in range(0, 360, 45))
        project, atlas = make_gold_project(work / "project", azimuths=azimuths, size=768)
        SimulatedAnnotator("simulated", seed=0).annotate(project, atlas)
        geo = Geodesics.load_or_build(atlas)
        data = measure(project, geo)
        write_report(data, geo, work / "report", title="Simulated annotator")
        project.close()
        out = ROOT / "docs" / "images"
        shutil.copy(work / "report" / "heatmap.png", out / "accuracy_heatmap.png")
        shutil.copy(work / "report" / "rcp.png", out / "accuracy_rcp.png")
        s = numbers(data)["annotators"]["simulated"]["stage2"]
        print(
            f"{s['count']} points: mean {s['mean_cm']} cm, median {s['median_cm']} cm, "
            f"AUC10 {s['auc10']:.3f}, AUC30 {s['auc30']:.3f}"
        )
        for part, p in numbers(data)["annotators"]["simulated"]["stage2_by_part"].items():
            print(f"  {part:16s} {p['count']:4d} points, mean {p['mean_cm']:.2f} cm")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
