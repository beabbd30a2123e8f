"""Scoring DensePose predictions against DensePose-COCO ground truth.

:func:`evaluate` is the one entry point: GPS / GPSm / IOU AP and AR exactly as detectron2's
DensePose evaluator, the paper's pointwise figures, and dense figures on synthetic data.
Results files (the COCO DensePose challenge format) are read and written by
:mod:`model.evaluation.results`.
"""

from model.evaluation.errors import EvaluationInputError, GroundTruthError, ResultsFormatError
from model.evaluation.evaluate import evaluate
from model.evaluation.ground_truth import GroundTruth, load_ground_truth
from model.evaluation.report import EvaluationReport
from model.evaluation.results import Detection, read_results, write_results

__all__ = [
    "Detection",
    "EvaluationInputError",
    "EvaluationReport",
    "GroundTruth",
    "GroundTruthError",
    "ResultsFormatError",
    "evaluate",
    "load_ground_truth",
    "read_results",
    "write_results",
]
