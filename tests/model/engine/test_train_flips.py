"""Training receives the augmentation its config declares (``data.hflip``).

The run goes through the training entry point (``model.engine.run.train``, what ``dpstudio
model train`` calls); a recording trainer keeps every micro-batch it is handed and trains on
it as usual. Each received sample is then matched to its source image: either unchanged, or
mirrored with its parts swapped and (I, U, V) mapped through the atlas's chart symmetry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from annotator.surface.parts import FLIP_COARSE
from model.config import load_config
from model.data.flip import load_flip_table
from model.engine import run as run_module
from model.engine.run import TrainRequest, train
from model.engine.trainer import Trainer

from .conftest import TINY

pytestmark = pytest.mark.slow

ITERATIONS = 8


def _train_and_record(
    data: Path, out: Path, hflip: bool, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[torch.Tensor, dict[str, Any]]]:
    received: list[tuple[torch.Tensor, dict[str, Any]]] = []

    def recorded(batches):
        for images, targets in batches:
            received.extend(zip(images, targets, strict=True))
            yield images, targets

    class RecordingTrainer(Trainer):
        def __init__(self, *, batches, **kwargs):
            super().__init__(batches=recorded(batches), **kwargs)

    monkeypatch.setattr(run_module, "Trainer", RecordingTrainer)
    overrides = [*TINY, f"data.hflip={str(hflip).lower()}", f"solver.max_iter={ITERATIONS}"]
    request = TrainRequest(
        config="R_18_FPN_cpu",
        data=data / "densepose.json",
        images=data / "images",
        out=out,
        device="cpu",
        overrides=overrides,
    )
    assert train(request) == "done"
    assert len(received) == ITERATIONS * 2
    return received


def _sources(data: Path) -> list[Any]:
    from annotator.surface.atlas import load_atlas
    from model.engine.stream import training_dataset

    cfg = load_config("R_18_FPN_cpu", TINY)
    dataset = training_dataset(cfg, data / "densepose.json", data / "images", load_atlas("anny"))
    rng = np.random.default_rng(0)
    return [dataset.load(k, rng) for k in range(len(dataset))]


def _check_same(target: dict[str, Any], source: dict[str, Any]) -> None:
    assert torch.equal(target["boxes"], source["boxes"])
    got, want = target["densepose"], source["densepose"]
    for name in ("x", "y", "i", "u", "v", "masks", "person"):
        assert torch.equal(getattr(got, name), getattr(want, name)), name


def _check_mirrored(target: dict[str, Any], source: dict[str, Any], width: int, table) -> None:
    boxes = source["boxes"]
    mirrored = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    assert torch.allclose(target["boxes"], mirrored)
    got, want = target["densepose"], source["densepose"]
    assert torch.allclose(got.x, 256.0 - want.x)
    assert torch.equal(got.y, want.y)
    i, u, v = table.flip_points(want.i, want.u, want.v)
    assert torch.equal(got.i, i)
    assert torch.equal(got.u, u) and torch.equal(got.v, v)
    if len(want.i):  # the flip swaps sides: some charts must change
        assert not torch.equal(got.i, want.i)
    swapped = FLIP_COARSE[want.masks.numpy()[..., ::-1]]
    assert np.array_equal(got.masks.numpy(), swapped)


@pytest.mark.parametrize("hflip", [True, False])
def test_training_flips_as_configured(
    synth_data: Path, tmp_path: Path, hflip: bool, monkeypatch: pytest.MonkeyPatch
):
    from annotator.surface.atlas import load_atlas

    received = _train_and_record(synth_data, tmp_path / "run", hflip, monkeypatch)
    sources = _sources(synth_data)
    table = load_flip_table(load_atlas("anny"))
    flipped = 0
    for image, target in received:
        same = [s for s in sources if torch.equal(image, s.image)]
        mirror = [s for s in sources if torch.equal(image, s.image.flip(-1))]
        assert len(same) + len(mirror) == 1, "every received image is one source, as is or mirrored"
        if same:
            _check_same(target, same[0].target)
        else:
            _check_mirrored(target, mirror[0].target, image.shape[-1], table)
            flipped += 1
    share = flipped / len(received)
    if hflip:
        # Each sample flips with probability 0.5 (16 samples: 0.25..0.75 is 2 sigma wide,
        # and the draws are a fixed function of the run's seed).
        assert 0.25 <= share <= 0.75, share
    else:
        assert flipped == 0
