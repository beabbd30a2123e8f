"""Zoo models on this machine: the downloaded files and their imported checkpoints.

Both live in the user cache (``annotator.paths.cache_dir() / "zoo"``)::

    zoo/model_final_162be9.pkl        detectron2's file, as published (downloaded or put here)
    zoo/R_50_FPN_s1x/model_imported.pth   the studio checkpoint made from it

``zoo:NAME`` names a zoo model wherever a checkpoint is asked for (predict, evaluate,
compare, pre-annotation, ``--weights`` of training): :func:`zoo_checkpoint` imports the
file the first time (seconds) and reuses the checkpoint afterwards. Nothing is downloaded
at run time: ``dpstudio model zoo get NAME`` downloads, once, when the machine is online;
offline it says where to put the file.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from model.zoo.catalog import DOWNLOADS, ZooModel, zoo_config, zoo_model

#: A mirror of detectron2's downloads (same layout); the tests point it at a local folder.
MIRROR_ENV = "DPSTUDIO_ZOO_MIRROR"


class ZooError(ValueError):
    """A zoo model that is not on this machine, or a download that failed."""


def zoo_dir() -> Path:
    from annotator.paths import cache_dir

    return cache_dir() / "zoo"


def downloaded_file(model: ZooModel) -> Path:
    return zoo_dir() / model.file_name


def imported_checkpoint(model: ZooModel) -> Path:
    return zoo_dir() / model.name / "model_imported.pth"


def zoo_checkpoint(name: str) -> Path:
    """The studio checkpoint of zoo model ``name`` (``zoo:`` prefix allowed), imported from
    its downloaded file the first time.

    Raises:
        ZooError: the model is unknown, or its file is not on this machine.
    """
    from model.zoo.convert import import_detectron2

    try:
        model = zoo_model(name)
    except KeyError as exc:
        raise ZooError(str(exc.args[0])) from exc
    ckpt = imported_checkpoint(model)
    if ckpt.is_file():
        return ckpt
    file = downloaded_file(model)
    if not file.is_file():
        raise ZooError(
            f"zoo:{model.name} is not on this machine: `dpstudio model zoo get {model.name}` "
            f"downloads it, or put {model.file_name} (from {model.url}) in {zoo_dir()}"
        )
    return import_detectron2(file, zoo_config(model), ckpt, zoo_name=model.name)


def download(
    name: str, progress: Callable[[int, int], None] | None = None, timeout: float = 30.0
) -> Path:
    """Download zoo model ``name``'s file into the cache, unless it is there already.

    Args:
        progress: called with (bytes so far, total bytes or 0) as the file arrives.

    Raises:
        ZooError: unknown model, offline, or the download failed (nothing partial is kept).
    """
    try:
        model = zoo_model(name)
    except KeyError as exc:
        raise ZooError(str(exc.args[0])) from exc
    target = downloaded_file(model)
    if target.is_file():
        return target
    if os.environ.get("DPSTUDIO_OFFLINE") == "1":
        raise ZooError(_offline(model, "DPSTUDIO_OFFLINE=1"))
    url = model.url
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        url = mirror.rstrip("/") + url.removeprefix(DOWNLOADS)
    _fetch(url, target, model, progress, timeout)
    return target


def _fetch(
    url: str,
    target: Path,
    model: ZooModel,
    progress: Callable[[int, int], None] | None,
    timeout: float,
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, part.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(1 << 20):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
        part.replace(target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise ZooError(_offline(model, str(getattr(exc, "reason", exc)))) from exc


def _offline(model: ZooModel, why: str) -> str:
    return (
        f"zoo:{model.name}: cannot download {model.url} ({why}); on a machine that is online, "
        f"download it and put {model.file_name} in {zoo_dir()}"
    )
