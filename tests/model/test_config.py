"""Presets, overrides and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.config import Config, ConfigError, load_config, preset_names


def test_every_preset_resolves():
    names = preset_names()
    assert {
        "densepose_rcnn_R_50_FPN_s1x",
        "densepose_rcnn_R_50_FPN_s1x_legacy",
        "densepose_rcnn_R_18_FPN_cpu",
        "densepose_rcnn_MNV3_FPN_cpu",
    } <= set(names)
    for name in names:
        cfg = load_config(name)
        assert cfg.name == name and cfg.description


def test_the_reference_presets_carry_detectron2s_figures():
    s1x = load_config("R_50_FPN_s1x")
    dp = s1x.model.densepose
    assert (dp.pooler_resolution, dp.heatmap_size, dp.decoder) == (28, 112, True)
    assert (dp.index_weight, dp.part_weight, dp.point_regression_weight) == (5.0, 1.0, 0.01)
    assert (s1x.solver.ims_per_batch, s1x.solver.base_lr, s1x.solver.max_iter) == (16, 0.01, 130000)
    legacy = load_config("R_50_FPN_s1x_legacy").model.densepose
    assert (legacy.pooler_resolution, legacy.heatmap_size, legacy.decoder) == (14, 56, False)
    assert legacy.coarse_segm_channels == 15


def test_a_file_overrides_any_field_and_round_trips(tmp_path: Path):
    preset = tmp_path / "mine.yaml"
    preset.write_text(
        "_base_: {}\nsolver:\n  base_lr: 0.05\nmodel:\n  densepose:\n    conv_dim: 64\n".format(
            load_path("R_18_FPN_cpu")
        )
    )
    cfg = load_config(str(preset), ["solver.max_iter=7", "data.points=dense"])
    assert (cfg.solver.base_lr, cfg.model.densepose.conv_dim) == (0.05, 64)
    assert (cfg.solver.max_iter, cfg.data.points) == (7, "dense")
    assert cfg.model.backbone == "resnet18"  # from the base
    assert Config.from_dict(cfg.to_dict()) == cfg


def load_path(name: str) -> str:
    from model.config import resolve_preset

    return str(resolve_preset(name))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("solver.max_iters=3", "unknown field solver.max_iters"),
        ("solver.base_lr=fast", "solver.base_lr must be float"),
        ("model.densepose.decoder=1", "must be true or false"),
        ("solver.steps=5", "solver.steps must be a list"),
        ("no_equals_sign", "expected key.path=value"),
    ],
)
def test_bad_overrides_say_which_field(override: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_config("R_18_FPN_cpu", [override])


def test_bad_files(tmp_path: Path):
    loop = tmp_path / "loop.yaml"
    loop.write_text("_base_: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(str(loop))
    broken = tmp_path / "broken.yaml"
    broken.write_text("solver: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_config(str(broken))
    with pytest.raises(ConfigError, match="no preset or file"):
        load_config("R_99_nothing")
