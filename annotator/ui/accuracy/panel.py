"""The Accuracy panel: the annotator-accuracy report inside the app, filtered by annotator and
date, computed off the UI thread (the geodesic table needs about a minute the first time)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QDate, QObject, Qt, QThread, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.dataset.pg import is_url

log = logging.getLogger(__name__)

_COLUMNS = ("points", "mean cm", "median cm", "p90 cm", "AUC10", "AUC30", "not visible", "off body")
_KEYS = ("count", "mean_cm", "median_cm", "p90_cm", "auc10", "auc30", "not_visible", "off_body")


class AccuracyJob(QObject):
    """Measures a project in a worker thread; emits the numbers and figure images.

    Opens its own read-only connection to the project (SQLite connections belong to one
    thread), builds or loads the geodesic table (progress), then computes the report.
    """

    progress = Signal(int, int, str)  # done, total, what
    finished = Signal(object)  # dict with "numbers", "rcp", "heatmap", "annotators"
    failed = Signal(str)

    def __init__(
        self,
        project_dir: str | Path,
        annotators: list[str] | None,
        since: float | None,
        until: float | None,
        export_to: Path | None = None,
    ) -> None:
        super().__init__()
        self.project_dir, self.annotators = project_dir, annotators
        self.since, self.until, self.export_to = since, until, export_to
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            self.finished.emit(self._compute())
        except InterruptedError:
            self.failed.emit("cancelled")
        except Exception as exc:  # shown to the user, logged with its traceback
            log.exception("accuracy report failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")

    def _compute(self) -> dict[str, Any]:
        from annotator.accuracy.figures import heatmap_figure, rcp_figure
        from annotator.accuracy.report import measure, numbers, write_report
        from annotator.dataset.store import Project
        from annotator.surface.atlas import load_atlas
        from annotator.surface.geodesic import Geodesics
        from annotator.surface.points import SurfacePoints

        with Project.open(self.project_dir, readonly=True) as project:
            if not project.gold_person_ids():
                raise ValueError("this project has no gold tasks: add synthetic people first")
            geo = Geodesics.load_or_build(
                load_atlas(project.body),
                progress=lambda d, n: self.progress.emit(
                    d, n, "geodesic table: once per machine, about a minute"
                ),
                should_stop=self._stop.is_set,
            )
            self.progress.emit(0, 0, "measuring")
            data = measure(project, geo, self.annotators, self.since, self.until)
        e = data.errors
        groups = {n: e.error[(e.annotator == n) & e.measured] for n in data.annotators}
        out: dict[str, Any] = {"numbers": numbers(data), "rcp": rcp_figure(groups), "heatmap": None}
        if e.measured.any():
            m = e.measured
            points = SurfacePoints(e.true_face[m], e.true_bary[m])
            out["heatmap"] = heatmap_figure(geo, points, e.error[m])
        if self.export_to is not None:
            out["exported"] = str(write_report(data, geo, self.export_to))
        return out


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class AccuracyPanel(QWidget):
    """Shows the accuracy of the project's annotators on gold tasks.

    Args:
        project_dir: the project folder or shared project's URL (opened read-only by the
            worker).
        annotators: names to offer in the filter.
    """

    statusMessage = Signal(str)

    def __init__(
        self, project_dir: str | Path, annotators: list[str], parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.project_dir = project_dir if is_url(project_dir) else Path(project_dir)
        self._thread: QThread | None = None
        self._job: AccuracyJob | None = None
        self.last_numbers: dict[str, Any] | None = None
        self._build(annotators)

    # -- layout ---------------------------------------------------------------------------

    def _build(self, annotators: list[str]) -> None:
        self.annotator = QComboBox()
        self.set_annotators(annotators)
        self.since = QDateEdit(QDate(2000, 1, 1))
        self.until = QDateEdit(QDate.currentDate().addDays(1))
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.refresh = QPushButton("Compute")
        self.export = QPushButton("Export report…")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel("Press Compute to measure the annotators on the gold tasks.")
        self.message.setWordWrap(True)
        bar = QHBoxLayout()
        for label, widget in (
            ("Annotator", self.annotator),
            ("from", self.since),
            ("before", self.until),
        ):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addStretch(1)
        for button in (self.refresh, self.export, self.cancel):
            bar.addWidget(button)
        self.summary = self._table(["annotator", *_COLUMNS])
        self.parts = self._table(["part", *_COLUMNS, "stage-1 IoU"])
        self.rcp = QLabel()
        self.heatmap = QLabel()
        figures = QHBoxLayout()
        figures.addWidget(self.rcp)
        figures.addWidget(self.heatmap)
        body = QWidget()
        content = QVBoxLayout(body)
        content.addWidget(
            QLabel("<b>Stage 2 on gold tasks</b> (paper humans: AUC10 0.563, AUC30 0.835)")
        )
        content.addWidget(self.summary)
        content.addLayout(figures)
        content.addWidget(QLabel("<b>By part</b> (the selected annotator, or everyone)"))
        content.addWidget(self.parts)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(scroll, 1)
        self.refresh.clicked.connect(lambda: self.compute())
        self.export.clicked.connect(self._ask_export)
        self.cancel.clicked.connect(self._cancel)

    @staticmethod
    def _table(header: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(header))
        table.setHorizontalHeaderLabels(header)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.setMinimumHeight(120)
        return table

    def set_annotators(self, names: list[str]) -> None:
        current = self.annotator.currentText()
        self.annotator.clear()
        self.annotator.addItems(["everyone", *names])
        index = self.annotator.findText(current)
        self.annotator.setCurrentIndex(max(index, 0))

    # -- computing ------------------------------------------------------------------------

    def _filters(self) -> tuple[list[str] | None, float | None, float | None]:
        who = self.annotator.currentText()
        names = None if who in ("", "everyone") else [who]

        def stamp(edit: QDateEdit) -> float:
            d = edit.date()
            return dt.datetime(d.year(), d.month(), d.day()).timestamp()

        return names, stamp(self.since), stamp(self.until)

    def compute(self, export_to: Path | None = None) -> None:
        """Start measuring in a worker thread (a running computation is cancelled first)."""
        self._cancel()
        names, since, until = self._filters()
        self._job = AccuracyJob(self.project_dir, names, since, until, export_to)
        self._thread = QThread(self)
        self._job.moveToThread(self._thread)
        self._thread.started.connect(self._job.run)
        self._job.progress.connect(self._on_progress)
        self._job.finished.connect(self._on_finished)
        self._job.failed.connect(self._on_failed)
        for signal in (self._job.finished, self._job.failed):
            signal.connect(self._thread.quit)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel.setEnabled(True)
        self.message.setText("Measuring…")
        self._thread.start()

    def _cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(60_000)
        self._job = self._thread = None
        self.cancel.setEnabled(False)
        self.progress.setVisible(False)

    def shutdown(self) -> None:
        self._cancel()

    def _ask_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Write the accuracy report to")
        if folder:
            self.compute(export_to=Path(folder))

    def _on_progress(self, done: int, total: int, what: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)
        self.message.setText(what + ("…" if not total else f": {done} / {total}"))

    def _join(self) -> None:
        """The job has sent its result: let its thread end before anything else happens (a
        QThread destroyed while still running aborts the process)."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        self._job = self._thread = None

    def _on_failed(self, message: str) -> None:
        self._join()
        self.progress.setVisible(False)
        self.cancel.setEnabled(False)
        self.message.setText(f"Could not measure: {message}")
        self.statusMessage.emit(f"accuracy: {message}")

    def _on_finished(self, result: dict[str, Any]) -> None:
        self._join()
        self.progress.setVisible(False)
        self.cancel.setEnabled(False)
        nums = result["numbers"]
        self.last_numbers = nums
        self._fill_summary(nums)
        self._fill_parts(nums)
        self.rcp.setPixmap(
            QPixmap.fromImage(_qimage(result["rcp"])).scaledToWidth(
                520, Qt.TransformationMode.SmoothTransformation
            )
        )
        if result["heatmap"] is not None:
            self.heatmap.setPixmap(
                QPixmap.fromImage(_qimage(result["heatmap"])).scaledToWidth(
                    520, Qt.TransformationMode.SmoothTransformation
                )
            )
        else:
            self.heatmap.clear()
        points = nums["all"]["count"]
        text = f"{points} points measured on gold tasks."
        if "exported" in result:
            text += f" Report written to {result['exported']}."
        self.message.setText(text)
        self.statusMessage.emit(text)

    def _fill_summary(self, nums: dict[str, Any]) -> None:
        rows = [(name, a["stage2"]) for name, a in nums["annotators"].items()]
        rows.append(("all", nums["all"]))
        _fill(self.summary, [[name, *(s[k] for k in _KEYS)] for name, s in rows])

    def _fill_parts(self, nums: dict[str, Any]) -> None:
        names = list(nums["annotators"])
        who = self.annotator.currentText()
        chosen = names if who in ("", "everyone") else [who]
        rows = []
        for name in chosen:
            a = nums["annotators"].get(name)
            if a is None:
                continue
            for part, s in a["stage2_by_part"].items():
                label = part if len(chosen) == 1 else f"{name}: {part}"
                rows.append([label, *(s[k] for k in _KEYS), a["stage1_iou_by_part"].get(part)])
        _fill(self.parts, rows)


def _fill(table: QTableWidget, rows: list[list[Any]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                text = "–"
            elif isinstance(value, float):
                text = f"{value:.3f}"
            else:
                text = str(value)
            item = QTableWidgetItem(text)
            if c:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()
