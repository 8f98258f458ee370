"""Who may use the console: logged-in organizers; everyone else gets 404, not a hint."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, select

from challenge.models import Challenge


def organizer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        # 404 rather than 403: the console's existence is no business of competitors.
        if not current_user.is_authenticated or not current_user.is_organizer:
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def managed_challenges() -> Select[tuple[Challenge]]:
    """The challenges the current organizer may manage, as a query to filter and order.

    Placeholder until per-challenge hosts land (the ``hosts`` branch defines the real
    one under the same name): every organizer manages every challenge."""
    return select(Challenge)


def can_manage(challenge: Challenge) -> bool:
    """May the current user manage ``challenge`` (see ``managed_challenges``)?"""
    return bool(current_user.is_authenticated and current_user.is_organizer)
