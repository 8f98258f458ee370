"""The console's list of submissions: filters by names, pages, headline scores, retry.

Filters are GET parameters holding names, as organizers know them (challenge, track and
phase slugs, a status, part of a team's name), never internal ids, so a link reads like
``?challenge=ilsvrc2012&track=cls&phase=test&status=failed``. Only submissions of the
challenges the organizer manages are listed (``access``). A failed submission's retry
is the same one the submission page, the Workers page and ``challenge requeue ID`` use
(``submissions.service.retry``: fresh attempts, audited, enqueued as the sweeper would).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import Select, false, select
from sqlalchemy.orm import contains_eager

from challenge import ids
from challenge.admin.access import managed, managed_list, organizer_required
from challenge.admin.paging import PAGE_SIZE, Page, window
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.extensions import db
from challenge.models import STATUSES, Challenge, Phase, Score, Submission, Team, Track
from challenge.submissions import service as submit_service
from challenge.submissions.results import error_name


class ListError(ValueError):
    pass


@dataclass(frozen=True)
class SubmissionFilter:
    challenge: str = ""  # slug
    track: str = ""  # slug
    phase: str = ""  # slug
    status: str = ""
    team: str = ""  # id or part of the name
    moderated: bool = False
    page: int = 1

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (empty ones left out; no page)."""
        return {k: ("1" if v is True else str(v)) for k, v in asdict(self).items()
                if v and k != "page"}


@dataclass(frozen=True)
class Row:
    submission: Submission
    score: Score | None
    score_name: str


@dataclass(frozen=True)
class Choices:
    """What the select boxes offer: names within the managed challenges."""

    challenges: list[Challenge]
    tracks: list[tuple[str, str]]  # (slug, title), of the chosen challenge or all
    phases: list[tuple[str, str]]


def parse_filter(args: dict[str, str]) -> SubmissionFilter:
    page = args.get("page", "")
    return SubmissionFilter(
        challenge=args.get("challenge", "").strip()[:64], track=args.get("track", "").strip()[:64],
        phase=args.get("phase", "").strip()[:64], status=args.get("status", "").strip()[:16],
        team=args.get("team", "").strip()[:100], moderated=args.get("moderated") == "1",
        page=ids.page_number(page))


def choices(where: SubmissionFilter, challenges: list[Challenge]) -> Choices:
    chosen = [c for c in challenges if c.slug == where.challenge] or challenges
    tracks = {t.slug: t.title for c in chosen for t in c.tracks}
    phases = {p.slug: p.title or p.slug for c in chosen for t in c.tracks
              if not where.track or t.slug == where.track for p in t.phases}
    return Choices(challenges, sorted(tracks.items()), sorted(phases.items()))


def _query(where: SubmissionFilter, challenges: list[Challenge]) -> Select[tuple[Submission]]:
    if where.status and where.status not in STATUSES:
        raise ListError(f"status: {where.status!r} is not one of {' | '.join(STATUSES)}")
    ids_ = [c.id for c in challenges]
    query = (select(Submission).join(Submission.phase).join(Phase.track).join(Track.challenge)
             .join(Submission.team)
             .where(Challenge.id.in_(ids_) if ids_ else false()))
    if where.challenge:
        query = query.where(Challenge.slug == where.challenge)
    if where.track:
        query = query.where(Track.slug == where.track)
    if where.phase:
        query = query.where(Phase.slug == where.phase)
    if where.status:
        query = query.where(Submission.status == where.status)
    if where.team:
        team_id = ids.parse_id(where.team)
        query = query.where(Team.id == team_id if team_id is not None
                            else Team.name.ilike(f"%{where.team.replace('%', '').replace('_', '')}%"))
    if where.moderated:
        query = query.where((Submission.moderation != "") | (Team.moderation != ""))
    return query


def list_page(where: SubmissionFilter, challenges: list[Challenge]) -> Page[Row]:
    """One page (newest first) of the submissions matching ``where``, with their scores."""
    query = _query(where, challenges)
    at = window(query, where.page)
    found = db.session.execute(
        query.add_columns(Score).outerjoin(Score, Score.submission_id == Submission.id)
        .options(contains_eager(Submission.phase).contains_eager(Phase.track).contains_eager(Track.challenge),
                 contains_eager(Submission.team))
        .order_by(Submission.id.desc()).offset(at.offset).limit(PAGE_SIZE)).all()
    return at.of([Row(s, score, error_name(s.phase.track)) for s, score in found])


@bp.get("/submissions")
@organizer_required
def submissions() -> ResponseReturnValue:
    where = parse_filter(request.args)
    challenges = managed_list()
    status = 200
    try:
        found = list_page(where, challenges)
    except ListError as exc:
        flash(str(exc), "error")
        found, status = Page([], 0, 1, 1), 400
    return render_template("admin/submissions.html", page=found, where=where, statuses=STATUSES,
                           options=choices(where, challenges), args=where.args()), status


@bp.post("/submissions/retry")
@organizer_required
def submissions_retry() -> ResponseReturnValue:
    """Retry one failed submission from the list, then show the same filtered page."""
    where = parse_filter(request.form)
    back = url_for("admin.submissions", **where.args(), **({"page": where.page} if where.page > 1 else {}))
    if not FlaskForm().validate_on_submit():  # the CSRF token
        flash("Not retried: the form expired; please try again.", "error")
        return redirect(back)
    ident = ids.parse_id(request.form.get("submission_id", ""))
    submission = managed(db.session.get(Submission, ident) if ident is not None else None)
    try:
        submit_service.retry(me(), submission)
    except submit_service.SubmitError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Submission {submission.id} is queued again.", "success")
    return redirect(back)
