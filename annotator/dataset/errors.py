"""Errors of the dataset package. Every one carries a message a user can act on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class ProjectError(Exception):
    """A project cannot be opened, created or changed as asked."""


class ProjectLockedError(ProjectError):
    """Another process has the project open for writing."""


class SchemaError(ProjectError):
    """The project file's schema is unknown (newer tool) or damaged."""


class AnswersExistError(ProjectError):
    """Re-sampling would discard answers; pass ``force=True`` to do it anyway."""


class NoPartMaskError(ProjectError):
    """A person has no part mask (stage 1 not done) where one is needed, e.g. to sample."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file.

    Attributes:
        file: the file's path as given.
        record: which record, e.g. ``annotation 1234``, ``image 42``, ``images[3]``.
        field: the field, e.g. ``bbox``, ``dp_U[17]``, ``dp_masks[3].counts``.
        value: the offending value (shortened for display).
        message: what is wrong.
    """

    file: str
    record: str
    field: str
    value: Any
    message: str

    def __str__(self) -> str:
        where = ", ".join(s for s in (self.record, self.field) if s)
        value = "" if self.value is NO_VALUE else f" = {_short(self.value)}"
        head = f"{where}{value}"
        return f"{self.file}: {head}: {self.message}" if head else f"{self.file}: {self.message}"


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


#: Marks a problem about a missing field (there is no value to show).
NO_VALUE: Any = _NoValue()


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InputError(ProjectError):
    """An input file (image, JSON) is missing, unreadable or wrong; nothing was imported.

    Attributes:
        problems: every problem found, each naming file, record and field.
    """

    def __init__(self, problems: Sequence[Problem], shown: int = 10) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:shown]]
        more = len(self.problems) - shown
        if more > 0:
            lines.append(f"... and {more} more problem(s)")
        head = f"{len(self.problems)} problem(s) in the input; nothing was imported"
        super().__init__(head + ":\n  " + "\n  ".join(lines))
