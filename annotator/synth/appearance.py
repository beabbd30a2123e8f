"""How a synthetic person looks: skin tone, simple clothing, hair, eyes as vertex colours.

Regions are fixed per vertex of the body model from its rest pose (they follow the body
through any pose and shape): the coarse part of each skin vertex, and how far along its limb
it lies (0 at the shoulder or hip, 1 at the elbow or knee, 2 at the wrist or ankle). An
:class:`Appearance` (drawn per person by the scene sampler) then says which garment covers
which stretch. Clothing is painted on the skin, so the body surface under it is the
annotated surface, as the paper's annotators estimated it through tight clothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.surface.atlas import Atlas

#: Skin tones (sRGB) from light to dark; a person's tone interpolates between neighbours.
SKIN_TONES = np.array(
    [
        [255, 224, 200],
        [241, 194, 163],
        [224, 172, 138],
        [198, 140, 100],
        [165, 108, 72],
        [122, 78, 50],
        [86, 56, 38],
    ],
    dtype=np.float64,
)

TOPS = ("none", "tank", "short", "long")
BOTTOMS = ("briefs", "shorts", "capri", "trousers")
HAIR = ("none", "short", "long")

#: Specular strength (0..255, the albedo's alpha) per material.
_SHINE = {"skin": 50, "cloth": 12, "shoes": 70, "hair": 35, "eye": 120, "mouth": 30}


@dataclass
class Appearance:
    """One person's look (all colours sRGB 0..255).

    Attributes:
        skin: ``[3]`` skin colour.
        top: one of :data:`TOPS` (sleeveless tank, short or long sleeves).
        top_color: ``[3]``.
        stripes: ``[3]`` colour of horizontal stripes on the top, or None.
        stripe_period: stripe period, metres.
        bottom: one of :data:`BOTTOMS`.
        bottom_color: ``[3]``.
        shoes: ``[3]`` shoe colour, or None for bare feet.
        hair: one of :data:`HAIR`.
        hair_color: ``[3]``.
        iris: ``[3]`` iris colour.
    """

    skin: np.ndarray
    top: str
    top_color: np.ndarray
    bottom: str
    bottom_color: np.ndarray
    hair: str
    hair_color: np.ndarray
    iris: np.ndarray
    shoes: np.ndarray | None = None
    stripes: np.ndarray | None = None
    stripe_period: float = 0.08

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in self.__dict__.items():
            out[key] = value.astype(int).tolist() if isinstance(value, np.ndarray) else value
        return out


def _cloth_color(rng: np.random.Generator) -> np.ndarray:
    """Mostly muted garment colours, sometimes saturated ones."""
    import colorsys

    if rng.random() < 0.35:  # greys, black, white
        v = rng.choice([0.08, 0.2, 0.4, 0.6, 0.85, 0.95])
        return np.full(3, v * 255)
    h = rng.random()
    s = rng.uniform(0.15, 0.5) if rng.random() < 0.7 else rng.uniform(0.6, 0.95)
    v = rng.uniform(0.25, 0.9)
    return np.array(colorsys.hsv_to_rgb(h, s, v)) * 255


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A random look."""
    t = rng.uniform(0, len(SKIN_TONES) - 1)
    k = min(int(t), len(SKIN_TONES) - 2)
    skin = SKIN_TONES[k] * (1 - (t - k)) + SKIN_TONES[k + 1] * (t - k)
    skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 255)
    hair_color = np.array(
        [
            [20, 16, 14],
            [55, 38, 28],
            [100, 70, 45],
            [160, 120, 75],
            [200, 170, 120],
            [140, 140, 140],
        ]
    )[int(rng.choice(6, p=[0.35, 0.25, 0.15, 0.1, 0.1, 0.05]))]
    return Appearance(
        skin=skin,
        top=str(rng.choice(TOPS, p=[0.05, 0.2, 0.45, 0.3])),
        top_color=_cloth_color(rng),
        stripes=_cloth_color(rng) if rng.random() < 0.2 else None,
        stripe_period=float(rng.uniform(0.04, 0.12)),
        bottom=str(rng.choice(BOTTOMS, p=[0.05, 0.25, 0.1, 0.6])),
        bottom_color=_cloth_color(rng),
        shoes=_cloth_color(rng) if rng.random() < 0.85 else None,
        hair=str(rng.choice(HAIR, p=[0.1, 0.55, 0.35])),
        hair_color=hair_color.astype(np.float64),
        iris=np.array([[60, 40, 25], [90, 60, 30], [70, 100, 130], [80, 110, 70]])[
            int(rng.integers(4))
        ].astype(np.float64),
    )


