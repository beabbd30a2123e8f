"""Importing detectron2 files: every tensor used or named as ignored, clear refusals."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model.engine.checkpoint import OFFICIAL_CHARTS, load_checkpoint
from model.safe_pickle import load
from model.zoo.catalog import ZOO, zoo_config, zoo_model
from model.zoo.convert import ZooImportError, import_detectron2

from .test_detectron2_fixture import FIXTURE, SPEC

NAME = "R_50_FPN_s1x_legacy"


def _cfg():
    return zoo_config(zoo_model(NAME), SPEC["overrides"])


def _write(tmp_path: Path, model: dict[str, np.ndarray], protocol: int = 4) -> Path:
    path = tmp_path / "model_final.pkl"
    path.write_bytes(pickle.dumps({"model": model, "__author__": "test"}, protocol=protocol))
    return path


@pytest.fixture()
def tensors() -> dict[str, np.ndarray]:
    return dict(load(FIXTURE / f"{NAME}.pkl")["model"])


def test_the_import_is_an_ordinary_checkpoint_of_the_official_charts(tmp_path: Path):
    out = import_detectron2(FIXTURE / f"{NAME}.pkl", _cfg(), tmp_path, zoo_name=NAME)
    ckpt = load_checkpoint(out)  # torch.load(weights_only=True)
    assert ckpt.atlas == OFFICIAL_CHARTS and ckpt.official_charts
    assert ckpt.origin is not None and ckpt.origin["zoo"] == NAME
    assert len(ckpt.origin["sha256"]) == 64
    assert ckpt.config["model"]["input"]["format"] == "bgr255"


def test_what_detectron2_ignores_is_ignored(tmp_path: Path, tensors):
    tensors["pixel_mean"] = np.zeros((3, 1, 1), np.float32)
    tensors["pixel_std"] = np.ones((3, 1, 1), np.float32)
    tensors["proposal_generator.anchor_generator.cell_anchors.0"] = np.zeros((3, 4), np.float32)
    import_detectron2(_write(tmp_path, tensors), _cfg(), tmp_path / "out.pth")


def test_a_missing_tensor_is_named(tmp_path: Path, tensors):
    del tensors["roi_heads.densepose_predictor.u_lowres.weight"]
    with pytest.raises(ZooImportError, match=r"lacks 1 tensors.*predictor\.layers\.u\.weight"):
        import_detectron2(_write(tmp_path, tensors), _cfg(), tmp_path / "out.pth")


def test_a_misshaped_tensor_is_named(tmp_path: Path, tensors):
    name = "backbone.fpn_lateral3.weight"
    tensors[name] = tensors[name][:, :-1]
    with pytest.raises(ZooImportError, match=r"tensor backbone\.fpn_lateral3\.weight has shape"):
        import_detectron2(_write(tmp_path, tensors), _cfg(), tmp_path / "out.pth")


def test_a_tensor_of_another_architecture_is_named(tmp_path: Path, tensors):
    tensors["roi_heads.mask_head.mask_fcn1.weight"] = np.zeros((4, 4), np.float32)
    with pytest.raises(ZooImportError, match=r"mask_head\.mask_fcn1\.weight .* no place"):
        import_detectron2(_write(tmp_path, tensors), _cfg(), tmp_path / "out.pth")


def test_the_file_of_another_configuration_is_refused(tmp_path: Path):
    other = zoo_config(zoo_model("R_50_FPN_DL_WC2M_s1x"), SPEC["overrides"])
    with pytest.raises(ZooImportError, match="another configuration"):
        import_detectron2(FIXTURE / f"{NAME}.pkl", other, tmp_path / "out.pth")


class _Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path: Path, tensors):
    target = tmp_path / "pwned"
    tensors["backbone.fpn_lateral3.weight"] = _Payload(target)  # type: ignore[assignment]
    path = _write(tmp_path, tensors)
    with pytest.raises(ZooImportError, match="refused"):
        import_detectron2(path, _cfg(), tmp_path / "out.pth")
    assert not target.exists()
    # A .pth of the same payload (torch's weights-only loader refuses it too).
    pth = tmp_path / "model_final.pth"
    shutil.copy(path, pth)
    with pytest.raises(ZooImportError, match="refused"):
        import_detectron2(pth, _cfg(), tmp_path / "out2.pth")
    assert not target.exists()


def test_a_pth_of_plain_tensors_imports(tmp_path: Path, tensors):
    pth = tmp_path / "model_final.pth"
    torch.save({"model": {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}}, pth)
    import_detectron2(pth, _cfg(), tmp_path / "out.pth")


def test_every_zoo_configuration_builds_with_detectron2s_tensor_count():
    """The published files hold 335 tensors for R_50_FPN_s1x, 359 for DL, 337 for WC1,
    590 for R_101, 319 for legacy (../shared/detectron2-on-cpu.md); the architectures the
    studio builds for them need exactly as many."""
    from model.modeling.build import build_model

    expected = {
        "R_50_FPN_s1x": 335,
        "R_50_FPN_DL_s1x": 359,
        "R_50_FPN_WC1_s1x": 337,
        "R_101_FPN_s1x": 590,
        "R_50_FPN_s1x_legacy": 319,
    }
    for name, count in expected.items():
        state = build_model(zoo_config(zoo_model(name)).model).state_dict()
        assert len(state) == count, name
    assert len(ZOO) == 27
