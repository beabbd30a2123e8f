"""The chart symmetry table against the atlas's own mirror, its round trip, its cache."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.io
import torch

from annotator.surface.parts import FLIP_FINE
from annotator.surface.points import SurfacePoints
from model.data.flip import FlipTable, cell_centres, flip_table_path, load_flip_table


def cell_grid() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(I, U, V) of every cell centre of every chart, ``[24 * 256 * 256]``, table order."""
    c = torch.tensor(cell_centres(), dtype=torch.float32)
    v, u = torch.meshgrid(c, c, indexing="ij")
    i = torch.arange(1, 25).repeat_interleave(256 * 256)
    return i, u.reshape(-1).repeat(24), v.reshape(-1).repeat(24)


def cell_scale(atlas, faces: np.ndarray) -> np.ndarray:
    """Metres on the body per unit of U or V, for each face (sqrt of the area ratio)."""
    tri = atlas.rest_vertices[atlas.faces[faces]]
    area3 = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    uv = atlas.face_uv[faces]
    e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    area2 = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    return np.sqrt(area3 / np.maximum(area2, 1e-20))


def test_the_flip_of_the_flip_is_the_identity_on_covered_cells(flip_table, atlas):
    i, u, v = cell_grid()
    covered = flip_table.covered.reshape(-1)
    i1, u1, v1 = flip_table.flip_points(i, u, v)
    i2, u2, v2 = flip_table.flip_points(i1, u1, v1)
    i, u, v, i2, u2, v2 = (t[covered] for t in (i, u, v, i2, u2, v2))
    off_cells = torch.maximum((u2 - u).abs(), (v2 - v).abs()) * 255
    # Back within one cell nearly everywhere (measured: 99.94 %); the rest lies along chart
    # cuts, where U = 0 and U = 1 are the same place on the body, or where the atlas
    # flattened the two sides differently (steep mirror map at a few chart borders).
    assert (i2 == i).float().mean() > 0.999
    assert (off_cells <= 1.0 + 1e-4).float().mean() > 0.999
    # On the body (every 5th cell): the same place, to within a cell (0.5 to 2 mm here).
    i, u, v, i2, u2, v2 = (t[::5].numpy() for t in (i, u, v, i2, u2, v2))
    start = atlas.positions(atlas.from_iuv(i, u, v))
    back = atlas.positions(atlas.from_iuv(i2, u2, v2))
    metres = np.linalg.norm(start - back, axis=1)
    assert np.median(metres) < 1e-4
    assert np.percentile(metres, 99.9) < 0.0025
    assert metres.max() < 0.03


def test_the_flipped_point_is_the_mirror_of_the_point(flip_table, atlas):
    rng = np.random.default_rng(7)
    n = 20000
    points = SurfacePoints(rng.integers(0, len(atlas.faces), n), rng.dirichlet([1, 1, 1], n))
    i, u, v = atlas.to_iuv(points)
    i2, u2, v2 = flip_table.flip_points(
        torch.from_numpy(i), torch.from_numpy(u).float(), torch.from_numpy(v).float()
    )
    got = atlas.positions(atlas.from_iuv(i2.numpy(), u2.numpy(), v2.numpy()))
    want = atlas.positions(atlas.mirror(points))
    # In cells of the point's own chart: a point sits up to half a cell from the centre the
    # table was computed at, so the look-up is off by up to about a cell (measured 99.5 %
    # within one cell, the worst 3 cells, at chart borders).
    cells = np.linalg.norm(got - want, axis=1) / (cell_scale(atlas, points.face) / 255)
    assert np.mean(cells <= 1.0) > 0.99
    assert cells.max() < 4.0
    im, _, _ = atlas.to_iuv(atlas.mirror(points))
    assert np.mean(i2.numpy() == im) > 0.999


def test_reference_form_always_answers_on_the_mirror_chart(flip_table):
    i, u, v = cell_grid()
    exact = flip_table.flip_points(i, u, v)
    ref = flip_table.flip_points(i, u, v, exact=False)
    assert torch.equal(ref[0], torch.as_tensor(FLIP_FINE)[i])
    same_chart = exact[0] == ref[0]
    assert same_chart.float().mean() > 0.99  # charts are mirror images but for 0.3 % of skin
    assert torch.equal(exact[1][same_chart], ref[1][same_chart])
    assert torch.equal(exact[2][same_chart], ref[2][same_chart])


def test_uncovered_cells_take_the_nearest_covered_value(flip_table):
    covered = flip_table.covered[2]  # right hand: a texture chart, 39 % of its square
    assert 0.3 < covered.float().mean() < 0.5
    rows, cols = torch.nonzero(~covered, as_tuple=True)
    k = len(rows) // 2
    r, c = int(rows[k]), int(cols[k])
    on_r, on_c = torch.nonzero(covered, as_tuple=True)
    nearest = torch.argmin((on_r - r) ** 2 + (on_c - c) ** 2)
    assert flip_table.exact_u[2, r, c] == flip_table.exact_u[2, on_r[nearest], on_c[nearest]]


