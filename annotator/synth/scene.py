"""What a synthetic image shows: people, camera, lights, props, background, as plain data.

Every random choice of image ``k`` of a run with seed ``S`` is drawn here, from
:func:`scene_rng` ``(S, k)``, before anything is posed or rendered: image ``k`` is the same
whichever worker renders it and however many workers there are. Placement that depends on
the posed bodies (distances, seats) is computed from these numbers without further draws
(:mod:`annotator.synth.layout`).

World axes: y up, the floor is ``y = 0``; the camera stands at ``(0, height, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.synth.appearance import Appearance, sample_appearance
from annotator.synth.pose import Pose, sample_pose

#: Background kinds drawn without a user folder, and how often.
PROCEDURAL_BACKGROUNDS = {"room": 0.4, "outdoor": 0.3, "abstract": 0.3}


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image ``index`` of a run seeded ``seed``."""
    return np.random.default_rng([int(seed), int(index), 0x5EED])


@dataclass
class PersonSpec:
    """One person to place.

    Attributes:
        shape: Anny phenotype (gender, age, muscle, weight, height, proportions in [0, 1]).
        pose: joint angles.
        look: colours and clothing.
        yaw: turn about the vertical, degrees; 0 faces the camera.
        frame_fraction: the person's stature as a share of the image height (sets the
            distance to the camera; > 1 is a close-up cut by the border).
        lateral: horizontal position, -1 and 1 at the left and right image borders (the
            first person stands on the camera's line of sight: 0).
        sample_seed: seed of the DensePose point sampling of this person.
    """

    shape: dict[str, float]
    pose: Pose
    look: Appearance
    yaw: float
    frame_fraction: float
    lateral: float
    sample_seed: int


@dataclass
class CameraSpec:
    """The camera: where it stands and how it aims at the first person.

    Attributes:
        height: metres above the floor.
        yfov: vertical field of view, degrees.
        roll: degrees (positive turns the image clockwise).
        aim_x: horizontal aim offset from the first person's centre, share of its height.
        aim_y: vertical aim offset from the first person's centre, share of its height.
    """

    height: float
    yfov: float
    roll: float
    aim_x: float
    aim_y: float


@dataclass
class LightSpec:
    """Lights in camera-relative terms (azimuth 0 = from behind the camera).

    Attributes:
        azimuth: ``[L]`` degrees about the vertical.
        elevation: ``[L]`` degrees above the horizon.
        colors: ``[L, 3]`` linear RGB intensities.
        sky: ``[3]`` ambient from above.
        ground: ``[3]`` ambient from below.
        shininess: highlight exponent.
    """

    azimuth: np.ndarray
    elevation: np.ndarray
    colors: np.ndarray
    sky: np.ndarray
    ground: np.ndarray
    shininess: float


@dataclass
class PropSpec:
    """A box standing on the floor between the camera and a person (an occluder).

    Attributes:
        person: index of the person it stands in front of.
        distance: share of that person's distance, from the camera.
        lateral: horizontal offset from the line of sight to the person, metres.
        size: ``[3]`` width, height, depth in metres.
        yaw: degrees.
        color: ``[3]`` sRGB.
    """

    person: int
    distance: float
    lateral: float
    size: np.ndarray
    yaw: float
    color: np.ndarray


@dataclass
class BackgroundSpec:
    """How to make the background.

    Attributes:
        kind: "room", "outdoor", "abstract" or "folder".
        seed: seed of the background's own generator.
        image: index into the sorted image list of the folder (kind "folder").
    """

    kind: str
    seed: int
    image: int = -1


@dataclass
class PostSpec:
    """Image-level effects after compositing.

    Attributes:
        gain: brightness factor.
        gamma: tone curve exponent.
        noise: sensor noise standard deviation, 8-bit levels.
        blur: Gaussian blur sigma, pixels (0 = none).
    """

    gain: float
    gamma: float
    noise: float
    blur: float


@dataclass
class Scene:
    """Everything image ``index`` of run ``seed`` shows."""

    seed: int
    index: int
    width: int
    height: int
    people: list[PersonSpec]
    camera: CameraSpec
    lights: LightSpec
    props: list[PropSpec]
    background: BackgroundSpec
    post: PostSpec

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary (the people's poses, shapes and looks; camera; background)."""
        return {
            "seed": self.seed,
            "index": self.index,
            "size": [self.width, self.height],
            "people": [
                {
                    "shape": {k: round(v, 4) for k, v in p.shape.items()},
                    "pose": p.pose.to_json(),
                    "look": p.look.to_json(),
                    "yaw": round(p.yaw, 3),
                    "frame_fraction": round(p.frame_fraction, 4),
                    "lateral": round(p.lateral, 4),
                }
                for p in self.people
            ],
            "camera": _plain(self.camera.__dict__),
            "background": {"kind": self.background.kind, "image": self.background.image},
            "props": len(self.props),
        }


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.tolist() if isinstance(v, np.ndarray) else round(float(v), 4)) for k, v in d.items()
    }


