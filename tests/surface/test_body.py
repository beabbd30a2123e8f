"""Body models behind one interface: Anny (default) and SMPL from a user's model file."""

import numpy as np
import pytest
from scipy.io import savemat
from scipy.spatial.transform import Rotation

from annotator.surface.atlas import Atlas
from annotator.surface.atlas_builder import atlas_from_uv_processed, build_atlas
from annotator.surface.body import JOINT_NAMES, AnnyBody, SmplBody, load_body_model
from annotator.surface.meshutil import signed_uv_areas, uv_overlaps
from annotator.surface.parts import FINE_TO_COARSE

from .smpl_file import write_smpl_file


@pytest.fixture(scope="module")
def smpl_path(tmp_path_factory):
    return write_smpl_file(tmp_path_factory.mktemp("smpl") / "SMPL_TEST.pkl")


def test_smpl_file_loads_through_smplx_and_poses(smpl_path):
    body = SmplBody(smpl_path)
    rest = body.rest_mesh()
    assert rest.vertices.shape[1] == 3 and rest.skin.all()
    assert np.allclose(rest.group_weights[:, 1:].sum(axis=1), 1.0)
    frame = rest.frame
    # SMPL's axes: Y up, the person's left is +X.
    assert frame.joints["head"][1] > frame.joints["pelvis"][1]
    assert frame.joints["left_shoulder"][0] > frame.joints["right_shoulder"][0]
    bent = Rotation.from_euler("x", [-90], degrees=True).as_matrix()
    posed = body.pose({"left_knee": bent})
    rest_pose = body.pose()
    knee, ankle = JOINT_NAMES.index("left_knee"), JOINT_NAMES.index("left_ankle")
    assert np.allclose(posed.joints[0, knee], rest_pose.joints[0, knee], atol=1e-5)
    assert np.linalg.norm(posed.joints[0, ankle] - rest_pose.joints[0, ankle]) > 0.2
    assert posed.keypoints.shape == (1, 17, 3)
    assert body.pose(shape=np.ones(10)).vertices.shape == rest_pose.vertices.shape


def test_smpl_atlas_is_built_like_annys(smpl_path):
    rest = SmplBody(smpl_path).rest_mesh()
    arrays, stats = build_atlas(rest, "smpl")
    atlas = Atlas(arrays)
    assert set(np.unique(atlas.face_chart)) == set(range(1, 25))
    for chart in range(1, 25):
        uv = atlas.face_uv[atlas.chart_faces(chart)]
        assert (signed_uv_areas(uv) > 0).all() and len(uv_overlaps(uv)) == 0, chart
    assert all(s.flipped == 0 for s in stats)


def test_official_uv_processed_file_is_used_as_is(smpl_path, tmp_path):
    rest = SmplBody(smpl_path).rest_mesh()
    ours = Atlas(build_atlas(rest, "smpl")[0])
    # Write our charts in DensePose's UV_Processed.mat layout: vertices split along chart
    # seams, 1-based indices, one (U, V) per split vertex.
    corner_vertex = ours.model_vertex_ids[ours.faces]
    keys = np.stack([corner_vertex.ravel(), np.repeat(ours.face_chart, 3)], axis=1)
    uv = ours.face_uv.reshape(-1, 2)
    # One split vertex per (SMPL vertex, chart, uv) so that texture seams stay seams.
    table = np.concatenate([keys, np.round(uv * 1e6)], axis=1)
    unique, inverse = np.unique(table, axis=0, return_inverse=True)
    first = np.zeros(len(unique), np.int64)
    first[inverse.ravel()] = np.arange(len(table))
    mat = tmp_path / "UV_Processed.mat"
    savemat(
        mat,
        {
            "All_vertices": (unique[:, 0] + 1)[None, :],
            "All_Faces": inverse.reshape(-1, 3) + 1,
            "All_FaceIndices": ours.face_chart[:, None],
            "All_U_norm": uv[first, 0][:, None],
            "All_V_norm": uv[first, 1][:, None],
        },
    )
    official = Atlas(atlas_from_uv_processed(mat, rest))
    assert (official.face_chart == ours.face_chart).all()
    assert np.allclose(official.face_uv, ours.face_uv, atol=1e-6)
    assert np.allclose(
        official.rest_vertices[official.faces], ours.rest_vertices[ours.faces], atol=1e-6
    )
    with pytest.raises(ValueError, match="UV_Processed"):
        atlas_from_uv_processed(tmp_path / "missing.mat", rest)


def test_a_missing_smpl_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="SMPL model file not found"):
        SmplBody(tmp_path / "nope.pkl")
    with pytest.raises(ValueError, match="needs its model file"):
        load_body_model("smpl")
    with pytest.raises(ValueError, match="unknown body model"):
        load_body_model("mannequin")


@pytest.mark.slow
def test_anny_is_the_default_and_rebuilds_the_shipped_atlas(tmp_path):
    """Anny's first build on a machine takes minutes (then it is cached by the anny package)."""
    body = load_body_model()
    assert isinstance(body, AnnyBody)
    rest = body.rest_mesh()
    assert rest.vertices.shape == (13718, 3) and rest.faces.shape == (27420, 3)
    height = np.ptp(rest.vertices @ rest.frame.up)
    assert 1.5 < height < 1.8
    # Eyes, mouth cavity and tongue are not skin.
    assert 24000 < rest.skin.sum() < 25000
    from annotator.surface.atlas import atlas_path
    from annotator.surface.atlas_builder import save_atlas

    arrays, _ = build_atlas(rest, "anny")
    save_atlas(arrays, tmp_path / "anny.npz")
    assert (tmp_path / "anny.npz").read_bytes() == atlas_path("anny").read_bytes()
    posed = body.pose({"left_elbow": Rotation.from_euler("z", [60], degrees=True).as_matrix()})
    wrist = JOINT_NAMES.index("left_wrist")
    assert np.linalg.norm(posed.joints[0, wrist] - body.pose().joints[0, wrist]) > 0.1
    assert (FINE_TO_COARSE[Atlas(arrays).face_chart] > 0).all()
