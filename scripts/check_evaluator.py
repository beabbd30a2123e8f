"""Check our DensePose AP against detectron2's own evaluator on random data (a minute or two).

ADR 0010 says that our GPS / GPSm / IOU AP reproduces detectron2's
``densepose_coco_evaluation.py`` bitwise. This script shows it: it makes random
DensePose-COCO ground truth and results in the challenge format (crowds, persons without
points or with an empty point list, polygons and run-length segmentations, persons without
``dp_masks``, empty images, tied scores, more than 20 detections in an image, boxes across
the image border, a second category, detections of a category the ground truth lacks), runs
detectron2's ``DensePoseCocoEval`` in each mode and ours (``model.evaluation.evaluate``) on
the same data, and prints per data set and mode both sets of ten numbers and whether they are
bitwise equal, then one summary line per ruler:

* ``--geodesics body``: the same distance function on both sides. detectron2's distance
  step (``computeOgps_single_pair_iuv``) is replaced, in a subclass made here, by our
  geodesics on the body surface (``BodyDistance``); its GPS normalisation (the per-part k)
  is still its own. This checks the AP machinery: grouping, ignore rules, matching, masks,
  GPS averaging, accumulation.
* ``--geodesics reference``: detectron2's own distance code, reading reference data from a
  local folder (its ``_loadGEval`` pointed at the files instead of the download address),
  against ours with ``ReferenceDistance`` on the same files. Without ``--reference-data``
  the script writes small random files of the same formats (a few hundred subdivided
  vertices, a float32 table); with the real files (from
  https://dl.fbaipublicfiles.com/densepose/data/) it checks against those. detectron2 reads
  the pickle with Python's own unpickler, which trusts the file (the studio never does).

detectron2 is imported from the checkout given (nothing of it is in this repository); its
pure-Python dependencies (fvcore, iopath, ...) must be importable, e.g.::

    PYTHONPATH=D2DEPS .venv/bin/python scripts/check_evaluator.py --detectron2 D2SRC
    ... --geodesics reference --reference-data DIR --datasets 5 --seed 3

Exit status 0 when every number is bitwise equal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import pickle
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from random_densepose import Coverage, random_dataset

from model.evaluation.densepose_eval import MODES, STAT_NAMES
from model.evaluation.distances import PointDistance

#: detectron2's evaluation modes, ours -> its enum member.
D2_MODES = {"gps": "GPS", "gpsm": "GPSM", "iou": "IOU"}


def import_detectron2(checkout: Path) -> tuple[ModuleType, Callable[[str, list[int]], Any]]:
    """detectron2's DensePose evaluator module and a results decoder, from ``checkout``."""
    for path in (checkout / "projects" / "DensePose", checkout):
        sys.path.insert(0, str(path))
    try:
        with warnings.catch_warnings():  # its use of torch.jit.script, deprecated in torch 2.14
            warnings.simplefilter("ignore", FutureWarning)
            from densepose.evaluation import densepose_coco_evaluation as evaluation
            from densepose.structures.chart_result import (
                DensePoseChartResultCompressed,
                decompress_compressed_densepose_chart_result,
            )
    except ImportError as exc:
        sys.exit(
            f"cannot import detectron2's DensePose from {checkout} ({exc}); its pure-Python "
            "dependencies (fvcore, iopath, ...) must be importable: PYTHONPATH=DEPS"
        )
    logging.getLogger(evaluation.__name__).setLevel(logging.WARNING)

    def decode(text: str, shape: list[int]) -> Any:
        compressed = DensePoseChartResultCompressed(labels_uv_str=text, shape_chw=tuple(shape))
        return decompress_compressed_densepose_chart_result(compressed)

    return evaluation, decode


