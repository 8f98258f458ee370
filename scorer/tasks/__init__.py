"""The registry of tasks: one module per task, plus operator-installed ones.

``get(name)`` and ``all()`` return ``Task`` objects (``scorer.tasks.base``). The built-in
tasks are ``classification``, ``localization``, ``hierarchical`` and ``detection``; an
operator adds a task by installing a Python package that declares an entry point in the
group ``ilsvrc_challenge.tasks`` whose object is a ``Task`` (trusted code, installed on
the servers by the operator: nothing a participant or organizer uploads is ever
imported). Entry points are read once per process, on first use.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

from scorer.tasks.base import DIRECTIONS, Column, Task, paired_images

log = logging.getLogger(__name__)

#: The entry-point group an installed package declares its tasks in.
ENTRY_POINT_GROUP = "ilsvrc_challenge.tasks"
#: Built-in task modules, each with a module-level ``TASK``; detection is imported on first
#: use of the registry only (its XML and tar code is not needed to score classification).
BUILTIN = ("classification", "localization", "hierarchical", "detection")

_registry: dict[str, Task] | None = None


class UnknownTask(ValueError):
    """A task name that is neither built in nor installed."""


def _load() -> dict[str, Task]:
    found: dict[str, Task] = {}
    for module in BUILTIN:
        task = importlib.import_module(f"scorer.tasks.{module}").TASK
        found[task.name] = task
    for point in entry_points(group=ENTRY_POINT_GROUP):
        task = point.load()
        if not isinstance(task, Task):
            raise TypeError(f"entry point {point.name!r} of {ENTRY_POINT_GROUP} is not a "
                            f"scorer.tasks.Task (got {type(task).__name__})")
        if task.name in found:
            if found[task.name] is not task:
                log.warning("installed task %r ignored: the name is taken", task.name)
            continue
        found[task.name] = task
    return found


def registry() -> dict[str, Task]:
    """Every task by name, built-in first (loaded once per process)."""
    global _registry
    if _registry is None:
        _registry = _load()
    return _registry


def reload() -> dict[str, Task]:
    """Read the installed entry points again (after installing a package in this process)."""
    global _registry
    _registry = None
    return registry()


def all() -> list[Task]:  # noqa: A001 (the registry's own name for "every task")
    return list(registry().values())


def names() -> tuple[str, ...]:
    return tuple(registry())


def boxed() -> str:
    """The tasks whose ground truth has boxes, for messages: 'localization or detection'."""
    return " or ".join(t.name for t in all() if t.needs_boxes)


def with_real() -> str:
    """The tasks whose phases may carry ReaL labels, for messages: 'classification'."""
    return " or ".join(t.name for t in all() if t.real_ok)


def image_count(truth: object) -> int:
    """How many images a task's parsed ground truth covers (a count, or detection's image list)."""
    images = truth.images  # type: ignore[attr-defined]
    return images if isinstance(images, int) else len(images)


def get(name: str) -> Task:
    """The task called ``name``; ``UnknownTask`` naming the known ones otherwise."""
    try:
        return registry()[name]
    except KeyError:
        raise UnknownTask(f"unknown task {name!r}; known tasks: {', '.join(registry())}") from None


__all__ = ["BUILTIN", "DIRECTIONS", "ENTRY_POINT_GROUP", "Column", "Task", "UnknownTask", "all", "boxed",
           "get", "image_count", "names", "paired_images", "registry", "reload", "with_real"]
