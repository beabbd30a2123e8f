"""Show that the studio runs detectron2's DensePose models exactly as detectron2 does.

For each configuration of detectron2's DensePose model zoo (the 27 of its page by default):

1. build detectron2's own model from its config file, with random weights calibrated so that
   it detects people in real boxes (random affine on every norm layer, small random biases,
   frozen batch-norm statistics measured on a separate random image, heads scaled to a
   trained model's outputs: see :func:`calibrate`);
2. save it in the zoo's file format (a pickle of numpy arrays) and load that file back into
   detectron2 with its own checkpointer;
3. import the same file into the studio (``model/zoo``);
4. run both on the same images at each test size, detectron2 as its ``DefaultPredictor``
   does (``ResizeShortestEdge`` on the uint8 BGR image) and its chart-result converter, the
   studio through its ``Predictor``, twice: as it runs by default (detectron2's NCHW
   convolutions) and with ``fast`` (NHWC convolutions on the CPU);
5. print per configuration and size: detections equal (count and order), the largest box
   and score differences, the share of pixels with the same fine part, the largest U / V
   difference where both give the same part, whether the outputs are bit for bit
   detectron2's, and the median inference time of each (the same figures of the fast path
   go to ``--out``).

Nothing of detectron2 is in the repository: this script imports it from the checkout it is
given (and its pure-Python dependencies from ``--deps``; see the README).

``--fixture DIR`` instead writes the small fixture the tests use (tests/model/zoo): narrow
versions of a few configurations (same code paths, tiny widths), their zoo-format files, the
images and detectron2's outputs.

    python scripts/check_detectron2.py --detectron2 ~/detectron2 --deps ~/d2deps \\
        --images runs/synth_val/images --sizes 512,800 --out runs/check_detectron2.json
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Detections per image and score threshold of both models (kept small: CPU time).
DETECTIONS = 10
SCORE_THRESH = 0.05

#: The narrow fixture's detectron2 overrides and the studio fields they correspond to.
#: (detectron2 needs the decoder as wide as the FPN; at 32 channels the DeepLab head's image
#: pooling cannot normalise a single RoI in 32 groups, so use the fixture's DL models on
#: several boxes.)
TINY_D2 = [
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 8,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 16,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 4,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 32,
    "MODEL.ROI_DENSEPOSE_HEAD.CONV_HEAD_DIM", 32,
    "MODEL.ROI_DENSEPOSE_HEAD.NUM_STACKED_CONVS", 2,
    "MODEL.ROI_DENSEPOSE_HEAD.DECODER_CONV_DIMS", 32,
    "MODEL.ROI_DENSEPOSE_HEAD.DECODER_NUM_CLASSES", 32,
]  # fmt: skip
TINY_OURS = [
    "model.resnet_stem_channels=8",
    "model.resnet_res2_channels=16",
    "model.resnet_width_per_group=4",
    "model.fpn_channels=32",
    "model.box_head_dim=32",
    "model.densepose.conv_dim=32",
    "model.densepose.num_convs=2",
    "model.densepose.decoder_conv_dim=32",
    "model.densepose.decoder_channels=32",
]
#: The fixture's configurations: every code path of the 27 (decoder, DeepLab head, both UV
#: confidences, segmentation confidence, legacy head, the evolution models' box pooler).
FIXTURE_MODELS = ("R_50_FPN_DL_WC2M_s1x", "R_50_FPN_s1x_legacy", "R_50_FPN_DL_WC1M_3x_Atop10P_CA")
#: Detections per image whose IUV maps the fixture keeps (all keep their boxes and scores).
FIXTURE_MAPS = 5
#: Longer side of the fixture's images.
FIXTURE_SIDE = 128


@dataclass
class Comparison:
    """Both models on the same images at one size."""

    config: str
    size: int
    images: int
    detections_d2: int
    detections_ours: int
    same_detections: bool
    max_box_diff: float
    max_score_diff: float
    pixels: int
    same_part_share: float
    max_uv_diff: float
    bitwise: bool
    seconds_d2: float
    seconds_ours: float
    #: median over the runs of (ours / detectron2) on the same image one after the other
    ratio: float
    fast: dict[str, float]


# -- detectron2 ----------------------------------------------------------------------------


def import_detectron2(checkout: Path, deps: Path | None) -> None:
    """Put detectron2 (and its DensePose project) on the path, after our own packages."""
    for path in (checkout, checkout / "projects" / "DensePose", deps):
        if path is not None:
            sys.path.append(str(path))
    import detectron2  # noqa: F401


def d2_config(zoo_config_file: str, checkout: Path, size: int, tiny: bool) -> Any:
    from densepose import add_densepose_config
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_densepose_config(cfg)
    cfg.merge_from_file(str(checkout / "projects/DensePose/configs" / zoo_config_file))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = SCORE_THRESH
    cfg.TEST.DETECTIONS_PER_IMAGE = DETECTIONS
    cfg.INPUT.MIN_SIZE_TEST = size
    if tiny:
        cfg.merge_from_list(TINY_D2)
    return cfg


def calibrate(model: torch.nn.Module, seed: int, image: torch.Tensor) -> None:
    """Random weights that detect people in real boxes (see the module docstring).

    Both passes run on ``image`` (``[3, H, W]`` BGR floats in [0, 255], the way the model
    gets its inputs), so that the outputs on images of the kind compared are in range.
    First pass: every frozen batch norm takes the statistics of its input; the RPN's outputs
    are scaled to logits of unit spread and box deltas of 0.1. Second pass (on the calibrated
    proposals): the box classifier gives person scores spread around 0.6, the box deltas 0.1,
    and the DensePose outputs a trained model's size (U and V about 0.5 +- 0.3). Without this,
    random weights give outputs of some hundreds: no detection, boxes pushed off the image
    into slivers, U and V clamped almost everywhere.
    """
    from detectron2.layers import FrozenBatchNorm2d

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FrozenBatchNorm2d | torch.nn.GroupNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
                continue
            bias = getattr(module, "bias", None)
            if isinstance(bias, torch.Tensor) and float(bias.abs().max()) == 0.0:
                bias.copy_(torch.randn(bias.shape, generator=gen) * 0.01)
    rpn = model.proposal_generator.rpn_head
    stats = [m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    inputs = _run_capturing(model, image, [rpn.objectness_logits], stats)
    _standardize(rpn.objectness_logits, inputs[0], std=1.0, mean=0.0)
    # Proposals 1.6 times their anchors, detections 2.7 times their proposals: most anchors
    # come from the finest level, and people are larger than its 32 pixels.
    anchors = rpn.anchor_deltas.out_channels // 4
    _standardize(rpn.anchor_deltas, inputs[0], std=0.1, mean=(0.0, 0.0, 0.5, 0.5) * anchors)
    box, densepose = model.roi_heads.box_predictor, model.roi_heads.densepose_predictor
    inputs = _run_capturing(model, image, [box.cls_score, densepose], [])
    _standardize(box.cls_score, inputs[0], std=(1.0, 0.1), mean=(0.5, 0.0))  # person, bg
    _standardize(box.bbox_pred, inputs[0], std=0.5, mean=(0.0, 0.0, 5.0, 5.0))
    for name, layer in densepose.named_children():
        if isinstance(layer, torch.nn.ConvTranspose2d):
            uv = name.startswith(("u_", "v_"))
            _standardize(layer, inputs[1], std=0.3 if uv else 1.0, mean=0.5 if uv else 0.0)


def _run_capturing(
    model: torch.nn.Module,
    image: torch.Tensor,
    modules: list[torch.nn.Module],
    statistics_of: list[torch.nn.Module],
) -> list[list[torch.Tensor]]:
    """One forward pass; the inputs of ``modules`` (every call), the batch norms of
    ``statistics_of`` set to the statistics of their inputs on the way."""
    seen: list[list[torch.Tensor]] = [[] for _ in modules]
    hooks = [m.register_forward_pre_hook(_set_statistics) for m in statistics_of]
    for k, module in enumerate(modules):
        hooks.append(module.register_forward_pre_hook(lambda m, i, k=k: seen[k].append(i[0])))
    model.eval()
    with torch.no_grad():
        model([{"image": image, "height": image.shape[1], "width": image.shape[2]}])
    for hook in hooks:
        hook.remove()
    return seen


def _standardize(
    layer: torch.nn.Module,
    inputs: list[torch.Tensor],
    std: float | tuple[float, ...],
    mean: float | tuple[float, ...],
) -> None:
    """Scale a layer's weights and shift its bias so that its outputs on ``inputs`` have
    this spread and mean (per output channel, when given per channel)."""
    inputs = [x for x in inputs if len(x)]
    if not inputs:
        return
    with torch.no_grad():
        outs = torch.cat([_channels_last(layer(x)) for x in inputs])
        std_t = torch.as_tensor(std, dtype=outs.dtype).expand(outs.shape[1])
        mean_t = torch.as_tensor(mean, dtype=outs.dtype).expand(outs.shape[1])
        scale = std_t / (outs.std(dim=0) + 1e-12)
        dim = 1 if isinstance(layer, torch.nn.ConvTranspose2d) else 0
        shape = [-1 if d == dim else 1 for d in range(layer.weight.dim())]
        layer.weight.mul_(scale.reshape(shape))
        outs = torch.cat([_channels_last(layer(x)) for x in inputs])
        layer.bias.add_(mean_t - outs.mean(dim=0))


def _channels_last(y: torch.Tensor) -> torch.Tensor:
    """Outputs as rows of channels: ``[N, C]`` or ``[N * H * W, C]``."""
    return y if y.dim() == 2 else y.permute(0, 2, 3, 1).reshape(-1, y.shape[1])


def _set_statistics(module: Any, inputs: tuple[torch.Tensor, ...]) -> None:
    x = inputs[0]
    module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
    module.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-3)


def _model_input(rgb: np.ndarray, cfg: Any) -> torch.Tensor:
    """The image as detectron2's DefaultPredictor hands it to the model."""
    import detectron2.data.transforms as T

    bgr = rgb[:, :, ::-1]
    aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    return torch.as_tensor(
        aug.get_transform(bgr).apply_image(bgr).astype("float32").transpose(2, 0, 1)
    )