@dataclass
class BodyRegions:
    """Per model vertex, where it is on the body (from the default rest pose).

    Attributes:
        coarse: ``[V]`` coarse part 1..14 of skin vertices; 0 for eyes, -1 for the mouth.
        limb: ``[V]`` position along arms and legs: 0 shoulder/hip, 1 elbow/knee, 2 wrist/ankle
            (hands and feet 2); -1 elsewhere.
        height: ``[V]`` rest height (canonical y), metres, the pelvis at 0.
        forward: ``[V]`` rest forward coordinate (canonical z), metres.
        waist: height of the waistband, metres.
        neck_top: no garment reaches above this height, metres.
        open_neck: ``[V]`` bool, the neck and its opening that no top covers.
        eye_front: ``[V]`` bool, the front (iris) of the eyeballs.
        hairline: ``[V]`` bool, the scalp covered by short hair.
        long_hair: ``[V]`` bool, the scalp and nape covered by long hair.
    """

    coarse: np.ndarray
    limb: np.ndarray
    height: np.ndarray
    forward: np.ndarray
    waist: float
    neck_top: float
    open_neck: np.ndarray
    eye_front: np.ndarray
    hairline: np.ndarray
    long_hair: np.ndarray

    @staticmethod
    def build(rest: np.ndarray, joints: dict[str, np.ndarray], atlas: Atlas) -> BodyRegions:
        """From the rest vertices ``[V, 3]`` and joints (canonical coordinates) and the atlas."""
        n = len(rest)
        coarse = np.zeros(n, np.int64)
        coarse[atlas.model_vertex_ids[atlas.faces].ravel()] = np.repeat(atlas.face_coarse, 3)
        non_skin = np.setdiff1d(np.arange(n), atlas.model_vertex_ids)
        eyes = non_skin[rest[non_skin, 1] > joints["head"][1] + 0.025]
        coarse[np.setdiff1d(non_skin, eyes)] = -1
        eye_front = np.zeros(n, bool)
        for sign in (1, -1):
            eye = eyes[np.sign(rest[eyes, 0]) == sign]
            if len(eye):
                eye_front[eye[rest[eye, 2] > rest[eye, 2].max() - 0.0045]] = True
        limb = np.full(n, -1.0)
        for side, (arm, fore, hand) in (("left", (10, 12, 3)), ("right", (11, 13, 2))):
            _along(limb, rest, coarse, [arm, fore, hand], joints, side, "shoulder elbow wrist")
        for side, (thigh, shin, foot) in (("left", (7, 9, 4)), ("right", (6, 8, 5))):
            _along(limb, rest, coarse, [thigh, shin, foot], joints, side, "hip knee ankle")
        head = coarse == 14
        y, z = rest[:, 1], rest[:, 2]
        eye_y = float(rest[eyes, 1].mean()) if len(eyes) else float(joints["head"][1]) + 0.04
        head_y, head_z = float(joints["head"][1]), float(joints["head"][2])
        front = z - head_z  # > 0 towards the face
        short = head & (
            (y > eye_y + 0.05)
            | ((y > eye_y + 0.005) & (front < 0.035))
            | ((y > head_y - 0.035) & (front < -0.025))
        )
        long = short | (head & (y > joints["neck"][1] - 0.01) & (front < -0.01))
        long |= head & (y > head_y - 0.05) & (front < 0.0) & (np.abs(rest[:, 0]) > 0.05)
        neck = joints["neck"]
        radial = np.hypot(rest[:, 0] - neck[0], z - neck[2])
        deep = 0.03 + 0.05 * np.clip((z - neck[2]) / 0.08, 0, 1)
        collar = (radial < 0.085) & (y > neck[1] - deep)
        return BodyRegions(
            coarse=coarse,
            limb=limb,
            height=y,
            forward=z,
            waist=float(joints["left_hip"][1] + 0.07),
            neck_top=float(neck[1] - 0.01),
            open_neck=collar,
            eye_front=eye_front,
            hairline=short,
            long_hair=long,
        )


