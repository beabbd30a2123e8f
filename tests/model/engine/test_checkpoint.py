"""Checkpoints load with weights_only, never run code, and know their atlas."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from annotator.surface.atlas import load_atlas
from model.engine.checkpoint import (
    CheckpointError,
    atlas_identity,
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def write(path: Path, atlas_id: dict[str, str], iteration: int = 3) -> Path:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    return save_checkpoint(
        path,
        config={"name": "x", "solver": {"max_iter": 9}},
        atlas=atlas_id,
        iteration=iteration,
        model=net.state_dict(),
        training={"optimizer": opt.state_dict(), "rng": rng_state()},
    )


def test_round_trip_and_last_checkpoint(tmp_path: Path):
    atlas_id = atlas_identity(load_atlas())
    write(tmp_path / "model_0000003.pth", atlas_id)
    write(tmp_path / "model_0000006.pth", atlas_id, iteration=6)
    assert latest_checkpoint(tmp_path) == tmp_path / "model_0000006.pth"
    ckpt = load_checkpoint(tmp_path)  # a run folder means its newest checkpoint
    assert ckpt.iteration == 6 and ckpt.config["solver"]["max_iter"] == 9
    assert set(ckpt.model) == {"weight", "bias"}
    assert ckpt.training is not None and ckpt.training["optimizer"]["state"]
    ckpt.check_atlas(load_atlas())  # same atlas: accepted


def test_a_checkpoint_for_other_charts_is_refused(tmp_path: Path):
    path = write(tmp_path / "m.pth", {"body": "smpl", "digest": "0123456789abcdef"})
    with pytest.raises(CheckpointError, match="trained for the smpl atlas"):
        load_checkpoint(path).check_atlas(load_atlas())


class _Payload:
    def __reduce__(self):  # what a malicious file would carry
        return (Path.touch, (Path(_Payload.target),))

    target = ""


def test_a_file_with_code_is_refused_and_the_code_never_runs(tmp_path: Path):
    _Payload.target = str(tmp_path / "pwned")
    evil = tmp_path / "evil.pth"
    torch.save({"format": "dpstudio-densepose-checkpoint", "model": _Payload()}, evil)
    with pytest.raises(CheckpointError, match="never runs") as refused:
        load_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()
    assert "\n" not in str(refused.value) and "PyTorch 2.6" not in str(refused.value)


def test_a_refused_file_gives_one_line_of_ours(tmp_path: Path):
    """No torch paragraph, no pickle-protocol warning: one line naming the file."""
    import subprocess
    import sys

    _Payload.target = str(tmp_path / "pwned")
    evil = tmp_path / "evil.pth"
    with evil.open("wb") as f:  # protocol 4, as a plain pickle.dump writes it
        import pickle

        pickle.dump({"model": _Payload()}, f, protocol=4)
    command = [sys.executable, "-m", "annotator.cli", "model", "predict", "--checkpoint"]
    command += [str(evil), str(tmp_path / "x.jpg"), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(evil) in lines[0] and "never runs" in lines[0]
    assert not (tmp_path / "pwned").exists()


def test_not_ours_and_damaged(tmp_path: Path):
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a DensePose Studio checkpoint"):
        load_checkpoint(other)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(write(tmp_path / "whole.pth", {"body": "a", "digest": "b"}).read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"cut\.pth"):
        load_checkpoint(cut)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pth")


def test_random_states_come_back():
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
