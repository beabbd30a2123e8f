"""What a training run tells the world: a JSON-lines log, TensorBoard, and progress.

* ``RUN/metrics.jsonl``: one JSON object per logged iteration (``iteration``, ``losses``,
  ``total_loss``, ``lr``, ``time`` and ``data_time`` per iteration in seconds, ``memory_mb``)
  and one per event (``{"event": "checkpoint" | "evaluation" | "skipped" | "stopped" |
  "done", ...}``); a resumed run first drops the records of the iterations after its
  checkpoint (a killed run logged them, then lost them), so every iteration appears once;
* TensorBoard event files in ``RUN/tensorboard``;
* on the terminal, a progress bar with the ETA; or, with ``--progress-json``, the same
  records as JSON lines on standard output (``"event": "progress"`` for iterations), which is
  what the app reads.

Only the main process writes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def memory_mb(device: Any) -> float:
    """Peak memory of this process: CUDA allocator peak on a GPU, resident set on the CPU."""
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RunLog:
    """The run's logs (see module docstring).

    Args:
        run_dir: the run folder.
        start_iter: iterations already done (resumed runs).
        max_iter: iterations the run ends at.
        progress_json: JSON lines on stdout instead of a progress bar.
        enabled: False on every process but the main one.
        stream: where progress goes (stdout for JSON, stderr for the bar).
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        start_iter: int,
        max_iter: int,
        progress_json: bool = False,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.enabled = enabled
        self.max_iter = max_iter
        self.progress_json = progress_json
        self.start_iter = start_iter
        self._t0 = time.perf_counter()
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        dropped = forget_after(run_dir / "metrics.jsonl", start_iter) if start_iter else 0
        self._file = open(run_dir / "metrics.jsonl", "a")  # noqa: SIM115 (closed in close())
        self._stream = stream or (sys.stdout if progress_json else sys.stderr)
        self._tb = _summary_writer(run_dir / "tensorboard", start_iter)
        self._bar = None
        if not progress_json:
            from tqdm import tqdm

            self._bar = tqdm(
                total=max_iter,
                initial=start_iter,
                desc="training",
                unit="it",
                file=self._stream,
                dynamic_ncols=True,
            )
        if dropped:
            self.note(
                f"metrics.jsonl: {dropped} records after iteration {start_iter} dropped "
                "(logged by the stopped run after its last checkpoint; they are done again now)"
            )

    def eta_seconds(self, iteration: int) -> float:
        done = iteration - self.start_iter
        if done <= 0:
            return math.nan
        return (time.perf_counter() - self._t0) / done * (self.max_iter - iteration)

    def step(self, iteration: int, record: dict[str, Any]) -> None:
        """Log one iteration (1-based count of iterations done)."""
        if not self.enabled:
            return
        record = {"iteration": iteration, **record}
        self._write(record)
        for name, value in record.get("losses", {}).items():
            self._scalar(f"loss/{name}", value, iteration)
        for key in ("total_loss", "lr", "time", "data_time", "memory_mb"):
            if key in record:
                self._scalar(f"train/{key}", record[key], iteration)
        eta = self.eta_seconds(iteration)
        if self._bar is not None:
            self._bar.n = iteration
            self._bar.set_postfix(
                loss=f"{record.get('total_loss', math.nan):.3f}",
                lr=f"{record.get('lr', 0):.2g}",
                refresh=False,
            )
            self._bar.refresh()
        else:
            self._emit(
                {
                    "event": "progress",
                    "max_iter": self.max_iter,
                    "eta_seconds": None if math.isnan(eta) else round(eta, 1),
                    **record,
                }
            )

    def _scalar(self, tag: str, value: float, iteration: int) -> None:
        if self._tb is not None:
            self._tb.add_scalar(tag, value, iteration)

    def event(self, kind: str, **fields: Any) -> None:
        """Log an event: checkpoint, evaluation, skipped, stopped, done."""
        if not self.enabled:
            return
        record = {"event": kind, **fields}
        self._write(record)
        if kind == "evaluation":
            iteration = fields.get("iteration", 0)
            for name, value in fields.get("metrics", {}).items():
                if isinstance(value, int | float):
                    self._scalar(f"eval/{name}", value, iteration)
        if self._bar is not None:
            if kind in ("skipped", "stopped", "evaluation", "done"):
                self._bar.write(f"{kind}: {json.dumps(fields)}")
        else:
            self._emit(record)

    def note(self, message: str) -> None:
        """A one-line message for the person running the command."""
        if not self.enabled:
            return
        if self.progress_json:
            self._emit({"event": "note", "message": message})
        else:
            print(message, file=sys.stderr, flush=True)

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def _emit(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        self._file.close()


def forget_after(path: Path, iteration: int) -> int:
    """Drop the records of ``path`` (a metrics.jsonl) logged at iterations after
    ``iteration``, and a last line cut short by a kill; returns how many went. The file is
    replaced in one step, so a crash here leaves the old one."""
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("iteration", 0) <= iteration:
            kept.append(line)
    if len(kept) == len(lines):
        return 0
    partial = path.with_suffix(".jsonl.partial")
    partial.write_text("".join(line + "\n" for line in kept))
    partial.replace(path)
    return len(lines) - len(kept)


def _summary_writer(directory: Path, start_iter: int) -> Any:
    """A TensorBoard writer, or None when the ``tensorboard`` package is not installed.

    metrics.jsonl holds every figure either way; the event files are a convenience.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print(
            "note: the tensorboard package is not installed; metrics go to metrics.jsonl only "
            "(pip install tensorboard for the event files)",
            file=sys.stderr,
        )
        return None
    return SummaryWriter(str(directory), purge_step=start_iter + 1)
