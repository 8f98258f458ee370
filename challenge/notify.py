"""The platform's messages to people, composed here and queued through ``challenge.mail``.

Each function builds the text and enqueues it; the sending happens in a worker job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import select

from challenge import mail
from challenge.db import read_only
from challenge.extensions import db
from challenge.job_app import job_app
from challenge.leaderboards.visibility import visible_scores
from challenge.models import Announcement, Challenge, FinalResults, Membership, Submission, Team, User, utcnow
from challenge.queue import get_queue

log = logging.getLogger(__name__)


def submission_finished(submission: Submission) -> None:
    """Queue the uploader's e-mail about ``submission`` (scored or failed), unless they
    opted out. Only the job is queued here: the message is composed by that job on the
    mail queue (``submission_notice``), so the scoring job, which calls this after its final
    commit, spends no time on e-mail. Never raises: a notification that cannot be queued
    (Redis down) is logged, and the score stands."""
    try:
        user = submission.user  # loaded with the submission by the scoring job
        if user is None or not user.notify_submissions:
            return
        mail.later(submission_notice, submission.id,
                   description=f"mail to {user.email}: submission {submission.id} {submission.status}")
    except Exception:
        log.exception("could not queue the e-mail about submission %s", submission.id)


def submission_notice(submission_id: int) -> str:
    """The job: compose the e-mail about a finished submission (from what the row says now,
    and only what its team may see now) and send it; returns where it went."""
    with job_app().app_context(), read_only():
        submission = db.session.get(Submission, submission_id)
        user = submission.user if submission is not None else None
        if submission is None or user is None or not user.notify_submissions \
                or submission.status not in ("scored", "failed"):
            return "not sent"  # deleted, opted out or being scored again since it was queued
        to = user.email
        subject, body = _finished_message(submission, user)
    return mail.deliver(to, subject, body)


def _finished_message(submission: Submission, user: User) -> tuple[str, str]:
    phase = submission.phase
    track = phase.track
    challenge = track.challenge
    where = f"{challenge.title}, {track.title}, phase {phase.title or phase.slug}"
    lines = [f"Hello {user.name},", "",
             f"your submission {submission.id} to {where} is {submission.status}.", ""]
    if submission.status == "failed":
        lines += [f"Reason: {submission.error}", ""]
    else:
        # Only what the team may see now (the phase's visibility rules, as on the
        # submission page): never numbers the phase keeps hidden.
        views = visible_scores(submission, user)
        for view in views:
            lines.append(f"{view.label}: error {_number(view.error)}")
        if not views:
            lines.append("Its scores are not shown to teams yet in this phase.")
        lines.append("")
    lines += [f"See it here: {mail.link('submissions.show', submission_id=submission.id)}", "",
              "You get this e-mail because e-mails about your submissions are on; turn them "
              f"off on your account page: {mail.link('auth.account')}"]
    return f"Submission {submission.id} {submission.status}: {track.title}", "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


def password_reset(user: User, token: str) -> None:
    """The reset link (raises Redis's errors: the caller logs them)."""
    body = (f"Hello {user.name},\n\nsomeone (we hope you) asked to reset the password of "
            f"your account {user.email}. Choose a new one here within an hour:\n\n"
            f"{mail.link('auth.reset_password', token=token)}\n\n"
            "The link works once. If you did not ask for it, ignore this e-mail: your password "
            "stays as it is.\n")
    mail.send_later(user.email, "Reset your password", body)


def verify_email(user: User, token: str) -> None:
    """The verification link (raises Redis's errors: the caller logs them)."""
    body = (f"Hello {user.name},\n\nplease confirm that {user.email} is your address by "
            f"opening this link:\n\n{mail.link('auth.verify_email', token=token)}\n\n"
            "Until then you can log in, but not create or join a team or upload.\n")
    mail.send_later(user.email, "Confirm your e-mail address", body)


# ---------------------------------------------------------------- challenge news
# Announcements and final results go to every participant of a challenge (the members
# of its competing teams) who has not turned these e-mails off. The request only queues
# one job; the job, on a worker, lists the people and queues one message each, so a
# challenge with thousands of participants costs the organizer's request nothing.


def participants(challenge_id: int) -> list[User]:
    """The members of the challenge's competing teams who take its news by e-mail."""
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .join(Team, Team.id == Membership.team_id)
        .where(Membership.challenge_id == challenge_id, Team.is_reference.is_(False),
               User.notify_announcements.is_(True))
        .order_by(User.id).distinct()))


