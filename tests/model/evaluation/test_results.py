"""The DensePose challenge results format: exact encoding, round trip, clear errors."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from model.evaluation.errors import ResultsFormatError
from model.evaluation.results import (
    Detection,
    decode_detection,
    encode_detection,
    quantize,
    read_results,
    write_results,
)
from model.structures import DensePoseResult


def random_detection(seed: int = 0, box=(10.7, 20.2, 31.9, 45.5), gt_id=None) -> Detection:
    rng = np.random.default_rng(seed)
    h, w = int(box[3]), int(box[2])
    labels = torch.from_numpy(rng.integers(0, 25, (h, w)).astype(np.uint8))
    uv = torch.from_numpy(rng.random((2, h, w)).astype(np.float32))
    result = DensePoseResult((int(box[0]), int(box[1]), w, h), labels, uv)
    return Detection(7, 1, box, 0.75, result, gt_id)


def test_record_holds_an_rgb_png_of_i_u_v_over_the_integer_box():
    det = random_detection()
    record = encode_detection(det)
    assert record["uv_shape"] == [3, 45, 31]  # [3, int(h), int(w)]
    assert record["bbox"] == [10.7, 20.2, 31.9, 45.5] and record["score"] == 0.75
    image = Image.open(io.BytesIO(base64.b64decode(record["uv_data"])))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (31, 45)
    rgb = np.asarray(image)
    assert np.array_equal(rgb[..., 0], det.densepose.labels.numpy())  # R = I
    u, v = det.densepose.uv.numpy()
    assert np.array_equal(rgb[..., 1], (u * 255).astype(np.uint8))  # G = U * 255, truncated
    assert np.array_equal(rgb[..., 2], (v * 255).astype(np.uint8))


def test_quantization_truncates_and_clamps_like_the_reference():
    labels = torch.tensor([[1, 2, 24]], dtype=torch.uint8)
    uv = torch.tensor([[[0.999, 1.5, -0.2]], [[0.5, 1 / 255, 0.00390]]], dtype=torch.float32)
    iuv = quantize(DensePoseResult((0, 0, 3, 1), labels, uv))
    assert iuv.dtype == np.uint8
    assert iuv.tolist() == [[[1, 2, 24]], [[254, 255, 0]], [[127, 1, 0]]]


def test_round_trip_loses_less_than_one_step_and_is_stable():
    det = random_detection(1, gt_id=1203)
    back = decode_detection(json.loads(json.dumps(encode_detection(det))))
    assert back.image_id == 7 and back.category_id == 1 and back.gt_id == 1203
    assert back.bbox == det.bbox and back.score == det.score
    assert back.densepose.box == det.densepose.box
    assert torch.equal(back.densepose.labels, det.densepose.labels)
    step = (det.densepose.uv - back.densepose.uv).numpy()
    assert step.min() >= 0 and step.max() < 1 / 255
    assert np.array_equal(quantize(back.densepose), quantize(det.densepose))


def test_results_file_round_trip(tmp_path):
    dets = [random_detection(k, box=(k, 2.0 * k, 20.0 + k, 30.0)) for k in range(4)]
    path = tmp_path / "results.json"
    write_results(path, dets)
    back = read_results(path)
    assert [d.bbox for d in back] == [d.bbox for d in dets]
    assert all(np.array_equal(quantize(a.densepose), quantize(b.densepose))
               for a, b in zip(back, dets, strict=True))  # fmt: skip


def test_empty_box_encodes_and_decodes():
    det = random_detection(box=(5.0, 5.0, 0.5, 12.0))
    back = decode_detection(encode_detection(det))
    assert tuple(back.densepose.labels.shape) == (12, 0)


def write(tmp_path, records):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    return path


def error_text(tmp_path, records) -> str:
    with pytest.raises(ResultsFormatError) as info:
        read_results(write(tmp_path, records))
    return str(info.value)


def test_missing_and_wrong_fields_are_named(tmp_path):
    good = encode_detection(random_detection())
    no_score = {k: v for k, v in good.items() if k != "score"}
    bad_box = {**good, "bbox": [1, 2, -3, 4]}
    text = error_text(tmp_path, [good, no_score, bad_box])
    assert "bad.json: result 1, score: missing" in text
    assert "result 2, bbox = [1, 2, -3, 4]: must be [x, y, w, h]" in text
    assert "result 0" not in text


def test_bad_png_and_shape_are_named(tmp_path):
    good = encode_detection(random_detection())
    not_png = {**good, "uv_data": base64.b64encode(b"not an image").decode()}
    wrong_shape = {**good, "uv_shape": [3, 44, 31]}
    text = error_text(tmp_path, [not_png, wrong_shape])
    assert "result 0 (image 7), uv_data: not a base64 PNG" in text
    assert "result 1 (image 7), uv_shape = [3, 44, 31]: the PNG holds [3, 45, 31]" in text


def test_chart_beyond_24_is_refused(tmp_path):
    det = random_detection()
    labels = det.densepose.labels.clone()
    labels[0, 0] = 30
    bad = DensePoseResult(det.densepose.box, labels, det.densepose.uv)
    record = encode_detection(Detection(7, 1, det.bbox, 0.5, bad))
    assert "channel I holds 30; charts are 0..24" in error_text(tmp_path, [record])


def test_not_a_list_not_json_missing_file(tmp_path):
    assert "a results file is a JSON list" in error_text(tmp_path, {"image_id": 1})
    broken = tmp_path / "broken.json"
    broken.write_text('[{"image_id": 1,')
    with pytest.raises(ResultsFormatError, match=r"broken\.json: line 1, column \d+: not valid"):
        read_results(broken)
    with pytest.raises(ResultsFormatError, match=r"nothing\.json: file not found"):
        read_results(tmp_path / "nothing.json")
