"""Submitting: the checks an upload passes, then store, commit, enqueue.

The order matters: everything that can refuse an upload (team, phase dates,
size, format) runs before anything is written, so a refused upload stores
nothing and uses no quota. An accepted file is on disk before its row is
committed, and the row is committed before its job is enqueued, so the
database never names a file that does not exist and a job never names a row
that does not exist (a lost enqueue is repaired by the sweeper).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import redis
from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, selectinload

from challenge import audit, metrics, quota, scoring, storage
from challenge.auth.service import UNVERIFIED, verification_required
from challenge.extensions import db
from challenge.leaderboards.visibility import may_see_scores_of
from challenge.models import Challenge, Membership, Phase, Submission, Team, Track, User, utcnow
from challenge.queue import delete_job, get_queue, revive_embedded
from challenge.rules import service as rules
from challenge.teams.service import team_for

log = logging.getLogger(__name__)
MAX_METHOD = 200
MAX_DESCRIPTION = 2000
MAX_LINK = 500
QuotaExceeded = quota.QuotaExceeded


class SubmitError(Exception):
    """An upload that is refused; ``message`` is for the competitor."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotOnTeam(SubmitError):
    status = 403


class Unverified(SubmitError):
    """REQUIRE_EMAIL_VERIFICATION is on and the uploader's address is not confirmed."""

    status = 403


class RulesNotAccepted(SubmitError):
    """The challenge's rules changed (or were never accepted) since the uploader's last
    acceptance: they must read and accept the version in force first."""

    status = 403

    def __init__(self, message: str, url: str, version: int) -> None:
        super().__init__(message)
        self.url = url
        self.version = version


class PhaseClosed(SubmitError):
    status = 409

    def __init__(self, message: str, when: datetime) -> None:
        super().__init__(message)
        self.when = when


class TooLarge(SubmitError):
    status = 413


class BadFile(SubmitError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def check_open(phase: Phase, now: datetime) -> None:
    if now < phase.opens_at:
        raise PhaseClosed(f"this phase opens at {_stamp(phase.opens_at)}", phase.opens_at)
    if now >= phase.closes_at:
        raise PhaseClosed(f"this phase closed at {_stamp(phase.closes_at)}", phase.closes_at)


def open_phase(track: Track, now: datetime) -> Phase | None:
    """The phase accepting uploads now (the latest opened, if several overlap)."""
    current = [p for p in track.phases if p.is_open(now)]
    return max(current, key=lambda p: p.opens_at) if current else None


def format_error(exc: scoring.FormatError) -> BadFile:
    # str(exc) reads "line 12: <what was expected> (found 'tok')".
    return BadFile(str(exc), exc.line)


@dataclass(frozen=True)
class Metadata:
    """What a team says about a submission (editable until the phase closes)."""

    method: str = ""
    description: str = ""
    link: str = ""
    extra_data: bool = False


def clean_metadata(meta: Metadata) -> Metadata:
    """Normalised metadata, or SubmitError saying which field is wrong and why."""
    method, description, link = " ".join(meta.method.split()), meta.description.strip(), meta.link.strip()
    if len(method) > MAX_METHOD:
        raise SubmitError(f"the method name is at most {MAX_METHOD} characters (got {len(method)})")
    if len(description) > MAX_DESCRIPTION:
        raise SubmitError(f"the description is at most {MAX_DESCRIPTION} characters (got {len(description)})")
    if link:
        if len(link) > MAX_LINK:
            raise SubmitError(f"the link is at most {MAX_LINK} characters (got {len(link)})")
        parts = urlsplit(link)
        # Only web links: a javascript: or data: URL would run in other people's browsers.
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in link):
            raise SubmitError(f"the link must be an http:// or https:// URL (got {link[:80]!r})")
    return Metadata(method, description, link, bool(meta.extra_data))


#: The ``uploads`` metric's outcome for each refusal (a fixed set of labels).
REFUSALS = {NotOnTeam: "not_on_team", RulesNotAccepted: "rules", PhaseClosed: "closed",
            TooLarge: "too_large", BadFile: "bad_file", quota.QuotaExceeded: "quota"}


def submit(user: User, phase: Phase, filename: str, data: bytes,
           meta: Metadata = Metadata(), *, now: datetime | None = None) -> Submission:
    """Check, store, commit and enqueue one upload; returns the queued Submission.

    Raises a SubmitError subclass or QuotaExceeded; then nothing is stored or committed.
    """
    try:
        submission = _submit(user, phase, filename, data, meta, now)
    except (SubmitError, quota.QuotaExceeded) as exc:
        metrics.inc("uploads", outcome=REFUSALS.get(type(exc), "refused"))
        raise
    metrics.inc("uploads", outcome="accepted")
    metrics.observe("upload_bytes", submission.size)
    return submission


