"""A model command run as a child process, read line by line (training, evaluation, ...).

The model never runs in the app's process (docs/adr/0009-models-in-the-app.md): a crash, an
out-of-memory kill or a bad configuration ends the child, which the app reports with the
end of its output. :class:`ModelProcess` starts ``python -m ...`` with the app's own
interpreter, hands every JSON line of its standard output to the caller and keeps the last
lines of everything else (standard error included) for the failure message.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections import deque
from collections.abc import Sequence

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

log = logging.getLogger(__name__)

#: Lines of output kept for the failure message.
TAIL = 60


def python() -> str:
    """The interpreter the app runs on (the same installation runs the model)."""
    return sys.executable


class ModelProcess(QObject):
    """One child process. ``line`` carries each output line, ``ended`` its end.

    Args:
        argv: the command (program first).
        parent: Qt parent.
    """

    line = Signal(str)  # a line of standard output
    ended = Signal(bool, int, str)  # success, exit code, last lines of output

    def __init__(self, argv: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.argv = list(argv)
        self.tail: deque[str] = deque(maxlen=TAIL)
        self._buffer = b""
        self._process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        if "PYTHONPATH" in os.environ:
            env.insert("PYTHONPATH", os.environ["PYTHONPATH"])
        self._process.setProcessEnvironment(env)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)
        self._failed_to_start = False

    def start(self) -> None:
        log.info("starting %s", shlex.join(self.argv))
        self._process.start(self.argv[0], self.argv[1:])

    def running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def terminate(self) -> None:
        """SIGTERM: the model commands stop after the current step."""
        if self.running():
            self._process.terminate()

    def kill(self) -> None:
        if self.running():
            self._process.kill()

    def wait(self, ms: int) -> bool:
        return self._process.waitForFinished(ms)

    def _read_stdout(self) -> None:
        self._buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                if not text.startswith("{"):
                    self.tail.append(text)
                self.line.emit(text)

    def _read_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError().data()).decode("utf-8", "replace")
        for part in text.replace("\r", "\n").splitlines():
            if part.strip():
                self.tail.append(part.rstrip())

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._failed_to_start = True
            self.tail.append(f"could not start {self.argv[0]}: {self._process.errorString()}")
            self.ended.emit(False, -1, self.text_tail())

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        if self._buffer:
            self.line.emit(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""
        self._read_stderr()
        if self._failed_to_start:
            return
        crashed = status == QProcess.ExitStatus.CrashExit
        if crashed:
            self.tail.append(f"the process ended abnormally (exit status {code})")
        self.ended.emit(not crashed and code == 0, code, self.text_tail())

    def text_tail(self, lines: int = 20) -> str:
        return "\n".join(list(self.tail)[-lines:])


class CommandChain(QObject):
    """Commands run one after the other; the chain stops at the first that fails.

    ``finished`` carries success and, on failure, the failed command's last output lines.
    """

    line = Signal(str)
    finished = Signal(bool, str)

    def __init__(self, commands: Sequence[Sequence[str]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.commands = [list(c) for c in commands]
        self._process: ModelProcess | None = None
        self._cancelled = False

    def start(self) -> None:
        self._step()

    def running(self) -> bool:
        return self._process is not None

    def cancel(self) -> None:
        self._cancelled = True
        self.commands.clear()
        if self._process is not None:
            self._process.terminate()

    def shutdown(self, wait_ms: int = 5_000) -> None:
        self.cancel()
        if self._process is not None and not self._process.wait(wait_ms):
            self._process.kill()
            self._process.wait(2_000)

    def _step(self) -> None:
        if not self.commands:
            self._process = None
            self.finished.emit(not self._cancelled, "cancelled" if self._cancelled else "")
            return
        self._process = ModelProcess(self.commands.pop(0), self)
        self._process.line.connect(self.line)
        self._process.ended.connect(self._on_ended)
        self._process.start()

    def _on_ended(self, ok: bool, code: int, tail: str) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        if not ok:
            self.commands.clear()
            message = "cancelled" if self._cancelled else (tail or f"exit code {code}")
            self.finished.emit(False, message)
            return
        self._step()
