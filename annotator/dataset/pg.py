"""A PostgreSQL connection that the project store uses exactly as it uses ``sqlite3``.

Why: the store's SQL is written once, in the subset both SQLite and PostgreSQL run
(docs/adr/0020-shared-projects.md). The store calls ``execute(sql, args)`` and
``executemany`` with ``?`` placeholders and reads ``fetchone`` / ``fetchall`` / rows /
``rowcount``; this module gives the same calls over psycopg 3: ``?`` becomes ``%s`` (and a
literal ``%`` becomes ``%%``), ``BEGIN IMMEDIATE`` becomes ``BEGIN``, each statement is
translated once and cached. Errors are turned into what the store and its callers already
handle, each with one line naming the server and database:

* a constraint violation -> ``sqlite3.IntegrityError`` with SQLite's wording (the store's
  importers turn those into their messages);
* a refused privilege or row-level policy -> :class:`AccessDeniedError`;
* a lost or refused connection -> :class:`ServerGoneError`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from annotator.dataset.errors import ProjectError

if TYPE_CHECKING:
    import psycopg

#: URL schemes that name a shared project on a PostgreSQL server.
URL_SCHEMES = ("postgresql://", "postgres://")


class ServerGoneError(ProjectError):
    """The server cannot be reached, or the connection broke; nothing was lost."""


class AccessDeniedError(ProjectError):
    """The server refused: a wrong password, or a role that may not do this."""


def is_url(target: object) -> bool:
    """Whether ``target`` names a shared project (a ``postgresql://`` URL)."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def describe(url: str) -> str:
    """``user@host:port/database`` of a URL, without its password (for messages)."""
    parts = urlsplit(url)
    user = f"{unquote(parts.username)}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{user}{parts.hostname or 'localhost'}{port}{parts.path or '/'}"


def without_password(url: str) -> str:
    """The URL without its password (libpq then reads it from ``~/.pgpass`` or
    ``PGPASSWORD``): what may be kept in settings or shown."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}@{host}").geturl()


def user_of(url: str, default: str = "") -> str:
    """The role name in a URL, or ``default``."""
    name = urlsplit(url).username
    return unquote(name) if name else default


def database_of(url: str) -> str:
    """The database a URL names (``postgres`` when it names none)."""
    return urlsplit(url).path.lstrip("/") or "postgres"


def with_database(url: str, database: str) -> str:
    """The same server and role, another database."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


_TRANSLATED: dict[str, str] = {}


def translate(sql: str, bound: bool = True) -> str:
    """SQLite-style statement -> psycopg's placeholders (cached).

    Args:
        sql: the statement, ``?`` for each parameter.
        bound: parameters come with it; without any, psycopg sends the text as it is.
    """
    key = sql if bound else "\0" + sql
    found = _TRANSLATED.get(key)
    if found is None:
        found = sql.replace("%", "%%").replace("?", "%s") if bound else sql
        found = re.sub(r"^\s*BEGIN IMMEDIATE\s*$", "BEGIN", found)
        _TRANSLATED[key] = found
    return found


def connect(url: str, *, timeout: float = 10.0) -> PgConnection:
    """Connect to the database a URL names.

    Raises:
        AccessDeniedError: wrong password or unknown role.
        ServerGoneError: no server answers there, or the database does not exist.
    """
    import psycopg

    where = describe(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.OperationalError as exc:
        text = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        if "password" in text or "authentication" in text or "role" in text:
            raise AccessDeniedError(
                f"{where}: the server refused the login ({text}); check the user and password "
                "in the URL"
            ) from None
        if "does not exist" in text:
            raise ServerGoneError(
                f"{where}: {text}; create the project first ('dpstudio project new URL' or "
                "'dpstudio project push FOLDER URL')"
            ) from None
        raise ServerGoneError(
            f"{where}: cannot reach the server ({text}); check the host and port, or try again "
            "when it is back"
        ) from None
    return PgConnection(conn, where)


class PgCursor:
    """The rows of one statement, read like a ``sqlite3.Cursor``."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row

    def __next__(self) -> tuple[Any, ...]:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row


class PgConnection:
    """A psycopg connection in autocommit mode, spoken to like ``sqlite3.Connection``.

    Args:
        conn: the open psycopg connection (autocommit: transactions are explicit).
        where: ``user@host:port/database`` for messages.
    """

    def __init__(self, conn: psycopg.Connection[Any], where: str) -> None:
        self.raw = conn
        self.where = where

    def execute(self, sql: str, args: Sequence[Any] = ()) -> PgCursor:
        with self._errors():
            params = tuple(args) or None
            cur = self.raw.execute(translate(sql, params is not None), params)
            rows = cur.fetchall() if cur.description is not None else []
            return PgCursor(rows, cur.rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        with self._errors(), self.raw.cursor() as cur:
            cur.executemany(translate(sql), rows)
            return PgCursor([], cur.rowcount)

    def close(self) -> None:
        self.raw.close()

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    # -- errors --------------------------------------------------------------------------

    def _errors(self) -> _ErrorMap:
        return _ErrorMap(self.where)


class _ErrorMap:
    """Turns psycopg's errors into the store's (see the module docstring)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None:
            return
        import psycopg
        from psycopg import errors

        if isinstance(exc, errors.IntegrityError):
            raise sqlite3.IntegrityError(_sqlite_wording(exc)) from exc
        if isinstance(exc, errors.InsufficientPrivilege):
            first = str(exc).strip().splitlines()[0]
            raise AccessDeniedError(
                f"{self.where}: the server refused ({first}); your role may not do this, ask "
                "an admin of the project"
            ) from None
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            first = (str(exc).strip().splitlines() or ["connection lost"])[0]
            raise ServerGoneError(
                f"{self.where}: lost the connection to the server ({first}); nothing was "
                "saved by this step, try again when the server is back"
            ) from None
        if isinstance(exc, errors.RaiseException):
            raise ProjectError(f"{self.where}: {str(exc).strip().splitlines()[0]}") from None


def _sqlite_wording(exc: Exception) -> str:
    """A PostgreSQL constraint error in the words SQLite uses (the store matches on them)."""
    from psycopg import errors

    diag = getattr(exc, "diag", None)
    table = getattr(diag, "table_name", "") or ""
    constraint = getattr(diag, "constraint_name", "") or ""
    if isinstance(exc, errors.UniqueViolation):
        column = "path" if constraint == "images_path_key" else "id"
        return f"UNIQUE constraint failed: {table}.{column}"
    if isinstance(exc, errors.ForeignKeyViolation):
        return "FOREIGN KEY constraint failed"
    if isinstance(exc, errors.CheckViolation | errors.NotNullViolation):
        return f"CHECK constraint failed: {table} ({constraint or exc})"
    return str(exc)
