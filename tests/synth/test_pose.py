"""The pose sampler: joint limits, presets, determinism, and the meaning of each angle."""

import numpy as np
import pytest

from annotator.surface.body import JOINT_NAMES
from annotator.synth.pose import PRESETS, Pose, dof_limits, pose_rotations, sample_pose


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_stays_within_joint_limits(preset):
    rng = np.random.default_rng(0)
    for _ in range(50):
        pose = sample_pose(rng, preset)
        assert pose.preset == preset
        for name, value in pose.angles.items():
            lo, hi = dof_limits(name)
            assert lo <= value <= hi, (name, value)


def test_same_seed_same_pose_and_json_round_trip():
    a = sample_pose(np.random.default_rng(5))
    b = sample_pose(np.random.default_rng(5))
    assert a == b
    assert Pose.from_json(a.to_json()).angles == pytest.approx(a.angles, abs=1e-3)
    with pytest.raises(ValueError, match="unknown pose preset"):
        sample_pose(np.random.default_rng(0), "moonwalk")


def test_presets_are_all_drawn_by_default():
    rng = np.random.default_rng(1)
    drawn = {sample_pose(rng).preset for _ in range(400)}
    assert drawn == set(PRESETS)


@pytest.fixture(scope="module")
def pose_joints(synth_body):
    """Posed joints and vertices (canonical axes) for a dict of angles."""

    def run(angles):
        posed = synth_body.pose([Pose("test", angles)], [{}])
        joints = {n: posed.joints[0, i] for i, n in enumerate(JOINT_NAMES)}
        return joints, posed.vertices[0]

    return run


def _moved(before, after):
    return after - before


@pytest.mark.slow
def test_angles_mean_what_the_docstring_says(pose_joints, synth_body):
    """Canonical axes: x = the person's left, y = up, z = forward."""
    rest, rest_v = pose_joints({})
    left_toe = np.argmax(
        np.where(
            (rest_v[:, 0] > 0.05) & (rest_v[:, 1] < rest_v[:, 1].min() + 0.1), rest_v[:, 2], -9
        )
    )

    def joint(angles, name, ref=None):
        joints, _ = pose_joints(angles)
        return joints[name] - (rest[name] if ref is None else joints[ref])

    # knee flexion bends the knee backwards: the ankle goes back and up
    d = joint({"left_knee.flex": 40}, "left_ankle")
    assert d[2] < -0.1 and d[1] > 0.05
    # hip flexion brings the thigh forward; abduction moves each knee away from the midline
    assert joint({"left_hip.flex": 40}, "left_knee")[2] > 0.1
    assert joint({"right_hip.flex": 40}, "right_knee")[2] > 0.1
    assert joint({"left_hip.abd": 30}, "left_knee")[0] > 0.1
    assert joint({"right_hip.abd": 30}, "right_knee")[0] < -0.1
    # spine: flexion forward, bend to the person's left, twist turns the left shoulder back
    assert joint({"spine.flex": 30}, "head")[2] > 0.1
    assert joint({"spine.bend": 30}, "head")[0] > 0.1
    assert joint({"spine.twist": 30}, "left_shoulder")[2] < -0.05
    # ankle dorsiflexion lifts the toes; external hip rotation turns them outward
    _, v = pose_joints({"left_ankle.flex": 20})
    assert v[left_toe, 1] - rest_v[left_toe, 1] > 0.03
    _, v = pose_joints({"left_hip.rot": 40})
    assert v[left_toe, 0] - rest_v[left_toe, 0] > 0.05
    # shoulder: elevation 90 in plane 0 is sideways, plane 90 forward, 180 straight up
    arm = {"left_shoulder.elev": 90, "left_shoulder.plane": 0}
    assert joint(arm, "left_elbow", "left_shoulder") == pytest.approx([0.25, 0, 0], abs=0.02)
    arm = {"left_shoulder.elev": 90, "left_shoulder.plane": 90}
    assert joint(arm, "left_elbow", "left_shoulder") == pytest.approx([0, 0, 0.25], abs=0.02)
    up = joint({"right_shoulder.elev": 180}, "right_elbow", "right_shoulder")
    assert up == pytest.approx([0, 0.25, 0], abs=0.02)
    # elbow flexion 90 with the arm hanging: the forearm points forward; 0 is straight
    hang = {"left_shoulder.elev": 12, "left_elbow.flex": 90}
    fore = joint(hang, "left_wrist", "left_elbow")
    assert fore[2] > 0.2 and abs(fore[1]) < 0.03
    upper = joint({"left_shoulder.elev": 12, "left_elbow.flex": 0}, "left_elbow", "left_shoulder")
    fore = joint({"left_shoulder.elev": 12, "left_elbow.flex": 0}, "left_wrist", "left_elbow")
    cos = upper @ fore / np.linalg.norm(upper) / np.linalg.norm(fore)
    assert cos > 0.99
    # external shoulder rotation swings the bent forearm outward, on both sides
    for side, sign in (("left", 1), ("right", -1)):
        bent = {f"{side}_shoulder.elev": 12, f"{side}_elbow.flex": 90}
        turned = bent | {f"{side}_shoulder.twist": 40}
        d = joint(turned, f"{side}_wrist") - joint(bent, f"{side}_wrist")
        assert sign * d[0] > 0.1


@pytest.mark.slow
def test_rotations_are_proper_and_batched(synth_body):
    rng = np.random.default_rng(3)
    poses = [sample_pose(rng) for _ in range(5)]
    rotations = pose_rotations(poses, synth_body.skeleton)
    for name, rot in rotations.items():
        assert rot.shape == (5, 3, 3), name
        assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-9)
        assert np.allclose(np.linalg.det(rot), 1.0)