def save_zoo_file(model: torch.nn.Module, path: Path, protocol: int) -> None:
    """The model in the zoo's file format: a pickle of ``{"model": {name: numpy array}}``."""
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump({"model": state, "__author__": "scripts/check_detectron2.py"}, f, protocol)


def d2_model(cfg: Any, file: Path) -> Any:
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(str(file))
    return model


def d2_predict(model: Any, cfg: Any, rgb: np.ndarray) -> list[dict[str, Any]]:
    """detectron2 as its DefaultPredictor, then its chart-result converter per detection."""
    from densepose.converters.chart_output_to_chart_result import (
        densepose_chart_predictor_output_to_result,
    )

    tensor = _model_input(rgb, cfg)
    with torch.no_grad():
        (out,) = model([{"image": tensor, "height": rgb.shape[0], "width": rgb.shape[1]}])
    inst = out["instances"]
    people = []
    for k in range(len(inst)):
        result = densepose_chart_predictor_output_to_result(
            inst.pred_densepose[k], inst.pred_boxes[k]
        )
        people.append(
            {
                "box": inst.pred_boxes.tensor[k].numpy().astype(np.float64),
                "score": float(inst.scores[k]),
                "labels": result.labels.numpy().astype(np.uint8),
                "uv": result.uv.clamp(0, 1).numpy(),
            }
        )
    return people


