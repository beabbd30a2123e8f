"""The project file's SQLite schema, as a list of migrations.

The schema version is SQLite's ``PRAGMA user_version``: 0 for an empty file, N after the
first N migrations. Opening a project for writing applies the missing migrations in one
transaction; a file whose version is newer than :data:`SCHEMA_VERSION` is refused. A
migration is appended, never edited once released.

Layout (see docs/adr/0003-project-store.md):

* ``images``, ``persons``: one row per COCO image / person annotation; ids are COCO ids.
* ``part_masks``: stage-1 label map per (person, annotator), compressed, cropped.
* ``sample_points``: stage-2 points of a person, one packed array per person.
* ``answers``: one annotator's answers to a person's points, one packed array per pair.
* ``gold``: exact ground truth of synthetic persons (compressed arrays).
* ``state_log``: every task state change (who, when), for audit and throughput figures.

Version 2 (machine-made proposals, docs/adr/0009-models-in-the-app.md):

* ``annotators.model``: for a machine annotator (a model run, named ``model:...``), the
  checkpoint that made its work; NULL for people.
* ``proposals``: one row per person a model pre-annotated: which model, its score, the box it
  proposed, whether it made the box (a person it found), the mask and how many answers, and
  the review (proposed, accepted, rejected; by whom, when). The mask and answers themselves
  are the machine annotator's rows in ``part_masks`` and ``answers``, beside people's, so
  nothing a person made is ever overwritten. ``person_id`` becomes NULL when the person is
  deleted (a rejected found person): the row keeps the box so a later run does not propose
  it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    extra TEXT
);
CREATE TABLE annotators (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    x REAL NOT NULL,
    y REAL NOT NULL,
    w REAL NOT NULL CHECK (w > 0),
    h REAL NOT NULL CHECK (h > 0),
    iscrowd INTEGER NOT NULL DEFAULT 0,
    area REAL,
    segmentation TEXT,
    keypoints TEXT,
    num_keypoints INTEGER,
    extra TEXT,
    state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 3)
);
CREATE INDEX persons_by_image ON persons(image_id);
CREATE INDEX persons_by_state ON persons(state);
CREATE TABLE part_masks (
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    frame INTEGER NOT NULL,
    x0 INTEGER NOT NULL,
    y0 INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    data BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (person_id, annotator_id)
) WITHOUT ROWID;
CREATE TABLE sample_points (
    person_id INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE answers (
    person_id INTEGER NOT NULL REFERENCES sample_points(person_id) ON DELETE CASCADE,
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    n_answered INTEGER NOT NULL,
    n_not_visible INTEGER NOT NULL,
    data BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (person_id, annotator_id)
) WITHOUT ROWID;
CREATE TABLE gold (
    person_id INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    x0 INTEGER NOT NULL,
    y0 INTEGER NOT NULL,
    data BLOB NOT NULL,
    source TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE state_log (
    person_id INTEGER NOT NULL,
    state INTEGER NOT NULL,
    annotator_id INTEGER,
    time REAL NOT NULL
);
CREATE INDEX state_log_by_person ON state_log(person_id);
"""

_V2 = """
ALTER TABLE annotators ADD COLUMN model TEXT;
CREATE TABLE proposals (
    id INTEGER PRIMARY KEY,
    person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES annotators(id),
    score REAL NOT NULL,
    x REAL NOT NULL,
    y REAL NOT NULL,
    w REAL NOT NULL,
    h REAL NOT NULL,
    made_box INTEGER NOT NULL,
    made_mask INTEGER NOT NULL,
    made_answers INTEGER NOT NULL,
    status INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 2),
    decided_by INTEGER REFERENCES annotators(id),
    decided REAL,
    created REAL NOT NULL
);
CREATE INDEX proposals_by_person ON proposals(person_id);
CREATE INDEX proposals_by_image ON proposals(image_id)
"""

#: Migration ``k`` (0-based) takes a file from version k to version k + 1.
MIGRATIONS: tuple[str, ...] = (_V1, _V2)

#: The version this code writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    """The file's schema version (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the file up to ``len(migrations)`` in one transaction; return the old version.

    The connection must be in autocommit mode (``isolation_level=None``) and hold no open
    transaction. Each migration is a script of SQL statements separated by ``;``.

    Raises:
        ValueError: the file is newer than ``migrations`` know.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        old = version(conn)
        if old > len(migrations):
            raise ValueError(f"schema version {old} is newer than this tool ({len(migrations)})")
        for number in range(old, len(migrations)):
            for statement in _statements(migrations[number]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(migrations)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return old


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no ``;`` inside our statements)."""
    return [s.strip() for s in script.split(";") if s.strip()]
