"""Scene sampling: deterministic per (seed, image), within the asked ranges, JSON-able."""

import json

import numpy as np
import pytest

from annotator.synth.scene import sample_scene


def test_image_k_of_seed_s_is_always_the_same():
    a = sample_scene(3, 17).to_json()
    b = sample_scene(3, 17).to_json()
    assert a == b
    assert a != sample_scene(3, 18).to_json()
    assert a != sample_scene(4, 17).to_json()
    json.dumps(a)  # plain data


def test_people_count_and_sizes_follow_the_settings():
    counts = [len(sample_scene(0, k, people=(2, 3)).people) for k in range(60)]
    assert set(counts) == {2, 3}
    scene = sample_scene(0, 0, width=320, height=200, people=(1, 1))
    assert (scene.width, scene.height, len(scene.people)) == (320, 200, 1)
    with pytest.raises(ValueError):
        sample_scene(0, 0, people=(3, 2))


def test_backgrounds_come_from_the_folder_when_given():
    kinds = {sample_scene(1, k).background.kind for k in range(40)}
    assert kinds == {"room", "outdoor", "abstract"}
    scene = sample_scene(1, 0, n_folder_images=5)
    assert scene.background.kind == "folder" and 0 <= scene.background.image < 5


def test_phenotypes_are_in_range():
    rng_scenes = [sample_scene(2, k) for k in range(30)]
    for scene in rng_scenes:
        for person in scene.people:
            assert all(0.0 <= v <= 1.0 for v in person.shape.values())
            assert np.all((person.look.skin >= 0) & (person.look.skin <= 255))
