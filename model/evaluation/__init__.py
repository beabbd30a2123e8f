"""Scoring DensePose predictions against DensePose-COCO ground truth.

:func:`evaluate` is the one entry point: GPS / GPSm / IOU AP and AR exactly as detectron2's
DensePose evaluator, the paper's pointwise figures, and dense figures on synthetic data.
Results files (the COCO DensePose challenge format) are read and written by
:mod:`model.evaluation.results`.

The names below are imported on first use, so that ``model.evaluation.cli`` (imported when
``dpstudio`` builds its parser) pulls in neither torch nor the rest of the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model.evaluation.errors import (
        EvaluationInputError,
        GroundTruthError,
        ResultsFormatError,
    )
    from model.evaluation.evaluator import evaluate
    from model.evaluation.ground_truth import GroundTruth, load_ground_truth
    from model.evaluation.report import EvaluationReport
    from model.evaluation.results import Detection, read_results, write_results

_WHERE = {
    "Detection": "results",
    "read_results": "results",
    "write_results": "results",
    "EvaluationInputError": "errors",
    "GroundTruthError": "errors",
    "ResultsFormatError": "errors",
    "EvaluationReport": "report",
    "GroundTruth": "ground_truth",
    "load_ground_truth": "ground_truth",
    "evaluate": "evaluator",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'model.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"model.evaluation.{_WHERE[name]}"), name)
