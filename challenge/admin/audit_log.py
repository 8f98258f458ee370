"""The console's audit log: a readable, filtered, paged table of organizer actions.

Each entry shows when, who, what, a link to what was acted on and the keys that changed
(before -> after), never raw JSON; a long text's change (rules, an announcement: recorded by
``challenge.rules.text_audit`` as checksums, lengths and a bounded diff) shows that diff.
Filters come as GET parameters (actor, action, challenge, from, to, page) so a filtered
view can be bookmarked or sent to a colleague.
Only entries of the challenges the organizer manages are listed (``access``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, false, func, or_, select
from werkzeug.routing import BuildError

from challenge import ids
from challenge.admin.access import is_site_admin, managed_list, organizer_required
from challenge.admin.paging import PAGE_SIZE, Page, window
from challenge.admin.views import bp
from challenge.extensions import db
from challenge.models import AuditEntry, Challenge, User
from challenge.rules import text_audit

#: A changed value longer than this is cut (a description, a long note) with "…".
VALUE_CHARS = 160
#: "kind:id" targets that have a console page, and that page's endpoint and argument.
TARGET_PAGES = {
    "challenge": ("admin.challenge", "challenge_id"),
    "track": ("admin.track", "track_id"),
    "phase": ("admin.phase", "phase_id"),
    "submission": ("admin.submission", "submission_id"),
    "team": ("admin.team", "team_id"),
    "rescore_run": ("admin.rescore_run", "run_id"),
}
COMMAND_LINE = "command line"
_MISSING = object()


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # part of an e-mail address, or "command line"
    action: str = ""
    challenge: str = ""  # slug
    since: date | None = None
    until: date | None = None  # inclusive
    page: int = 1


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "file" (the two header lines), "hunk", "add", "remove", "same" or "note" (it was cut)
    text: str


@dataclass(frozen=True)
class Change:
    key: str
    before: str | None  # None: the key was not there
    after: str | None
    diff: tuple[DiffLine, ...] = ()  # a long text's unified diff (then before and after are None)

    @property
    def added(self) -> int:
        return sum(line.kind == "add" for line in self.diff)

    @property
    def removed(self) -> int:
        return sum(line.kind == "remove" for line in self.diff)

    @property
    def cut(self) -> bool:
        return any(line.kind == "note" for line in self.diff)


@dataclass
class Row:
    entry: AuditEntry
    actor: str
    target_url: str | None
    changes: list[Change] = field(default_factory=list)


def _date(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name}: {value!r} is not a date like 2012-05-01") from None


def parse_filter(args: Any) -> tuple[AuditFilter, str | None]:
    """The filter in the query string, and the first thing wrong with it (then ignored)."""
    error = None
    try:
        since, until = _date(args.get("from", ""), "from"), _date(args.get("to", ""), "to")
    except FilterError as exc:
        since = until = None
        error = str(exc)
    page = args.get("page", "")
    return AuditFilter(actor=args.get("actor", "").strip()[:200], action=args.get("action", "").strip()[:64],
                       challenge=args.get("challenge", "").strip()[:64], since=since, until=until,
                       page=ids.page_number(page)), error


def _visible(challenges: list[Challenge]) -> Any:
    """Entries of managed challenges; entries of no challenge (a user created, a job
    retried) only for a site admin, never for a host."""
    ids = [c.id for c in challenges]
    own = AuditEntry.challenge_id.in_(ids) if ids else false()
    return or_(own, AuditEntry.challenge_id.is_(None)) if is_site_admin() else own


def _query(where: AuditFilter, challenges: list[Challenge]) -> Select[tuple[AuditEntry]]:
    query = select(AuditEntry).where(_visible(challenges))
    if where.actor:
        if where.actor.lower() == COMMAND_LINE:
            query = query.where(AuditEntry.actor_id.is_(None))
        else:
            pattern = "%" + where.actor.lower().replace("%", "").replace("_", "") + "%"
            people = select(User.id).where(func.lower(User.email).like(pattern))
            query = query.where(AuditEntry.actor_id.in_(people))
    if where.action:
        query = query.where(AuditEntry.action == where.action)
    if where.challenge:
        chosen = next((c.id for c in challenges if c.slug == where.challenge), None)
        query = query.where(AuditEntry.challenge_id == chosen if chosen is not None else false())
    if where.since:
        query = query.where(AuditEntry.at >= datetime.combine(where.since, time(), UTC))
    if where.until:
        query = query.where(AuditEntry.at < datetime.combine(where.until + timedelta(days=1), time(), UTC))
    return query


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested before/after values as dotted keys; lists of tables by their slug
    (a bundle load's ``tracks[cls].phases[test].quota``)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) and "slug" in v for v in value):
        out = {}
        for inner in value:
            key = f"{prefix}[{inner['slug']}]"
            out[key] = "present"
            out.update(_flatten({k: v for k, v in inner.items() if k != "slug"}, key))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "none"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (int, float)):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def _diff_kind(index: int, line: str) -> str:
    if index < 2 and line.startswith(("--- ", "+++ ")):
        return "file"
    if line.startswith(text_audit.CUT_MARK):
        return "note"
    return {"@": "hunk", "+": "add", "-": "remove"}.get(line[:1], "same")


def _diff(text: str) -> tuple[DiffLine, ...]:
    return tuple(DiffLine(_diff_kind(i, line), line) for i, line in enumerate(text.split("\n")))


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """The keys whose value differs, in the order they were recorded (before's, then new ones),
    then the diffs of long texts that ``after`` holds (shown whole, not cut at VALUE_CHARS)."""
    after = dict(after or {})
    diffs = after.pop(text_audit.DIFF_KEY) if isinstance(after.get(text_audit.DIFF_KEY), dict) else {}
    old, new = _flatten(before or {}), _flatten(after)
    keys = list(old) + [k for k in new if k not in old]
    found = [Change(k, _show(old[k]) if k in old else None, _show(new[k]) if k in new else None)
             for k in keys if old.get(k, _MISSING) != new.get(k, _MISSING)]
    return found + [Change(str(name), None, None, _diff(text)) for name, text in diffs.items()
                    if isinstance(text, str) and text]


def target_url(target: str) -> str | None:
    kind, _, ident = target.partition(":")
    page = TARGET_PAGES.get(kind)
    if page is None or not ident.isdigit():
        return None
    try:
        return url_for(page[0], **{page[1]: int(ident)})
    except BuildError:
        return None


def entries(where: AuditFilter, challenges: list[Challenge]) -> Page[Row]:
    query = _query(where, challenges)
    at = window(query, where.page)
    found = db.session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                               .offset(at.offset).limit(PAGE_SIZE)).all()
    return at.of([Row(e, e.actor.email if e.actor else COMMAND_LINE, target_url(e.target),
                      changes(e.before, e.after)) for e in found])


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


@bp.get("/audit")
@organizer_required
def audit_log() -> ResponseReturnValue:
    where, error = parse_filter(request.args)
    challenges = managed_list()
    found = entries(where, challenges)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("admin/audit.html", page=found, where=where, error=error, args=args,
                           actions=actions(), challenges=challenges, command_line=COMMAND_LINE), \
        (400 if error else 200)