def test_bad_charts_are_refused(flip_table):
    with pytest.raises(ValueError, match=r"1\.\.24"):
        flip_table.flip_points(torch.tensor([0]), torch.tensor([0.5]), torch.tensor([0.5]))


def test_flipping_maps_agrees_with_flipping_points(flip_table):
    rng = np.random.default_rng(3)
    n, h, w = 2, 6, 9
    labels = torch.from_numpy(rng.integers(0, 25, (n, h, w)))
    fine_segm = torch.nn.functional.one_hot(labels, 25).permute(0, 3, 1, 2).float()
    u = torch.from_numpy(rng.uniform(0, 1, (n, 25, h, w))).float()
    v = torch.from_numpy(rng.uniform(0, 1, (n, 25, h, w))).float()
    segm2, u2, v2 = flip_table.flip_maps(fine_segm, u, v)
    mirrored = labels.flip(-1)
    assert torch.equal(segm2.argmax(1), torch.as_tensor(FLIP_FINE)[mirrored])
    for b in range(n):  # each pixel's winning chart: U, V as the points' reference flip
        on = mirrored[b] > 0
        src = mirrored[b][on]
        uu = u[b].flip(-1)[src, on]
        vv = v[b].flip(-1)[src, on]
        new_i, new_u, new_v = flip_table.flip_points(src, uu, vv, exact=False)
        assert torch.equal(u2[b][new_i, on], new_u)
        assert torch.equal(v2[b][new_i, on], new_v)


def test_flipping_label_maps_twice_comes_back(flip_table):
    rng = np.random.default_rng(4)
    labels = torch.from_numpy(rng.integers(0, 25, (20, 30)))
    c = torch.tensor(cell_centres(), dtype=torch.float32)
    uv = torch.stack([c[rng.integers(0, 256, (20, 30))], c[rng.integers(0, 256, (20, 30))]])
    uv[:, labels == 0] = 0
    chart = (labels - 1).clamp(min=0)
    on_chart = flip_table.covered[chart, (uv[1] * 255).long(), (uv[0] * 255).long()]
    on_chart &= labels > 0
    once = flip_table.flip_labels(labels, uv)
    back_labels, back_uv = flip_table.flip_labels(*once)
    assert torch.equal(back_labels == 0, labels == 0)
    agree = (back_labels == labels) & on_chart
    assert agree.sum() >= 0.98 * on_chart.sum()
    err = (back_uv - uv).abs().amax(0)[agree] * 255
    assert np.mean(err.numpy() <= 1.0 + 1e-4) > 0.98


def test_the_table_is_cached_on_disk_and_rebuilt_when_damaged(atlas, tmp_path, caplog):
    first = load_flip_table(atlas, cache_dir=tmp_path)
    path = flip_table_path(atlas, tmp_path)
    assert path.is_file() and first.source == str(path)
    again = load_flip_table(atlas, cache_dir=tmp_path)
    assert torch.equal(again.exact_u, first.exact_u) and torch.equal(again.v, first.v)
    path.write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING):
        rebuilt = load_flip_table(atlas, cache_dir=tmp_path)
    assert "damaged" in caplog.text
    assert torch.equal(rebuilt.exact_chart, first.exact_chart)


def test_the_cache_key_follows_the_charts(atlas, tmp_path):
    from annotator.surface.atlas import Atlas

    arrays = {
        "body": atlas.body, "fingerprint": atlas.fingerprint,
        "rest_vertices": atlas.rest_vertices, "faces": atlas.faces,
        "face_chart": atlas.face_chart, "face_uv": atlas.face_uv.copy(),
        "model_vertex_ids": atlas.model_vertex_ids, "frame": atlas.frame,
    }  # fmt: skip
    arrays["face_uv"][0, 0, 0] += 0.01
    assert flip_table_path(Atlas(arrays), tmp_path) != flip_table_path(atlas, tmp_path)


def test_the_reference_mat_file_is_read(tmp_path, flip_table):
    cells = np.empty((1, 24), dtype=object)
    cells_v = np.empty((1, 24), dtype=object)
    for k in range(24):
        cells[0, k] = flip_table.u[k].double().numpy()
        cells_v[0, k] = flip_table.v[k].double().numpy()
    path = tmp_path / "UV_symmetry_transforms.mat"
    scipy.io.savemat(path, {"U_transforms": cells, "V_transforms": cells_v})
    table = FlipTable.from_reference_mat(path)
    assert torch.equal(table.u, flip_table.u) and torch.equal(table.exact_v, flip_table.v)
    i, u, _ = table.flip_points(
        torch.tensor([3, 7]), torch.tensor([0.2, 0.5]), torch.tensor([0.3, 0.9])
    )
    assert i.tolist() == [4, 8]
    assert u.tolist() == [flip_table.u[2, 76, 51].item(), flip_table.u[6, 229, 127].item()]
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"something": np.zeros(3)})
    with pytest.raises(ValueError, match=r"bad\.mat.*U_transforms"):
        FlipTable.from_reference_mat(bad)
