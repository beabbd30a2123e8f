"""The real atlas and geodesic table (the table is cached; tests wait on its lock file)."""

from __future__ import annotations

import pytest

from annotator.surface.atlas import Atlas, load_atlas
from annotator.surface.geodesic import Geodesics


@pytest.fixture(scope="session")
def atlas() -> Atlas:
    return load_atlas()


@pytest.fixture(scope="session")
def geodesics(atlas: Atlas) -> Geodesics:
    return Geodesics.load_or_build(atlas)
