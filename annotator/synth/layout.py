"""Placing posed people, seats and boxes on the floor, and the camera and lights around them.

Deterministic: everything random was drawn in :mod:`annotator.synth.scene`; this module only
computes. World axes: y up, floor ``y = 0``, camera at ``(0, height, 0)``.

* Each person is turned by its yaw about its pelvis and stood on the floor (lowest vertex at
  ``y = 0``). Sitting people get a seat: a box under the pelvis whose top touches the lowest
  skin point near the pelvis.
* Distance: a person's *stature* (head-to-ankle chain of the skeleton, pose-independent,
  scaled to the rest body's height) fills ``frame_fraction`` of the image height.
* The first person stands on the camera's line of sight; the camera aims at its centre
  (plus the aim offsets) and is then rolled. Others stand at their lateral position; one
  that would intersect an earlier person's footprint (a circle around the pelvis) is moved
  back until it does not.
* A box stands between the camera and its person; one that would touch a person or be
  closer than 0.6 m to the camera is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.surface.body import JOINT_NAMES
from annotator.surface.raster import Lighting
from annotator.surface.render import Camera
from annotator.synth.appearance import BodyRegions
from annotator.synth.people import PosedPeople
from annotator.synth.scene import Scene

UP = np.array([0.0, 1.0, 0.0])
_CHAIN = ("left_ankle", "left_knee", "left_hip", "pelvis", "spine", "chest", "neck", "head")
_SEATED = ("sitting",)
_MIN_PROP_DISTANCE = 0.6
#: Triangles of a box whose corners are ordered x-major, then y, then z (0 = low, 1 = high).
_BOX_FACES = (
    (0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
    (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3),
)  # fmt: skip


@dataclass
class Box:
    """A box on the floor: 8 corners ``[8, 3]``, 12 triangles ``[12, 3]``, sRGB colour."""

    vertices: np.ndarray
    faces: np.ndarray
    color: np.ndarray


@dataclass
class Layout:
    """A scene in world coordinates.

    Attributes:
        camera: the camera.
        vertices: per person, ``[V, 3]`` the whole model mesh, metres.
        keypoints: per person, ``[17, 3]`` COCO keypoints, metres.
        ground: per person, ``[3]`` the point of the floor under its pelvis.
        boxes: seats and occluding boxes.
        lighting: lights in world directions.
    """

    camera: Camera
    vertices: list[np.ndarray]
    keypoints: list[np.ndarray]
    ground: list[np.ndarray]
    boxes: list[Box]
    lighting: Lighting


def stature(joints: np.ndarray, scale: float) -> np.ndarray:
    """Pose-independent body height ``[B]`` from joints ``[B, 19, 3]``: the length of the
    ankle-to-head joint chain times ``scale``."""
    index = [JOINT_NAMES.index(n) for n in _CHAIN]
    chain = joints[:, index]
    return np.linalg.norm(np.diff(chain, axis=1), axis=2).sum(axis=1) * scale


def _yaw(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def box_mesh(centre: np.ndarray, size: np.ndarray, yaw: float, color: np.ndarray) -> Box:
    """A box standing on the floor at ``centre`` (x, z; y ignored), ``size`` = (w, h, d)."""
    w, h, d = size
    corners = np.array(
        [[x, y, z] for x in (-w / 2, w / 2) for y in (0, h) for z in (-d / 2, d / 2)]
    )
    vertices = corners @ _yaw(yaw).T + np.array([centre[0], 0.0, centre[2]])
    faces = np.array(_BOX_FACES)
    return Box(vertices, faces, np.asarray(color, np.float64))


def _stand(
    vertices: np.ndarray, keypoints: np.ndarray, pelvis: np.ndarray, yaw: float
) -> tuple[np.ndarray, np.ndarray]:
    """Turn about the pelvis, then lift so that the lowest vertex is on the floor."""
    rot = _yaw(yaw)
    centre = np.array([pelvis[0], 0.0, pelvis[2]])
    v = (vertices - centre) @ rot.T
    k = (keypoints - centre) @ rot.T
    lift = -v[:, 1].min()
    v[:, 1] += lift
    k[:, 1] += lift
    return v, k


def _seat(vertices: np.ndarray, regions: BodyRegions, yaw: float, color: np.ndarray) -> Box:
    """A seat under a sitting person (pelvis at the origin of x, z)."""
    near = np.hypot(vertices[:, 0], vertices[:, 2]) < 0.16
    skin = regions.coarse > 0
    top = vertices[near & skin, 1].min() if np.any(near & skin) else vertices[:, 1].min() + 0.4
    forward = _yaw(yaw) @ np.array([0, 0, 1.0])
    return box_mesh(-0.06 * forward, np.array([0.44, max(top, 0.05), 0.42]), yaw, color)


def layout_scene(
    scene: Scene, posed: PosedPeople, regions: BodyRegions, stature_scale: float
) -> Layout:
    """Place the posed people of ``scene`` (canonical axes, as posed) and its camera."""
    tan_y = np.tan(np.radians(scene.camera.yfov) / 2)
    tan_x = tan_y * scene.width / scene.height
    heights = stature(posed.joints, stature_scale)
    pelvis = JOINT_NAMES.index("pelvis")
    vertices, keypoints, radii, distances = [], [], [], []
    seats: list[tuple[int, Box]] = []
    for k, spec in enumerate(scene.people):
        v, kp = _stand(posed.vertices[k], posed.keypoints[k], posed.joints[k, pelvis], spec.yaw)
        if spec.pose.preset in _SEATED:
            seats.append((k, _seat(v, regions, spec.yaw, spec.look.bottom_color * 0.4 + 70)))
        vertices.append(v)
        keypoints.append(kp)
        radii.append(float(np.hypot(v[:, 0], v[:, 2]).max()))
        distances.append(float(heights[k] / (spec.frame_fraction * 2 * tan_y)))
    eye = np.array([0.0, scene.camera.height, 0.0])
    target = np.array([0.0, 0.0, -distances[0]])
    target[1] = 0.5 * vertices[0][:, 1].max() + scene.camera.aim_y * heights[0]
    target[0] = scene.camera.aim_x * heights[0]
    ground = _spread_out(scene, distances, radii, tan_x)
    boxes = [_moved(box, ground[k]) for k, box in seats]
    boxes += _props(scene, ground, radii)
    return Layout(
        camera=_camera(eye, target, scene),
        vertices=[v + g for v, g in zip(vertices, ground, strict=True)],
        keypoints=[kp + g for kp, g in zip(keypoints, ground, strict=True)],
        ground=ground,
        boxes=boxes,
        lighting=_lighting(scene),
    )


def _spread_out(
    scene: Scene, distances: list[float], radii: list[float], tan_x: float
) -> list[np.ndarray]:
    """Floor points of the people: at their distance and lateral position, moved back until
    their footprints do not touch those of the people placed before them."""
    ground: list[np.ndarray] = []
    for k, spec in enumerate(scene.people):
        d = distances[k]
        spot = np.zeros(3)
        for _ in range(50):
            spot = np.array([spec.lateral * d * tan_x, 0.0, -d])
            clash = [
                radii[j] + radii[k] + 0.05 - float(np.hypot(*(spot - ground[j])[[0, 2]]))
                for j in range(k)
            ]
            if not clash or max(clash) <= 0:
                break
            d += max(clash) + 0.05
        ground.append(spot)
    return ground


def _moved(box: Box, offset: np.ndarray) -> Box:
    return Box(box.vertices + offset, box.faces, box.color)


def _props(scene: Scene, ground: list[np.ndarray], radii: list[float]) -> list[Box]:
    """Boxes between the camera and their person, left out when they would touch anyone."""
    out = []
    for prop in scene.props:
        person = ground[prop.person]
        sight = person / max(np.linalg.norm(person), 1e-9)
        side = np.cross(sight, UP)
        centre = prop.distance * person + prop.lateral * side
        reach = 0.5 * float(np.hypot(prop.size[0], prop.size[2]))
        if np.hypot(centre[0], centre[2]) - reach < _MIN_PROP_DISTANCE:
            continue
        if any(
            np.hypot(*(centre - g)[[0, 2]]) < reach + r + 0.05
            for g, r in zip(ground, radii, strict=True)
        ):
            continue
        out.append(box_mesh(centre, prop.size, prop.yaw, prop.color))
    return out


def _camera(eye: np.ndarray, target: np.ndarray, scene: Scene) -> Camera:
    camera = Camera.look_at(
        eye, target, UP, np.radians(scene.camera.yfov), scene.width, scene.height, 0.05, 100.0
    )
    roll = np.radians(scene.camera.roll)
    c, s = np.cos(roll), np.sin(roll)
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])  # about the camera's own z axis
    camera.pose[:3, :3] = camera.pose[:3, :3] @ turn
    return camera


def _lighting(scene: Scene) -> Lighting:
    """World light directions: azimuth 0 lights the scene from behind the camera."""
    lights = scene.lights
    az, el = np.radians(lights.azimuth), np.radians(lights.elevation)
    # the camera looks along -z: "behind the camera" is +z
    directions = np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], axis=1)
    return Lighting(
        directions=directions,
        colors=lights.colors,
        sky=lights.sky,
        ground=lights.ground,
        shininess=lights.shininess,
    )