# -- the studio ----------------------------------------------------------------------------


def our_predictor(
    file: Path, zoo_name: str, size: int, extra: list[str], out_dir: Path, fast: bool = False
) -> Any:
    from model.inference.predictor import Predictor
    from model.zoo.catalog import zoo_config, zoo_model
    from model.zoo.convert import import_detectron2

    overrides = [
        f"model.min_size_test={size}",
        f"model.box_score_thresh={SCORE_THRESH}",
        f"model.detections_per_img={DETECTIONS}",
        *extra,
    ]
    cfg = zoo_config(zoo_model(zoo_name), overrides)
    ckpt = import_detectron2(file, cfg, out_dir / f"{zoo_name}_{size}.pth", zoo_name=zoo_name)
    return Predictor.from_checkpoint(ckpt, device="cpu", score_threshold=0.0, fast=fast)


def our_predict(predictor: Any, rgb: np.ndarray) -> list[dict[str, Any]]:
    return [
        {
            "box": np.asarray(p.box, np.float64),
            "score": p.score,
            "labels": p.densepose.labels.numpy(),
            "uv": p.densepose.uv.numpy(),
        }
        for p in predictor(rgb)
    ]


# -- comparing -----------------------------------------------------------------------------


def compare(d2: list[dict[str, Any]], ours: list[dict[str, Any]]) -> dict[str, float]:
    """Figures of one image (see :class:`Comparison`)."""
    n = min(len(d2), len(ours))
    same_boxes = len(d2) == len(ours)
    box_diff = score_diff = uv_diff = 0.0
    pixels = same = 0
    for a, b in zip(d2[:n], ours[:n], strict=True):
        box_diff = max(box_diff, float(np.abs(a["box"] - b["box"]).max()))
        score_diff = max(score_diff, abs(a["score"] - b["score"]))
        pixels += a["labels"].size
        if a["labels"].shape != b["labels"].shape:
            continue  # a different integer box: every pixel counts as different
        agree = a["labels"] == b["labels"]
        same += int(agree.sum())
        on = agree & (a["labels"] > 0)
        if on.any():
            uv_diff = max(uv_diff, float(np.abs(a["uv"][:, on] - b["uv"][:, on]).max()))
    for extra in d2[n:]:
        pixels += extra["labels"].size
    return {
        "same": float(same_boxes and box_diff < 0.5),
        "box": box_diff,
        "score": score_diff,
        "pixels": pixels,
        "same_pixels": same,
        "uv": uv_diff,
    }


