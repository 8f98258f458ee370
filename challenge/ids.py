"""Database ids taken from requests: never a 500 for a number the database cannot hold.

Ids are INTEGER columns (at most 2**31 - 1 on PostgreSQL); a larger number in a query
fails there with NumericValueOutOfRange, and beyond 2**63 SQLite's driver raises
OverflowError. So:

- ``<int:...>`` in every route is bounded to that range (a larger path id is a 404);
- ``id_arg`` parses an id from the query string (400 for anything else) and
  ``parse_id`` from any text (None for anything else);
- and the overflow itself, should a number from a form reach a query unchecked,
  answers 400 instead of 500.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DataError
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from challenge.extensions import db

MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


def init_app(app: Flask) -> None:
    """Before any blueprint: routes pick their converters when they are registered."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.register_error_handler(OverflowError, _out_of_range)
    app.register_error_handler(DataError, _out_of_range)


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's ``int`` converter with a default range of 0 to ``MAX_ID``."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = 0,  # noqa: A002
                 max: int | None = MAX_ID, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def parse_id(text: str | None) -> int | None:
    """``text`` as a positive id the database can hold, or None."""
    text = (text or "").strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def id_arg(name: str) -> int | None:
    """The query-string argument ``name`` as an id; None when absent or empty, 400 when not an id."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    value = parse_id(text)
    if value is None:
        raise BadRequest(f"{name}: {text[:40]!r} is not an id (a whole number from 1 to {MAX_ID})")
    return value


def _out_of_range(exc: Exception) -> ResponseReturnValue:
    """Only the database refusing a number; any other error stays a 500 (it is a bug)."""
    if isinstance(exc, DataError):
        if type(exc.orig).__name__ != "NumericValueOutOfRange":
            raise exc
    elif "SQLite INTEGER" not in str(exc):
        raise exc
    db.session.rollback()
    message = "a number in the request is out of range"
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), 400
    return BadRequest(message).get_response()


def page_number(text: str | None) -> int:
    """A ``page=N`` argument: 1 unless it is plain ASCII digits from 1 to 999,999 (a
    larger or odd value is no error: lists clamp to their last page)."""
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"[0-9]{1,6}", text) and int(text) > 0 else 1
