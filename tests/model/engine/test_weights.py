"""Starting weights: offline without a cache trains from scratch and says so; a checkpoint
file warm-starts what fits; impossible requests fail with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from annotator.surface.atlas import load_atlas
from model.config import load_config
from model.engine.checkpoint import atlas_identity, save_checkpoint
from model.engine.run import build_for_training
from model.engine.runlog import RunLog
from model.modeling.build import build_model
from model.modeling.weights import person_only, resolve_weights


def test_offline_without_a_cache_trains_from_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    start = resolve_weights(
        "imagenet", backbone="resnet18", backbone_norm="frozen_bn", allow_download=False
    )
    assert start.backbone is None and start.detector is None
    assert "not in the torch cache" in start.note and "from scratch" in start.note


@pytest.mark.parametrize(
    ("source", "backbone", "norm", "message"),
    [
        ("coco", "resnet18", "frozen_bn", "no coco weights for resnet18"),
        ("imagenet", "resnet18", "gn", "needs backbone_norm frozen_bn or bn"),
        ("/no/such/checkpoint.pth", "resnet18", "gn", "no such file"),
    ],
)
def test_impossible_weights_are_refused(source: str, backbone: str, norm: str, message: str):
    with pytest.raises(ValueError, match=message):
        resolve_weights(source, backbone=backbone, backbone_norm=norm, allow_download=False)


def test_coco_predictor_is_cut_to_background_and_person():
    cls = torch.arange(91 * 3, dtype=torch.float32).reshape(91, 3)
    box = torch.arange(91 * 4 * 3, dtype=torch.float32).reshape(91 * 4, 3)
    state = person_only(
        {
            "roi_heads.box_predictor.cls_score.weight": cls,
            "roi_heads.box_predictor.bbox_pred.weight": box,
            "backbone.x": torch.ones(2),
        }
    )
    assert torch.equal(state["roi_heads.box_predictor.cls_score.weight"], cls[:2])
    assert torch.equal(state["roi_heads.box_predictor.bbox_pred.weight"], box[:8])
    assert torch.equal(state["backbone.x"], torch.ones(2))


def test_a_checkpoint_warm_starts_what_fits(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    tiny = ["model.densepose.num_convs=2", "model.densepose.conv_dim=32"]
    donor_cfg = load_config("R_18_FPN_cpu", tiny)
    donor = build_model(donor_cfg.model)
    path = save_checkpoint(
        tmp_path / "donor.pth",
        config=donor_cfg.to_dict(),
        atlas=atlas_identity(load_atlas()),
        iteration=5,
        model=donor.state_dict(),
        training=None,
    )
    # Another head width: the backbone and detector load, the DensePose head does not fit.
    cfg = load_config(
        "R_18_FPN_cpu",
        ["model.densepose.num_convs=2", "model.densepose.conv_dim=48", f"weights={path}"],
    )
    log = RunLog(tmp_path / "run", start_iter=0, max_iter=1, progress_json=True)
    model = build_for_training(cfg, log)
    log.close()
    notes = [json.loads(line)["message"] for line in capsys.readouterr().out.splitlines()]
    assert any("differ in shape" in n for n in notes)
    body = "backbone.body.layer1.0.conv1.weight"
    assert torch.equal(model.state_dict()[body], donor.state_dict()[body])
