"""JSON reading and writing, fast when ``orjson`` is installed (else the standard library).

DensePose-COCO files are large (50K persons, 5M points: about 600 MB): ``orjson`` parses
them about 8 times and writes them about 20 times faster than :mod:`json`. Both write the
shortest text that reads back to the same float, so a file written by either reads back
identically; their texts differ only in the spelling of some floats (``1e-05`` against
``0.00001``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is missing
    orjson = None  # type: ignore[assignment]

#: What :func:`load_file` raises for text that is not JSON (a ValueError).
JSONDecodeError = json.JSONDecodeError


def load_file(path: str | Path) -> Any:
    """Parse a JSON file.

    Raises:
        JSONDecodeError: not valid JSON, or not UTF-8 (``lineno``, ``colno`` say where).
        UnicodeDecodeError: not UTF-8 text (standard library only).
        RecursionError: nested too deeply (standard library only).
        OSError: cannot be read.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    return loads(data)


def loads(text: str | bytes) -> Any:
    """Parse JSON text (``orjson.JSONDecodeError`` is a ``json.JSONDecodeError``)."""
    return orjson.loads(text) if orjson is not None else json.loads(text)


def dumps(value: Any) -> str:
    """Compact JSON text (no spaces), e.g. ``{"a":[1,2.5]}``."""
    if orjson is not None:
        try:
            return orjson.dumps(value).decode("utf-8")
        except TypeError:  # e.g. an integer beyond 64 bits kept from an imported file
            pass
    return json.dumps(value, separators=(",", ":"))
