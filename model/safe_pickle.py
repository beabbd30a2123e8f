"""Reading other projects' pickles without running anything they carry.

detectron2's model zoo files (``model_final_*.pkl``) and its evaluation data
(``Pdist_matrix.pkl``) are Python pickles. A pickle can name any importable callable and call
it while loading, so a crafted file runs code. :func:`load` unpickles with a restricted
unpickler that resolves only the names a file of numpy arrays needs, and refuses every other
name before anything is called:

* ``numpy.core.multiarray._reconstruct`` and ``numpy.core.numeric._frombuffer`` (protocol 5;
  both also under numpy 2's ``numpy._core``), ``numpy.ndarray``, ``numpy.dtype``,
  ``numpy.core.multiarray.scalar``: arrays, dtypes and numpy scalars;
* ``_codecs.encode``: how Python 3 writes the bytes of an array in protocol 2 (it only turns a
  string into bytes);
* ``collections.OrderedDict``: the container torch-era state dicts use.

Plain containers, strings and numbers need no name. An array of Python objects (dtype
``object``) is refused after loading, since its items could only be other pickled objects.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: (module, name) pairs the unpickler resolves; every other global is refused.
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class UnsafePickleError(ValueError):
    """The file holds something other than numpy arrays and plain data."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"it refers to {module}.{name}, which a file of numpy arrays never needs "
            "(a crafted file could run code through it); nothing was run"
        )


def loads(data: bytes, *, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the restricted unpickler (see the module docstring).

    Raises:
        UnsafePickleError: a refused name, an object array, or not a pickle at all; the
            message starts with ``source``.
    """
    try:
        value = _Restricted(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{source}: refused: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise UnsafePickleError(f"{source}: not a readable pickle ({exc})") from exc
    for array in _arrays(value):
        if array.dtype.hasobject:
            raise UnsafePickleError(f"{source}: refused: it holds an array of Python objects")
    return value


def load(path: str | Path) -> Any:
    """Unpickle the file at ``path`` (see :func:`loads`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnsafePickleError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return loads(data, source=str(path))


def _arrays(value: Any) -> Iterator[np.ndarray]:
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _arrays(item)
