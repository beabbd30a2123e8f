"""Backgrounds: procedural ones match the camera and are reproducible; a user's folder works."""

import numpy as np
import pytest

from annotator.surface.render import Camera
from annotator.synth.backgrounds import list_images, make_background
from annotator.synth.scene import BackgroundSpec


@pytest.fixture()
def camera():
    eye, target = np.array([0.0, 1.5, 0.0]), np.array([0.0, 1.0, -4.0])
    return Camera.look_at(eye, target, np.array([0.0, 1.0, 0.0]), np.radians(50), 200, 150)


@pytest.mark.parametrize("kind", ["room", "outdoor", "abstract"])
def test_procedural_backgrounds_are_reproducible(camera, kind):
    a = make_background(BackgroundSpec(kind, 7), camera, far=5.0)
    b = make_background(BackgroundSpec(kind, 7), camera, far=5.0)
    c = make_background(BackgroundSpec(kind, 8), camera, far=5.0)
    assert a.shape == (150, 200, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() > 3  # not a flat colour


def test_outdoor_horizon_follows_the_camera(camera):
    image = make_background(BackgroundSpec("outdoor", 3), camera, far=5.0).astype(float)
    # the camera looks down a little: the horizon is above the centre; sky above, ground below
    top, bottom = image[:10].mean(axis=(0, 1)), image[-10:].mean(axis=(0, 1))
    assert top[2] > top[1] * 0.9  # bluish or pale sky
    assert not np.allclose(top, bottom, atol=10)


def test_folder_backgrounds(tmp_path, camera):
    import cv2

    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "red.png"), np.full((300, 500, 3), (0, 0, 255), np.uint8))
    cv2.imwrite(str(tmp_path / "sub" / "green.jpg"), np.full((90, 60, 3), (0, 255, 0), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    images = list_images(tmp_path)
    assert [p.name for p in images] == ["red.png", "green.jpg"]
    red = make_background(BackgroundSpec("folder", 1, image=0), camera, 5.0, images)
    green = make_background(BackgroundSpec("folder", 1, image=1), camera, 5.0, images)
    assert red.shape == (150, 200, 3)
    assert np.all(red[..., 0] > 240) and np.all(green[..., 1] > 240)
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")
