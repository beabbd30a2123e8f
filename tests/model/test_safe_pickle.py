"""The restricted unpickler reads files of numpy arrays and refuses anything that could run."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from model.safe_pickle import UnsafePickleError, load, loads


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_zoo_style_file_loads(tmp_path: Path, protocol: int):
    model = collections.OrderedDict(
        {
            "backbone.stem.conv1.weight": np.random.rand(8, 3, 7, 7).astype(np.float32),
            "roi_heads.box_predictor.cls_score.bias": np.arange(2, dtype=np.float32),
            "step": np.int64(7),
        }
    )
    path = tmp_path / "model_final.pkl"
    path.write_bytes(pickle.dumps({"model": model, "__author__": "someone"}, protocol=protocol))
    data = load(path)
    assert data["__author__"] == "someone"
    for name, value in model.items():
        assert np.array_equal(data["model"][name], value)
        assert np.asarray(data["model"][name]).dtype == np.asarray(value).dtype


class _System:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _Touch:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def _evil_files(target: Path) -> dict[str, bytes]:
    inner = np.empty(1, dtype=object)
    inner[0] = _Touch(target)
    return {
        "os.system": pickle.dumps({"model": {"w": _System(target)}}),
        "pathlib": pickle.dumps({"model": _Touch(target)}, protocol=2),
        "object array": pickle.dumps({"model": {"w": inner}}),
        "eval": b"cbuiltins\neval\n(Vopen(" + repr(str(target)).encode() + b", 'w')\ntR.",
    }


def test_crafted_files_are_refused_and_nothing_runs(tmp_path: Path):
    target = tmp_path / "pwned"
    for name, data in _evil_files(target).items():
        with pytest.raises(UnsafePickleError, match="refused") as refused:
            loads(data, source=name)
        assert str(refused.value).startswith(name)
        assert not target.exists(), name


def test_a_plain_object_array_is_refused():
    data = pickle.dumps({"w": np.array([1, "a"], dtype=object)})
    with pytest.raises(UnsafePickleError, match="array of Python objects"):
        loads(data)


def test_not_a_pickle(tmp_path: Path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"w": np.zeros(100)})[:50])
    with pytest.raises(UnsafePickleError, match=r"cut\.pkl: not a readable pickle"):
        load(path)
    with pytest.raises(UnsafePickleError, match="cannot read"):
        load(tmp_path / "missing.pkl")
