"""Build a body model's chart atlas (run by scripts/build_atlas.py; output in assets/atlas/).

The atlas is what the rest of the tool needs of a body: the skin mesh at rest, every skin
face's chart (1..24), and each face corner's (U, V). It is deterministic for a given body
model version, and committed, so users need no build step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from annotator.surface.atlas import ChartStats
from annotator.surface.body import RestMesh
from annotator.surface.meshutil import signed_uv_areas, uv_overlaps
from annotator.surface.parametrize import distortion, parametrize_chart
from annotator.surface.parts import FINE_TO_COARSE, N_FINE
from annotator.surface.segmentation import _LIMBS, segment

#: Bump when the atlas layout or the way it is built changes.
ATLAS_FORMAT = 1

#: Coarse parts flattened with the model's own texture layout when it has one.
_TEXTURE_PARTS = (2, 3, 4, 5, 14)


def stored_vertices(vertices: np.ndarray) -> np.ndarray:
    """Rest vertices as the atlas stores them: float32 of metres rounded to 0.1 micrometre.

    The body model's rest mesh varies in the last bits between machines (Anny's data built
    fresh put 40 midline coordinates of magnitude 1e-17 elsewhere than the shipped file);
    rounding, and adding zero to turn -0.0 into 0.0, makes the file the same bytes everywhere.
    """
    return (np.round(np.asarray(vertices, dtype=np.float64), 7) + 0.0).astype(np.float32)


def _chart_axis(rest: RestMesh, chart: int, points: np.ndarray) -> np.ndarray:
    """Direction V should follow on a chart, in model coordinates."""
    part = int(FINE_TO_COARSE[chart])
    joints = rest.frame.joints
    if part in _LIMBS:
        proximal, distal, _ = _LIMBS[part]
        axis = joints[distal] - joints[proximal]
    elif part in (2, 3, 4, 5):  # hands and feet: from the joint to the part's centre
        joint = {2: "right_wrist", 3: "left_wrist", 4: "left_ankle", 5: "right_ankle"}[part]
        axis = points.mean(axis=0) - joints[joint]
    else:
        axis = rest.frame.up
    return axis / np.linalg.norm(axis)


def build_atlas(rest: RestMesh, body: str) -> tuple[dict[str, np.ndarray], list[ChartStats]]:
    """Segment and flatten the skin of ``rest``.

    Returns:
        The atlas arrays (see :class:`annotator.surface.atlas.Atlas` for their meaning) and
        the quality of every chart.
    """
    skin_faces = rest.faces[rest.skin]
    model_ids, local = np.unique(skin_faces, return_inverse=True)
    faces = local.reshape(-1, 3)
    vertices = rest.vertices[model_ids]
    fixed = rest.fixed_parts[rest.skin]
    _, fine = segment(vertices, faces, rest.group_weights[model_ids], fixed, rest.frame)

    face_uv = np.zeros((len(faces), 3, 2))
    stats = []
    for chart in range(1, N_FINE + 1):
        sel = np.flatnonzero(fine == chart)
        if len(sel) == 0:
            raise RuntimeError(f"chart {chart} got no faces: the segmentation failed")
        texture = None
        if rest.texture_uv is not None and int(FINE_TO_COARSE[chart]) in _TEXTURE_PARTS:
            tex_ids = rest.face_texture[rest.skin][sel]  # type: ignore[index]
            texture = (rest.texture_uv[tex_ids], tex_ids)
        axis = _chart_axis(rest, chart, vertices[faces[sel]].reshape(-1, 3))
        face_uv[sel], chart_stats = parametrize_chart(chart, vertices, faces[sel], axis, texture)
        stats.append(chart_stats)
    arrays = {
        "format": np.array(ATLAS_FORMAT),
        "body": np.array(body),
        "fingerprint": np.array(rest.fingerprint),
        "model_vertex_ids": model_ids.astype(np.int32),
        "rest_vertices": stored_vertices(vertices),
        "faces": faces.astype(np.int32),
        "face_chart": fine.astype(np.uint8),
        "face_uv": face_uv.astype(np.float32),
        "frame": np.stack([rest.frame.left, rest.frame.up, rest.frame.forward]).astype(np.float32),
        "stats": np.array(json.dumps([s.as_dict() for s in stats])),
    }
    return arrays, stats


def save_atlas(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write atlas arrays to ``path`` (.npz, compressed, byte-for-byte reproducible)."""
    import io
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # np.savez stamps the current time into the zip; write entries with a fixed date instead.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            item = io.BytesIO()
            np.lib.format.write_array(item, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, item.getvalue())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def atlas_from_uv_processed(mat_file: Path, rest: RestMesh) -> dict[str, np.ndarray]:
    """The official DensePose charts of SMPL, from ``UV_Processed.mat``.

    That file describes SMPL cut along the chart seams: 7829 vertices (``All_vertices``,
    1-based SMPL vertex ids), 13774 faces (``All_Faces``, 1-based), each face's chart
    (``All_FaceIndices``) and each vertex's (U, V) (``All_U_norm``, ``All_V_norm``). Exported
    data then match the official DensePose-COCO charts.
    """
    from scipy.io import loadmat

    try:
        mat = loadmat(str(mat_file))
        vertex_ids = np.asarray(mat["All_vertices"]).ravel().astype(np.int64) - 1
        faces = np.asarray(mat["All_Faces"]).astype(np.int64) - 1
        charts = np.asarray(mat["All_FaceIndices"]).ravel().astype(np.int64)
        uv = np.stack(
            [np.asarray(mat["All_U_norm"]).ravel(), np.asarray(mat["All_V_norm"]).ravel()], axis=1
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{mat_file}: not DensePose's UV_Processed.mat ({exc})") from exc
    if vertex_ids.max() >= len(rest.vertices) or vertex_ids.min() < 0:
        raise ValueError(
            f"{mat_file}: refers to SMPL vertex {vertex_ids.max() + 1} but the model has "
            f"{len(rest.vertices)} vertices: it does not belong to this body model"
        )
    vertices = rest.vertices[vertex_ids]
    face_uv = uv[faces]
    stats = []
    for chart in range(1, N_FINE + 1):
        sel = charts == chart
        d = distortion(vertices, faces[sel], face_uv[sel])
        stats.append(
            ChartStats(
                chart=chart,
                method="densepose",
                faces=int(sel.sum()),
                islands=0,
                fill=float(np.abs(signed_uv_areas(face_uv[sel])).sum()),
                flipped=int(d["flipped"]),
                overlaps=len(uv_overlaps(face_uv[sel])),
                angle_distortion=d["angle_distortion"],
                angle_distortion_p95=d["angle_distortion_p95"],
                area_distortion=d["area_distortion"],
                slivers=int(d["slivers"]),
                area_m2=d["area_m2"],
            )
        )
    return {
        "format": np.array(ATLAS_FORMAT),
        "body": np.array("smpl"),
        "fingerprint": np.array(rest.fingerprint),
        "model_vertex_ids": vertex_ids.astype(np.int32),
        "rest_vertices": stored_vertices(vertices),
        "faces": faces.astype(np.int32),
        "face_chart": charts.astype(np.uint8),
        "face_uv": face_uv.astype(np.float32),
        "frame": np.stack([rest.frame.left, rest.frame.up, rest.frame.forward]).astype(np.float32),
        "stats": np.array(json.dumps([s.as_dict() for s in stats])),
    }


def build_for_body(
    body: str,
    out: Path,
    smpl_model: str | None = None,
    uv_processed: str | None = None,
) -> list[dict[str, float | int | str]]:
    """Build the atlas of ``body`` and write it to ``out``; returns the per-chart stats."""
    from annotator.surface.body import load_body_model

    model = load_body_model(body, smpl_model)
    rest = model.rest_mesh()
    if uv_processed:
        if body != "smpl":
            raise ValueError("UV_Processed.mat describes SMPL: use it with --body smpl")
        arrays = atlas_from_uv_processed(Path(uv_processed), rest)
    else:
        arrays, _ = build_atlas(rest, body)
    save_atlas(arrays, out)
    return json.loads(str(arrays["stats"]))
