"""The console's front page: what needs an organizer's eye right now.

Queue depth and live workers (read live from RQ, as the Workers and queues page does),
uploads per day over the last fortnight, and each challenge's participation, a page of
``CHALLENGES_PER_PAGE`` challenges at a time (newest year first). Every number is limited to
the challenges the organizer manages (``access.managed_challenges``); the chart counts all of
them whichever page is shown. Reads only: a GET never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import redis
from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, distinct, func, select

from challenge import ids
from challenge.admin import workers
from challenge.admin.access import managed_challenges, managed_ids, organizer_required
from challenge.admin.paging import Page, window
from challenge.admin.views import bp
from challenge.extensions import db
from challenge.models import Challenge, Phase, Submission, Team, Track, utcnow

#: Days shown in the uploads-per-day chart (today included).
DAYS = 14
#: Challenges a page of the participation table (a site admin of many years pages through).
CHALLENGES_PER_PAGE = 20


@dataclass(frozen=True)
class Day:
    day: date
    count: int


@dataclass(frozen=True)
class Participation:
    challenge: Challenge
    teams: int  # competing teams (reference teams left out)
    active_teams: int  # teams with at least one submission
    users: int  # people who uploaded at least one submission
    submissions: int
    failed: int


@dataclass(frozen=True)
class Queues:
    queues: list[workers.QueueRow]
    live_workers: int
    busy_workers: int
    error: str  # non-empty when Redis did not answer


@dataclass(frozen=True)
class Dashboard:
    queues: Queues
    days: list[Day]
    participation: Page[Participation]  # this page's challenges

    @property
    def busiest(self) -> int:
        return max((d.count for d in self.days), default=0)


def queue_state() -> Queues:
    """Depth of every queue and the workers that answer, or why Redis could not say."""
    try:
        overview = workers.overview()
    except redis.RedisError as exc:
        return Queues([], 0, 0, f"Redis does not answer ({exc.__class__.__name__}); uploads wait in the "
                                "database and the sweeper queues them once it is back")
    busy = sum(1 for w in overview.workers if w.job_id)
    return Queues(overview.queues, len(overview.workers), busy, "")


def per_day(challenge_ids: Select[tuple[int]], days: int = DAYS) -> list[Day]:
    """Uploads per UTC day to the challenges ``challenge_ids`` selects, oldest first, ending
    today; days without uploads count 0."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    counts = dict.fromkeys((first + timedelta(days=i) for i in range(days)), 0)
    # Bucketed here rather than in SQL: date functions differ between SQLite and
    # PostgreSQL (whose session time zone would shift the day); one column of a
    # fortnight's rows is cheap.
    since = datetime.combine(first, time(), UTC)
    stamps = db.session.scalars(
        select(Submission.created_at).join(Phase).join(Track)
        .where(Track.challenge_id.in_(challenge_ids), Submission.created_at >= since))
    for stamp in stamps:
        day = stamp.date()
        if day in counts:
            counts[day] += 1
    return [Day(day, n) for day, n in counts.items()]


def participation(challenges: list[Challenge]) -> list[Participation]:
    """Per challenge: teams, teams and people that uploaded, submissions, failures."""
    ids = [c.id for c in challenges]
    if not ids:
        return []
    teams = dict(db.session.execute(
        select(Team.challenge_id, func.count(Team.id))
        .where(Team.challenge_id.in_(ids), Team.is_reference.is_(False)).group_by(Team.challenge_id)).all())
    uploads = select(Track.challenge_id.label("cid"), Submission.team_id, Submission.user_id,
                     Submission.status).join(Phase, Phase.track_id == Track.id) \
        .join(Submission, Submission.phase_id == Phase.id) \
        .join(Team, Team.id == Submission.team_id) \
        .where(Track.challenge_id.in_(ids), Team.is_reference.is_(False)).subquery()
    rows = db.session.execute(
        select(uploads.c.cid, func.count(distinct(uploads.c.team_id)),
               func.count(distinct(uploads.c.user_id)), func.count(),
               func.count().filter(uploads.c.status == "failed"))
        .group_by(uploads.c.cid)).all()
    stats = {cid: (active, users, total, failed) for cid, active, users, total, failed in rows}
    return [Participation(c, teams.get(c.id, 0), *stats.get(c.id, (0, 0, 0, 0))) for c in challenges]


def dashboard(requested: int = 1) -> Dashboard:
    """The dashboard with page ``requested`` of the managed challenges, newest first: by
    year, then the latest created."""
    query = managed_challenges().order_by(None).order_by(Challenge.year.desc(), Challenge.id.desc())
    at = window(query, requested, CHALLENGES_PER_PAGE)
    challenges = list(db.session.scalars(query.offset(at.offset).limit(at.size)))
    return Dashboard(queue_state(), per_day(managed_ids()), at.of(participation(challenges)))


@bp.get("/")
@organizer_required
def index() -> ResponseReturnValue:
    return render_template("admin/index.html", d=dashboard(ids.page_number(request.args.get("page"))))
