"""A shared project: the same store on a PostgreSQL server that a team's apps connect to.

Why: one SQLite file has one writer; a team of annotators needs a server
(docs/adr/0020-shared-projects.md). :class:`SharedProject` is a
:class:`~annotator.dataset.store.Project` whose connection is a
:class:`~annotator.dataset.pg.PgConnection`: every method of the folder project runs the same
SQL on the server. What differs is what a server has and a file has not:

* images are content-addressed bytes in the database (``image_blobs``, by SHA-256), so the
  project is complete on the server alone; each machine keeps what it fetched in a local
  folder (:attr:`directory`), which also holds the training runs;
* the server, not the app, decides who may do what (roles and row-level security,
  :mod:`annotator.dataset.schema_pg`), and hands out tasks (:mod:`annotator.dataset.store_team`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from annotator import paths
from annotator.dataset import pg, schema_pg
from annotator.dataset.errors import ProjectError, SchemaError
from annotator.dataset.records import ImageRecord
from annotator.dataset.store import BODY_MODELS, FORMAT, Project
from annotator.dataset.store_team import TeamMixin


class SharedProject(TeamMixin, Project):
    """A project on a PostgreSQL server. Open it with ``Project.open(URL)``.

    Args:
        conn: the open connection.
        url: the project's URL (with the password, if it had one: used to reconnect).
        readonly: refuse writes in this app.
    """

    def __init__(self, conn: pg.PgConnection, url: str, *, readonly: bool = False) -> None:
        folder = local_folder(url)
        super().__init__(conn, folder / "server", None)
        self._pg = conn
        self._url = url
        self._shared_readonly = readonly
        self._blob_conn: pg.PgConnection | None = None

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open_url(cls, url: str, *, readonly: bool = False) -> SharedProject:
        """Open the shared project at ``url``, upgrading its schema if this role may.

        Raises:
            ProjectError: no project in that database.
            ServerGoneError, AccessDeniedError: see :func:`annotator.dataset.pg.connect`.
            SchemaError: the server's schema is newer, or older and this role may not upgrade.
        """
        conn = pg.connect(url)
        try:
            found = schema_pg.versions(conn)
            where = pg.describe(url)
            if found["data"] == 0:
                raise ProjectError(
                    f"{where}: no DensePose Studio project in this database (create one with "
                    "'dpstudio project new URL' or 'dpstudio project push FOLDER URL')"
                )
            if schema_pg.needs_migration(conn):
                try:
                    schema_pg.migrate(conn)
                except ValueError as exc:
                    raise SchemaError(f"{where}: {exc}; update DensePose Studio") from exc
                except pg.AccessDeniedError:
                    raise SchemaError(
                        f"{where}: the project's schema is older than this tool; its owner must "
                        "open it once to upgrade it"
                    ) from None
            project = cls(conn, url, readonly=readonly)
            if project.meta("format") != FORMAT:
                raise ProjectError(f"{where} is not a DensePose Studio project")
        except BaseException:
            conn.close()
            raise
        return project

    @classmethod
    def create_url(cls, url: str, *, body: str = "anny") -> SharedProject:
        """Create a project in the database ``url`` names (made if it does not exist).

        Raises:
            ProjectError: a project is already there, or ``body`` is unknown.
        """
        if body not in BODY_MODELS:
            raise ProjectError(f"unknown body model {body!r}; expected one of {BODY_MODELS}")
        where = pg.describe(url)
        _create_database(url)
        conn = pg.connect(url)
        try:
            if schema_pg.versions(conn)["data"]:
                raise ProjectError(f"a project already exists at {where}")
            try:
                schema_pg.migrate(conn)
            except pg.AccessDeniedError as exc:
                raise pg.AccessDeniedError(
                    f"{where}: this role may not set up a project (it needs to own the "
                    f"database and create roles): {exc}"
                ) from None
            project = cls(conn, url)
            with project.transaction():
                project.set_meta("format", FORMAT)
                project.set_meta("body", body)
                project.set_meta("created", f"{time.time():.3f}")
        except BaseException:
            conn.close()
            raise
        return project

    # -- what differs from a folder ------------------------------------------------------

    @property
    def url(self) -> str:
        """The project's URL as given (it may carry a password: do not show it)."""
        return self._url

    @property
    def location(self) -> str:
        """``user@host:port/database``: where the project is, for people to read."""
        return pg.describe(self._url)

    @property
    def target(self) -> str:
        """What :meth:`Project.open` takes to open this project again (its URL)."""
        return self._url

    @property
    def shared(self) -> bool:
        return True

    @property
    def readonly(self) -> bool:
        return self._shared_readonly

    @property
    def directory(self) -> Path:
        """This machine's folder for the project: fetched images, training runs."""
        return self._file.parent

    def close(self) -> None:
        """Close the connections. Safe to call twice."""
        if self._blob_conn is not None:
            self._blob_conn.close()
            self._blob_conn = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def integrity_check(self) -> str:
        """The server keeps its own integrity; ``"ok"`` when the project answers."""
        self._scalar("SELECT COUNT(*) FROM meta")
        return "ok"

    def checkpoint(self) -> None:
        """Nothing to fold: the server manages its write-ahead log."""

    def add_images(self, images: Sequence[ImageRecord]) -> list[int]:
        """Store images and their bytes (content-addressed) in one transaction.

        Each record's ``path`` is read relative to :attr:`directory`, as a folder project
        reads it; the bytes must have the record's SHA-256.
        """
        with self.transaction():
            for image in images:
                self.put_image_bytes(image.sha256, self._read_source(image))
            return super().add_images(images)

    def put_image_bytes(self, sha256: str, data: bytes) -> None:
        """Store one image's bytes under its SHA-256 (kept if already there)."""
        self._conn.execute(
            "INSERT INTO image_blobs (sha256, data) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING",
            (sha256, data),
        )

    def image_bytes(self, sha256: str) -> bytes:
        """One image's bytes from the server (a connection of its own, for worker threads).

        Raises:
            ProjectError: the server has no image with this hash.
        """
        if self._blob_conn is None or self._blob_conn.closed:
            self._blob_conn = pg.connect(self._url)
        row = self._blob_conn.execute(
            "SELECT data FROM image_blobs WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if row is None:
            raise ProjectError(f"{self.location}: the server has no image {sha256[:12]}...")
        return bytes(row[0])

    def image_file(self, image: int | ImageRecord) -> Path:
        """This machine's copy of an image, fetched from the server on first use."""
        record = self.image(image) if isinstance(image, int) else image
        local = self.cached_image_path(record)
        if not local.is_file():
            data = self.image_bytes(record.sha256)
            if hashlib.sha256(data).hexdigest() != record.sha256:
                raise ProjectError(f"{self.location}: image {record.file_name} arrived damaged")
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(local.name + f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(local)
        return local

    def local_image_path(self, image: ImageRecord) -> str:
        """This machine's copy of the image (fetched if needed), relative to
        :attr:`directory`."""
        return self.image_file(image).relative_to(self.directory).as_posix()

    def cached_image_path(self, record: ImageRecord) -> Path:
        """Where this machine keeps (or will keep) an image: by its content hash."""
        suffix = Path(record.file_name).suffix.lower()[:8]
        return self.directory / "images" / record.sha256[:2] / f"{record.sha256}{suffix}"

    def _read_source(self, image: ImageRecord) -> bytes:
        source = (self.directory / image.path).resolve()
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ProjectError(f"{source}: cannot read the image to upload ({exc})") from None
        if hashlib.sha256(data).hexdigest() != image.sha256:
            raise ProjectError(f"{source}: the file changed while it was being added")
        return data


def local_folder(url: str) -> Path:
    """This machine's folder for a shared project (images fetched, runs): by server and
    database, never by password."""
    where = pg.describe(url)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", where.split("@")[-1]).strip("_")
    return paths.cache_dir() / "shared" / slug


def drop_project(url: str) -> None:
    """Delete a shared project's database (``dpstudio project new`` undoing a failed start)."""
    import psycopg

    database = pg.database_of(url)
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(pg.with_database(url, "postgres"), autocommit=True) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'.encode())


def _create_database(url: str) -> None:
    """Create the database a URL names if it does not exist (needs CREATEDB)."""
    import psycopg

    database = pg.database_of(url)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,63}", database):
        raise ProjectError(f"{database!r}: use letters, digits, '_' and '-' for a project name")
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10):
            return  # it exists
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            pg.connect(url)  # raises the right one-line error
            raise
    admin = pg.connect(pg.with_database(url, "postgres"))
    try:
        admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        admin.close()