def _along(
    limb: np.ndarray,
    rest: np.ndarray,
    coarse: np.ndarray,
    parts: list[int],
    joints: dict[str, np.ndarray],
    side: str,
    names: str,
) -> None:
    a, b, c = (joints[f"{side}_{j}"] for j in names.split())
    for k, (start, end) in enumerate(((a, b), (b, c))):
        sel = coarse == parts[k]
        seg = end - start
        t = (rest[sel] - start) @ seg / (seg @ seg)
        limb[sel] = k + np.clip(t, 0, 1)
    limb[coarse == parts[2]] = 2.0


def albedo(look: Appearance, regions: BodyRegions) -> np.ndarray:
    """``[V, 4]`` uint8 per-vertex colour and specular strength of a person."""
    n = len(regions.coarse)
    rgb = np.repeat(look.skin[None, :], n, axis=0)
    shine = np.full(n, _SHINE["skin"], np.float64)
    coarse, limb = regions.coarse, regions.limb
    arms = np.isin(coarse, (10, 11, 12, 13))
    legs = np.isin(coarse, (6, 7, 8, 9))
    torso = coarse == 1
    sleeve = {"none": -1.0, "tank": -1.0, "short": 0.45, "long": 1.92}[look.top]
    below = regions.height < regions.neck_top
    body = (torso | ((coarse == 14) & below)) & below & ~regions.open_neck
    top = (body & (regions.height >= regions.waist)) | (arms & (limb <= sleeve))
    if look.top == "none":
        top[:] = False
    top_rgb = np.repeat(look.top_color[None, :], n, axis=0)
    if look.stripes is not None:
        band = np.floor(regions.height / look.stripe_period).astype(int) % 2 == 1
        top_rgb[band] = look.stripes
    leg_end = {"briefs": 0.15, "shorts": 0.55, "capri": 1.45, "trousers": 1.93}[look.bottom]
    bottom = (torso & (regions.height < regions.waist)) | (legs & (limb <= leg_end))
    _paint(rgb, shine, top, top_rgb, "cloth")
    _paint(rgb, shine, bottom, look.bottom_color, "cloth")
    if look.shoes is not None:
        feet = np.isin(coarse, (4, 5)) | (legs & (limb > 1.93))
        _paint(rgb, shine, feet, look.shoes, "shoes")
    if look.hair != "none":
        hair = regions.hairline if look.hair == "short" else regions.long_hair
        _paint(rgb, shine, hair, look.hair_color, "hair")
    _paint(rgb, shine, coarse == 0, np.array([235, 232, 225.0]), "eye")
    _paint(rgb, shine, regions.eye_front, look.iris, "eye")
    _paint(rgb, shine, coarse == -1, np.array([110, 40, 45.0]), "mouth")
    out = np.empty((n, 4), np.uint8)
    out[:, :3] = np.clip(rgb, 0, 255)
    out[:, 3] = shine
    return out


def _paint(
    rgb: np.ndarray, shine: np.ndarray, where: np.ndarray, color: np.ndarray, material: str
) -> None:
    rgb[where] = color if np.ndim(color) == 1 else color[where]
    shine[where] = _SHINE[material]
