"""Keep two copies of LLVM from crashing the process.

Mesa's software OpenGL (llvmpipe, used for every offscreen render on a machine without a GPU)
and Triton (imported by torch's compiler stack, which the ``roma`` package pulls in when Anny
is imported) each load their own LLVM. Loading Triton *after* Mesa has loaded its LLVM crashes
the process with a segmentation fault inside ``libtriton``; the other order works.

:func:`guard_triton` is called before the first OpenGL context (in
:mod:`annotator.surface.render`) and before Anny is imported: it imports Triton while that is
still safe, and otherwise blocks it (torch then runs without it, as it does on CPU builds).
"""

from __future__ import annotations

import importlib.util
import logging
import sys

log = logging.getLogger(__name__)


def llvm_loaded() -> bool:
    """True when a shared LLVM library (Mesa's) is already mapped into this process."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libLLVM" in line for line in maps)
    except OSError:  # not Linux: nothing to guard against that we know of
        return False


def guard_triton() -> None:
    """Import Triton now if that is safe, or make it unimportable if it is not."""
    if "triton" in sys.modules:
        return
    if importlib.util.find_spec("triton") is None:
        return
    if llvm_loaded():
        log.info("Mesa's LLVM is already loaded: running torch without Triton")
        sys.modules["triton"] = None  # type: ignore[assignment]
        return
    try:
        import triton  # noqa: F401
    except Exception as exc:  # a broken Triton install must not stop the app
        log.info("Triton unavailable (%s): running torch without it", exc)
        sys.modules["triton"] = None  # type: ignore[assignment]
