"""Horizontal flip of DensePose charts: where the mirror image of a point (I, U, V) lands.

Flipping an image left/right turns a person's left side into a right side: a point on chart
I at (U, V) becomes the mirror point of the body, on chart I' (``FLIP_FINE[I]``: 3 <-> 4,
5 <-> 6, ...) at some (U', V') that depends on how the atlas flattened both charts. So it
comes from the atlas, as a table indexed like detectron2's ``UV_symmetry_transforms.mat``::

    U' = table.u[I - 1, v_loc, u_loc],  V' = table.v[I - 1, v_loc, u_loc]
    u_loc = int(U * 255),  v_loc = int(V * 255)      (truncation, as the reference)

Cell ``k`` of an axis thus holds the values in ``[k / 255, (k + 1) / 255)`` (cell 255 only
1.0); the table stores the mirror of the cell's centre ``min((k + 0.5) / 255, 1)``, so that a
truncating look-up is off by at most half a cell.

Two forms (:class:`FlipTable`): the *reference form* always answers on chart
``FLIP_FINE[I]``, as the reference does; the *exact form* also says which chart the mirror
really lies on. They differ on 0.3 % of the Anny skin, along the front/back cuts of the
torso and legs, which the atlas did not place symmetrically: there the mirror of a point of
chart 9 (right upper leg front) can lie on chart 8 (left upper leg *back*). Training flips
use the exact form (the label of the mirrored pixel is then the true one); per-chart maps
can only be flipped in the reference form.

How the table is built from an atlas: :mod:`model.data.flip_build`.

Accuracy (tests/model/data/test_flip.py): the flip of the flip comes back within one cell on
99.94 % of covered cells (0.01 mm median, 1.8 mm at the 99.9th percentile, on the body); a
random surface point's flip is within one cell of ``Atlas.mirror`` for 99.5 % of points.

The official DensePose-COCO annotations use SMPL's charts, not ours: flipping them needs the
reference ``UV_symmetry_transforms.mat`` (:meth:`FlipTable.from_reference_mat`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from annotator.surface.atlas import Atlas
from annotator.surface.parts import FLIP_FINE, N_FINE

log = logging.getLogger(__name__)

#: Cells per axis of a chart's table (the reference's 256 x 256).
GRID = 256
#: Bump when the way the table is built changes: cached tables of older versions are ignored.
TABLE_VERSION = 1

_FLIP_FINE_T = torch.as_tensor(FLIP_FINE)


def cell_centres() -> np.ndarray:
    """``[256]`` the (U or V) value each table cell stands for: ``min((k + 0.5) / 255, 1)``."""
    return np.minimum((np.arange(GRID) + 0.5) / 255.0, 1.0)


@dataclass(frozen=True)
class FlipTable:
    """The mirror of every cell of every chart, in two forms.

    * exact: the chart the mirror point lies on and its (U, V) there (``exact_*``);
    * reference form: (U', V') on chart ``FLIP_FINE[I]`` always (``u``, ``v``), the closest
      point of that chart where the mirror lies just across its border. Per-chart maps
      (``[N, 25, H, W]``) can only be flipped this way: a channel moves as a whole.

    Both equal where the atlas's charts are mirror images of each other (all but 0.3 % of
    the Anny skin; the rest lies along the torso's and the legs' front/back cuts).

    Attributes:
        u: ``[24, 256, 256]`` float32 U' on chart ``FLIP_FINE[I]``, indexed ``[I - 1, v, u]``.
        v: ``[24, 256, 256]`` float32 V', same indexing.
        exact_chart: ``[24, 256, 256]`` int64 chart 1..24 of the mirror point.
        exact_u: ``[24, 256, 256]`` float32 U of the mirror point on ``exact_chart``.
        exact_v: ``[24, 256, 256]`` float32 V of the mirror point on ``exact_chart``.
        covered: ``[24, 256, 256]`` bool, cells whose centre lies on chart I (all True for a
            reference table, which does not say).
        source: where the table comes from (atlas file or .mat file), for messages.
    """

    u: torch.Tensor
    v: torch.Tensor
    exact_chart: torch.Tensor
    exact_u: torch.Tensor
    exact_v: torch.Tensor
    covered: torch.Tensor
    source: str = "<memory>"

    def __post_init__(self) -> None:
        shape = (N_FINE, GRID, GRID)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor) and tuple(value.shape) != shape:
                raise ValueError(
                    f"{self.source}: flip table {f.name} must be {list(shape)}, "
                    f"got {list(value.shape)}"
                )

    def flip_points(
        self, i: torch.Tensor, u: torch.Tensor, v: torch.Tensor, *, exact: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The mirror (I', U', V') of points.

        Args:
            i: ``[P]`` int64 charts 1..24.
            u, v: ``[P]`` floats in [0, 1].
            exact: the chart the mirror lies on (True), or always ``FLIP_FINE[I]`` as the
                reference does (False).
        """
        if len(i) == 0:
            return i.clone(), u.clone(), v.clone()
        cpu = i.device.type == "cpu"  # numpy: single-threaded, 50 times faster on a busy CPU
        low, high = (int(i.numpy().min()), int(i.numpy().max())) if cpu else (i.min(), i.max())
        if low < 1 or high > N_FINE:
            raise ValueError(f"chart index I must be in 1..{N_FINE} to be flipped")
        tables = (self.exact_u, self.exact_v) if exact else (self.u, self.v)
        if cpu:
            cell = _cells(i.numpy(), u.numpy(), v.numpy())
            new_i = self.exact_chart.numpy().ravel()[cell] if exact else FLIP_FINE[i.numpy()]
            new_u, new_v = (t.numpy().ravel()[cell] for t in tables)
            return (
                torch.from_numpy(new_i.astype(np.int64)).to(i.dtype),
                torch.from_numpy(new_u).to(u.dtype),
                torch.from_numpy(new_v).to(v.dtype),
            )
        u_loc = (u * 255).long().clamp(0, GRID - 1)
        v_loc = (v * 255).long().clamp(0, GRID - 1)
        chart = (i - 1).long()
        if exact:
            new_i = self.exact_chart.to(i.device)[chart, v_loc, u_loc].to(i.dtype)
        else:
            new_i = _FLIP_FINE_T.to(i.device)[i].to(i.dtype)
        return (
            new_i,
            tables[0].to(u.device)[chart, v_loc, u_loc].to(u.dtype),
            tables[1].to(v.device)[chart, v_loc, u_loc].to(v.dtype),
        )

    def flip_maps(
        self, fine_segm: torch.Tensor, u: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-chart maps of a mirrored image, brought back to the unmirrored image.

        For test-time flip: run the model on the mirrored image, then undo the mirror on its
        outputs: columns reversed, chart channels swapped, and each chart's U, V through the
        reference-form table (channel c is looked up in chart c's table and becomes channel
        ``FLIP_FINE[c]``).

        Args:
            fine_segm: ``[N, 25, H, W]`` chart scores (channel 0 background).
            u, v: ``[N, 25, H, W]`` U, V per chart.

        Returns:
            The three maps, same shapes.
        """
        perm = _FLIP_FINE_T.to(fine_segm.device)
        segm = fine_segm.flip(-1)[:, perm]
        u_flip, v_flip = u.flip(-1).clamp(0, 1), v.flip(-1).clamp(0, 1)
        cell = (v_flip[:, 1:] * 255).long() * GRID + (u_flip[:, 1:] * 255).long()
        n, _, h, w = cell.shape
        flat = cell.permute(1, 0, 2, 3).reshape(N_FINE, -1)

        def lookup(table: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
            values = table.to(like.device).reshape(N_FINE, -1).gather(1, flat)
            out = like.clone()
            out[:, 1:] = values.reshape(N_FINE, n, h, w).permute(1, 0, 2, 3).to(like.dtype)
            return out[:, perm]

        return segm, lookup(self.u, u_flip), lookup(self.v, v_flip)

    def flip_labels(
        self, labels: torch.Tensor, uv: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Chart labels ``[H, W]`` (0..24) and ``uv [2, H, W]`` of a mirrored image, unmirrored
        (exact form: each pixel goes to the chart its mirror lies on)."""
        labels = labels.flip(-1)
        uv = uv.flip(-1).clone()
        on = labels > 0
        i, u, v = self.flip_points(labels[on].long(), uv[0][on], uv[1][on])
        out = torch.zeros_like(labels)
        out[on] = i.to(labels.dtype)
        uv[:, ~on] = 0
        uv[0][on], uv[1][on] = u, v
        return out, uv

    # -- on disk -----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed), so parallel builders never clash."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
        os.close(fd)
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays = {k: t.numpy() for k, t in arrays.items() if isinstance(t, torch.Tensor)}
        arrays["exact_chart"] = arrays["exact_chart"].astype(np.uint8)
        try:
            np.savez_compressed(temporary, version=np.array(TABLE_VERSION), **arrays)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> FlipTable:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"]) != TABLE_VERSION:
                raise ValueError(f"{path}: flip table version {int(data['version'])}")
            tensors = {k: torch.from_numpy(data[k]) for k in data.files if k != "version"}
        tensors["exact_chart"] = tensors["exact_chart"].long()
        return cls(**tensors, source=str(path))

    @classmethod
    def from_reference_mat(cls, path: str | Path) -> FlipTable:
        """detectron2's ``UV_symmetry_transforms.mat`` (SMPL charts: the official data's).

        Raises:
            ValueError: the file is not such a table (names the file and what is wrong).
        """
        from scipy.io import loadmat

        try:
            data = loadmat(str(path))
            u = np.stack([np.asarray(data["U_transforms"][0, k]) for k in range(N_FINE)])
            v = np.stack([np.asarray(data["V_transforms"][0, k]) for k in range(N_FINE)])
        except (OSError, KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"{path}: not a DensePose UV symmetry table (U_transforms, V_transforms of "
                f"24 x [256, 256]): {exc}"
            ) from exc
        u_t = torch.from_numpy(u.astype(np.float32))
        v_t = torch.from_numpy(v.astype(np.float32))
        shape = (N_FINE, GRID, GRID)
        chart = _FLIP_FINE_T[1:, None, None].expand(shape).clone()
        covered = torch.ones(shape, dtype=torch.bool)
        return cls(u_t, v_t, chart, u_t, v_t, covered, source=str(path))


def _cells(i: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Flat table index of points: ``(I - 1, int(V * 255), int(U * 255))``, truncating."""
    u_loc = np.clip((u * 255).astype(np.int64), 0, GRID - 1)
    v_loc = np.clip((v * 255).astype(np.int64), 0, GRID - 1)
    return (i.astype(np.int64) - 1) * (GRID * GRID) + v_loc * GRID + u_loc


# -- the cache -----------------------------------------------------------------------------


def flip_table_path(atlas: Atlas, cache_dir: Path) -> Path:
    """Cache file of ``atlas``'s table: keyed by its mesh *and* its charts."""
    digest = hashlib.sha1()
    digest.update(atlas.rest_vertices.astype(np.float32).tobytes())
    digest.update(atlas.faces.astype(np.int32).tobytes())
    digest.update(atlas.face_chart.astype(np.int8).tobytes())
    digest.update(atlas.face_uv.astype(np.float32).tobytes())
    name = f"{atlas.body}-v{TABLE_VERSION}-{digest.hexdigest()[:16]}.npz"
    return cache_dir / "flip" / name


def load_flip_table(atlas: Atlas | None = None, *, cache_dir: Path | None = None) -> FlipTable:
    """The flip table of ``atlas`` (default: Anny's), from the disk cache or built now.

    Args:
        atlas: the charts; default the shipped Anny atlas.
        cache_dir: cache folder; default :func:`annotator.paths.cache_dir`.
    """
    from annotator.paths import cache_dir as default_cache
    from annotator.surface.atlas import load_atlas

    atlas = atlas if atlas is not None else load_atlas("anny")
    path = flip_table_path(atlas, cache_dir if cache_dir is not None else default_cache())
    if path.is_file():
        try:
            return FlipTable.load(path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("flip table cache %s is damaged (%s): rebuilding it", path, exc)
    from model.data.flip_build import build_flip_table

    table = build_flip_table(atlas)
    table.save(path)
    return FlipTable.load(path)
