"""Errors of the evaluation: each names the file, the record and the field that is wrong."""

from __future__ import annotations

from collections.abc import Sequence

from annotator.dataset.errors import Problem

#: Problems listed in one error message.
_SHOWN = 10


class EvaluationInputError(ValueError):
    """Ground truth or results that cannot be scored as given.

    Attributes:
        problems: every problem found (file, record, field, value, message).
    """

    what = "evaluation input"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:_SHOWN]]
        if len(self.problems) > _SHOWN:
            lines.append(f"... and {len(self.problems) - _SHOWN} more problem(s)")
        super().__init__(f"malformed {self.what}:\n  " + "\n  ".join(lines))


class ResultsFormatError(EvaluationInputError):
    """A DensePose results file or record is malformed."""

    what = "DensePose results"


class GroundTruthError(EvaluationInputError):
    """A DensePose-COCO ground-truth document cannot be scored against."""

    what = "DensePose-COCO ground truth"
