"""Deadline countdowns, rendered on the server: "closes in 3 days 4 hours".

The words are computed at request time (no script), so they are as fresh as the page;
beside them the page shows the absolute UTC time in a ``<time datetime=...>`` element,
which stays right however long the page sits in a tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from challenge.models import Phase, utcnow


def _unit(count: int, name: str) -> str:
    return f"{count} {name}{'' if count == 1 else 's'}"


def duration_text(seconds: float) -> str:
    """A wait in the two largest units that matter: '3 days 4 hours', '5 hours 12 minutes',
    '7 minutes', 'less than a minute'. Rounded down, so a deadline is never later than said."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return _unit(days, "day") + (f" {_unit(hours, 'hour')}" if hours else "")
    if hours:
        return _unit(hours, "hour") + (f" {_unit(minutes, 'minute')}" if minutes else "")
    if minutes:
        return _unit(minutes, "minute")
    return "less than a minute"


@dataclass(frozen=True)
class Countdown:
    """The next deadline of a phase: ``verb`` is 'opens' or 'closes'."""

    verb: str
    at: datetime
    text: str  # e.g. "closes in 3 days 4 hours"

    @property
    def iso(self) -> str:
        """For ``<time datetime=...>``: ISO 8601 in UTC with a Z."""
        return self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def utc_text(self) -> str:
        return self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def countdown(phase: Phase, now: datetime | None = None) -> Countdown | None:
    """'opens in ...' for an upcoming phase, 'closes in ...' for an open one, None once closed."""
    now = now or utcnow()
    if now < phase.opens_at:
        return Countdown("opens", phase.opens_at,
                         f"opens in {duration_text((phase.opens_at - now).total_seconds())}")
    if phase.is_open(now):
        return Countdown("closes", phase.closes_at,
                         f"closes in {duration_text((phase.closes_at - now).total_seconds())}")
    return None
