"""Packing of numpy arrays into the project file's BLOB columns.

* Sample points and answers are fixed-layout little-endian records (``POINT_DTYPE``,
  ``ANSWER_DTYPE``): one BLOB per person (points) or per (person, annotator) (answers).
  They are not compressed (floats do not compress); unpacking is a zero-copy view.
* Gold truth arrays go into one zlib-compressed ``.npz`` archive (no pickles).
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import numpy as np

from annotator.dataset.records import Answers, GoldTruth, SamplePoints

#: One sampled point: position in image pixels and the coarse part it was sampled in.
POINT_DTYPE = np.dtype([("x", "<f8"), ("y", "<f8"), ("part", "u1")])

#: One annotator's answer to one point (see :class:`annotator.dataset.records.Answers`).
ANSWER_DTYPE = np.dtype(
    [
        ("status", "u1"),
        ("i", "u1"),
        ("face", "<i4"),
        ("bary", "<f8", (3,)),
        ("u", "<f8"),
        ("v", "<f8"),
        ("time", "<f8"),
    ]
)


def point_records(x: np.ndarray, y: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Columns ``[N]`` -> ``[N]`` POINT_DTYPE records (bulk imports)."""
    rec = np.empty(len(x), POINT_DTYPE)
    rec["x"], rec["y"], rec["part"] = x, y, part
    return rec


def answered_records(
    i: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    when: float,
    face: np.ndarray | None = None,
    bary: np.ndarray | None = None,
) -> np.ndarray:
    """``[N]`` ANSWER_DTYPE records of answered points (bulk imports); face -1 if unknown."""
    rec = np.empty(len(i), ANSWER_DTYPE)
    rec["status"], rec["i"], rec["u"], rec["v"], rec["time"] = 1, i, u, v, when
    rec["face"] = -1 if face is None else face
    rec["bary"] = np.nan if bary is None else bary
    return rec


def pack_points(points: SamplePoints) -> bytes:
    """Sample points -> BLOB (17 bytes per point)."""
    rec = np.empty(len(points), POINT_DTYPE)
    rec["x"], rec["y"], rec["part"] = points.x, points.y, points.part
    return rec.tobytes()


def unpack_points(blob: bytes) -> SamplePoints:
    """BLOB -> sample points."""
    rec = np.frombuffer(blob, POINT_DTYPE)
    return SamplePoints(rec["x"].copy(), rec["y"].copy(), rec["part"].astype(np.int64))


def pack_answers(answers: Answers) -> bytes:
    """Answers -> BLOB (54 bytes per point)."""
    rec = np.empty(len(answers), ANSWER_DTYPE)
    rec["status"], rec["i"], rec["face"] = answers.status, answers.i, answers.face
    rec["bary"], rec["u"], rec["v"], rec["time"] = (
        answers.bary,
        answers.u,
        answers.v,
        answers.time,
    )
    return rec.tobytes()


def unpack_answers(blob: bytes, annotator: str) -> Answers:
    """BLOB -> answers of ``annotator``."""
    rec = np.frombuffer(blob, ANSWER_DTYPE)
    return Answers(
        annotator=annotator,
        status=rec["status"].copy(),
        face=rec["face"].astype(np.int64),
        bary=rec["bary"].copy(),
        i=rec["i"].astype(np.int64),
        u=rec["u"].copy(),
        v=rec["v"].copy(),
        time=rec["time"].copy(),
    )


_GOLD_ARRAYS = ("labels", "face", "bary", "i", "u", "v")
_GOLD_DTYPES = {
    "labels": np.uint8,
    "face": np.int32,
    "bary": np.float32,
    "i": np.uint8,
    "u": np.float32,
    "v": np.float32,
}


def pack_gold(gold: GoldTruth) -> bytes:
    """Gold arrays -> one compressed BLOB (the region's offset is stored in columns)."""
    arrays = {
        name: np.ascontiguousarray(getattr(gold, name), dtype=_GOLD_DTYPES[name])
        for name in _GOLD_ARRAYS
        if getattr(gold, name) is not None
    }
    buffer = io.BytesIO()
    save: Any = np.savez  # numpy's stubs do not type **arrays
    save(buffer, **arrays)
    return zlib.compress(buffer.getvalue(), 1)


def unpack_gold(blob: bytes, x0: int, y0: int, source: str) -> GoldTruth:
    """BLOB -> gold truth."""
    with np.load(io.BytesIO(zlib.decompress(blob)), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in _GOLD_ARRAYS if name in archive.files}
    return GoldTruth(x0=x0, y0=y0, source=source, **arrays)