def _submit(user: User, phase: Phase, filename: str, data: bytes, meta: Metadata,
            now: datetime | None) -> Submission:
    now = now or utcnow()
    if verification_required(user):
        raise Unverified(UNVERIFIED)
    challenge = phase.track.challenge
    team = team_for(user.id, challenge.id)
    if team is None:
        raise NotOnTeam(f"you are not on a team for {challenge.title}; create or join one first")
    if (rules_due := rules.pending(user, challenge)) is not None:
        url = rules.rules_url(challenge)
        raise RulesNotAccepted(f"the rules of {challenge.title} changed (now version {rules_due.version}) "
                               f"or you have not accepted them yet: read and accept them at {url}, "
                               "then upload again", url, rules_due.version)
    check_open(phase, now)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if len(data) > limit:
        raise TooLarge(f"the file is {len(data)} bytes; the limit is {limit} bytes")
    if not data.strip():
        raise BadFile("the file is empty", None)
    meta = clean_metadata(meta)
    scoring.class_list(phase.track)  # loaded now: the check below reads nothing
    with db.released():  # parsing and storing take time: hold no database lock meanwhile
        try:
            scoring.check_upload(data, phase)
        except scoring.FormatError as exc:
            raise format_error(exc) from exc
        stored = storage.store(phase.id, data)
    submission = Submission(
        # Ids, not relationships: the new row must not join the session (through
        # phase.submissions) before its quota slot is allocated.
        phase_id=phase.id, team_id=team.id, user_id=user.id, method=meta.method,
        description=meta.description, link=meta.link, extra_data=meta.extra_data,
        filename=(filename or "predictions.txt")[-255:], stored_path=stored.path,
        sha256=stored.sha256, size=stored.size, status="queued", created_at=now,
    )
    try:
        quota.allocate_and_commit(submission, phase, team, now)
    except quota.NoLongerOnTeam as exc:
        storage.remove(stored.path)
        raise NotOnTeam(f"you are no longer on the team '{team.name}' in {challenge.title}; "
                        "reload the page to see your team") from exc
    except BaseException:
        storage.remove(stored.path)
        raise
    enqueue_or_leave_to_sweeper(submission)
    return submission


def enqueue(submission: Submission, *, at_front: bool = False) -> None:
    """Put the scoring job on the queue, with the submission's deterministic job id
    (``at_front``: a job being recovered, which has waited its turn already)."""
    get_queue().enqueue(
        "challenge.jobs.score_submission", submission.id,
        job_id=submission.job_id, job_timeout=current_app.config["SCORING_TIMEOUT"],
        description=f"score submission {submission.id}", at_front=at_front,
    )


def enqueue_or_leave_to_sweeper(submission: Submission) -> None:
    """Enqueue a committed submission; if Redis does not answer, log it and carry on: the
    row is the source of truth, and the sweeper enqueues it once Redis answers again."""
    try:
        enqueue(submission)
        return
    except redis.RedisError:
        if not revive_embedded():
            log.exception("could not enqueue submission %s; the sweeper will", submission.id)
            return
    try:  # the embedded Redis had died and has just been started again
        enqueue(submission)
    except redis.RedisError:
        log.exception("could not enqueue submission %s; the sweeper will", submission.id)


RETRY_FIELDS = ("status", "error", "attempts", "quota_refunded_at")


def retry(actor: User | None, submission: Submission) -> None:
    """An organizer's retry of a failed submission: queued again with fresh attempts,
    audited. Its quota standing is unchanged (a refunded slot stays refunded)."""
    if submission.status != "failed":
        raise SubmitError(f"submission {submission.id} is {submission.status}; only a failed "
                          "submission can be retried (rescore a scored one)")
    before = audit.snapshot(submission, RETRY_FIELDS)
    submission.status, submission.error, submission.attempts = "queued", None, 0
    submission.started_at = submission.finished_at = None
    audit.record(actor, "submission.retry", f"submission:{submission.id}",
                 challenge_id=submission.phase.track.challenge_id, before=before,
                 after=audit.snapshot(submission, RETRY_FIELDS))
    db.session.commit()
    try:  # the failed job under the same id makes way for the new one
        delete_job(submission.job_id)
    except redis.RedisError:
        pass  # Redis is away: the sweeper enqueues the row once it is back
    enqueue_or_leave_to_sweeper(submission)


def update_metadata(user: User, submission: Submission, meta: Metadata,
                    *, now: datetime | None = None) -> Submission:
    """Change a submission's metadata: its team's members, until its phase closes.

    Raises NotOnTeam, PhaseClosed or SubmitError; then nothing changes.
    """
    if not any(m.user_id == user.id for m in submission.team.memberships):
        raise NotOnTeam("only the submitting team's members can edit this submission")
    phase = submission.phase
    if (now or utcnow()) >= phase.closes_at:
        raise PhaseClosed(f"this phase closed at {_stamp(phase.closes_at)}; submissions can no longer "
                          "be edited", phase.closes_at)
    meta = clean_metadata(meta)
    submission.method, submission.description = meta.method, meta.description
    submission.link, submission.extra_data = meta.link, meta.extra_data
    db.session.commit()
    return submission


