"""Training runs as the app starts and follows them. Qt-free.

* :class:`TrainSpec`: what the Train dialog asks for, and the command line it becomes
  (``dpstudio model train ... --progress-json``; on N > 1 GPUs through
  ``python -m torch.distributed.run --nproc-per-node N``);
* :class:`TrainProgress`: the run's JSON-lines progress folded into what the training dock
  shows (iteration, ETA, loss and held-out curves, checkpoints, how it ended, the end of its
  log).
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Lines of a run's own output kept to show when it fails.
LOG_TAIL = 40

#: Where runs started from the app live, in the project folder.
RUNS_FOLDER = "runs"


@dataclass
class TrainSpec:
    """One training run to start (or resume).

    Attributes:
        out: the run folder.
        preset: preset name or YAML file (ignored when resuming).
        data: DensePose-COCO JSON or synthetic folder (None when resuming).
        images: image folder of ``data`` (None: the command's default).
        val, val_images: held-out data, evaluated every ``eval_period`` iterations.
        iterations: ``--max-iter`` (None: the preset's).
        device: "auto", "cpu" or "cuda".
        gpus: processes (one per GPU) for ``torch.distributed.run``; 1 runs plainly.
        resume: continue the run in ``out`` from its last checkpoint.
        weights: "none", "imagenet", "coco" or a checkpoint file (None: the preset's).
        eval_period: held-out evaluation every N iterations (0: never).
        overrides: extra ``key=value`` config fields.
    """

    out: Path
    preset: str = "R_18_FPN_cpu"
    data: Path | None = None
    images: Path | None = None
    val: Path | None = None
    val_images: Path | None = None
    iterations: int | None = None
    device: str = "auto"
    gpus: int = 1
    resume: bool = False
    weights: str | None = None
    eval_period: int = 0
    overrides: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.out.name

    def arguments(self) -> list[str]:
        """The ``dpstudio`` arguments of this run (after the program)."""
        args = ["model", "train", "--out", str(self.out), "--progress-json"]
        if self.resume:
            args.append("--resume")
        else:
            if self.data is None:
                raise ValueError("a new run needs its data (a JSON file or a synthetic folder)")
            args += ["--config", self.preset, "--data", str(self.data)]
            if self.images is not None:
                args += ["--images", str(self.images)]
            if self.weights:
                args += ["--weights", self.weights]
        if self.val is not None and not self.resume:
            args += ["--val", str(self.val)]
            if self.val_images is not None:
                args += ["--val-images", str(self.val_images)]
        if self.iterations is not None:
            args += ["--max-iter", str(self.iterations)]
        args += ["--device", self.device]
        fields = list(self.overrides)
        if self.eval_period and not self.resume:
            fields.append(f"solver.eval_period={self.eval_period}")
        for item in fields:
            args += ["--set", item]
        return args

    def command(self, python: str) -> list[str]:
        """The whole command line, ``python`` being the interpreter to run."""
        if self.gpus > 1:
            launcher = ["-m", "torch.distributed.run", f"--nproc-per-node={self.gpus}"]
            return [python, *launcher, "-m", "annotator.cli", *self.arguments()]
        return [python, "-m", "annotator.cli", *self.arguments()]


def next_run_name(runs: Path, stem: str) -> str:
    """A fresh run folder name under ``runs``: ``stem``, ``stem-2``, ``stem-3``..."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "run"
    name, k = stem, 1
    while (runs / name).exists():
        k += 1
        name = f"{stem}-{k}"
    return name


def format_eta(seconds: float | None) -> str:
    """``1:02:03`` / ``4:05``; "-" when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class TrainProgress:
    """A run's progress, fed one JSON record (or plain log line) at a time.

    Attributes:
        iteration, max_iter: iterations done and to do.
        eta_seconds: the run's own estimate, None before the first iteration.
        losses: loss name -> ``(iterations, values)`` (``total_loss`` included).
        figures: held-out figure name -> ``(iterations, values)``.
        checkpoints: checkpoint file names, in order.
        ended: "done", "stopped" or "" while running.
        notes: the run's notes (weights used, resumed from...).
        log: the last lines of the run's output.
    """

    iteration: int = 0
    max_iter: int = 0
    eta_seconds: float | None = None
    losses: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    figures: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)
    ended: str = ""
    notes: list[str] = field(default_factory=list)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))

    def feed_line(self, line: str) -> dict[str, Any] | None:
        """One line of output: a JSON record is applied and returned; other text is kept in
        the log."""
        import json

        text = line.strip()
        if not text:
            return None
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if isinstance(record, dict) and "event" in record:
                self.feed(record)
                return record
        self.log.append(text)
        return None

    def feed(self, record: dict[str, Any]) -> None:
        kind = record.get("event")
        if kind == "progress":
            self.iteration = int(record["iteration"])
            self.max_iter = int(record.get("max_iter", self.max_iter))
            eta = record.get("eta_seconds")
            self.eta_seconds = None if eta is None else float(eta)
            values = dict(record.get("losses", {}))
            if "total_loss" in record:
                values["total_loss"] = record["total_loss"]
            for name, value in values.items():
                _append(self.losses, name, self.iteration, value)
        elif kind == "evaluation":
            at = int(record.get("iteration", self.iteration))
            for name, value in record.get("metrics", {}).items():
                if isinstance(value, int | float) and math.isfinite(value):
                    _append(self.figures, name, at, float(value))
        elif kind == "checkpoint":
            self.checkpoints.append(str(record.get("path", "")))
        elif kind in ("done", "stopped"):
            self.ended = str(kind)
            self.iteration = int(record.get("iteration", self.iteration))
        elif kind == "note":
            self.notes.append(str(record.get("message", "")))
            self.log.append(str(record.get("message", "")))

    @property
    def fraction(self) -> float:
        return self.iteration / self.max_iter if self.max_iter else 0.0

    def describe(self) -> str:
        """One line: where the run is."""
        if not self.max_iter:
            return "starting..."
        text = f"iteration {self.iteration} / {self.max_iter}"
        total = self.losses.get("total_loss")
        if total and total[1]:
            text += f" · loss {total[1][-1]:.3f}"
        if not self.ended:
            text += f" · ETA {format_eta(self.eta_seconds)}"
        return text

    def tail(self, lines: int = 15) -> str:
        """The end of the run's output (what a failure is reported with)."""
        return "\n".join(list(self.log)[-lines:])


def _append(
    series: dict[str, tuple[list[int], list[float]]], name: str, at: int, value: Any
) -> None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return
    xs, ys = series.setdefault(name, ([], []))
    if xs and xs[-1] >= at:  # a resumed run repeats nothing, but be safe
        while xs and xs[-1] >= at:
            xs.pop()
            ys.pop()
    xs.append(at)
    ys.append(number)
