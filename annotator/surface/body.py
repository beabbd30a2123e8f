"""Body models behind one interface: shape and pose in, posed vertices (metres) out.

Two backends:

* :class:`AnnyBody`, the default: the free Anny model (PyPI ``anny``), nothing else needed.
  Its first construction on a machine builds and caches Anny's model data (minutes); later
  constructions take about a second.
* :class:`SmplBody`: SMPL through ``smplx``, from a model file the user supplies (SMPL may not
  be redistributed).

Everything here works in the model's own coordinates. :class:`BodyFrame` says which
directions are the person's left, up and forward, so that code that needs anatomy (the chart
builder, the pose sampler) is written once for both models.

torch, anny and smplx are imported lazily: importing this module is cheap.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from annotator.surface.parts import COCO_KEYPOINTS, N_COARSE

#: Joint names shared by every backend (the person's own left and right).
JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "spine",
    "chest",
    "neck",
    "head",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_collar",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_collar",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)


@dataclass(frozen=True)
class BodyFrame:
    """Anatomical directions of a body model in its own coordinates, and its rest joints.

    Attributes:
        left: ``[3]`` unit vector towards the person's own left.
        up: ``[3]`` unit vector from feet to head.
        forward: ``[3]`` unit vector the person faces.
        joints: rest position ``[3]`` (metres) of each name in :data:`JOINT_NAMES`.
    """

    left: np.ndarray
    up: np.ndarray
    forward: np.ndarray
    joints: dict[str, np.ndarray] = field(default_factory=dict)

    def to_canonical(self) -> np.ndarray:
        """Rotation ``[3, 3]`` taking model coordinates to canonical (x left, y up, z forward)."""
        return np.stack([self.left, self.up, self.forward])


@dataclass
class RestMesh:
    """A body model's whole rest mesh and what the chart builder needs to know of it.

    Attributes:
        vertices: ``[V, 3]`` rest positions, metres.
        faces: ``[F, 3]`` vertex indices, counter-clockwise seen from outside.
        skin: ``[F]`` bool, True for the outer skin (eyes, mouth cavity, tongue are False).
        group_weights: ``[V, 15]`` skinning weight of each vertex summed per coarse part
            (column 0 unused), from the model's own skinning.
        fixed_parts: ``[F]`` coarse part the model itself assigns to a face (head, hands, feet
            from Anny's segmentation), 0 where the chart builder decides.
        texture_uv: ``[T, 2]`` the model's texture coordinates, or None.
        face_texture: ``[F, 3]`` indices into ``texture_uv`` per face corner, or None.
        frame: anatomical directions and rest joints.
        fingerprint: a short string identifying the topology (vertex and face counts).
    """

    vertices: np.ndarray
    faces: np.ndarray
    skin: np.ndarray
    group_weights: np.ndarray
    fixed_parts: np.ndarray
    texture_uv: np.ndarray | None
    face_texture: np.ndarray | None
    frame: BodyFrame
    fingerprint: str


@dataclass
class PosedBody:
    """Output of a body model for a batch of B bodies.

    Attributes:
        vertices: ``[B, V, 3]`` posed vertices of the whole mesh, metres.
        joints: ``[B, len(JOINT_NAMES), 3]`` posed joints, metres.
        keypoints: ``[B, 17, 3]`` COCO keypoints, metres.
    """

    vertices: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray


class BodyModel(Protocol):
    """What every body model backend offers."""

    name: str

    def rest_mesh(self) -> RestMesh:
        """The rest mesh of the default shape, with what the chart builder needs."""
        ...

    def pose(
        self,
        rotations: dict[str, np.ndarray] | None = None,
        shape: dict[str, float] | np.ndarray | None = None,
        batch: int = 1,
    ) -> PosedBody:
        """Pose a batch of bodies.

        Args:
            rotations: joint name (from :data:`JOINT_NAMES`) -> ``[B, 3, 3]`` rotation of that
                joint relative to its parent, axes of the rest pose in canonical coordinates
                (x left, y up, z forward). Missing joints keep their rest orientation.
            shape: backend-specific shape parameters (Anny phenotype dict, SMPL betas).
            batch: B when neither argument gives it.
        """
        ...


def _batched_rotations(
    rotations: dict[str, np.ndarray] | None, batch: int
) -> tuple[dict[str, np.ndarray], int]:
    """Rotations as ``[B, 3, 3]`` arrays, all with the same batch size B."""
    out = {
        k: np.asarray(v, dtype=np.float64).reshape(-1, 3, 3) for k, v in (rotations or {}).items()
    }
    unknown = set(out) - set(JOINT_NAMES)
    if unknown:
        raise ValueError(f"unknown joints {sorted(unknown)}; known: {', '.join(JOINT_NAMES)}")
    if out:
        batch = max(len(v) for v in out.values())
        out = {k: np.broadcast_to(v, (batch, 3, 3)) for k, v in out.items()}
    return out, batch


def _group_of_anny_bone(label: str) -> int:
    """Coarse part (1..14) moved by an Anny bone."""
    left = label.endswith(".L")
    prefixes = (
        (("upperarm",), 10, 11),
        (("lowerarm",), 12, 13),
        (("wrist", "finger", "metacarpal"), 3, 2),
        (("upperleg",), 7, 6),
        (("lowerleg",), 9, 8),
        (("foot", "toe"), 4, 5),
    )
    for names, left_part, right_part in prefixes:
        if label.startswith(names):
            return left_part if left else right_part
    if label.startswith(("neck", "head", "eye", "jaw", "tongue", "special", "levator", "oris")):
        return 14
    return 1


#: Anny bone whose head is each shared joint (".X" is replaced by the side).
_ANNY_JOINTS = {
    "pelvis": "root",
    "spine": "spine03",
    "chest": "spine01",
    "neck": "neck01",
    "head": "head",
    "hip": "upperleg01.X",
    "knee": "lowerleg01.X",
    "ankle": "foot.X",
    "collar": "clavicle.X",
    "shoulder": "upperarm01.X",
    "elbow": "lowerarm01.X",
    "wrist": "wrist.X",
}


def _anny_bone_of(joint: str) -> str:
    side, _, base = joint.partition("_")
    if base:
        return _ANNY_JOINTS[base].replace(".X", ".L" if side == "left" else ".R")
    return _ANNY_JOINTS[joint]


def _without_grad(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a body-model method without autograd, through a context and never by switching
    autograd off for the process: a model trained in the same process keeps its gradients."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._torch.no_grad():
            return method(self, *args, **kwargs)

    return wrapper


class AnnyBody:
    """The Anny body model (Z up, the person faces -Y, the person's left is +X)."""

    name = "anny"
    #: Anny's segmentation labels that are not skin.
    NON_SKIN = (
        "eye_back.L",
        "eye_front.L",
        "eye_back.R",
        "eye_front.R",
        "eye_cavity.R",
        "eye_cavity.L",
        "mouth_cavity",
        "tongue",
    )
    FIXED: ClassVar[dict[str, int]] = {
        "head": 14,
        "hand.R": 2,
        "hand.L": 3,
        "foot.L": 4,
        "foot.R": 5,
    }

    def __init__(self, device: str = "cpu") -> None:
        from annotator.surface.llvm_guard import guard_triton

        guard_triton()  # anny imports roma, which imports Triton (see llvm_guard)
        _quiet_warp()
        import anny
        import torch

        self._torch = torch
        self.model = anny.Anny().to(device)
        self.device = device
        self._keypoints = anny.KeypointsRegressor.coco(self.model, labels=list(COCO_KEYPOINTS))
        self._bone_index = {b: i for i, b in enumerate(self.model.bone_labels)}
        self._rest: dict[str, Any] | None = None

    @property
    def bone_labels(self) -> list[str]:
        return list(self.model.bone_labels)

    @_without_grad
    def _rest_output(self) -> dict[str, Any]:
        if self._rest is None:
            out = self.model()
            self._rest = {k: v[0].double().cpu().numpy() for k, v in out.items()}
        return self._rest

    def frame(self) -> BodyFrame:
        heads = self._rest_output()["bone_poses"][:, :3, 3]
        joints = {j: heads[self._bone_index[_anny_bone_of(j)]] for j in JOINT_NAMES}
        return BodyFrame(
            left=np.array([1.0, 0, 0]),
            up=np.array([0, 0, 1.0]),
            forward=np.array([0, -1.0, 0]),
            joints=joints,
        )

    def _segmentation(self) -> tuple[np.ndarray, list[str]]:
        """Anny's own face segmentation: label index per face and the label names."""
        import yaml  # anny depends on pyyaml
        from anny.face_segmentation import get_face_segmentation_mask
        from anny.paths import get_anny_root_dir

        meta = get_anny_root_dir() / "data/segmentation/body_parts_segmentation.yaml"
        names = list(yaml.safe_load(meta.read_text())["colors"])
        labels = np.full(len(self.model.faces), -1)
        for i, name in enumerate(names):
            labels[get_face_segmentation_mask(self.model, [name]).cpu().numpy()] = i
        return labels, names

    @_without_grad
    def rest_mesh(self) -> RestMesh:
        model = self.model
        vertices = self._rest_output()["vertices"]
        faces = model.get_triangular_faces().cpu().numpy().astype(np.int64)
        seg, names = self._segmentation()
        skin = ~np.isin(seg, [names.index(n) for n in self.NON_SKIN])
        fixed = np.zeros(len(faces), np.int64)
        for name, part in self.FIXED.items():
            fixed[seg == names.index(name)] = part
        groups = np.array([_group_of_anny_bone(b) for b in model.bone_labels])
        weights = model.vertex_bone_weights.double().cpu().numpy()
        bones = model.vertex_bone_indices.cpu().numpy()
        group_weights = np.zeros((len(vertices), N_COARSE + 1))
        rows = np.repeat(np.arange(len(vertices)), bones.shape[1])
        np.add.at(group_weights, (rows, groups[bones].ravel()), weights.ravel())
        return RestMesh(
            vertices=vertices,
            faces=faces,
            skin=skin,
            group_weights=group_weights,
            fixed_parts=fixed,
            texture_uv=model.texture_coordinates.double().cpu().numpy(),
            face_texture=model.face_texture_coordinate_indices.cpu().numpy().astype(np.int64),
            frame=self.frame(),
            fingerprint=f"anny-{len(vertices)}v-{len(faces)}f",
        )

    @_without_grad
    def pose(
        self,
        rotations: dict[str, np.ndarray] | None = None,
        shape: dict[str, float] | np.ndarray | None = None,
        batch: int = 1,
    ) -> PosedBody:
        torch = self._torch
        rotations, batch = _batched_rotations(rotations, batch)
        to_model = self.frame().to_canonical().T  # canonical -> model coordinates
        pose: dict[str, Any] = {}
        for joint, rot in rotations.items():
            delta = np.tile(np.eye(4), (len(rot), 1, 1))
            delta[:, :3, :3] = to_model @ rot @ to_model.T
            pose[_anny_bone_of(joint)] = torch.as_tensor(delta, dtype=self.model.dtype)
        phenotype = None
        if shape is not None:
            phenotype = {
                k: torch.as_tensor(np.broadcast_to(np.asarray(v, float), (batch,)).copy())
                for k, v in dict(shape).items()
            }
        out = self.model(pose_parameters=pose or None, phenotype_kwargs=phenotype)
        vertices = out["vertices"].double()
        if vertices.shape[0] != batch:
            vertices = vertices.expand(batch, -1, -1)
            out["bone_poses"] = out["bone_poses"].expand(batch, -1, -1, -1)
        keypoints = self._keypoints({"vertices": vertices.to(self.model.dtype)})
        index = [self._bone_index[_anny_bone_of(j)] for j in JOINT_NAMES]
        joints = out["bone_poses"][:, index, :3, 3]
        return PosedBody(
            vertices=vertices.cpu().numpy(),
            joints=joints.double().cpu().numpy(),
            keypoints=keypoints.double().cpu().numpy(),
        )


#: SMPL joint index of each shared joint (SMPL's 24-joint kinematic tree).
_SMPL_JOINTS = {
    "pelvis": 0,
    "left_hip": 1,
    "right_hip": 2,
    "spine": 3,
    "left_knee": 4,
    "right_knee": 5,
    "chest": 6,
    "left_ankle": 7,
    "right_ankle": 8,
    "neck": 12,
    "left_collar": 13,
    "right_collar": 14,
    "head": 15,
    "left_shoulder": 16,
    "right_shoulder": 17,
    "left_elbow": 18,
    "right_elbow": 19,
    "left_wrist": 20,
    "right_wrist": 21,
}
#: Coarse part moved by each of SMPL's 24 joints.
_SMPL_JOINT_GROUP = np.array(
    [1, 7, 6, 1, 9, 8, 1, 4, 5, 1, 4, 5, 14, 1, 1, 14, 10, 11, 12, 13, 3, 2, 3, 2]
)
#: SMPL vertex ids of the COCO face keypoints in the official topology (6890 vertices).
_SMPL_FACE_VERTICES = {"nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583}


class SmplBody:
    """SMPL through smplx, from a model file the user supplies (.pkl or .npz).

    SMPL's coordinates: Y up, the person faces +Z, the person's left is +X.
    """

    name = "smpl"

    def __init__(self, model_file: str | os.PathLike[str], device: str = "cpu") -> None:
        import smplx
        import torch

        path = Path(model_file)
        if not path.is_file():
            raise FileNotFoundError(
                f"SMPL model file not found: {path}. Download SMPL from its official site "
                "(registration needed) and pass the path of e.g. SMPL_NEUTRAL.pkl."
            )
        self._torch = torch
        data = _read_smpl_file(path)
        n_vertices = len(data["v_template"])
        extra: dict[str, Any] = {}
        if n_vertices != 6890:  # not the official topology: no extra vertex keypoints
            extra = dict(
                vertex_ids={k: 0 for k in _SMPL_FACE_VERTICES},
                use_hands=False,
                use_feet_keypoints=False,
            )
        self.model = smplx.SMPL(
            model_path=str(path),
            data_struct=_Struct(**data),
            num_betas=min(10, data["shapedirs"].shape[-1]),
            **extra,
        ).to(device)
        self._face_vertices = _SMPL_FACE_VERTICES if n_vertices == 6890 else None

    def frame(self) -> BodyFrame:
        joints = self._forward(self._identity(1), None, 1)[1][0]
        return BodyFrame(
            left=np.array([1.0, 0, 0]),
            up=np.array([0, 1.0, 0]),
            forward=np.array([0, 0, 1.0]),
            joints={name: joints[i] for name, i in _SMPL_JOINTS.items()},
        )

    def _identity(self, batch: int) -> np.ndarray:
        return np.tile(np.eye(3), (batch, 24, 1, 1))

    @_without_grad
    def _forward(
        self, rot: np.ndarray, betas: np.ndarray | None, batch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        from scipy.spatial.transform import Rotation

        aa = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(batch, 72)
        kwargs: dict[str, Any] = dict(
            global_orient=torch.as_tensor(aa[:, :3], dtype=torch.float32),
            body_pose=torch.as_tensor(aa[:, 3:], dtype=torch.float32),
        )
        if betas is not None:
            kwargs["betas"] = torch.as_tensor(betas, dtype=torch.float32).reshape(batch, -1)
        else:
            kwargs["betas"] = torch.zeros(batch, self.model.num_betas)
        out = self.model(**kwargs)
        return out.vertices.double().cpu().numpy(), out.joints[:, :24].double().cpu().numpy()

    @_without_grad
    def rest_mesh(self) -> RestMesh:
        vertices = self._forward(self._identity(1), None, 1)[0][0]
        faces = np.asarray(self.model.faces, dtype=np.int64)
        weights = self.model.lbs_weights.double().cpu().numpy()  # [V, 24]
        group_weights = np.zeros((len(vertices), N_COARSE + 1))
        for joint, group in enumerate(_SMPL_JOINT_GROUP):
            group_weights[:, group] += weights[:, joint]
        return RestMesh(
            vertices=vertices,
            faces=faces,
            skin=np.ones(len(faces), bool),
            group_weights=group_weights,
            fixed_parts=np.zeros(len(faces), np.int64),
            texture_uv=None,
            face_texture=None,
            frame=self.frame(),
            fingerprint=f"smpl-{len(vertices)}v-{len(faces)}f",
        )

    @_without_grad
    def pose(
        self,
        rotations: dict[str, np.ndarray] | None = None,
        shape: dict[str, float] | np.ndarray | None = None,
        batch: int = 1,
    ) -> PosedBody:
        rotations, batch = _batched_rotations(rotations, batch)
        rot = self._identity(batch)
        for joint, value in rotations.items():
            rot[:, _SMPL_JOINTS[joint]] = value
        betas = None if shape is None or isinstance(shape, dict) else np.asarray(shape)
        vertices, joints24 = self._forward(rot, betas, batch)
        joints = joints24[:, [_SMPL_JOINTS[j] for j in JOINT_NAMES]]
        return PosedBody(vertices, joints, self._coco_keypoints(vertices, joints24))

    def _coco_keypoints(self, vertices: np.ndarray, joints24: np.ndarray) -> np.ndarray:
        """COCO keypoints: body joints from SMPL's joints, face points from known vertices."""
        body = {
            "left_shoulder": 16,
            "right_shoulder": 17,
            "left_elbow": 18,
            "right_elbow": 19,
            "left_wrist": 20,
            "right_wrist": 21,
            "left_hip": 1,
            "right_hip": 2,
            "left_knee": 4,
            "right_knee": 5,
            "left_ankle": 7,
            "right_ankle": 8,
        }
        head = joints24[:, 15]
        face = {
            "nose": "nose",
            "left_eye": "leye",
            "right_eye": "reye",
            "left_ear": "lear",
            "right_ear": "rear",
        }
        out = np.zeros((len(vertices), len(COCO_KEYPOINTS), 3))
        for k, name in enumerate(COCO_KEYPOINTS):
            if name in body:
                out[:, k] = joints24[:, body[name]]
            elif self._face_vertices is not None:
                out[:, k] = vertices[:, self._face_vertices[face[name]]]
            else:
                out[:, k] = head
        return out


class _Struct:
    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


def _read_smpl_file(path: Path) -> dict[str, Any]:
    """Read an SMPL model file (.pkl as distributed, or .npz) into plain numpy arrays."""
    import pickle

    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    else:
        with path.open("rb") as fh:
            data = pickle.load(fh, encoding="latin1")
    required = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "f")
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"{path}: not an SMPL model file, missing {', '.join(missing)}")
    out = {}
    for key, value in data.items():
        if hasattr(value, "toarray"):  # scipy sparse J_regressor in the official files
            value = value.toarray()
        elif type(value).__module__.startswith("chumpy"):
            value = np.asarray(value.r)
        out[key] = value
    if "kintree_table" not in out:
        raise ValueError(f"{path}: not an SMPL model file, missing kintree_table")
    return out


def load_body_model(name: str = "anny", model_file: str | None = None) -> BodyModel:
    """The body model called ``name`` ("anny", or "smpl" with its ``model_file``)."""
    if name == "anny":
        return AnnyBody()
    if name == "smpl":
        if not model_file:
            raise ValueError("the SMPL body model needs its model file (--smpl-model FILE)")
        return SmplBody(model_file)
    raise ValueError(f"unknown body model {name!r}: use 'anny' or 'smpl'")


def _quiet_warp() -> None:
    """Keep NVIDIA Warp (Anny's skinning kernels) from printing its banner and a kernel-cache
    line on every start: only its warnings and errors reach the user, except the one that a
    machine without an NVIDIA driver always gets (the skinning runs on the CPU then)."""
    import tempfile

    import warp

    if hasattr(warp.config, "log_level"):
        warp.config.log_level = warp.LOG_WARNING
    else:  # Warp before 1.10
        warp.config.quiet = True  # type: ignore[attr-defined]
    # The driver warning comes from Warp's native code (C stderr), at initialisation.
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            warp.init()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines(keepends=True)
    for line in lines:
        if "Could not find or load the NVIDIA CUDA driver" not in line:
            sys.stderr.write(line)