def editable(user: User, submission: Submission, now: datetime | None = None) -> bool:
    return (any(m.user_id == user.id for m in submission.team.memberships)
            and (now or utcnow()) < submission.phase.closes_at)


# ------------------------------------------------------------------ reading

def get_track(slug: str, track_slug: str) -> Track | None:
    return db.session.scalar(
        select(Track).join(Challenge).where(Challenge.slug == slug, Track.slug == track_slug)
    )


def can_view(user: User | None, submission: Submission) -> bool:
    """Own team's members and the challenge's organizers (site admins, its hosts) only."""
    if user is None:
        return False
    if user.manages(submission.phase.track.challenge_id):
        return True
    return any(m.user_id == user.id for m in submission.team.memberships)


#: Own-submission lists come in pages of this many (newest first); ``limit`` may ask for
#: up to MAX_PAGE. A page costs the same whether the team has 10 submissions or 10,000.
PAGE_SIZE = 50
MAX_PAGE = 200


@dataclass
class SubmissionPage:
    """One page of a list, newest first. ``next_before``: pass it as ``before`` for the
    next (older) page; None on the last one."""

    items: list[Submission]
    next_before: int | None


class BadPage(ValueError):
    """``before`` or ``limit`` that is not what a page asks for; the message says what is."""


def page_args(before: str | None, limit: str | None) -> tuple[int | None, int]:
    """``?before=&limit=`` checked: before a positive id, limit 1..MAX_PAGE (default PAGE_SIZE)."""
    def number(name: str, text: str, high: int) -> int:
        if not text.isdigit() or not 1 <= int(text) <= high:
            raise BadPage(f"{name} must be a whole number from 1 to {high} (got {text[:40]!r})")
        return int(text)

    return (number("before", before, 2**62) if before else None,
            number("limit", limit, MAX_PAGE) if limit else PAGE_SIZE)


def _paged(query: Select, before: int | None, limit: int) -> SubmissionPage:
    # Keyset pagination on the primary key (ids grow with upload time): each page is one
    # index range scan, with no OFFSET to walk past, however deep the page.
    if before is not None:
        query = query.where(Submission.id < before)
    query = query.options(
        selectinload(Submission.score), joinedload(Submission.team),
        joinedload(Submission.phase).joinedload(Phase.track).joinedload(Track.challenge),
    ).order_by(Submission.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(query).unique())
    more = len(rows) > limit
    items = rows[:limit]
    return SubmissionPage(items, items[-1].id if more and items else None)


def team_submissions(team: Team, phase: Phase | None = None, *, before: int | None = None,
                     limit: int = PAGE_SIZE) -> SubmissionPage:
    """A page of the team's submissions (in ``phase``, if given), newest first."""
    query = select(Submission).where(Submission.team_id == team.id)
    if phase is not None:
        query = query.where(Submission.phase_id == phase.id)
    return _paged(query, before, limit)


def user_submissions(user: User, challenge_slug: str | None = None, track_slug: str | None = None,
                     *, before: int | None = None, limit: int = PAGE_SIZE) -> SubmissionPage:
    """A page of the submissions of every team the user is on, newest first."""
    teams = select(Membership.team_id).where(Membership.user_id == user.id)
    query = select(Submission).where(Submission.team_id.in_(teams))
    if challenge_slug or track_slug:
        query = query.join(Phase).join(Track).join(Challenge)
    if challenge_slug:
        query = query.where(Challenge.slug == challenge_slug)
    if track_slug:
        query = query.where(Track.slug == track_slug)
    return _paged(query, before, limit)


def scores_visible(user: User, submission: Submission, now: datetime | None = None) -> bool:
    """May ``user`` (already allowed to see the submission) see its scores?
    The phase's visibility rule decides, in its one place."""
    return may_see_scores_of(submission.phase, user, submission.team_id, now)


def quota_status(user: User, phase: Phase, now: datetime | None = None) -> quota.QuotaStatus | None:
    """The user's team's quota in ``phase``; None when the user is on no team for it."""
    team = team_for(user.id, phase.track.challenge_id)
    return quota.status(phase, team, now or utcnow()) if team is not None else None


def pick_phase(track: Track, phase_slug: str | None, now: datetime) -> Phase | None:
    """The named phase, or else the one open now (None when neither exists)."""
    if phase_slug:
        return next((p for p in track.phases if p.slug == phase_slug), None)
    return open_phase(track, now)
