"""The one error the data side raises for bad input: it names file, record and field.

A training run reads thousands of files in worker processes; when one of them is missing,
corrupt or malformed the message must say which file, which image or annotation, which
field, and what to do, because the traceback from a worker says little else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotator.dataset.errors import NO_VALUE, Problem


class DatasetError(ValueError):
    """A data set file (JSON, image, ground truth) is missing, unreadable or wrong.

    Attributes:
        problems: every problem found, each naming file, record and field.
    """

    def __init__(self, problems: Sequence[Problem], shown: int = 10) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:shown]]
        if len(self.problems) > shown:
            lines.append(f"... and {len(self.problems) - shown} more problem(s)")
        if len(self.problems) == 1:
            super().__init__(lines[0])
        else:
            head = f"{len(self.problems)} problems in the data set"
            super().__init__(head + ":\n  " + "\n  ".join(lines))

    @classmethod
    def one(
        cls, file: str, record: str, field: str, message: str, value: Any = NO_VALUE
    ) -> DatasetError:
        """A single problem: ``file: record, field = value: message``."""
        return cls([Problem(str(file), record, field, value, message)])
