"""What every part of the project store shares: the open connection and its row codecs.

:class:`annotator.dataset.store.Project` is assembled from :class:`StoreCore` (connection,
transactions, meta data, annotators) and two mixins built on it, one per half of the API
(:mod:`annotator.dataset.store_tasks`: masks, points, answers, gold truth;
:mod:`annotator.dataset.store_overview`: the summaries). The mixins subclass
:class:`StoreCore`, so what they use of the project is typed and defined in one place rather
than declared as stubs or reached for in each other's modules. Like the rest of the store,
the only place with SQL (docs/adr/0003-project-store.md).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from annotator.dataset import jsonio
from annotator.dataset.errors import ProjectError
from annotator.dataset.records import Annotator, Box, Person, TaskState

#: The columns of the ``persons`` table, in the order :func:`person_row` writes them.
PERSON_COLUMNS = (
    "id, image_id, x, y, w, h, iscrowd, area, segmentation, keypoints, num_keypoints, extra, state"
)


def upsert(table: str, columns: str, key: str) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of every column: a row replaced in place.

    Written this way (not SQLite's ``INSERT OR REPLACE``) so that SQLite and PostgreSQL run
    the same statement (docs/adr/0020-shared-projects.md).
    """
    names = [c.strip() for c in columns.split(",")]
    keys = {k.strip() for k in key.split(",")}
    updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)
    marks = ", ".join("?" * len(names))
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


#: Replace one annotator's mask of a person (all columns of ``part_masks``, in order).
UPSERT_MASK = upsert(
    "part_masks",
    "person_id, annotator_id, frame, x0, y0, width, height, codec, data, updated",
    "person_id, annotator_id",
)
#: Replace one annotator's answers to a person (all columns of ``answers``, in order).
UPSERT_ANSWERS = upsert(
    "answers",
    "person_id, annotator_id, n_answered, n_not_visible, data, updated",
    "person_id, annotator_id",
)


class Cursor(Protocol):
    """The rows of one statement (``sqlite3.Cursor``, or :class:`annotator.dataset.pg.PgCursor`)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __next__(self) -> Any: ...


class Connection(Protocol):
    """What the store needs of a database connection: ``sqlite3.Connection`` has it, and so
    has :class:`annotator.dataset.pg.PgConnection` (docs/adr/0020-shared-projects.md)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...

    def close(self) -> None: ...


class StoreCore:
    """An open project database: connection, transactions, meta data, annotators.

    Args:
        conn: the open connection (autocommit mode: transactions are explicit).
        file: the project's SQLite file.
        lock_fd: the writer lock's file descriptor, or None when open read-only.
    """

    def __init__(self, conn: Connection, file: Path, lock_fd: int | None) -> None:
        self._conn = conn
        self._file = file
        self._lock_fd = lock_fd
        self._depth = 0
        self._annotator_ids: dict[str, int] = {}

    @property
    def file(self) -> Path:
        """The project's SQLite file."""
        return self._file

    @property
    def directory(self) -> Path:
        """The project folder; image paths are relative to it."""
        return self._file.parent

    @property
    def readonly(self) -> bool:
        return self._lock_fd is None

    @property
    def body(self) -> str:
        """The body model of the project's surface points (``"anny"`` or ``"smpl"``)."""
        return self.meta("body") or "anny"

    # -- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all are committed at the end, or none if an exception escapes.

        Nested use is allowed (inner blocks are savepoints).
        """
        if self.readonly:
            raise ProjectError(f"{self._file} is open read-only")
        savepoint = f"sp{self._depth}" if self._depth else None
        self._conn.execute(f"SAVEPOINT {savepoint}" if savepoint else "BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if savepoint:
                self._conn.execute(f"ROLLBACK TO {savepoint}")
                self._conn.execute(f"RELEASE {savepoint}")
            else:
                self._conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        self._conn.execute(f"RELEASE {savepoint}" if savepoint else "COMMIT")

    # -- meta and annotators ---------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def annotator_id(self, name: str, *, create: bool = True) -> int:
        """Id of the annotator called ``name``, created on first use unless ``create=False``.

        Raises:
            KeyError: no such annotator and ``create`` is False.
        """
        if not name or not name.strip():
            raise ValueError("an annotator needs a non-empty name")
        if name in self._annotator_ids:
            return self._annotator_ids[name]
        row = self._conn.execute("SELECT id FROM annotators WHERE name = ?", (name,)).fetchone()
        if row is None:
            if not create:
                raise KeyError(f"no annotator called {name!r} in this project")
            with self.transaction():
                row = self._conn.execute(
                    "INSERT INTO annotators (name, created) VALUES (?, ?) RETURNING id",
                    (name, time.time()),
                ).fetchone()
        self._annotator_ids[name] = int(row[0])
        return int(row[0])

    def annotators(self) -> list[Annotator]:
        rows = self._conn.execute("SELECT id, name FROM annotators ORDER BY id")
        return [Annotator(int(i), str(n)) for i, n in rows]

    # -- small queries ---------------------------------------------------------------------

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(sql, args).fetchone()[0])

    def _require_person(self, person_id: int) -> None:
        if not self._scalar("SELECT COUNT(*) FROM persons WHERE id = ?", (person_id,)):
            raise KeyError(f"no person {person_id} in the project")


# -- row codecs ----------------------------------------------------------------------------


def dump_json(value: Any) -> str | None:
    return None if value is None or value == {} else jsonio.dumps(value)


def load_json(text: str | None, default: Any = None) -> Any:
    return default if text is None else jsonio.loads(text)


def person_row(person_id: int, p: Person) -> tuple[Any, ...]:
    return (
        person_id,
        p.image_id,
        *p.box.as_list(),
        int(bool(p.iscrowd)),
        p.area,
        dump_json(p.segmentation),
        dump_json(p.keypoints),
        p.num_keypoints,
        dump_json(p.extra),
        int(p.state),
    )


def person_from_row(row: Sequence[Any]) -> Person:
    i, image_id, x, y, w, h, crowd, area, segm, kps, nkps, extra, state = row
    return Person(
        image_id=int(image_id),
        box=Box(x, y, w, h),
        id=int(i),
        iscrowd=bool(crowd),
        area=area,
        segmentation=load_json(segm),
        keypoints=load_json(kps),
        num_keypoints=nkps,
        state=TaskState(state),
        extra=load_json(extra, {}),
    )