def run_config(
    zoo_name: str,
    args: argparse.Namespace,
    images: list[np.ndarray],
    work: Path,
    *,
    tiny: bool = False,
    seed: int = 0,
) -> list[Comparison]:
    """Build, calibrate, save, import and compare one configuration at every size."""
    from detectron2.modeling import build_model

    from model.zoo.catalog import zoo_model

    config_file = zoo_model(zoo_name).config
    file = work / f"{zoo_name}.pkl"
    base = d2_config(config_file, args.detectron2, args.sizes[0], tiny)
    torch.manual_seed(seed)
    model = build_model(base)
    calibrate(model, seed, _model_input(images[0], base))
    save_zoo_file(model, file, protocol=4 if tiny else (3, 4, 2)[seed % 3])
    d2 = d2_model(base, file)  # the test size only changes the resize before the model
    extra = TINY_OURS if tiny else []
    ours = our_predictor(file, zoo_name, args.sizes[0], extra, work / "imported")
    fast = our_predictor(file, zoo_name, args.sizes[0], extra, work / "imported", fast=True)
    out = []
    for size in args.sizes:
        cfg = d2_config(config_file, args.detectron2, size, tiny)
        for predictor in (ours, fast):
            predictor.model.min_size_test = size
            predictor.model.transform.min_size = (size,)
        out.append(_compare_size(zoo_name, size, cfg, d2, (ours, fast), images, args.repeat))
    shutil.rmtree(work / "imported", ignore_errors=True)  # a few hundred MB per configuration
    if not tiny:
        file.unlink()
    return out


