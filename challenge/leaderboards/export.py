"""The public board as flat rows, for CSV and JSON downloads."""

from __future__ import annotations

from typing import Any

from challenge import csv_export
from challenge.leaderboards.real import RealColumn
from challenge.leaderboards.service import Entry

COLUMNS = ("rank", "tie_group", "team", "method", "submitted_at", "error", "top1_error",
           "cls_error", "ci95_low", "ci95_high", "diff_vs_above", "diff_low", "diff_high",
           "significant_vs_above", "outside_data", "reference")


def rows(entries: list[Entry], task: str, real: tuple[RealColumn, ...] = ()) -> list[dict[str, Any]]:
    """One dict per entry; ``cls_error`` only on localization tracks; the ReaL columns
    (``leaderboards.real.real_columns``) after the original errors, when the phase has them."""
    out: list[dict[str, Any]] = []
    for e in entries:
        row: dict[str, Any] = {
            "rank": e.rank, "tie_group": e.group, "team": e.team, "method": e.method,
            "submitted_at": e.submitted_at.isoformat(), "error": e.error,
            "top1_error": e.error_at_k[0] if e.error_at_k else None,
            "cls_error": e.cls_error, "ci95_low": e.ci_low, "ci95_high": e.ci_high,
            "diff_vs_above": e.diff, "diff_low": e.diff_low, "diff_high": e.diff_high,
            "significant_vs_above": e.significant, "outside_data": e.outside_data,
            # The organizers' baselines: shown on the board, never ranked (rank is empty).
            "reference": e.reference,
        }
        if task != "localization":
            del row["cls_error"]
        if real:
            row = _with_real(row, e, real)
        out.append(row)
    return out


def _with_real(row: dict[str, Any], entry: Entry, real: tuple[RealColumn, ...]) -> dict[str, Any]:
    """``row`` with the ReaL columns placed right after ``top1_error``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key == "top1_error":
            out.update((c.key, c.value(entry)) for c in real)
    return out


def columns(task: str, real: tuple[RealColumn, ...] = ()) -> list[str]:
    """The CSV's columns, in order."""
    out: list[str] = []
    for c in COLUMNS:
        if task == "localization" or c != "cls_error":
            out.append(c)
        if c == "top1_error":
            out += [r.key for r in real]
    return out


def to_csv(entries: list[Entry], task: str, real: tuple[RealColumn, ...] = ()) -> str:
    return csv_export.to_csv(columns(task, real), rows(entries, task, real))
