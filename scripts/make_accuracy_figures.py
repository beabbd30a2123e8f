"""Rebuild the accuracy figures of the README (docs/images/accuracy_*.png).

    .venv/bin/python scripts/make_accuracy_figures.py [--azimuths 24]

Gold tasks: the rest body rendered from N directions around it (exact truth per pixel). A
simulated annotator answers them with mean errors close to the DensePose paper's humans
(about 2 cm on face, hands and feet, 7 cm on the torso), each click's distance drawn from a
Rayleigh distribution with that mean (annotator/accuracy/simulate.py says why); the report
measures it. Printed: each part's measured mean against the configured one, with the
standard error its point count allows (the Rayleigh's standard deviation is 0.523 x its
mean), and the overall AUC10 / AUC30 against the paper's human annotators.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator.accuracy.metrics import PAPER_HUMAN_AUC10, PAPER_HUMAN_AUC30  # noqa: E402
from annotator.accuracy.report import measure, numbers, write_report  # noqa: E402
from annotator.accuracy.simulate import (  # noqa: E402
    PAPER_LIKE_ERRORS,
    RAYLEIGH_CV,
    SimulatedAnnotator,
)
from annotator.surface.geodesic import Geodesics  # noqa: E402
from annotator.surface.parts import COARSE_PARTS  # noqa: E402
from tests.accuracy.gold_project import make_gold_project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--azimuths", type=int, default=24, help="gold views around the body")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    try:
        azimuths = tuple(float(a) for a in np.arange(args.azimuths) * 360 / args.azimuths)
        project, atlas = make_gold_project(work / "project", azimuths=azimuths, size=768)
        geo = Geodesics.load_or_build(atlas)
        SimulatedAnnotator("simulated", seed=0).annotate(project, atlas, geodesics=geo)
        data = measure(project, geo)
        write_report(data, geo, work / "report", title="Simulated annotator")
        project.close()
        out = ROOT / "docs" / "images"
        shutil.copy(work / "report" / "heatmap.png", out / "accuracy_heatmap.png")
        shutil.copy(work / "report" / "rcp.png", out / "accuracy_rcp.png")
        report(numbers(data)["annotators"]["simulated"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(sim: dict) -> None:
    """Print the per-part recovery and the overall figures."""
    s = sim["stage2"]
    print(
        f"{s['count']} points: mean {s['mean_cm']:.2f} cm, median {s['median_cm']:.2f} cm, "
        f"AUC10 {s['auc10']:.3f} (paper's humans {PAPER_HUMAN_AUC10}), "
        f"AUC30 {s['auc30']:.3f} (paper's humans {PAPER_HUMAN_AUC30})"
    )
    print(f"  {'part':16s} points  configured  measured  ratio  standard error")
    for index, name in enumerate(COARSE_PARTS, start=1):
        p = sim["stage2_by_part"].get(name)
        if p is None:
            continue
        configured = PAPER_LIKE_ERRORS[index] * 100
        error = RAYLEIGH_CV / np.sqrt(p["count"])
        print(
            f"  {name:16s} {p['count']:6d}  {configured:7.2f} cm  {p['mean_cm']:5.2f} cm  "
            f"{p['mean_cm'] / configured:5.3f}  {100 * error:4.1f} %"
        )


if __name__ == "__main__":
    main()
