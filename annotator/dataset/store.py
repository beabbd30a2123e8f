"""The project store: one SQLite file per project, and the only code that speaks SQL.

A project is a folder::

    DIR/project.dpstudio        the SQLite database (WAL mode)
    DIR/project.dpstudio-wal    SQLite's write-ahead log (present while open)
    DIR/project.dpstudio-shm    SQLite's shared memory index (present while open)
    DIR/project.dpstudio.lock   writer lock (fcntl.flock), names the process holding it

Images are not copied: each is referenced by its path relative to DIR, with its content hash.

Every write method commits before it returns (``synchronous=FULL``), so a killed process
loses at most the edit in flight. Importers group many writes into one transaction with
:meth:`Project.transaction`: nothing of a failed import is kept. Only one process may open a
project for writing (:class:`ProjectLockedError` for a second one); any number may read.

The connection, transactions, meta data and annotators are in
:mod:`annotator.dataset.store_core`; the masks, points, answers and gold truth half of the API
in :mod:`annotator.dataset.store_tasks`; the summaries (``stats``, ``image_tasks``) in
:mod:`annotator.dataset.store_overview`; machine-made proposals and their review in
:mod:`annotator.dataset.store_proposals`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from annotator.dataset import schema
from annotator.dataset.errors import ProjectError, ProjectLockedError, SchemaError
from annotator.dataset.pg import is_url
from annotator.dataset.records import Box, ImageRecord, Person, TaskState
from annotator.dataset.store_core import (
    PERSON_COLUMNS,
    dump_json,
    load_json,
    person_from_row,
    person_row,
)
from annotator.dataset.store_overview import OverviewMixin
from annotator.dataset.store_proposals import ProposalMixin

PROJECT_FILE = "project.dpstudio"
LOCK_SUFFIX = ".lock"
BODY_MODELS = ("anny", "smpl")
#: The ``format`` meta value of every project, folder or shared.
FORMAT = "dpstudio-project"

_IMAGE_COLUMNS = "id, path, file_name, sha256, width, height, extra"


def project_file(directory: str | os.PathLike[str]) -> Path:
    """The SQLite file of the project in ``directory`` (or ``directory`` if it is the file)."""
    path = Path(directory)
    return path if path.suffix == Path(PROJECT_FILE).suffix else path / PROJECT_FILE


class Project(OverviewMixin, ProposalMixin):
    """An open annotation project. Use :meth:`create` or :meth:`open`, then :meth:`close`.

    Also a context manager: ``with Project.open(path) as project: ...``.
    """

    # -- opening and closing ---------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | os.PathLike[str], *, body: str = "anny") -> Project:
        """Create a new, empty project in ``directory`` (created if needed) and open it.

        Args:
            directory: the project folder, or a ``postgresql://`` URL for a shared project
                (:mod:`annotator.dataset.store_shared`).
            body: body model of the project's surface points: ``"anny"`` or ``"smpl"``.

        Raises:
            ProjectError: a project already exists there, or ``body`` is unknown.
        """
        if is_url(directory):
            from annotator.dataset.store_shared import SharedProject

            return SharedProject.create_url(str(directory), body=body)
        if body not in BODY_MODELS:
            raise ProjectError(f"unknown body model {body!r}; expected one of {BODY_MODELS}")
        file = project_file(directory)
        if file.exists():
            raise ProjectError(f"a project already exists at {file}")
        file.parent.mkdir(parents=True, exist_ok=True)
        project = cls._open_writable(file, creating=True)
        with project.transaction():
            project.set_meta("format", FORMAT)
            project.set_meta("body", body)
            project.set_meta("created", f"{time.time():.3f}")
        return project

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, readonly: bool = False) -> Project:
        """Open the project in ``directory`` (or the ``project.dpstudio`` file itself).

        Args:
            directory: the project folder or its SQLite file, or a ``postgresql://`` URL.
            readonly: open for reading only: no lock taken, any write raises.

        Raises:
            ProjectError: no project there, or the file is not a project.
            ProjectLockedError: another process has it open for writing.
            SchemaError: made by a newer version of the tool, or needs an upgrade that a
                read-only opening cannot do.
        """
        if is_url(directory):
            from annotator.dataset.store_shared import SharedProject

            return SharedProject.open_url(str(directory), readonly=readonly)
        file = project_file(directory)
        if not file.is_file():
            raise ProjectError(f"no project at {file} (create one with 'dpstudio project new')")
        project = cls._open_readonly(file) if readonly else cls._open_writable(file)
        try:
            if project.meta("format") != FORMAT:
                raise ProjectError(f"{file} is not a DensePose Studio project")
        except BaseException:
            project.close()
            raise
        return project

    @classmethod
    def _open_writable(cls, file: Path, *, creating: bool = False) -> Project:
        lock_fd = _acquire_lock(file.with_name(file.name + LOCK_SUFFIX), file)
        conn = None
        try:
            conn = _connect(file, readonly=False)
            if not creating and schema.version(conn) == 0:
                raise ProjectError(f"{file} is not a DensePose Studio project")
            conn.execute("PRAGMA journal_mode = WAL")
            schema.migrate(conn)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            _release_lock(lock_fd)
            if isinstance(exc, ValueError):
                raise SchemaError(f"{file}: {exc}; update DensePose Studio to open it") from exc
            if isinstance(exc, sqlite3.DatabaseError):
                raise ProjectError(f"{file} is not a readable project file: {exc}") from exc
            raise
        return cls(conn, file, lock_fd)

    @classmethod
    def _open_readonly(cls, file: Path) -> Project:
        try:
            conn = _connect(file, readonly=True)
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{file} is not a readable project file: {exc}") from exc
        found = schema.version(conn)
        if found != schema.SCHEMA_VERSION:
            conn.close()
            hint = (
                "update DensePose Studio"
                if found > schema.SCHEMA_VERSION
                else "open it once for writing to upgrade it"
            )
            raise SchemaError(
                f"{file} has schema version {found}, this tool reads {schema.SCHEMA_VERSION}; "
                + hint
            )
        return cls(conn, file, None)

    @property
    def location(self) -> str:
        """Where the project is, for people to read (its folder, or server and database)."""
        return str(self.directory)

    @property
    def target(self) -> str:
        """What :meth:`open` takes to open this project again."""
        return str(self.directory)

    @property
    def shared(self) -> bool:
        """Whether the project lives on a server (a team's), not in a folder."""
        return False

    def close(self) -> None:
        """Close the database and release the writer lock. Safe to call twice."""
        if self._conn is None:
            return
        self._conn.close()
        self._conn = None  # type: ignore[assignment]
        if self._lock_fd is not None:
            _release_lock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (after big imports)."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- images ----------------------------------------------------------------------------

    def add_image(self, image: ImageRecord) -> int:
        """Store one image; returns its id (``image.id`` if given, else the next free id)."""
        return self.add_images([image])[0]

    def add_images(self, images: Sequence[ImageRecord]) -> list[int]:
        """Store images in one transaction; returns their ids.

        Raises:
            ProjectError: an id or a path is already in the project.
        """
        with self.transaction():
            ids = self._assign_ids("images", [im.id for im in images])
            rows = [
                (i, im.path, im.file_name, im.sha256, im.width, im.height, dump_json(im.extra))
                for i, im in zip(ids, images, strict=True)
            ]
            try:
                self._conn.executemany(
                    f"INSERT INTO images ({_IMAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )
            except sqlite3.IntegrityError as exc:
                raise ProjectError(f"cannot add images: {_constraint(exc)}") from exc
        return ids

    def image(self, image_id: int) -> ImageRecord:
        """The image with this id. Raises KeyError if there is none."""
        row = self._conn.execute(
            f"SELECT {_IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no image {image_id} in the project")
        return _image(row)

    def images(self) -> list[ImageRecord]:
        """All images, by id."""
        rows = self._conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images ORDER BY id")
        return [_image(r) for r in rows]

    def images_by_path(self) -> dict[str, ImageRecord]:
        """All images keyed by their project-relative path."""
        return {im.path: im for im in self.images()}

    def image_file(self, image: int | ImageRecord) -> Path:
        """Absolute path of an image file."""
        record = self.image(image) if isinstance(image, int) else image
        return (self.directory / record.path).resolve()

    def local_image_path(self, image: ImageRecord) -> str:
        """The image's path relative to :attr:`directory` on this machine (what training
        data exported from the project names as ``file_name``)."""
        return image.path

    # -- persons ---------------------------------------------------------------------------

    def add_person(self, person: Person) -> int:
        """Store one person; returns its id (``person.id`` if given, else the next free id)."""
        return self.add_persons([person])[0]

    def add_persons(self, persons: Sequence[Person]) -> list[int]:
        """Store persons in one transaction; returns their ids.

        Raises:
            ProjectError: an id is already used, or an image does not exist.
        """
        with self.transaction():
            ids = self._assign_ids("persons", [p.id for p in persons])
            rows = [person_row(i, p) for i, p in zip(ids, persons, strict=True)]
            try:
                self._conn.executemany(
                    f"INSERT INTO persons ({PERSON_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except sqlite3.IntegrityError as exc:
                raise ProjectError(f"cannot add persons: {_constraint(exc)}") from exc
        return ids

    def person(self, person_id: int) -> Person:
        """The person with this id. Raises KeyError if there is none."""
        row = self._conn.execute(
            f"SELECT {PERSON_COLUMNS} FROM persons WHERE id = ?", (person_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no person {person_id} in the project")
        return person_from_row(row)

    def persons(
        self,
        *,
        image_id: int | None = None,
        state: TaskState | None = None,
        min_state: TaskState | None = None,
        include_crowd: bool = True,
    ) -> list[Person]:
        """Persons by id, optionally only of one image, one state, or at least a state."""
        where, args = [], []
        for clause, value in (
            ("image_id = ?", image_id),
            ("state = ?", None if state is None else int(state)),
            ("state >= ?", None if min_state is None else int(min_state)),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        if not include_crowd:
            where.append("iscrowd = 0")
        sql = f"SELECT {PERSON_COLUMNS} FROM persons"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        return [person_from_row(r) for r in self._conn.execute(sql + " ORDER BY id", args)]

    def iter_persons(self, person_ids: Iterable[int] | None = None) -> Iterator[Person]:
        """Persons in id order (all, or those in ``person_ids``), read lazily."""
        if person_ids is None:
            cursor = self._conn.execute(f"SELECT {PERSON_COLUMNS} FROM persons ORDER BY id")
            for row in cursor:
                yield person_from_row(row)
            return
        for person_id in person_ids:
            yield self.person(person_id)

    def update_box(self, person_id: int, box: Box) -> None:
        """Move or resize a person's box."""
        self._update_person(person_id, "x = ?, y = ?, w = ?, h = ?", box.as_list())

    def delete_person(self, person_id: int) -> None:
        """Remove a person with its masks, points, answers and gold truth."""
        with self.transaction():
            cur = self._conn.execute("DELETE FROM persons WHERE id = ?", (person_id,))
            if cur.rowcount == 0:
                raise KeyError(f"no person {person_id} in the project")

    def set_state(self, person_id: int, state: TaskState, *, annotator: str | None = None) -> None:
        """Move a person's task to ``state`` (logged with who and when)."""
        state = TaskState(state)
        with self.transaction():
            self._update_person(person_id, "state = ?", [int(state)])
            who = None if annotator is None else self.annotator_id(annotator)
            self._conn.execute(
                "INSERT INTO state_log (person_id, state, annotator_id, time) VALUES (?, ?, ?, ?)",
                (person_id, int(state), who, time.time()),
            )

    def state_history(self, person_id: int) -> list[tuple[TaskState, str | None, float]]:
        """``(state, annotator or None, unix time)`` of every change of a person's task."""
        rows = self._conn.execute(
            "SELECT l.state, a.name, l.time FROM state_log l "
            "LEFT JOIN annotators a ON a.id = l.annotator_id WHERE l.person_id = ? "
            "ORDER BY l.rowid",
            (person_id,),
        )
        return [(TaskState(s), n, float(t)) for s, n, t in rows]

    def _update_person(self, person_id: int, assignments: str, values: list[Any]) -> None:
        with self.transaction():
            cur = self._conn.execute(
                f"UPDATE persons SET {assignments} WHERE id = ?", (*values, person_id)
            )
            if cur.rowcount == 0:
                raise KeyError(f"no person {person_id} in the project")

    # -- statistics ------------------------------------------------------------------------

    def _assign_ids(self, table: str, wanted: Sequence[int | None]) -> list[int]:
        """Keep given ids; give the others fresh ids after the largest in use."""
        given = [i for i in wanted if i is not None]
        if len(set(given)) != len(given):
            raise ProjectError(f"duplicate {table[:-1]} ids in one batch")
        top = max([self._scalar(f"SELECT COALESCE(MAX(id), 0) FROM {table}"), *given])
        ids = []
        for value in wanted:
            if value is None:
                top += 1
                value = top
            ids.append(int(value))
        return ids


def remove_project(directory: str | os.PathLike[str], *, remove_folder: bool = False) -> None:
    """Delete a closed project's files (database, WAL, lock); images are never touched.

    Args:
        directory: the project folder (or a shared project's URL: its database is dropped).
        remove_folder: also remove the folder if nothing else is left in it.
    """
    if is_url(directory):
        from annotator.dataset.store_shared import drop_project

        drop_project(str(directory))
        return
    file = project_file(directory)
    for suffix in ("", "-wal", "-shm", LOCK_SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            file.with_name(file.name + suffix).unlink()
    if remove_folder:
        with contextlib.suppress(OSError):
            file.parent.rmdir()


# -- helpers -------------------------------------------------------------------------------


def _connect(file: Path, *, readonly: bool) -> sqlite3.Connection:
    """Open the SQLite file; raises sqlite3.DatabaseError if it is not a database."""
    if readonly:
        conn = sqlite3.connect(f"file:{quote(str(file))}?mode=ro", uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(str(file), isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _acquire_lock(lock_file: Path, file: Path) -> int:
    """Take the project's writer lock, or raise ProjectLockedError naming its holder."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise ProjectLockedError(
            f"{file} is open for writing by {holder}. Close it there first, "
            "or open the project read-only."
        ) from None
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    note = f"process {os.getpid()} on {socket.gethostname()} (since {stamp})\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, note.encode(), 0)
    return fd


def _release_lock(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _constraint(exc: sqlite3.IntegrityError) -> str:
    text = str(exc)
    if "UNIQUE" in text and "images.path" in text:
        return "an image with the same path is already in the project"
    if "UNIQUE" in text or "PRIMARY KEY" in text:
        return "an id is already used in the project"
    if "FOREIGN KEY" in text:
        return "it refers to an image or person that is not in the project"
    return text


def _image(row: Sequence[Any]) -> ImageRecord:
    i, path, file_name, sha, width, height, extra = row
    return ImageRecord(path, file_name, sha, int(width), int(height), int(i), load_json(extra, {}))
