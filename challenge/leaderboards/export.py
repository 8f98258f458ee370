"""The public board as flat rows, for CSV and JSON downloads."""

from __future__ import annotations

from typing import Any

from challenge import csv_export, scoring
from challenge.leaderboards.columns import export_key
from challenge.leaderboards.real import RealColumn
from challenge.leaderboards.service import Entry
from challenge.models import Track

HEAD = ("rank", "tie_group", "team", "method", "submitted_at")
_ORDER = ("error", "top1_error", "cls_error")
TAIL = ("ci95_low", "ci95_high", "diff_vs_above", "diff_low", "diff_high",
        "significant_vs_above", "outside_data", "reference")


def columns(track: Track, real: tuple[RealColumn, ...] = ()) -> list[str]:
    """The download's columns: the task's board columns between the fixed ones (the headline
    is always ``error``; ``cls_error`` on localization tracks, ``top1_error`` where declared),
    and the ReaL columns (``leaderboards.real.real_columns``) right after ``top1_error``."""
    declared = [export_key(c) for c in scoring.task_of(track).columns]
    # The order downloads had before tasks declared their columns.
    numbers = sorted(declared, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER))
    out = list(HEAD)
    for key in numbers:
        out.append(key)
        if key == "top1_error":
            out += [r.key for r in real]
    return [*out, *TAIL]


def rows(entries: list[Entry], track: Track, real: tuple[RealColumn, ...] = ()) -> list[dict[str, Any]]:
    """One dict per entry, with the columns of ``columns(track, real)``."""
    keep = columns(track, real)
    out: list[dict[str, Any]] = []
    for e in entries:
        row: dict[str, Any] = {
            "rank": e.rank, "tie_group": e.group, "team": e.team, "method": e.method,
            "submitted_at": e.submitted_at.isoformat(), "error": e.error,
            "top1_error": e.error_at_k[0] if e.error_at_k else None,
            "cls_error": e.cls_error, "categories_won": e.won, "ci95_low": e.ci_low, "ci95_high": e.ci_high,
            "diff_vs_above": e.diff, "diff_low": e.diff_low, "diff_high": e.diff_high,
            "significant_vs_above": e.significant, "outside_data": e.outside_data,
            # The organizers' baselines: shown on the board, never ranked (rank is empty).
            "reference": e.reference,
        }
        row.update((c.key, c.value(e)) for c in real)
        out.append({k: row[k] for k in keep})
    return out


def to_csv(entries: list[Entry], track: Track, real: tuple[RealColumn, ...] = ()) -> str:
    return csv_export.to_csv(columns(track, real), rows(entries, track, real))
