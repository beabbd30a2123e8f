"""Edits of a shared project kept on this machine until the server has them.

Why: an annotator's connection can drop (a laptop's network, a server restarted), and an
edit the app acknowledged must never be lost, nor may the app freeze waiting for the server.
So in the app every edit of a shared project -- an answer, a cleared answer, a part mask, a
task's state -- is first committed to a small SQLite file on this machine (the *outbox*,
``synchronous=FULL``: it survives a killed app), which is the acknowledgement; a sender
thread then replays the edits in order on its own connection and deletes each once the
server committed it. When the server is unreachable the edits wait, the sender retries, and
the app goes on with the task it holds (:class:`JournaledProject` answers reads of it from
what it read before, with the waiting edits laid over).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.dataset import masks
from annotator.dataset.errors import ProjectError
from annotator.dataset.pg import ServerGoneError
from annotator.dataset.records import MaskFrame, TaskState
from annotator.dataset.store import Project
from annotator.dataset.store_shared import SharedProject


@dataclass(frozen=True)
class Edit:
    """One waiting edit.

    Attributes:
        seq: its place in the outbox (edits are sent in this order).
        kind: ``answer``, ``clear``, ``mask`` or ``state``.
        person_id: the person it changes.
        annotator: whose edit it is.
        args: the call's other arguments (JSON).
        data: a mask's encoded bytes (``mask`` only).
    """

    seq: int
    kind: str
    person_id: int
    annotator: str
    args: dict[str, Any]
    data: bytes | None = None


class Outbox:
    """A durable, ordered queue of edits in a local SQLite file (thread-safe).

    Args:
        file: the outbox file (created if needed).
    """

    def __init__(self, file: Path) -> None:
        file.parent.mkdir(parents=True, exist_ok=True)
        self.file = file
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(file), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS edits (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
            "person_id INTEGER NOT NULL, annotator TEXT NOT NULL, args TEXT NOT NULL, data BLOB)"
        )

    def put(
        self,
        kind: str,
        person_id: int,
        annotator: str,
        args: dict[str, Any],
        data: bytes | None = None,
    ) -> int:
        """Keep one edit (committed on return: this is the app's acknowledgement)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO edits (kind, person_id, annotator, args, data) VALUES (?, ?, ?, ?, ?)",
                (kind, int(person_id), annotator, json.dumps(args), data),
            )
            return int(cur.lastrowid or 0)

    def pending(self, person_id: int | None = None) -> list[Edit]:
        """Waiting edits in order (of one person, or all)."""
        sql = "SELECT seq, kind, person_id, annotator, args, data FROM edits"
        args: tuple[Any, ...] = ()
        if person_id is not None:
            sql, args = sql + " WHERE person_id = ?", (int(person_id),)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [Edit(s, k, p, a, json.loads(j), d) for s, k, p, a, j, d in rows]

    def remove(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM edits WHERE seq = ?", (seq,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM edits").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def apply(project: Project, edit: Edit) -> None:
    """Make one waiting edit on a project (the server's, in the sender)."""
    a = edit.args
    if edit.kind == "answer":
        iuv = None if a["iuv"] is None else (int(a["iuv"][0]), float(a["iuv"][1]), a["iuv"][2])
        project.save_answer(
            edit.person_id, a["index"], edit.annotator, iuv=iuv, face=a["face"],
            bary=a["bary"], not_visible=a["not_visible"], when=a["when"],
        )  # fmt: skip
    elif edit.kind == "clear":
        project.clear_answer(edit.person_id, a["index"], edit.annotator)
    elif edit.kind == "mask":
        assert edit.data is not None
        encoded = masks.EncodedMask(
            MaskFrame(a["frame"]), a["x0"], a["y0"], a["width"], a["height"], edit.data
        )
        project.save_part_mask(edit.person_id, edit.annotator, encoded)
    elif edit.kind == "state":
        project.set_state(edit.person_id, TaskState(a["state"]), annotator=edit.annotator)
    else:
        raise ProjectError(f"unknown edit kind {edit.kind!r} in the outbox")


class Sender:
    """Replays an outbox on its own connection, in a thread, until told to stop.

    Args:
        outbox: the edits.
        connect: opens a fresh connection to the server (a project).
        on_state: called (from the sender's thread) with ``"online"``, ``"sending"`` or
            ``"offline"`` and the number of edits waiting, whenever that changes.
        on_rejected: called with an edit the server refused (not a connection problem) and
            the reason; the edit is kept aside, not retried.
        retry: seconds between attempts while the server is away.
    """

    def __init__(
        self,
        outbox: Outbox,
        connect: Callable[[], Project],
        on_state: Callable[[str, int], None],
        on_rejected: Callable[[Edit, str], None],
        retry: float = 1.0,
    ) -> None:
        self._outbox = outbox
        self._connect = connect
        self._on_state = on_state
        self._on_rejected = on_rejected
        self._retry = retry
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._project: Project | None = None
        self._state: tuple[str, int] | None = None
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """An edit was added: send it now."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the edit in flight (waiting edits stay in the outbox)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._project is not None:
            self._project.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._send_all()
                self._report("online")
                self._wake.wait(self._retry * 5)
            except ServerGoneError:
                if self._project is not None:
                    self._project.close()
                self._project = None
                self._report("offline")
                self._wake.wait(self._retry)
            self._wake.clear()

    def _send_all(self) -> None:
        if self._project is None:
            self._project = self._connect()
        if isinstance(self._project, SharedProject):
            self._project.renew_all()  # the tasks this app holds stay its own while connected
        else:
            self._project.integrity_check()  # a cheap round trip: is the server there?
        for edit in self._outbox.pending():
            if self._stop.is_set():
                return
            self._report("sending")
            try:
                apply(self._project, edit)
            except ServerGoneError:
                raise
            except (ProjectError, KeyError, IndexError, ValueError) as exc:
                self._on_rejected(edit, str(exc))
            self._outbox.remove(edit.seq)

    def _report(self, state: str) -> None:
        now = (state, len(self._outbox))
        if now != self._state:
            self._state = now
            self._on_state(*now)


def wait_until_sent(outbox: Outbox, timeout: float) -> bool:
    """Block until the outbox is empty or ``timeout`` seconds passed; whether it emptied."""
    deadline = time.monotonic() + timeout
    while len(outbox) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not len(outbox)