class _LocalFiles:
    """Stands for detectron2's PathManager: a download address -> the file of that name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get_local_path(self, url: str, **_: Any) -> str:
        return str(self.folder / url.rsplit("/", 1)[-1])


def evaluator_class(evaluation: ModuleType, folder: Path, body: PointDistance | None) -> type:
    """detectron2's ``DensePoseCocoEval`` reading the reference data in ``folder``; with
    ``body``, its distance step replaced by our body geodesics."""
    loaded: dict[str, Any] = {}

    class Local(evaluation.DensePoseCocoEval):  # type: ignore[name-defined, misc]
        def _loadGEval(self) -> None:
            if not loaded:  # detectron2's own loader, once: the real table is large
                saved, evaluation.PathManager = evaluation.PathManager, _LocalFiles(folder)
                try:
                    super()._loadGEval()
                finally:
                    evaluation.PathManager = saved
                names = ("PDIST_transform", "Part_UVs", "Part_ClosestVertInds", "Pdist_matrix",
                         "Part_ids", "Mean_Distances", "CoarseParts")  # fmt: skip
                loaded.update({name: getattr(self, name) for name in names})
            self.__dict__.update(loaded)

    if body is None:
        return Local

    class OnOurBody(Local):
        def computeOgps_single_pair_iuv(
            self, dt: Any, gt: dict[str, Any], ipoints: Any, upoints: Any, vpoints: Any
        ) -> tuple[np.ndarray, np.ndarray]:
            charts = np.asarray(gt["dp_I"], np.int64)
            errors_at = body.bind(charts, np.asarray(gt["dp_U"]), np.asarray(gt["dp_V"]))
            dist = errors_at(np.arange(len(charts)), ipoints, upoints, vpoints)
            return dist, self.Mean_Distances[self.CoarseParts[charts]]

    return OnOurBody


@dataclass
class Outcome:
    """One evaluator's results on one data set.

    Attributes:
        numbers: mode -> the ten numbers (``STAT_NAMES`` order).
        matrices: (image, category) -> its ``[D, G]`` GPS, box IoU and mask IoU of every
            (detection, person) pair (detections best first, persons in file order).
    """

    numbers: dict[str, list[float]]
    matrices: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def detectron2_outcome(
    evaluation: ModuleType,
    decode: Callable[[str, list[int]], Any],
    cls: type,
    doc: dict[str, Any],
    records: list[dict[str, Any]],
) -> Outcome:
    """detectron2's numbers per mode (each on a fresh copy of the data) and the matrices it
    stores in GPSm mode (``ious``: GPS and box IoU; ``real_ious``: mask IoU)."""
    from pycocotools.coco import COCO

    out, matrices = {}, {}
    for mode, member in D2_MODES.items():
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = copy.deepcopy(doc)
            coco.createIndex()
            results = [
                {k: r[k] for k in ("image_id", "category_id", "bbox", "score")}
                | {"densepose": decode(r["uv_data"], r["uv_shape"])}
                for r in records
            ]
            found = coco.loadRes(results)
            ev = cls(
                coco, found, "densepose", dpEvalMode=getattr(evaluation.DensePoseEvalMode, member)
            )
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        out[mode] = [float(x) for x in ev.stats]
        if mode == "gpsm":
            for key, pair in ev.ious.items():
                if len(pair):
                    matrices[key] = (pair[0], np.asarray(pair[1]), np.asarray(ev.real_ious[key]))
    return Outcome(out, matrices)


def our_outcome(
    doc: dict[str, Any], records: list[dict[str, Any]], distance: PointDistance
) -> Outcome:
    """Our numbers per mode and pair matrices, from the same ground truth and results."""
    from model.evaluation.evaluator import evaluate, similarities
    from model.evaluation.ground_truth import load_ground_truth
    from model.evaluation.results import decode_results

    gt, detections = load_ground_truth(copy.deepcopy(doc)), decode_results(records)
    report = evaluate(gt, detections, distance=distance, dense=False)
    numbers = {mode: [report.ap[mode].stats[name] for name in STAT_NAMES] for mode in MODES}
    matrices = {
        key: (b.gps, b.box_iou, b.mask_iou)
        for key, b in similarities(gt, detections, distance).items()
        if b.gps is not None and b.box_iou is not None and b.mask_iou is not None
    }
    return Outcome(numbers, matrices)


def write_random_reference(folder: Path, rng: np.random.Generator, tabulated: int = 300) -> Path:
    """Small random files in the formats of detectron2's reference data: U, V doubles,
    integer chart ids and vertex numbers (detectron2 indexes arrays with them), a float32
    table pickled with protocol 2, pairs ordered by their larger, then smaller vertex."""
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    counts = rng.integers(2, 40, 24)
    part = np.repeat(np.arange(1, 25), counts).astype(np.uint8)
    rng.shuffle(part)
    uv = rng.random((2, len(part)))
    index = rng.integers(1, tabulated + 1, len(part)).astype(np.uint32)
    savemat(
        folder / "SMPL_subdiv.mat", {"U_subdiv": uv[0], "V_subdiv": uv[1], "Part_ID_subdiv": part}
    )
    savemat(folder / "SMPL_SUBDIV_TRANSFORM.mat", {"index": index[:, None]})
    table = rng.uniform(0.005, 1.5, tabulated * (tabulated - 1) // 2).astype(np.float32)
    with open(folder / "Pdist_matrix.pkl", "wb") as f:
        pickle.dump({"Pdist_matrix": table[:, None]}, f, protocol=2)
    return folder


@dataclass
class Tally:
    """Comparisons of one ruler: (data set, mode) results, pair similarities."""

    geodesics: str
    equal: int = 0
    compared: int = 0
    pairs_equal: int = 0
    pairs: int = 0

    @property
    def all_equal(self) -> bool:
        return self.equal == self.compared and self.pairs_equal == self.pairs

    def line(self, seconds: float) -> str:
        verdict = "all bitwise equal" if self.all_equal else "NOT ALL EQUAL"
        return (
            f"geodesics {self.geodesics}: {self.equal} of {self.compared} (data set, mode) with "
            f"all {len(STAT_NAMES)} numbers bitwise equal; {self.pairs_equal} of {self.pairs} "
            f"pair similarities (GPS, box IoU, mask IoU) bitwise equal: {verdict} "
            f"({seconds:.0f} s)"
        )


def compare(tally: Tally, k: int, theirs: Outcome, ours: Outcome) -> None:
    """Print both sets of numbers per mode and count what is bitwise equal."""
    for mode in MODES:
        a, b = theirs.numbers[mode], ours.numbers[mode]
        equal = [_bits(x) == _bits(y) for x, y in zip(a, b, strict=True)]
        tally.compared += 1
        tally.equal += all(equal)
        names = [n for n, same in zip(STAT_NAMES, equal, strict=True) if not same]
        print(f"  set {k:2d} {mode:4s} detectron2 {_numbers(a)}")
        print(f"  set {k:2d} {mode:4s} ours       {_numbers(b)}")
        print(f"  set {k:2d} {mode:4s} {'bitwise equal' if not names else f'DIFFERENT: {names}'}")
    same = total = 0
    for key in sorted(set(theirs.matrices) | set(ours.matrices)):
        if key not in theirs.matrices or key not in ours.matrices:
            total += 1  # a block only one side scored
            continue
        for x, y in zip(theirs.matrices[key], ours.matrices[key], strict=True):
            total += x.size
            if x.shape == y.shape:
                same += int(np.sum(x.astype(np.float64).view(np.uint64) == y.view(np.uint64)))
    tally.pairs += total
    tally.pairs_equal += same
    print(f"  set {k:2d} pair similarities: {same} of {total} values bitwise equal")


def _bits(value: float) -> str:
    return float(value).hex()


def _numbers(values: list[float]) -> str:
    return " ".join(repr(v) for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectron2", type=Path, required=True, help="detectron2 checkout")
    parser.add_argument("--datasets", type=int, default=20, help="random data sets (20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--geodesics", choices=("body", "reference", "both"), default="both")
    parser.add_argument("--reference-data", type=Path, help="folder of the three real files")
    args = parser.parse_args(argv)
    evaluation, decode = import_detectron2(args.detectron2.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.reference_data or write_random_reference(
            Path(tmp) / "reference", np.random.default_rng([args.seed, 999])
        )
        rulers = ["body", "reference"] if args.geodesics == "both" else [args.geodesics]
        done = [run(ruler, folder, evaluation, decode, args) for ruler in rulers]
    print(f"data ({args.datasets} sets, seed {args.seed}): {done[0][1].summary()}")
    print("\n".join(tally.line(seconds) for tally, _, seconds in done))
    return 0 if all(tally.all_equal for tally, _, _ in done) else 1


def _distance(ruler: str, folder: Path) -> PointDistance:
    from model.evaluation.distances import BodyDistance
    from model.evaluation.reference_geodesics import ReferenceDistance, load_reference_geodesics

    if ruler == "reference":
        return ReferenceDistance(load_reference_geodesics(folder, progress=print))
    from annotator.surface.atlas import load_atlas
    from annotator.surface.geodesic import Geodesics

    return BodyDistance(Geodesics.load_or_build(load_atlas()))


def run(
    ruler: str,
    folder: Path,
    evaluation: ModuleType,
    decode: Callable[[str, list[int]], Any],
    args: argparse.Namespace,
) -> tuple[Tally, Coverage, float]:
    """Every data set with one ruler: what compared equal, the cases met, seconds."""
    start = time.perf_counter()
    distance = _distance(ruler, folder)
    cls = evaluator_class(evaluation, folder, distance if ruler == "body" else None)
    tally, coverage = Tally(ruler), Coverage()
    print(f"geodesics {distance.describe()}:")
    for k in range(args.datasets):
        doc, records = random_dataset(np.random.default_rng([args.seed, k]))
        print(f"  set {k:2d}: {coverage.add(doc, records)}")
        theirs = detectron2_outcome(evaluation, decode, cls, doc, records)
        compare(tally, k, theirs, our_outcome(doc, records, distance))
    return tally, coverage, time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
