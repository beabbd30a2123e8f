"""Self-describing checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so loading one never runs
code, whatever its source. It carries everything to rebuild and continue the run: the resolved
config, the atlas it was trained for (body model and a digest of the charts), the iteration,
the model, optimizer, LR schedule and grad-scaler states, and the random generator states.
Files are written to a temporary name and renamed, so a run killed while saving keeps its
previous checkpoint; ``last_checkpoint`` names the newest one.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotator.surface.atlas import Atlas

FORMAT = "dpstudio-densepose-checkpoint"
VERSION = 1
LAST = "last_checkpoint"


class CheckpointError(ValueError):
    """The file is not a checkpoint of ours, is damaged, or belongs to another atlas."""


#: The atlas identity of a model that speaks the official DensePose charts (detectron2's zoo):
#: SMPL cut and flattened as DensePose's ``UV_Processed.mat`` says, whatever the digest of the
#: user's SMPL build.
OFFICIAL_CHARTS = {"body": "smpl", "digest": "densepose-official"}


def atlas_identity(atlas: Atlas) -> dict[str, str]:
    """Body model and a digest of the charts: what the model's (I, U, V) mean
    (:data:`OFFICIAL_CHARTS` for an SMPL atlas of the official charts)."""
    if atlas.official_charts:
        return dict(OFFICIAL_CHARTS)
    digest = hashlib.sha1()
    for array in (
        atlas.faces.astype(np.int64),
        atlas.face_chart.astype(np.int64),
        atlas.face_uv.astype(np.float32),
    ):
        digest.update(array.tobytes())
    return {"body": atlas.body, "digest": digest.hexdigest()[:16]}


def rng_state() -> dict[str, Any]:
    """Torch, NumPy and Python generator states as tensors and plain values."""
    np_state: Any = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_pos": int(np_state[2]),
        "python": _python_state(),
    }


def _python_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    return {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(
        ("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0)
    )
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        config: the resolved run config (``Config.to_dict()``).
        atlas: ``{"body", "digest"}`` of the atlas the model was trained for.
        iteration: iterations done.
        model: the model's state dict.
        training: optimizer, scheduler, scaler and RNG states (None in a weights-only file).
        path: where it was read from.
        origin: where an imported model came from (detectron2 file, its SHA-256, zoo name).
    """

    config: dict[str, Any]
    atlas: dict[str, str]
    iteration: int
    model: dict[str, torch.Tensor]
    training: dict[str, Any] | None
    path: Path
    origin: dict[str, str] | None = None

    @property
    def official_charts(self) -> bool:
        """The model speaks the official DensePose charts (a detectron2 model, or one trained
        on official DensePose-COCO charts)."""
        return self.atlas == OFFICIAL_CHARTS

    def check_atlas(self, atlas: Atlas) -> None:
        """Refuse a model trained for another body model or other charts."""
        mine = atlas_identity(atlas)
        if mine != self.atlas:
            raise CheckpointError(
                f"{self.path}: the model was trained for the {self.atlas['body']} atlas "
                f"(charts {self.atlas['digest']}), not for {mine['body']} (charts "
                f"{mine['digest']}): its (I, U, V) mean other surface points. Use the atlas "
                "it was trained with (--body / --atlas) or train for this one."
            )


def save_checkpoint(
    path: Path,
    *,
    config: dict[str, Any],
    atlas: dict[str, str],
    iteration: int,
    model: dict[str, torch.Tensor],
    training: dict[str, Any] | None,
    origin: dict[str, str] | None = None,
) -> Path:
    """Write atomically and point ``last_checkpoint`` at it."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": config,
        "atlas": atlas,
        "iteration": iteration,
        "model": model,
        "training": training,
    }
    if origin is not None:
        payload["origin"] = origin
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    last = path.parent / LAST
    last_tmp = path.parent / (LAST + ".tmp")
    last_tmp.write_text(path.name + "\n")
    last_tmp.replace(last)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint file, the newest of a run folder, or a zoo model (``zoo:NAME``)."""
    if str(path).startswith("zoo:"):
        from model.zoo.local import zoo_checkpoint

        try:
            path = zoo_checkpoint(str(path))
        except ValueError as exc:  # not on this machine, or the file does not import
            raise CheckpointError(str(exc)) from exc
    path = Path(path)
    if path.is_dir():
        path = latest_checkpoint(path) or path / "model_final.pth"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of old files
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused: it holds objects other than tensors and plain data, and loading "
            "them could run code, which DensePose Studio never runs (a detectron2 file: "
            "dpstudio model import-detectron2)"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (damaged, or another format: {type(exc).__name__})"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a DensePose Studio checkpoint (no '{FORMAT}' tag)")
    if int(data.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"{path}: written by a newer DensePose Studio (version "
            f"{data['version']}); update to read it"
        )
    return Checkpoint(
        config=data["config"],
        atlas=data["atlas"],
        iteration=int(data["iteration"]),
        model=data["model"],
        training=data.get("training"),
        path=path,
        origin=data.get("origin"),
    )


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``last_checkpoint`` names in a run folder, if any."""
    last = run_dir / LAST
    if not last.is_file():
        return None
    candidate = run_dir / last.read_text().strip()
    return candidate if candidate.is_file() else None
