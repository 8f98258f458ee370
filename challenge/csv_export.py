"""The one CSV writer for every CSV the platform serves (public boards, console exports).

Team-written text (team and method names, descriptions, file names) must not start a
spreadsheet formula when someone opens the file ("=HYPERLINK(...)", "=cmd|..."): a
string cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading ``'``, which spreadsheets read as "this is text". Numbers are written as
numbers (a negative difference stays -0.01); None is an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A header line, then one line per row (keys outside ``columns`` are an error)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: cell(value) for key, value in row.items()})
    return buffer.getvalue()
