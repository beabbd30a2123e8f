"""Label maps, box resampling and RLE checking against pycocotools."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from annotator.dataset.masks import (
    check_rle_counts,
    crop,
    decode_labels,
    encode_labels,
    labels_to_rles,
    rles_to_labels,
    to_box256,
    to_image,
)
from annotator.dataset.records import Box, MaskFrame, PartMask

from .conftest import person_labels


def reference_counts(counts: str) -> list[int]:
    """pycocotools' string decoding, written out plainly (for the test only)."""
    values: list[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(values) > 2:
            x += values[-2]
        values.append(x)
    return values


def test_label_map_codec_is_lossless() -> None:
    labels = person_labels(0)
    np.testing.assert_array_equal(decode_labels(encode_labels(labels), 256, 256), labels)
    cropped = crop(PartMask(np.pad(labels, 40), 7, 9))
    assert (cropped.x0, cropped.y0) == (
        7 + 40 + np.flatnonzero(labels.any(0))[0],
        9 + 40 + np.flatnonzero(labels.any(1))[0],
    )


def test_rles_round_trip_through_pycocotools() -> None:
    labels = person_labels(5)
    entries = labels_to_rles(labels)
    assert len(entries) == 14
    for part, entry in enumerate(entries, start=1):
        if (labels == part).any():
            assert entry["size"] == [256, 256] and isinstance(entry["counts"], str)
            np.testing.assert_array_equal(mask_utils.decode(entry), labels == part)
        else:
            assert entry == []
    np.testing.assert_array_equal(rles_to_labels(entries), labels)
    with pytest.raises(ValueError, match=r"dp_masks\[2\]"):
        rles_to_labels([[], [], {"size": [256, 256], "counts": "0~"}])


def test_box256_and_image_frames_agree() -> None:
    box = Box(10.5, 20.25, 512.0, 768.0)  # 2 x 3 pixels per cell
    labels = person_labels(2)
    image = to_image(PartMask(labels, frame=MaskFrame.BOX256), box)
    assert (image.x0, image.y0) == (10, 20)
    assert image.labels.shape == (769, 513)  # the pixels the box touches
    np.testing.assert_array_equal(to_box256(image, box), labels)


def test_image_mask_outside_the_box_is_ignored() -> None:
    labels = np.zeros((50, 50), np.uint8)
    labels[:, :25] = 3
    out = to_box256(PartMask(labels, 100, 100), Box(125.0, 100.0, 50.0, 50.0))
    assert out[:, :128].max() == 0  # left half of the box: right half of the mask (empty)
    assert out[:, 128:].max() == 0  # right half of the box: beyond the mask


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 4))
def test_rle_checker_agrees_with_pycocotools_strings(seed: int, edits: int) -> None:
    rng = np.random.default_rng(seed)
    labels = person_labels(seed % 50)
    counts = [e["counts"] for e in labels_to_rles(labels) if e]
    good = check_rle_counts(counts, 65536)
    assert good == [None] * len(counts)
    corrupted = []
    for text in counts:
        chars = list(text)
        for _ in range(edits):
            chars[int(rng.integers(len(chars)))] = chr(int(rng.integers(48, 112)))
        corrupted.append("".join(chars))
    for text, problem in zip(corrupted, check_rle_counts(corrupted, 65536), strict=True):
        if (ord(text[-1]) - 48) & 0x20:
            assert "truncated" in problem
            continue
        values = reference_counts(text)
        valid = all(0 <= v < 2**32 for v in values) and sum(values) == 65536
        assert (problem is None) == valid, (text, problem)
        if valid:  # then pycocotools can decode it safely
            decoded = mask_utils.decode({"size": [256, 256], "counts": text.encode()})
            assert decoded.shape == (256, 256)
