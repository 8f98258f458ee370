"""The public board as flat rows, for CSV and JSON downloads."""

from __future__ import annotations

from typing import Any

from challenge import csv_export
from challenge.leaderboards.service import Entry

COLUMNS = ("rank", "tie_group", "team", "method", "submitted_at", "error", "top1_error",
           "cls_error", "ci95_low", "ci95_high", "diff_vs_above", "diff_low", "diff_high",
           "significant_vs_above", "outside_data", "reference")


def rows(entries: list[Entry], task: str) -> list[dict[str, Any]]:
    """One dict per entry; ``cls_error`` only on localization tracks."""
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
        out.append(row)
    return out


def to_csv(entries: list[Entry], task: str) -> str:
    columns = [c for c in COLUMNS if task == "localization" or c != "cls_error"]
    return csv_export.to_csv(columns, rows(entries, task))
