"""Who may use the console, and for which challenges.

Two roles (docs/organizers.md has the table of who may do what):

- a site admin (``User.is_organizer``): every challenge, and the site-wide pages
  (creating challenges, loading bundles, the workers page, adding hosts);
- a host (a ``challenge_host`` row): everything an organizer does, for the challenges
  they host only.

Everyone else, and a host asking for another challenge's page, gets 404, not a hint
(the console's existence, and which challenges exist in it, are no business of theirs).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, false, select

from challenge.extensions import db
from challenge.models import Challenge, ChallengeHost, Phase, Submission, Team, Track, User


def _user() -> User | None:
    return current_user if current_user.is_authenticated else None  # type: ignore[return-value]


def organizer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Any console user: a site admin or the host of at least one challenge. A view for one
    challenge must still check ``can_manage`` (or use ``managed``) for that challenge."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = _user()
        if user is None or not user.uses_console:
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def site_admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Site-wide console pages: site admins only (404 for hosts too)."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = _user()
        if user is None or not user.is_site_admin:
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def is_site_admin() -> bool:
    user = _user()
    return user is not None and user.is_site_admin


def can_manage(challenge: Challenge | int | None) -> bool:
    """May the current user run ``challenge`` (a Challenge or its id) in the console?"""
    user = _user()
    if user is None or challenge is None:
        return False
    return user.manages(challenge if isinstance(challenge, int) else challenge.id)


def managed_challenges() -> Select[tuple[Challenge]]:
    """A select of the challenges the current user may manage, newest year first (all of
    them for a site admin, none for anyone outside the console). Add ``where`` clauses or
    use ``.with_only_columns(Challenge.id)`` as a subquery to scope other queries."""
    query = select(Challenge).order_by(Challenge.year.desc(), Challenge.id)
    user = _user()
    if user is None:
        return query.where(false())
    if user.is_site_admin:
        return query
    hosted = select(ChallengeHost.challenge_id).where(ChallengeHost.user_id == user.id)
    return query.where(Challenge.id.in_(hosted))


def managed_list() -> list[Challenge]:
    """``managed_challenges()`` loaded, newest year first and by slug: the console's lists
    and select boxes."""
    query = managed_challenges().order_by(None).order_by(Challenge.year.desc(), Challenge.slug)
    return list(db.session.scalars(query))


def managed_ids() -> Select[tuple[int]]:
    """The ids of ``managed_challenges()``, unordered: for ``Challenge.id.in_(...)`` and the
    like, to scope other queries (submissions, audit entries, phases)."""
    return managed_challenges().with_only_columns(Challenge.id).order_by(None)


_CHALLENGE_OF: dict[type, Callable[[Any], int]] = {
    Challenge: lambda c: c.id,
    Track: lambda t: t.challenge_id,
    Phase: lambda p: p.track.challenge_id,
    Team: lambda t: t.challenge_id,
    Submission: lambda s: s.phase.track.challenge_id,
}


def challenge_id_of(row: Challenge | Track | Phase | Team | Submission) -> int:
    return _CHALLENGE_OF[type(row)](row)


Row = TypeVar("Row", Challenge, Track, Phase, Team, Submission)


def managed(row: Row | None) -> Row:
    """``row`` if it exists and belongs to a challenge the current user manages; 404 otherwise
    (the same answer as for a row that does not exist)."""
    if row is None or not can_manage(challenge_id_of(row)):
        abort(404)
    return row
