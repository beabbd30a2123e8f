"""Shared fixtures: one body model per test session (building Anny takes minutes on a fresh
machine, about a second once cached), renderers at a small image size."""

from __future__ import annotations

import pytest

SIZE = 256


@pytest.fixture(scope="session")
def synth_body():
    from annotator.synth.people import SynthBody

    return SynthBody()


@pytest.fixture(scope="module")
def scene_renderer(synth_body):
    from annotator.synth.render_scene import SceneRenderer

    with SceneRenderer(SIZE, SIZE, body=synth_body) as renderer:
        yield renderer
