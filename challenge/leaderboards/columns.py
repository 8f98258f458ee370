"""A board's columns, as the track's task declares them (``scorer.tasks``): the one place
the pages, downloads and API learn which numbers a row shows and what they are called."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import scorer.tasks
from challenge import scoring
from challenge.leaderboards.real import RealColumn
from challenge.models import Track

Column = scorer.tasks.Column


def value(entry: Any, column: Column) -> float | None:
    """The column's number on a board entry (an ``Entry`` or a stored row dict)."""
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    if column.source == "top1":
        at_k = get("error_at_k")
        return at_k[0] if at_k else None
    return get(column.source)


def board_columns(track: Track, entries: Iterable[Any] = ()) -> list[Column]:
    """The task's columns; the classification error of a localization board only when some
    entry has one (scores stored before class outcomes were kept have none on split boards)."""
    entries = list(entries)
    return [c for c in scoring.task_of(track).columns
            if c.source != "cls_error" or any(value(e, c) is not None for e in entries)]


def export_key(column: Column) -> str:
    """The column's name in CSV and JSON downloads (kept from before the registry)."""
    return {"top1": "top1_error"}.get(column.source, column.key)


def task_named(name: str) -> scorer.tasks.Task:
    """A task by name; a board published under a task no longer installed reads as classification."""
    return scorer.tasks.registry().get(name) or scorer.tasks.get("classification")


def export_columns(task: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(download key, label, format) of the task's columns present in published rows (a
    localization board published before class outcomes were kept has no ``cls_error``)."""
    out = []
    for c in task_named(task).columns:
        key = export_key(c)
        if any(r.get(key) is not None for r in rows) or c.source == "error":
            out.append((key, c.label.replace(" ({k})", ""), c.format))
    # A classification phase with ReaL labels (leaderboards.real) publishes them too.
    for k in (1, 5):
        key = RealColumn(k).key
        if any(r.get(key) is not None for r in rows):
            out.append((key, RealColumn(k).title, "%.5f"))
    return out
