"""``dpstudio model score RESULTS.json --data GT.json``: score any tool's DensePose results.

:func:`register_score` adds the ``score`` action to the ``dpstudio model`` subcommands;
everything heavy (torch, pycocotools, the geodesic table) is imported in the handler.
:func:`add_geodesics_arguments` and :func:`reference_distance` give ``score``, ``evaluate``
and ``compare`` the same choice of ruler (``--geodesics body`` or ``reference``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.cli import UserError

if TYPE_CHECKING:
    from annotator.surface.geodesic import Geodesics
    from model.evaluation.distances import PointDistance

#: Where the reference data come from (for the help; the loader names each file's address).
_REFERENCE_FILES = (
    "SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat and Pdist_matrix.pkl from "
    "https://dl.fbaipublicfiles.com/densepose/data/"
)


def add_geodesics_arguments(parser: argparse.ArgumentParser) -> None:
    """``--geodesics body|reference`` and ``--reference-data DIR``."""
    parser.add_argument(
        "--geodesics",
        choices=("body", "reference"),
        default="body",
        help="the ruler of geodesic errors and GPS: body (our body surface, default) or "
        "reference (detectron2's SMPL geodesics, as its published figures; needs "
        "--reference-data)",
    )
    parser.add_argument(
        "--reference-data",
        type=Path,
        metavar="DIR",
        help=f"folder of detectron2's DensePose evaluation data ({_REFERENCE_FILES}; "
        "downloaded by you, never by the studio)",
    )


def check_geodesics_arguments(args: argparse.Namespace) -> Path | None:
    """The reference data folder (None: body geodesics); the files must be there.

    Raises:
        UserError: inconsistent options, or the folder or one of its files missing.
    """
    if args.geodesics == "body":
        if args.reference_data is not None:
            raise UserError("--reference-data is only read with --geodesics reference")
        return None
    if args.reference_data is None:
        raise UserError(f"--geodesics reference needs --reference-data DIR: {_REFERENCE_FILES}")
    from model.evaluation.reference_files import ReferenceDataError
    from model.evaluation.reference_geodesics import check_folder

    try:
        check_folder(args.reference_data)
    except ReferenceDataError as exc:
        raise UserError(str(exc)) from exc
    return Path(args.reference_data)


def reference_distance(args: argparse.Namespace) -> PointDistance | None:
    """The reference ruler, loaded, when ``--geodesics reference`` asks for it; else None
    (the caller's body geodesics: those of the atlas its predictions refer to).

    Raises:
        UserError: bad options or reference data (one line).
    """
    import sys

    from model.evaluation.reference_files import ReferenceDataError
    from model.evaluation.reference_geodesics import ReferenceDistance, load_reference_geodesics

    folder = check_geodesics_arguments(args)
    if folder is None:
        return None
    try:
        tables = load_reference_geodesics(
            folder, progress=lambda line: print(line, file=sys.stderr)
        )
    except ReferenceDataError as exc:
        raise UserError(str(exc)) from exc
    return ReferenceDistance(tables)


def register_score(subparsers: argparse._SubParsersAction) -> None:
    """Add ``score`` to the ``dpstudio model`` subcommands."""
    score = subparsers.add_parser(
        "score",
        help="score DensePose results (challenge format) against DensePose-COCO",
        description="Scores a DensePose results file (the COCO DensePose challenge format: "
        "image_id, category_id, bbox, score, uv_shape, uv_data) against a DensePose-COCO "
        "file: GPS, GPSm and IOU AP / AR exactly as detectron2's evaluator, the paper's "
        "pointwise figures (RCP, AUC10, AUC30, per part, mask IoU) and, on a `dpstudio "
        "synth` folder, dense figures at every skin pixel. The first run on a machine "
        "precomputes the geodesic table (about a minute, once per machine). With --geodesics "
        "reference the errors and GPS use detectron2's SMPL geodesics (its evaluation data, "
        "which you download), as its published figures do.",
    )
    score.add_argument("results", type=Path, help="results JSON (a list of records)")
    score.add_argument("--data", type=Path, required=True, help="DensePose-COCO JSON")
    score.add_argument(
        "--images", type=Path, help="folder of the truth files (default: the JSON's folder)"
    )
    score.add_argument("--out", type=Path, help="write the full report (JSON) here")
    score.add_argument(
        "--kappa",
        default="per_part",
        help="GPS normalisation: per_part (detectron2, default) or metres (paper: 0.255)",
    )
    score.add_argument(
        "--modes", default="gps,gpsm,iou", help="AP modes, comma separated (default: all)"
    )
    score.add_argument("--no-dense", action="store_true", help="skip the dense figures")
    score.add_argument(
        "--gt-boxes",
        action="store_true",
        help="predictions were made on the true boxes (matched by gt_id or identical box)",
    )
    add_geodesics_arguments(score)
    score.set_defaults(handler=_score)


def _kappa(text: str) -> str | float:
    if text == "per_part":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserError(f"--kappa {text!r}: use per_part or a positive number of metres")
    return value


def _score(args: argparse.Namespace) -> int:
    from annotator.dataset import jsonio
    from model.evaluation.densepose_eval import MODES
    from model.evaluation.distances import BodyDistance
    from model.evaluation.errors import EvaluationInputError
    from model.evaluation.evaluator import evaluate
    from model.evaluation.ground_truth import load_ground_truth
    from model.evaluation.results import read_results

    kappa = _kappa(args.kappa)
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise UserError(f"--modes: unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    distance = reference_distance(args) or BodyDistance(_geodesics())
    try:
        detections = read_results(args.results)
        gt = load_ground_truth(args.data, root=args.images)
        report = evaluate(
            gt,
            detections,
            distance=distance,
            kappa=kappa,
            modes=modes,
            dense=False if args.no_dense else None,
            gt_boxes=True if args.gt_boxes else None,
        )
    except (EvaluationInputError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    print(report.summary())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(jsonio.dumps(report.to_dict()), encoding="utf-8")
        print(f"report: {args.out}")
    return 0


def _geodesics() -> Geodesics:
    from tqdm import tqdm

    from annotator.surface.atlas import load_atlas
    from annotator.surface.geodesic import Geodesics

    bar = tqdm(desc="geodesic table (once per machine)", unit="row", leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        return Geodesics.load_or_build(load_atlas(), progress=progress)
    finally:
        bar.close()