def _compare_size(
    name: str,
    size: int,
    cfg: Any,
    d2: Any,
    ours: tuple[Any, Any],
    images: list[np.ndarray],
    repeat: int,
) -> Comparison:
    """The default path's figures (and the fast path's in ``fast``), interleaved timings."""
    outputs: dict[str, list[list[dict[str, Any]]]] = {"d2": [], "ours": [], "fast": []}
    times: dict[str, list[float]] = {"d2": [], "ours": [], "fast": []}
    runs = {
        "d2": lambda rgb: d2_predict(d2, cfg, rgb),
        "ours": lambda rgb: our_predict(ours[0], rgb),
        "fast": lambda rgb: our_predict(ours[1], rgb),
    }
    for rgb in images:
        last: dict[str, list[dict[str, Any]]] = {}
        for _ in range(repeat):  # interleaved, so that all see the same machine
            for key, run in runs.items():
                start = time.perf_counter()
                last[key] = run(rgb)
                times[key].append(time.perf_counter() - start)
        for key, result in last.items():
            outputs[key].append(result)
    figures = {key: _figures(outputs["d2"], outputs[key]) for key in ("ours", "fast")}
    main = figures["ours"]
    return Comparison(
        config=name,
        size=size,
        images=len(images),
        detections_d2=sum(len(x) for x in outputs["d2"]),
        detections_ours=sum(len(x) for x in outputs["ours"]),
        same_detections=bool(main["same"]),
        max_box_diff=main["box"],
        max_score_diff=main["score"],
        pixels=int(main["pixels"]),
        same_part_share=main["share"],
        max_uv_diff=main["uv"],
        bitwise=all(_bitwise(a, b) for a, b in zip(outputs["d2"], outputs["ours"], strict=True)),
        seconds_d2=statistics.median(times["d2"]),
        seconds_ours=statistics.median(times["ours"]),
        ratio=_paired(times["ours"], times["d2"]),
        fast=figures["fast"]
        | {
            "seconds": statistics.median(times["fast"]),
            "ratio": _paired(times["fast"], times["d2"]),
        },
    )


def _paired(ours: list[float], d2: list[float]) -> float:
    """Median of the ratios of runs made one after the other (drifts of the machine cancel)."""
    return statistics.median(a / b for a, b in zip(ours, d2, strict=True))


def _figures(d2: list[list[dict[str, Any]]], ours: list[list[dict[str, Any]]]) -> dict[str, float]:
    """The comparison figures over all images (see :func:`compare`)."""
    per_image = [compare(a, b) for a, b in zip(d2, ours, strict=True)]
    pixels = sum(f["pixels"] for f in per_image)
    return {
        "same": float(all(f["same"] for f in per_image)),
        "box": max(f["box"] for f in per_image),
        "score": max(f["score"] for f in per_image),
        "uv": max(f["uv"] for f in per_image),
        "pixels": pixels,
        "share": sum(f["same_pixels"] for f in per_image) / max(1, pixels),
    }


def _bitwise(d2: list[dict[str, Any]], ours: list[dict[str, Any]]) -> bool:
    """The exact path gives detectron2's outputs bit for bit."""
    return len(d2) == len(ours) and all(
        np.array_equal(a[key], b[key]) for a, b in zip(d2, ours, strict=True) for key in a
    )


def print_row(c: Comparison) -> None:
    print(
        f"{c.config:44s} {c.size:4d}  dets {c.detections_d2:3d}/{c.detections_ours:3d} "
        f"{'same' if c.same_detections else 'DIFF'}  box {c.max_box_diff:.2e}  "
        f"score {c.max_score_diff:.2e}  parts {100 * c.same_part_share:.4f}% "
        f"of {c.pixels}  uv {c.max_uv_diff:.2e}  {'bitwise' if c.bitwise else 'not bitwise'}"
        f"  d2 {c.seconds_d2:.2f} s  ours {c.seconds_ours:.2f} s  ratio {c.ratio:.2f}  "
        f"fast {c.fast['seconds']:.2f} s (parts {100 * c.fast['share']:.4f}%, "
        f"uv {c.fast['uv']:.1e})",
        flush=True,
    )


def read_images(folder: Path, count: int) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"{folder}: no .png or .jpg images")
    return [np.asarray(Image.open(p).convert("RGB")) for p in files[:count]]


