"""A stand-in for an SMPL atlas of the official DensePose charts.

The real one is built from the user's SMPL model file and DensePose's ``UV_Processed.mat``,
neither of which may be redistributed, so no test machine has it. What the studio checks of
it is its identity: an SMPL atlas whose charts all come from ``UV_Processed.mat`` (their
method says "densepose"). The stand-in is the shipped Anny atlas under that identity: the
code paths that need official charts (answers of a zoo model's pre-annotation) run on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from annotator.surface.atlas import ASSET_DIR, load_atlas
from annotator.surface.atlas_builder import save_atlas


def write_official_standin(data_dir: Path) -> Path:
    """Write the stand-in as the user's SMPL atlas in ``data_dir`` (DPSTUDIO_DATA_DIR)."""
    with np.load(ASSET_DIR / "anny.npz") as shipped:
        arrays = {k: shipped[k] for k in shipped.files}
    arrays["body"] = np.array("smpl")
    stats = json.loads(str(arrays["stats"]))
    for chart in stats:
        chart["method"] = "densepose"
    arrays["stats"] = np.array(json.dumps(stats))
    path = data_dir / "atlas" / "smpl.npz"
    save_atlas(arrays, path)
    load_atlas.cache_clear()
    return path
