"""Pre-annotation: run a checkpoint on a project's images and write its proposals to a file.

    python -m model.inference.preannotate --checkpoint RUN_OR_FILE --project DIR \\
        --out proposals.npz [--images 3,7,9] [--score-threshold 0.5] [--no-find] \\
        [--device auto] [--progress-json]

Runs in its own process (the app starts it, docs/adr/0009-models-in-the-app.md): it opens
the project **read-only** (the app holds the writer lock and keeps editing meanwhile) and
writes a proposal file (:mod:`model.inference.annotation_proposals`) that the app stores in one
transaction, where the store's rules keep people's work untouched. For each image:

* every person to do (not a crowd region, task not yet *corresponded*, no proposal pending
  or accepted) gets the model's DensePose **on its own box**;
* with ``--find`` (the default), the model's detections above the score threshold that
  overlap no person of the image (box IoU < 0.5) become found persons.

With ``--progress-json`` standard output carries ``{"event": "progress", "done", "total"}``
per image and ``{"event": "done", "persons", "file"}`` at the end. Errors: exit code 1 and
one line on standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.dataset.errors import ProjectError
from annotator.dataset.records import Box, Person, PersonProposal, ProposalStatus, TaskState
from annotator.dataset.store import Project
from annotator.dataset.store_proposals import SAME_PERSON_IOU, box_iou
from annotator.surface.atlas import Atlas
from model.inference.annotation_proposals import machine_name, to_proposal, write_proposals

if TYPE_CHECKING:
    from model.engine.checkpoint import Checkpoint
    from model.inference.predictor import PersonPrediction, Predictor

Progress = Callable[[int, int], None]


def targets(project: Project, image_id: int) -> list[Person]:
    """The persons of an image that pre-annotation works on (see module docstring)."""
    settled = {
        p.person_id
        for p in project.proposals(image_id=image_id)
        if p.status != ProposalStatus.REJECTED and p.person_id is not None
    }
    return [
        p
        for p in project.persons(image_id=image_id)
        if not p.iscrowd and p.state < TaskState.CORRESPONDED and p.id not in settled
    ]


def propose_image(
    predictor: Predictor,
    project: Project,
    image_id: int,
    rgb: np.ndarray,
    *,
    model: str,
    atlas: Atlas | None,
    find: bool = True,
) -> list[PersonProposal]:
    """The proposals of one image (see module docstring)."""
    height, width = rgb.shape[:2]
    out = []
    persons = targets(project, image_id)
    boxes = np.array([[p.box.x, p.box.y, p.box.x + p.box.w, p.box.y + p.box.h]
                      for p in persons]).reshape(-1, 4)  # fmt: skip
    # One pass of the backbone gives both the persons found and the boxed persons' DensePose.
    found, given = predictor.detect_and_on_boxes(rgb, boxes, detect=find)
    for person, pred in zip(persons, given, strict=True):
        out.append(_proposal(pred, image_id, model, atlas, (width, height), person, project))
    if find:
        known = [p.box for p in project.persons(image_id=image_id)]
        for pred in found:
            box = Box(*pred.xywh)
            if box.w < 1 or box.h < 1:
                continue
            if any(box_iou(box, other) >= SAME_PERSON_IOU for other in known):
                continue
            known.append(box)
            out.append(_proposal(pred, image_id, model, atlas, (width, height), None, project))
    return out


def _proposal(
    pred: PersonPrediction,
    image_id: int,
    model: str,
    atlas: Atlas | None,
    size: tuple[int, int],
    person: Person | None,
    project: Project,
) -> PersonProposal:
    dp = pred.densepose
    return to_proposal(
        image_id=image_id,
        box=person.box if person is not None else Box(*pred.xywh),
        score=pred.score,
        maps_box=tuple(int(v) for v in dp.box),  # type: ignore[arg-type]
        labels=dp.labels.numpy(),
        uv=dp.uv.numpy(),
        model=model,
        atlas=atlas,
        image_size=size,
        person_id=None if person is None else person.id,
        points=None if person is None or person.id is None else project.sample_points(person.id),
    )


def _answers_atlas(
    ckpt: Checkpoint, name: Path | str, body: str, on_note: Callable[[str], None] | None
) -> Atlas | None:
    """The project's atlas for the answers, or None: a model of the official DensePose charts
    in a project of other charts (Anny) proposes masks but no answers, and says so."""
    from annotator.surface.atlas import load_atlas

    atlas = load_atlas(body)
    if ckpt.official_charts and not atlas.official_charts:
        if on_note is not None:
            on_note(
                f"{name} speaks the official DensePose charts, this project the {body} "
                "charts: it proposes boxes and 14-part masks (a part does not depend on the "
                "charts' layout), no stage-2 answers"
            )
        return None
    ckpt.check_atlas(atlas)
    return atlas


def preannotate(
    checkpoint: Path | str,
    project_dir: str | Path,
    out: Path,
    *,
    image_ids: list[int] | None = None,
    score_threshold: float = 0.5,
    find: bool = True,
    device: str = "auto",
    progress: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> tuple[str, int]:
    """Run a checkpoint over a project's images and write the proposal file.

    A model of the official DensePose charts (detectron2's zoo) in a project of other charts
    (Anny) proposes boxes and masks but no answers, and says so through ``on_note``.

    Returns:
        ``(machine annotator name, persons proposed for)``.
    """
    import cv2

    from model.engine.checkpoint import load_checkpoint
    from model.inference.predictor import Predictor

    ckpt = load_checkpoint(checkpoint)
    with Project.open(project_dir, readonly=True) as project:
        atlas = _answers_atlas(ckpt, checkpoint, project.body, on_note)
        predictor = Predictor.from_checkpoint(ckpt, device=device, score_threshold=score_threshold)
        model = machine_name(checkpoint, None, ckpt.iteration)
        wanted = [im for im in project.images() if image_ids is None or im.id in image_ids]
        proposals: list[PersonProposal] = []
        for k, image in enumerate(wanted):
            assert image.id is not None
            bgr = cv2.imread(str(project.image_file(image)), cv2.IMREAD_COLOR)
            if bgr is None:
                raise OSError(f"{project.image_file(image)}: cannot read the image")
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            proposals += propose_image(
                predictor, project, image.id, rgb, model=model, atlas=atlas, find=find
            )
            if progress is not None:
                progress(k + 1, len(wanted))
    write_proposals(out, model, str(ckpt.path), proposals)
    return model, len(proposals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.inference.preannotate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run folder")
    parser.add_argument("--project", required=True, help="project folder, or a postgresql:// URL")
    parser.add_argument("--out", type=Path, required=True, help="proposal file to write (.npz)")
    parser.add_argument("--images", help="image ids, comma-separated (default: every image)")
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--no-find", action="store_true", help="only persons already boxed")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--progress-json", action="store_true")
    args = parser.parse_args(argv)

    def emit(record: dict[str, Any]) -> None:
        if args.progress_json:
            print(json.dumps(record), flush=True)

    try:
        ids = None if not args.images else [int(x) for x in args.images.split(",") if x]
        model, count = preannotate(
            args.checkpoint,
            args.project,
            args.out,
            image_ids=ids,
            score_threshold=args.score_threshold,
            find=not args.no_find,
            device=args.device,
            progress=lambda d, n: emit({"event": "progress", "done": d, "total": n}),
            on_note=lambda text: (
                emit({"event": "note", "message": text}) if args.progress_json else print(text)
            ),
        )
    except (ValueError, OSError, KeyError, ProjectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    emit({"event": "done", "model": model, "persons": count, "file": str(args.out)})
    if not args.progress_json:
        print(f"{model}: proposals for {count} person(s) written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
