"""Numbered pages of the console's long lists (the audit log, submissions, the dashboard's
challenges).

Offset pages, not keyset ones: organizers jump to "page 7 of 12" of a filtered list, and
the lists they filter are small enough (one challenge's entries) for an offset to be cheap.
A page number past the end shows the last page rather than an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from challenge.extensions import db

#: Rows a page.
PAGE_SIZE = 50
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Window:
    """Which page of how many to read: ``query.offset(w.offset).limit(PAGE_SIZE)``."""
    total: int
    page: int
    pages: int
    size: int = PAGE_SIZE  # rows a page

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def of(self, rows: list[T]) -> Page[T]:
        return Page(rows, self.total, self.page, self.pages)


def window(query: Select[Any], requested: int, size: int = PAGE_SIZE) -> Window:
    """The page ``requested`` (1-based, clamped to the last) of ``query``'s rows, ``size``
    rows a page."""
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // size))
    return Window(total, min(max(requested, 1), pages), pages, size)