def sample_shape(rng: np.random.Generator) -> dict[str, float]:
    """A random Anny phenotype: mostly adults (age 0.6..1), some children and teenagers."""
    adult = rng.random() < 0.85
    return {
        "gender": float(rng.random()),
        "age": float(rng.uniform(0.6, 1.0) if adult else rng.uniform(0.38, 0.6)),
        "muscle": float(rng.beta(2, 2)),
        "weight": float(rng.beta(2, 2.5)),
        "height": float(rng.beta(2, 2)),
        "proportions": float(rng.beta(2, 3)),
    }


def _person(rng: np.random.Generator, first: bool) -> PersonSpec:
    if first:
        fraction = float(rng.uniform(0.35, 0.95) if rng.random() < 0.8 else rng.uniform(0.95, 1.8))
        lateral = 0.0
    else:
        fraction = float(rng.uniform(0.2, 0.9) if rng.random() < 0.85 else rng.uniform(0.9, 1.6))
        lateral = float(rng.uniform(-1.1, 1.1))
    yaw = float(rng.normal(0, 40) if rng.random() < 0.6 else rng.uniform(-180, 180))
    return PersonSpec(
        shape=sample_shape(rng),
        pose=sample_pose(rng),
        look=sample_appearance(rng),
        yaw=yaw,
        frame_fraction=fraction,
        lateral=lateral,
        sample_seed=int(rng.integers(2**31)),
    )


def _lights(rng: np.random.Generator) -> LightSpec:
    n = int(rng.integers(1, 4))
    azimuth = np.concatenate([[rng.uniform(-70, 70)], rng.uniform(-180, 180, n - 1)])
    elevation = np.concatenate([[rng.uniform(15, 75)], rng.uniform(-10, 60, n - 1)])
    warmth = rng.uniform(-0.12, 0.12, (n, 1)) * np.array([[1.0, 0.0, -1.0]])
    strength = np.concatenate([[rng.uniform(0.7, 1.3)], rng.uniform(0.1, 0.5, n - 1)])
    sky = rng.uniform(0.12, 0.45) * (1 + rng.uniform(-0.1, 0.1, 3))
    return LightSpec(
        azimuth=azimuth,
        elevation=elevation,
        colors=strength[:, None] * (1 + warmth),
        sky=sky,
        ground=sky * rng.uniform(0.3, 0.7),
        shininess=float(rng.uniform(12, 48)),
    )


def _props(rng: np.random.Generator, n_people: int) -> list[PropSpec]:
    out = []
    for _ in range(int(rng.choice(3, p=[0.65, 0.25, 0.1]))):
        out.append(
            PropSpec(
                person=int(rng.integers(n_people)),
                distance=float(rng.uniform(0.45, 0.8)),
                lateral=float(rng.uniform(-0.8, 0.8)),
                size=np.array(
                    [rng.uniform(0.3, 1.6), rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.9)]
                ),
                yaw=float(rng.uniform(-40, 40)),
                color=rng.uniform(30, 220, 3),
            )
        )
    return out


def _background(rng: np.random.Generator, n_folder_images: int) -> BackgroundSpec:
    seed = int(rng.integers(2**31))
    if n_folder_images > 0:
        return BackgroundSpec("folder", seed, image=int(rng.integers(n_folder_images)))
    kinds = list(PROCEDURAL_BACKGROUNDS)
    p = np.array([PROCEDURAL_BACKGROUNDS[k] for k in kinds])
    return BackgroundSpec(str(kinds[int(rng.choice(len(kinds), p=p / p.sum()))]), seed)


def sample_scene(
    seed: int,
    index: int,
    *,
    width: int = 512,
    height: int = 512,
    people: tuple[int, int] = (1, 4),
    n_folder_images: int = 0,
) -> Scene:
    """Draw image ``index`` of run ``seed``.

    Args:
        seed: the run's seed.
        index: the image number.
        width, height: image size, pixels.
        people: least and most people in the scene.
        n_folder_images: images in the user's background folder (0: procedural backgrounds).
    """
    lo, hi = people
    if not 1 <= lo <= hi:
        raise ValueError(f"people must be 1 <= min <= max, got {lo}-{hi}")
    rng = scene_rng(seed, index)
    count = int(rng.integers(lo, hi + 1))
    persons = [_person(rng, first=(k == 0)) for k in range(count)]
    camera = CameraSpec(
        height=float(rng.uniform(1.2, 1.8) if rng.random() < 0.7 else rng.uniform(0.4, 2.8)),
        yfov=float(rng.uniform(30, 65)),
        roll=float(rng.normal(0, 3)),
        aim_x=float(rng.uniform(-0.2, 0.2)),
        aim_y=float(rng.uniform(-0.15, 0.15)),
    )
    return Scene(
        seed=seed,
        index=index,
        width=width,
        height=height,
        people=persons,
        camera=camera,
        lights=_lights(rng),
        props=_props(rng, count),
        background=_background(rng, n_folder_images),
        post=PostSpec(
            gain=float(rng.uniform(0.85, 1.15)),
            gamma=float(rng.uniform(0.85, 1.15)),
            noise=float(rng.uniform(0.5, 4.0)) if rng.random() < 0.5 else 0.0,
            blur=float(rng.uniform(0.3, 0.9) if rng.random() < 0.25 else 0.0),
        ),
    )