def write_fixture(args: argparse.Namespace, images: list[np.ndarray]) -> None:
    """The tests' fixture: narrow models, their files, images and detectron2's outputs."""
    from PIL import Image

    out: Path = args.fixture
    (out / "images").mkdir(parents=True, exist_ok=True)
    small = []
    for k, rgb in enumerate(images):  # small images keep the fixture small
        pil = Image.fromarray(rgb)
        pil.thumbnail((FIXTURE_SIDE, FIXTURE_SIDE), Image.Resampling.LANCZOS)
        pil.save(out / "images" / f"{k}.png")
        small.append(np.asarray(pil))
    images = small
    records: dict[str, Any] = {"sizes": args.sizes, "detections": DETECTIONS}
    records |= {"score_thresh": SCORE_THRESH, "overrides": TINY_OURS, "models": {}}
    arrays: dict[str, np.ndarray] = {}
    for seed, name in enumerate(FIXTURE_MODELS):
        rows = run_config(name, args, images, out, tiny=True, seed=seed)
        records["models"][name] = [asdict(r) for r in rows]
        for row in rows:
            print_row(row)
        for size in args.sizes:
            cfg = d2_config(zoo_config_file(name), args.detectron2, size, True)
            d2 = d2_model(cfg, out / f"{name}.pkl")
            for k, rgb in enumerate(images):
                people = d2_predict(d2, cfg, rgb)
                key = f"{name}/{size}/{k}"
                arrays[f"{key}/boxes"] = np.array([p["box"] for p in people]).reshape(-1, 4)
                arrays[f"{key}/scores"] = np.array([p["score"] for p in people])
                for j, person in enumerate(people[:FIXTURE_MAPS]):
                    arrays[f"{key}/{j}/labels"] = person["labels"]
                    arrays[f"{key}/{j}/uv"] = person["uv"]
    shutil.rmtree(out / "imported", ignore_errors=True)
    np.savez_compressed(out / "detectron2_outputs.npz", **arrays)
    (out / "fixture.json").write_text(json.dumps(records, indent=1))
    print(f"fixture -> {out}")


def zoo_config_file(name: str) -> str:
    from model.zoo.catalog import zoo_model

    return zoo_model(name).config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectron2", type=Path, required=True, help="detectron2 checkout")
    parser.add_argument("--deps", type=Path, help="folder of detectron2's Python dependencies")
    parser.add_argument("--images", type=Path, required=True, help="folder of test images")
    parser.add_argument("--count", type=int, default=2, help="images to use")
    parser.add_argument("--sizes", default="512,800", help="test sizes (shorter side)")
    parser.add_argument("--configs", help="comma-separated zoo names (default: all 27)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per image")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--fixture", type=Path, help="write the tests' fixture here instead")
    parser.add_argument("--work", type=Path, default=Path("runs/check_detectron2"))
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    import_detectron2(args.detectron2, args.deps)
    images = read_images(args.images, args.count)
    if args.fixture:
        write_fixture(args, images)
        return 0
    from model.zoo.catalog import ZOO

    names = args.configs.split(",") if args.configs else [m.name for m in ZOO]
    rows: list[Comparison] = []
    for seed, name in enumerate(names):
        for row in run_config(name, args, images, args.work, seed=seed):
            print_row(row)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(summary(rows))
    return 0 if all(meets_goal(_default_figures(r)) for r in rows) else 1


def _default_figures(r: Comparison) -> dict[str, float]:
    return {
        "same": float(r.same_detections),
        "box": r.max_box_diff,
        "uv": r.max_uv_diff,
        "share": r.same_part_share,
    }


def meets_goal(f: dict[str, float]) -> bool:
    """Same detections, boxes within 0.01 px, parts equal on 99.99 % of pixels, U / V
    within 1e-4."""
    return bool(f["same"]) and f["box"] <= 0.01 and f["share"] >= 0.9999 and f["uv"] <= 1e-4


def summary(rows: list[Comparison]) -> str:
    """Both paths against the goal, and their time against detectron2's."""
    default = sum(meets_goal(_default_figures(r)) for r in rows)
    fast = sum(meets_goal(r.fast) for r in rows)
    ratios = [r.ratio for r in rows]
    fast_ratios = [r.fast["ratio"] for r in rows]
    return (
        f"default: {default} of {len(rows)} configuration-sizes meet the goal, "
        f"{sum(r.bitwise for r in rows)} bit for bit; time / detectron2's: median "
        f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})\n"
        f"--fast: {fast} of {len(rows)} meet the goal; time / detectron2's: median "
        f"{statistics.median(fast_ratios):.2f} ({min(fast_ratios):.2f}-{max(fast_ratios):.2f})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
