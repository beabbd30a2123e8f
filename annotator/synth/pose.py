"""Plausible random body poses from joint ranges, with named presets.

No pose data set is available, so poses are drawn from anatomical angles within joint limits.
A :class:`Pose` is a few named angles (degrees) and :func:`pose_rotations` turns a batch of
them into the local joint rotations that :meth:`annotator.surface.body.BodyModel.pose` takes.

Conventions (checked numerically in tests/synth/test_pose.py). Angles are in degrees and
anatomical, so that a value means the same on both sides of the body; the person's own left
and right. Canonical axes: x = the person's left, y = up, z = forward.

=====================  =====================================================================
DOF                    positive value
=====================  =====================================================================
spine / chest / neck   ``flex``: bend forward; ``bend``: bend towards the person's left;
/ head                 ``twist``: turn towards the person's left
hip                    ``flex``: thigh forward; ``abd``: thigh away from the midline;
                       ``rot``: external rotation (knee and toes turn outward)
knee                   ``flex``: knee bends (the shin goes back), 0 = straight
ankle                  ``flex``: dorsiflexion (toes up); negative = pointing the foot
collar                 ``raise``: shoulder up (shrug); ``forward``: shoulder forward
shoulder               ``elev``: arm's angle from hanging straight down (90 = horizontal,
                       180 = straight up); ``plane``: direction of the raise, 0 = sideways
                       in the frontal plane, 90 = straight forward, < 0 behind;
                       ``twist``: external rotation about the upper arm (forearm outward)
elbow                  ``flex``: total flexion, 0 = straight arm (Anny's rest pose has 42)
wrist                  ``flex``: palm-side flexion; ``dev``: bend towards the thumb
=====================  =====================================================================

The shoulder is a swing-twist joint: the rotation takes the rest upper-arm direction to the
direction given by (``elev``, ``plane``) along the shortest arc, then turns by ``twist``
about the new direction. Every other joint composes its rotations as
``R = R_flex @ R_abd_or_bend @ R_rot_or_twist`` (intrinsic: twist first).

Presets (:data:`PRESETS`): standing, walking, running, sitting (on a seat; the scene adds
one), sitting on the floor, crouching, arms raised, reaching, and "free" (every angle drawn
over its whole comfortable range, the least plausible). :func:`sample_pose` picks a preset
with :data:`PRESET_WEIGHTS` unless one is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

SIDES = ("left", "right")

#: Joint limits per DOF (degrees). Every sampled angle is clipped to these.
LIMITS: dict[str, tuple[float, float]] = {
    "spine.flex": (-25, 45),
    "spine.bend": (-25, 25),
    "spine.twist": (-35, 35),
    "chest.flex": (-15, 30),
    "chest.bend": (-15, 15),
    "chest.twist": (-25, 25),
    "neck.flex": (-30, 40),
    "neck.bend": (-25, 25),
    "neck.twist": (-45, 45),
    "head.flex": (-25, 30),
    "head.bend": (-15, 15),
    "head.twist": (-35, 35),
    "hip.flex": (-30, 125),
    "hip.abd": (-20, 45),
    "hip.rot": (-35, 45),
    "knee.flex": (0, 150),
    "ankle.flex": (-45, 25),
    "collar.raise": (-10, 30),
    "collar.forward": (-15, 20),
    "shoulder.elev": (12, 180),
    "shoulder.plane": (-40, 135),
    "shoulder.twist": (-70, 70),
    "elbow.flex": (0, 150),
    "wrist.flex": (-60, 70),
    "wrist.dev": (-20, 30),
}


def dof_limits(name: str) -> tuple[float, float]:
    """Limits of a DOF name, with or without its side (``left_knee.flex``)."""
    joint, _, dof = name.partition(".")
    base = joint.split("_", 1)[1] if joint.startswith(("left_", "right_")) else joint
    return LIMITS[f"{base}.{dof}"]


@dataclass
class Pose:
    """One body pose as anatomical angles.

    Attributes:
        preset: the preset it was drawn from.
        angles: DOF name (``"left_knee.flex"``, ``"spine.twist"``...) -> degrees; missing DOFs
            are 0 (the rest pose, except the elbow whose rest flexion is Anny's).
    """

    preset: str
    angles: dict[str, float] = field(default_factory=dict)

    def clipped(self) -> Pose:
        """The same pose with every angle inside its joint limits."""
        out = {}
        for name, value in self.angles.items():
            lo, hi = dof_limits(name)
            out[name] = float(np.clip(value, lo, hi))
        return Pose(self.preset, out)

    def to_json(self) -> dict[str, object]:
        return {"preset": self.preset, "angles": {k: round(v, 3) for k, v in self.angles.items()}}

    @staticmethod
    def from_json(data: dict[str, object]) -> Pose:
        angles = data.get("angles", {})
        assert isinstance(angles, dict)
        return Pose(str(data["preset"]), {str(k): float(v) for k, v in angles.items()})


# -- presets -----------------------------------------------------------------------------


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _n(rng: np.random.Generator, mean: float, sd: float) -> float:
    return float(rng.normal(mean, sd))


def _relaxed_torso(rng: np.random.Generator, a: dict[str, float], lean: float = 0.0) -> None:
    a["spine.flex"] = _n(rng, lean, 5)
    a["spine.bend"] = _n(rng, 0, 4)
    a["spine.twist"] = _n(rng, 0, 8)
    a["chest.flex"] = _n(rng, lean / 2, 4)
    a["chest.twist"] = _n(rng, 0, 6)
    a["neck.flex"] = _n(rng, 0, 10)
    a["neck.twist"] = _n(rng, 0, 15)
    a["neck.bend"] = _n(rng, 0, 6)
    a["head.flex"] = _n(rng, 0, 8)
    a["head.twist"] = _n(rng, 0, 12)


def _relaxed_arm(rng: np.random.Generator, a: dict[str, float], side: str) -> None:
    a[f"{side}_shoulder.elev"] = _u(rng, 12, 40)
    a[f"{side}_shoulder.plane"] = _u(rng, -10, 60)
    a[f"{side}_shoulder.twist"] = _n(rng, 0, 20)
    a[f"{side}_elbow.flex"] = _u(rng, 5, 70)
    a[f"{side}_wrist.flex"] = _n(rng, 0, 15)
    a[f"{side}_wrist.dev"] = _n(rng, 0, 8)


def _standing_leg(rng: np.random.Generator, a: dict[str, float], side: str) -> None:
    a[f"{side}_hip.flex"] = _n(rng, 2, 5)
    a[f"{side}_hip.abd"] = _u(rng, -3, 10)
    a[f"{side}_hip.rot"] = _n(rng, 5, 8)
    a[f"{side}_knee.flex"] = abs(_n(rng, 0, 6))
    a[f"{side}_ankle.flex"] = _n(rng, 0, 4)


def _standing(rng: np.random.Generator) -> dict[str, float]:
    a: dict[str, float] = {}
    _relaxed_torso(rng, a)
    for side in SIDES:
        _relaxed_arm(rng, a, side)
        _standing_leg(rng, a, side)
    if rng.random() < 0.3:  # weight on one leg
        side = SIDES[int(rng.integers(2))]
        a[f"{side}_knee.flex"] = _u(rng, 10, 25)
        a[f"{side}_hip.flex"] = _u(rng, 5, 15)
    return a


def _gait(rng: np.random.Generator, stride: float, knee: float, lean: float) -> dict[str, float]:
    a: dict[str, float] = {}
    _relaxed_torso(rng, a, lean=lean)
    phase = _u(rng, 0, 2 * np.pi)
    for k, side in enumerate(SIDES):
        s = np.sin(phase + k * np.pi)  # legs in opposition
        c = np.cos(phase + k * np.pi)
        a[f"{side}_hip.flex"] = stride * s + 5
        a[f"{side}_hip.abd"] = _u(rng, 0, 6)
        a[f"{side}_hip.rot"] = _n(rng, 5, 5)
        a[f"{side}_knee.flex"] = 8 + knee * max(0.0, c) + 0.3 * knee * max(0.0, s)
        a[f"{side}_ankle.flex"] = 10 * s
        # the arm swings against the leg of its side
        a[f"{side}_shoulder.elev"] = 18 + 0.6 * stride * abs(s)
        a[f"{side}_shoulder.plane"] = 90 if s < 0 else -30
        a[f"{side}_shoulder.twist"] = _n(rng, 0, 10)
        a[f"{side}_elbow.flex"] = _u(rng, 10, 40) + (knee * 0.8 if knee > 60 else 0)
        a[f"{side}_wrist.flex"] = _n(rng, 0, 10)
    a["spine.twist"] = a.get("spine.twist", 0) + 6 * np.sin(phase)
    return a


def _walking(rng: np.random.Generator) -> dict[str, float]:
    return _gait(rng, stride=_u(rng, 15, 30), knee=_u(rng, 30, 60), lean=3)


def _running(rng: np.random.Generator) -> dict[str, float]:
    return _gait(rng, stride=_u(rng, 35, 55), knee=_u(rng, 70, 110), lean=_u(rng, 8, 18))


def _sitting(rng: np.random.Generator) -> dict[str, float]:
    a: dict[str, float] = {}
    _relaxed_torso(rng, a, lean=_u(rng, -5, 15))
    for side in SIDES:
        a[f"{side}_hip.flex"] = _u(rng, 80, 100)
        a[f"{side}_hip.abd"] = _u(rng, 0, 15)
        a[f"{side}_hip.rot"] = _n(rng, 5, 8)
        a[f"{side}_knee.flex"] = a[f"{side}_hip.flex"] + _n(rng, 0, 10)
        a[f"{side}_ankle.flex"] = _n(rng, 0, 8)
        a[f"{side}_shoulder.elev"] = _u(rng, 15, 45)
        a[f"{side}_shoulder.plane"] = _u(rng, 40, 90)
        a[f"{side}_shoulder.twist"] = _n(rng, 0, 15)
        a[f"{side}_elbow.flex"] = _u(rng, 40, 100)
        a[f"{side}_wrist.flex"] = _n(rng, 0, 15)
    return a


def _sitting_floor(rng: np.random.Generator) -> dict[str, float]:
    a = _sitting(rng)
    knees_up = rng.random() < 0.5
    for side in SIDES:
        a[f"{side}_hip.flex"] = _u(rng, 75, 95) + (15 if knees_up else 0)
        a[f"{side}_knee.flex"] = _u(rng, 90, 130) if knees_up else _u(rng, 0, 25)
        a[f"{side}_hip.abd"] = _u(rng, 5, 20)
        a[f"{side}_shoulder.elev"] = _u(rng, 20, 50)
        a[f"{side}_shoulder.plane"] = _u(rng, 30, 90) if knees_up else _u(rng, -30, 30)
        a[f"{side}_elbow.flex"] = _u(rng, 10, 60)
    return a


def _crouching(rng: np.random.Generator) -> dict[str, float]:
    a: dict[str, float] = {}
    _relaxed_torso(rng, a, lean=_u(rng, 15, 35))
    a["neck.flex"] = _u(rng, -30, 0)  # keeps looking ahead
    for side in SIDES:
        a[f"{side}_hip.flex"] = _u(rng, 95, 120)
        a[f"{side}_hip.abd"] = _u(rng, 5, 25)
        a[f"{side}_hip.rot"] = _u(rng, 5, 25)
        a[f"{side}_knee.flex"] = _u(rng, 115, 145)
        a[f"{side}_ankle.flex"] = _u(rng, 10, 25)
        a[f"{side}_shoulder.elev"] = _u(rng, 20, 60)
        a[f"{side}_shoulder.plane"] = _u(rng, 50, 100)
        a[f"{side}_elbow.flex"] = _u(rng, 20, 90)
    return a


def _arms_raised(rng: np.random.Generator) -> dict[str, float]:
    a = _standing(rng)
    both = rng.random() < 0.6
    raised = SIDES if both else (SIDES[int(rng.integers(2))],)
    for side in raised:
        a[f"{side}_shoulder.elev"] = _u(rng, 110, 175)
        a[f"{side}_shoulder.plane"] = _u(rng, -10, 70)
        a[f"{side}_shoulder.twist"] = _n(rng, 0, 20)
        a[f"{side}_elbow.flex"] = _u(rng, 0, 60)
        a[f"{side}_collar.raise"] = _u(rng, 5, 25)
    return a


def _reaching(rng: np.random.Generator) -> dict[str, float]:
    a = _standing(rng)
    side = SIDES[int(rng.integers(2))]
    a[f"{side}_shoulder.elev"] = _u(rng, 60, 110)
    a[f"{side}_shoulder.plane"] = _u(rng, 0, 110)
    a[f"{side}_shoulder.twist"] = _n(rng, 0, 20)
    a[f"{side}_elbow.flex"] = _u(rng, 0, 35)
    a[f"{side}_collar.forward"] = _u(rng, 0, 15)
    a["spine.twist"] = a["spine.twist"] + (12 if side == "left" else -12)
    return a


def _free(rng: np.random.Generator) -> dict[str, float]:
    """Every DOF over the middle 80 % of its range (legs kept standing-like: no support)."""
    a = _standing(rng)
    for name, (lo, hi) in LIMITS.items():
        joint = name.split(".")[0]
        if joint in ("hip", "knee", "ankle"):
            continue
        pad = 0.1 * (hi - lo)
        if joint in ("spine", "chest", "neck", "head"):
            a[name] = _u(rng, lo + pad, hi - pad)
        else:
            for side in SIDES:
                a[f"{side}_{name}"] = _u(rng, lo + pad, hi - pad)
    for side in SIDES:
        a[f"{side}_hip.flex"] = _u(rng, -10, 45)
        a[f"{side}_hip.abd"] = _u(rng, -5, 25)
        a[f"{side}_knee.flex"] = _u(rng, 0, 60)
    return a


#: Preset name -> sampler of its angles.
PRESETS: dict[str, Callable[[np.random.Generator], dict[str, float]]] = {
    "standing": _standing,
    "walking": _walking,
    "running": _running,
    "sitting": _sitting,
    "sitting_floor": _sitting_floor,
    "crouching": _crouching,
    "arms_raised": _arms_raised,
    "reaching": _reaching,
    "free": _free,
}

#: How often each preset is drawn when none is asked for.
PRESET_WEIGHTS: dict[str, float] = {
    "standing": 0.22,
    "walking": 0.18,
    "running": 0.08,
    "sitting": 0.12,
    "sitting_floor": 0.06,
    "crouching": 0.06,
    "arms_raised": 0.10,
    "reaching": 0.08,
    "free": 0.10,
}


def sample_pose(rng: np.random.Generator, preset: str | None = None) -> Pose:
    """A random pose from ``preset`` (default: a preset drawn with :data:`PRESET_WEIGHTS`)."""
    if preset is None:
        names = list(PRESET_WEIGHTS)
        weights = np.array([PRESET_WEIGHTS[n] for n in names])
        preset = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    if preset not in PRESETS:
        raise ValueError(f"unknown pose preset {preset!r}; known: {', '.join(PRESETS)}")
    return Pose(preset, PRESETS[preset](rng)).clipped()


# -- angles -> joint rotations ----------------------------------------------------------


@dataclass(frozen=True)
class Skeleton:
    """What turning angles into rotations needs of the rest skeleton (canonical axes).

    Attributes:
        upper_arm: side -> ``[3]`` unit rest direction shoulder -> elbow.
        elbow_axis: side -> ``[3]`` unit hinge axis; rotating about it by a positive angle
            bends the elbow further.
        elbow_rest: side -> rest flexion of the elbow, degrees.
        forearm: side -> ``[3]`` unit rest direction elbow -> wrist.
    """

    upper_arm: dict[str, np.ndarray]
    elbow_axis: dict[str, np.ndarray]
    elbow_rest: dict[str, float]
    forearm: dict[str, np.ndarray]

    @staticmethod
    def from_joints(joints: dict[str, np.ndarray], to_canonical: np.ndarray) -> Skeleton:
        """From rest joint positions (model coordinates) and the ``[3, 3]`` model -> canonical
        rotation (:meth:`annotator.surface.body.BodyFrame.to_canonical`)."""
        up, axis, rest, fore = {}, {}, {}, {}
        for side in SIDES:
            s, e, w = (to_canonical @ joints[f"{side}_{j}"] for j in ("shoulder", "elbow", "wrist"))
            u = (e - s) / np.linalg.norm(e - s)
            f = (w - e) / np.linalg.norm(w - e)
            h = np.cross(u, f)
            up[side], fore[side] = u, f
            axis[side] = h / np.linalg.norm(h)
            rest[side] = float(np.degrees(np.arccos(np.clip(u @ f, -1, 1))))
        return Skeleton(up, axis, rest, fore)


def _rot(axis: str, degrees: np.ndarray) -> np.ndarray:
    return Rotation.from_euler(axis, np.asarray(degrees)[:, None], degrees=True).as_matrix()


def _axis_angle(axis: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotations ``[B, 3, 3]`` about unit ``axis`` (``[3]`` or ``[B, 3]``) by ``degrees [B]``."""
    axis = np.broadcast_to(axis, (len(degrees), 3))
    return Rotation.from_rotvec(axis * np.radians(degrees)[:, None]).as_matrix()


def _swing(rest: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Shortest-arc rotations ``[B, 3, 3]`` taking unit ``rest [3]`` to unit ``target [B, 3]``."""
    axis = np.cross(rest, target)
    sin = np.linalg.norm(axis, axis=1)
    cos = target @ rest
    angle = np.arctan2(sin, cos)
    safe = np.where(sin[:, None] > 1e-9, axis / np.maximum(sin, 1e-12)[:, None], [[1.0, 0, 0]])
    return Rotation.from_rotvec(safe * angle[:, None]).as_matrix()


def pose_rotations(poses: list[Pose], skeleton: Skeleton) -> dict[str, np.ndarray]:
    """Local joint rotations ``joint -> [B, 3, 3]`` (canonical axes) for a batch of poses."""

    def get(name: str, default: float = 0.0) -> np.ndarray:
        return np.array([p.angles.get(name, default) for p in poses], dtype=np.float64)

    out: dict[str, np.ndarray] = {}
    for joint in ("spine", "chest", "neck", "head"):
        out[joint] = (
            _rot("x", get(f"{joint}.flex"))
            @ _rot("z", -get(f"{joint}.bend"))
            @ _rot("y", get(f"{joint}.twist"))
        )
    for side, s in (("left", 1.0), ("right", -1.0)):
        out[f"{side}_hip"] = (
            _rot("x", -get(f"{side}_hip.flex"))
            @ _rot("z", s * get(f"{side}_hip.abd"))
            @ _rot("y", s * get(f"{side}_hip.rot"))
        )
        out[f"{side}_knee"] = _rot("x", get(f"{side}_knee.flex"))
        out[f"{side}_ankle"] = _rot("x", -get(f"{side}_ankle.flex"))
        out[f"{side}_collar"] = _rot("z", s * get(f"{side}_collar.raise")) @ _rot(
            "y", -s * get(f"{side}_collar.forward")
        )
        out[f"{side}_shoulder"] = _shoulder(
            get(f"{side}_shoulder.elev", 45.0),
            get(f"{side}_shoulder.plane"),
            get(f"{side}_shoulder.twist"),
            s,
            skeleton.upper_arm[side],
        )
        axis = skeleton.elbow_axis[side]
        flex = get(f"{side}_elbow.flex", skeleton.elbow_rest[side])
        out[f"{side}_elbow"] = _axis_angle(axis, flex - skeleton.elbow_rest[side])
        dev_axis = np.cross(skeleton.forearm[side], axis)
        out[f"{side}_wrist"] = _axis_angle(axis, get(f"{side}_wrist.flex")) @ _axis_angle(
            dev_axis, s * get(f"{side}_wrist.dev")
        )
    return out


def _shoulder(
    elev: np.ndarray, plane: np.ndarray, twist: np.ndarray, s: float, rest: np.ndarray
) -> np.ndarray:
    e, p = np.radians(elev), np.radians(plane)
    target = np.stack([s * np.sin(e) * np.cos(p), -np.cos(e), np.sin(e) * np.sin(p)], axis=1)
    swing = _swing(rest, target)
    return _axis_angle(target, -s * twist) @ swing
