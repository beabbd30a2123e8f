"""The ruler of the evaluation: how far a predicted (I, U, V) lies from an annotated point.

Every figure that scores annotated points (GPS and GPSm AP, RCP, AUC, the per-part errors,
``dpstudio model compare``) takes its geodesic errors from one :class:`PointDistance`:

* :class:`BodyDistance` (``--geodesics body``, the default): both points become surface
  points of the body's atlas and the error is their geodesic distance on the rest body
  (docs/adr/0002-geodesics.md). Nothing outside the studio is needed.
* :class:`~model.evaluation.reference_geodesics.ReferenceDistance` (``--geodesics
  reference``): detectron2's evaluation data on the SMPL body, which the user downloads.
  GPS on DensePose-COCO is comparable with published figures only with this one.

The annotated points are located once per evaluation (:meth:`PointDistance.bind`), then the
errors of any number of predictions against any of them are asked for in batches. Dense
figures on synthetic folders always use the body surface, whose exact truth they compare with.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from annotator.surface.geodesic import Geodesics
from annotator.surface.points import SurfacePoints
from model.evaluation.surface_lookup import iuv_errors, iuv_lookup

#: ``errors(rows [N], i [N], u [N], v [N]) -> [N]``: geodesic error (metres, inf: no
#: prediction) of predicted (I 0..255, U, V in [0, 1]) against the bound annotated points
#: ``rows``.
PointErrors = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class PointDistance(ABC):
    """A ruler for geodesic errors (see the module docstring).

    Attributes:
        name: ``"body"`` or ``"reference"``, as ``--geodesics`` spells it.
    """

    name: str

    @abstractmethod
    def bind(self, i: np.ndarray, u: np.ndarray, v: np.ndarray) -> PointErrors:
        """Locate P annotated points once; return the function scoring predictions on them.

        Args:
            i: ``[P]`` annotated chart, 1..24.
            u, v: ``[P]`` annotated chart coordinates in [0, 1].
        """

    @abstractmethod
    def describe(self) -> str:
        """One line for reports: which surface the distances are measured on."""

    def squared(self, errors: np.ndarray, start: np.ndarray) -> np.ndarray:
        """``[R]`` squared errors (m^2) as GPS uses them, for pairs ``start [Q + 1]``.

        The reference rounds some squares to the precision of its table
        (:class:`~model.evaluation.reference_geodesics.ReferenceDistance`); here they are
        float64.
        """
        return errors**2


class BodyDistance(PointDistance):
    """Geodesics on the body's own surface (the atlas of ``geodesics``).

    Args:
        geodesics: the atlas's geodesic table.
    """

    name = "body"

    def __init__(self, geodesics: Geodesics) -> None:
        self.geodesics = geodesics

    def bind(self, i: np.ndarray, u: np.ndarray, v: np.ndarray) -> PointErrors:
        truth = iuv_lookup(self.geodesics.atlas)(i, u, v)
        return functools.partial(self._errors, truth)

    def _errors(
        self, truth: SurfacePoints, rows: np.ndarray, i: np.ndarray, u: np.ndarray, v: np.ndarray
    ) -> np.ndarray:
        return iuv_errors(self.geodesics, truth[rows], i, u, v)

    def describe(self) -> str:
        return f"body (the {self.geodesics.atlas.body} rest body)"


class Unmeasured(PointDistance):
    """No ruler: the model's (I, U, V) are on other charts than the data's (a model of the
    official DensePose charts on Anny data), so no geodesic error means anything. Only what
    does not depend on the charts' layout is scored: IOU AP and the mask IoU.

    Args:
        reason: one line saying why (reports show it).
    """

    name = "none"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def bind(self, i: np.ndarray, u: np.ndarray, v: np.ndarray) -> PointErrors:
        return lambda rows, i, u, v: np.full(len(rows), np.nan)

    def describe(self) -> str:
        return f"not measured: {self.reason}"
