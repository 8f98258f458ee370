"""Where the benches find the real ILSVRC files and the official devkit code."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$ILSVRC_SHARED``, else ``../shared/ilsvrc`` beside the checkout (as CI has it),
    else ``/work/shared/ilsvrc`` (a worktree of this machine sits one level deeper)."""
    if os.environ.get("ILSVRC_SHARED"):
        return Path(os.environ["ILSVRC_SHARED"])
    beside = ROOT.parent / "shared" / "ilsvrc"
    return beside if beside.is_dir() else Path("/work/shared/ilsvrc")


def devkit_dir() -> tuple[Path | None, str]:
    """The devkit's ``evaluation/`` folder from ``$ILSVRC_DEVKIT_EVAL`` (or the older
    ``$ILSVRC_DEVKIT``), with the reason when it is not usable. The devkit's MATLAB code
    is never part of this repository: fetch it yourself (e.g. zhoubolei/CAM's
    ``evaluation/``, which holds the ILSVRC 2014 devkit's ``eval_detection.m``)."""
    value = os.environ.get("ILSVRC_DEVKIT_EVAL") or os.environ.get("ILSVRC_DEVKIT")
    if not value:
        return None, ("set ILSVRC_DEVKIT_EVAL to the devkit's evaluation folder "
                      "(eval_clsloc.m, eval_detection.m; e.g. zhoubolei/CAM's evaluation/)")
    folder = Path(value)
    if not folder.is_dir():
        return None, f"ILSVRC_DEVKIT_EVAL={folder} is not a folder"
    return folder, ""
