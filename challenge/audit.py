"""Writing the organizers' audit log.

Every organizer action (console, CLI or API) calls ``record`` in the same transaction as
the change itself, so the log and the data cannot disagree: both commit or neither does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select

from challenge.extensions import db
from challenge.models import AuditEntry, Base, User


def snapshot(row: Base, fields: Sequence[str]) -> dict[str, Any]:
    """The named attributes of ``row`` as JSON-ready values (for ``before`` and ``after``)."""
    return {name: _plain(getattr(row, name)) for name in fields}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def record(actor: User | None, action: str, target: str = "", *, challenge_id: int | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           note: str = "") -> AuditEntry:
    """Add one entry to the session; the caller's commit writes it with the change."""
    entry = AuditEntry(actor_id=actor.id if actor is not None else None, action=action, target=target,
                       challenge_id=challenge_id, before=before, after=after, note=note[:2000])
    db.session.add(entry)
    return entry


def recent(challenge_id: int | None = None, limit: int = 200,
           within: Select[tuple[int]] | None = None) -> Sequence[AuditEntry]:
    """The newest entries first, optionally of one challenge; with ``within`` (a select of
    challenge ids), only entries of those challenges (a host's log: no site-wide entries)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if within is not None:
        query = query.where(AuditEntry.challenge_id.in_(within))
    if challenge_id is not None:
        query = query.where(AuditEntry.challenge_id == challenge_id)
    return db.session.scalars(query).all()
