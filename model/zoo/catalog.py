"""detectron2's 27 chart-based DensePose models (its ``DENSEPOSE_IUV.md`` model zoo).

Each :class:`ZooModel` is a row of that page: the configuration it was trained with, the
published figures (training s/iter, inference s/image and memory on 8 V100s; box, mask,
GPS and GPSm AP on DensePose-COCO minival; the "evolution" models were trained for animals
and measured on DensePose-Chimps, with one more figure, GPS AP on its "ex" annotations), the
model id and the download link. :func:`zoo_config` is the studio configuration that
reproduces its architecture: one of our presets (``model/configs``) and detectron2's input,
layout and rules (:data:`DETECTRON2_LAYOUT`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from model.config import Config, load_config

#: What a model of detectron2's zoo needs beyond the preset of its architecture
#: (model/config.py says what each field does).
DETECTRON2_LAYOUT = (
    "model.input.format=bgr255",
    "model.input.pixel_mean=[103.53, 116.28, 123.675]",
    "model.input.pixel_std=[1.0, 1.0, 1.0]",
    "model.input.resize=pil",
    "model.resnet_stride_in_1x1=true",
    "model.backbone_norm=frozen_bn",
    "model.anchors=detectron2",
    "model.detector_rules=detectron2",
    "model.densepose.pooler_aligned=false",
    "weights=none",
    "data.body=smpl",
)


#: Where detectron2 publishes its DensePose files.
DOWNLOADS = "https://dl.fbaipublicfiles.com/densepose"


@dataclass(frozen=True)
class ZooModel:
    """One model of the zoo, as its page lists it.

    Attributes:
        name: the page's name, e.g. ``R_50_FPN_s1x``.
        schedule: "s1x" or "3x".
        train_s_iter, infer_s_image, train_mem_gb: detectron2's published speed and memory.
        box_ap, segm_ap, gps_ap, gpsm_ap: published AP (DensePose-COCO minival; Chimps for
            the evolution models).
        gps_ex_ap: the evolution models' GPS AP on DensePose-Chimps' "ex" set (else None).
        model_id: detectron2's model id.
        file_hash: the end of the file's name, ``model_final_<hash>.pkl``.
    """

    name: str
    schedule: str
    train_s_iter: float
    infer_s_image: float
    train_mem_gb: float
    box_ap: float
    segm_ap: float
    gps_ap: float
    gpsm_ap: float
    gps_ex_ap: float | None
    model_id: int
    file_hash: str

    @property
    def evolution(self) -> bool:
        """One of the five models of "DensePose evolution" (trained for animals)."""
        return "Atop10P" in self.name

    @property
    def config(self) -> str:
        """detectron2's config file, relative to ``projects/DensePose/configs``."""
        if self.evolution:
            return f"evolution/densepose_{self.name}.yaml"
        return f"densepose_rcnn_{self.name}.yaml"

    @property
    def file_name(self) -> str:
        return f"model_final_{self.file_hash}.pkl"

    @property
    def url(self) -> str:
        """Where detectron2 publishes the file."""
        folder = PurePosixPath(self.config).with_suffix("").as_posix()
        return f"{DOWNLOADS}/{folder}/{self.model_id}/{self.file_name}"


def _read_table() -> tuple[ZooModel, ...]:
    """The rows of ``zoo_models.csv`` (the zoo page's table, copied once)."""
    import csv

    path = Path(__file__).with_name("zoo_models.csv")
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    models = []
    for row in csv.DictReader(lines):
        values: dict[str, Any] = dict(row)
        for name in ("train_s_iter", "infer_s_image", "train_mem_gb"):
            values[name] = float(values[name])
        for name in ("box_ap", "segm_ap", "gps_ap", "gpsm_ap"):
            values[name] = float(values[name])
        values["gps_ex_ap"] = float(values["gps_ex_ap"]) if values["gps_ex_ap"] else None
        values["model_id"] = int(values["model_id"])
        models.append(ZooModel(**values))
    return tuple(models)


#: The 27 models, in the zoo page's order.
ZOO = _read_table()

_BY_NAME = {m.name: m for m in ZOO}


def zoo_model(name: str) -> ZooModel:
    """The zoo model called ``name`` (``zoo:`` prefix allowed).

    Raises:
        KeyError: no such model; the message lists them.
    """
    key = name.removeprefix("zoo:")
    if key not in _BY_NAME:
        raise KeyError(f"no zoo model {key!r}; the zoo has: {', '.join(_BY_NAME)}")
    return _BY_NAME[key]


def zoo_config(model: ZooModel, overrides: list[str] | None = None) -> Config:
    """The studio configuration of a zoo model's architecture (see the module docstring)."""
    depth, preset = _architecture(model.name)
    extra = list(DETECTRON2_LAYOUT)
    if depth == "101":
        extra.append("model.backbone=resnet101")
    if model.evolution:  # Base-RCNN-FPN-Atop10P_CA.yaml keeps the box pooler's defaults
        extra += ["model.box_pooler_aligned=true", "model.box_pooler_sampling_ratio=0"]
    cfg = load_config(preset, extra + list(overrides or []))
    cfg.name = f"zoo:{model.name}"
    cfg.description = f"detectron2 model zoo {model.name} ({model.config})"
    return cfg


def _architecture(name: str) -> tuple[str, str]:
    """The ResNet depth ("50" or "101") and our preset of the same heads (on R-50)."""
    found = re.fullmatch(r"R_(50|101)_FPN_(?:(.+?)_)?(s1x|3x)(_legacy)?(?:_.*)?", name)
    if found is None:
        raise ValueError(f"{name}: not a zoo model name")
    depth, head, _, legacy = found.groups()
    if legacy:
        return depth, "densepose_rcnn_R_50_FPN_s1x_legacy"
    return depth, f"densepose_rcnn_R_50_FPN_{head + '_' if head else ''}s1x"
