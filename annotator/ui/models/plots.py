"""Live curves (pyqtgraph), for the training and evaluation docks.

pyqtgraph takes most of a second to import, so only the docks import this module, when they
are first shown: the app's start-up never pays for it.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

#: Curve colours, in order (colour-blind safe, Okabe-Ito).
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


class CurvePlot(pg.PlotWidget):
    """Named curves that are replaced whole on each update."""

    def __init__(
        self,
        title: str,
        x_label: str,
        y_label: str,
        parent: QWidget | None = None,
        fraction: bool = False,
    ) -> None:
        super().__init__(parent, background="w")
        self.fraction = fraction  # values in [0, 1]: the axis starts at 0
        self.setTitle(title, color="#333", size="10pt")
        self.setLabel("bottom", x_label)
        self.setLabel("left", y_label)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.setMinimumHeight(170)
        self._curves: dict[str, pg.PlotDataItem] = {}

    def set_curves(self, series: dict[str, tuple[list[float], list[float]]]) -> None:
        """Show ``name -> (xs, ys)``; names not given are removed."""
        for name in list(self._curves):
            if name not in series:
                self.removeItem(self._curves.pop(name))
        for k, (name, (xs, ys)) in enumerate(sorted(series.items())):
            curve = self._curves.get(name)
            if curve is None:
                pen = pg.mkPen(COLORS[k % len(COLORS)], width=2 if name == "total_loss" else 1.3)
                curve = self.plot([], [], pen=pen, name=name, symbol="o", symbolSize=3)
                self._curves[name] = curve
            curve.setData(list(xs), list(ys))
        if self.fraction:
            top = max((max(ys) for _, ys in series.values() if ys), default=0.0)
            self.setYRange(0.0, min(1.0, max(0.05, 1.1 * top)), padding=0.02)

    def names(self) -> list[str]:
        return sorted(self._curves)

    def points(self, name: str) -> int:
        """How many points the curve ``name`` shows (0 when absent)."""
        curve = self._curves.get(name)
        if curve is None:
            return 0
        xs, _ = curve.getData()
        return 0 if xs is None else len(xs)
