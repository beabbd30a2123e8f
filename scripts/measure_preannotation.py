"""What pre-annotation saves: the accuracy of a model's proposals on the demo's gold tasks.

    python scripts/measure_preannotation.py --checkpoint RUN_OR_FILE [--out DIR] [--json FILE]

Accepting a proposal keeps exactly what the model proposed, so the accuracy of the proposals
against the gold tasks' truth is the accuracy of accepted proposals. On a copy of the demo
project (``dpstudio demo``; the user's demo is left alone) the script measures two ways of
using a model, with the annotators' own ruler (:mod:`annotator.accuracy`):

* **full pre-annotation** (what Model > Pre-annotate does on a fresh task): the model's
  14-part mask, points sampled in it, the model's answer at each point. Figures: stage-1
  IoU per part against the true labels; stage-2 geodesic errors of the answers whose pixel
  is on the true body (AUC10, AUC30, mean, median), and how many points fell off the body
  or were left unanswered (the model saw background there);
* **stage 2 only** (a person painted the parts; the model answers the points): the model's
  answer at the gold tasks' points (sampled in the true labels), misses counted as never
  correct (:mod:`model.inference.gold_errors`).

Beside them, the reference: a simulated annotator with the paper's per-part errors
(``annotator.accuracy.simulate``) answering the same points, and the DensePose paper's human
annotators (AUC10 0.563, AUC30 0.835). A model trained for minutes on the CPU is weak; the
figures say so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def demo_copy(folder: Path, name: str) -> Path:
    """A copy of the demo project (built first if needed) in ``folder / name``."""
    from annotator.synth.demo import ensure_demo_project

    source = ensure_demo_project()
    target = folder / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    return target


def full_preannotation(checkpoint: Path, project_dir: Path, out: Path) -> dict[str, Any]:
    """Pre-annotate the gold tasks' images as the app does, store, then measure."""
    from annotator.accuracy.collect import collect_errors, stage1_scores
    from annotator.accuracy.metrics import auc
    from annotator.dataset.store import Project
    from annotator.surface.atlas import load_atlas
    from annotator.surface.geodesic import Geodesics
    from model.inference.annotation_proposals import read_proposals
    from model.inference.preannotate import preannotate

    with Project.open(project_dir, readonly=True) as project:
        gold = project.gold_person_ids()
        images = sorted({project.person(p).image_id for p in gold})
    file = out / "proposals.npz"
    started = time.perf_counter()
    preannotate(checkpoint, project_dir, file, image_ids=images, find=False)
    seconds = time.perf_counter() - started
    model, ckpt, proposals = read_proposals(file)
    proposals = [p for p in proposals if p.person_id in set(gold)]
    with Project.open(project_dir) as project:
        project.add_proposals(model, proposals, checkpoint=ckpt)
        for person_id in gold:
            project.accept_proposals(person_id, "measurement")
        geodesics = Geodesics.load_or_build(load_atlas(project.body))
        errors = collect_errors(project, geodesics, [model])
        masks = stage1_scores(project, [model])
        points = sum(len(project.sample_points(p) or []) for p in gold)
    measured = errors.error[errors.measured]
    iou = np.array([m.iou[1:] for m in masks]) if masks else np.zeros((0, 14))
    return {
        "model": model,
        "gold_tasks": len(gold),
        "with_a_mask": len(masks),
        "seconds": round(seconds, 1),
        "stage1_mean_part_iou": _mean(np.nanmean(iou, axis=1)) if len(iou) else None,
        "points": points,
        "answered": len(errors),
        "off_body": int(errors.off_body.sum()),
        "measured": len(measured),
        "auc10": _round(auc(measured, 0.10)) if len(measured) else None,
        "auc30": _round(auc(measured, 0.30)) if len(measured) else None,
        "mean_cm": _round(100 * float(np.mean(measured))) if len(measured) else None,
        "median_cm": _round(100 * float(np.median(measured))) if len(measured) else None,
    }


def stage2_only(checkpoint: Path, project_dir: Path, out: Path) -> dict[str, Any]:
    """The model's answers at the gold tasks' own points (misses never correct), beside a
    simulated annotator with the paper's per-part errors answering the same points."""
    from annotator.accuracy.simulate import SimulatedAnnotator
    from annotator.dataset.store import Project
    from annotator.surface.atlas import load_atlas
    from annotator.surface.geodesic import Geodesics
    from model.inference.gold_errors import run

    with Project.open(project_dir) as project:
        atlas = load_atlas(project.body)
        geodesics = Geodesics.load_or_build(atlas)
        SimulatedAnnotator("simulated", seed=0).annotate(project, atlas, geodesics=geodesics)
    record = run(checkpoint, project_dir, out)
    return {
        name: _overall(record[name]["overall"])
        | {"heatmap": str(out / record["heatmaps"][name]) if name in record["heatmaps"] else ""}
        for name in ("model", "people")
    }


def _overall(overall: dict[str, Any]) -> dict[str, Any]:
    return {
        "points": overall["points"],
        "misses": overall["misses"],
        "auc10": _round(overall["auc10"]),
        "auc30": _round(overall["auc30"]),
        "mean_cm": _round(100 * overall["mean"]) if overall["mean"] is not None else None,
        "median_cm": _round(100 * overall["median"]) if overall["median"] is not None else None,
    }


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return _round(float(finite.mean())) if len(finite) else None


def _round(value: Any) -> Any:
    return None if value is None else round(float(value), 3)


def report(record: dict[str, Any]) -> str:
    full, only, sim = (
        record["full"],
        record["stage2_only"]["model"],
        record["stage2_only"]["people"],
    )
    lines = [
        f"Checkpoint {record['checkpoint']} (iteration {record['iteration']}) on the demo's "
        f"{full['gold_tasks']} gold tasks; pre-annotation took {full['seconds']} s.",
        "",
        "| | AUC10 | AUC30 | mean cm | median cm | points |",
        "|---|---|---|---|---|---|",
        f"| full pre-annotation, answers on the body | {full['auc10']} | {full['auc30']} | "
        f"{full['mean_cm']} | {full['median_cm']} | {full['measured']} of {full['points']} "
        f"({full['off_body']} off the body, {full['points'] - full['answered']} unanswered) |",
        f"| stage 2 only, misses never correct | {only['auc10']} | {only['auc30']} | "
        f"{only['mean_cm']} | {only['median_cm']} | {only['points']} "
        f"({only['misses']} missed) |",
        f"| simulated annotator (paper-like errors), same points | {sim['auc10']} | "
        f"{sim['auc30']} | {sim['mean_cm']} | {sim['median_cm']} | {sim['points']} |",
        "| DensePose paper, human annotators | 0.563 | 0.835 | | | |",
        "",
        f"Stage 1: the proposed masks' mean part IoU against the truth is "
        f"{full['stage1_mean_part_iou']} ({full['with_a_mask']} of {full['gold_tasks']} tasks "
        "got a mask).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run folder")
    parser.add_argument("--out", type=Path, help="keep the project copy and figures here")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    from model.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    work = args.out or Path(tempfile.mkdtemp(prefix="measure-preannotation-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        record = {
            "checkpoint": str(ckpt.path),
            "iteration": ckpt.iteration,
            "stage2_only": stage2_only(
                args.checkpoint, demo_copy(work, "stage2_only"), work / "stage2_only_figures"
            ),
            "full": full_preannotation(args.checkpoint, demo_copy(work, "full"), work),
        }
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