def _footer() -> str:
    return ("You get this e-mail because you are on a team in this challenge and e-mails about "
            "announcements and results are on; turn them off on your account page: "
            f"{mail.link('auth.account')}\n")


def _enqueue(job: Callable[[int], int], ident: int, job_id: str, what: str) -> bool:
    """Queue a fan-out job (after the commit that it mails about); never raises: what was
    posted or published stands if Redis is down, and False says the e-mails were not queued."""
    try:
        _news_queue().enqueue(job, ident, job_id=job_id, failure_ttl=7 * 24 * 3600, result_ttl=3600,
                              description=f"e-mail {what}")
    except Exception:
        log.exception("could not queue the e-mails of %s", what)
        return False
    return True


def queue_announcement(announcement: Announcement) -> bool:
    """Queue the job that e-mails ``announcement``; False if it could not be queued."""
    return _enqueue(mail_announcement, announcement.id, f"announce-{announcement.id}",
                    f"announcement {announcement.id}")


def mail_announcement(announcement_id: int) -> int:
    """The job: queue one message per participant; returns how many. Run again (a retry,
    a second enqueue) after it finished, it sends nothing twice."""
    with job_app().app_context():
        announcement = db.session.get(Announcement, announcement_id)
        if announcement is None or announcement.mailed_at is not None:
            return 0
        challenge = announcement.challenge
        page = mail.link("challenges.year", slug=challenge.slug)
        people = participants(challenge.id)
        for user in people:
            underline = "=" * min(len(announcement.title), 72)
            body = (f"Hello {user.name},\n\nthe organizers of {challenge.title} posted an announcement:\n\n"
                    f"{announcement.title}\n{underline}\n\n{announcement.body}\n\n"
                    f"On the challenge page: {page}\n\n" + _footer())
            mail.send_later(user.email, f"{challenge.title}: {announcement.title}", body)
        announcement.mailed_at, announcement.mailed_to = utcnow(), len(people)
        db.session.commit()
        return len(people)


def queue_results_published(challenge: Challenge) -> bool:
    """Queue the job that tells the participants the final results are out; False if it
    could not be queued."""
    return _enqueue(mail_results_published, challenge.id, f"results-{challenge.id}",
                    f"the final results of {challenge.slug}")


def mail_results_published(challenge_id: int) -> int:
    """The job: one message per participant, with their team's final ranks (only what the
    published results show everyone); returns how many."""
    with job_app().app_context():
        challenge = db.session.get(Challenge, challenge_id)
        results = db.session.scalar(select(FinalResults).where(FinalResults.challenge_id == challenge_id))
        if challenge is None or results is None:
            return 0
        page = mail.link("leaderboards.final_results", slug=challenge.slug)
        people = participants(challenge.id)
        for user in people:
            team = db.session.scalar(select(Team).join(Membership).where(
                Membership.user_id == user.id, Membership.challenge_id == challenge.id))
            lines = [f"Hello {user.name},", "",
                     f"the organizers of {challenge.title} published its final results.", ""]
            lines += _team_ranks(results.data, team.name if team is not None else "")
            lines += [f"See them here: {page}", "", _footer()]
            mail.send_later(user.email, f"{challenge.title}: final results published", "\n".join(lines))
        return len(people)


def _team_ranks(data: dict[str, Any], team_name: str) -> list[str]:
    """Where the team stands on each published board, from the record itself."""
    lines: list[str] = []
    for board in data.get("boards", []):
        entry = next((e for e in board.get("entries", []) if e.get("team") == team_name), None)
        if entry is None or entry.get("rank") in (None, ""):
            continue
        lines.append(f"{board.get('track_title', board.get('track'))}, {board.get('title')}: "
                     f"your team '{team_name}' ranks {entry['rank']}")
    return (lines + [""]) if lines else []


def _news_queue() -> Any:
    app = current_app
    return get_queue(app, app.config["RQ_MAIL_QUEUE"])
