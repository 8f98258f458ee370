"""The platform's messages to people, composed here and queued through ``challenge.mail``.

Each function builds the text and enqueues it; the sending happens in a worker job.
"""

from __future__ import annotations

import logging

from challenge import mail
from challenge.extensions import db
from challenge.leaderboards.visibility import visible_scores
from challenge.models import Submission, User

log = logging.getLogger(__name__)


def submission_finished(submission: Submission) -> None:
    """Tell the uploader that ``submission`` was scored or failed, unless they opted out.

    Called by the scoring job after its final commit; it never raises: a notification
    that cannot be queued (Redis down) is logged, and the score stands."""
    try:
        user = db.session.get(User, submission.user_id) if submission.user_id else None
        if user is None or not user.notify_submissions:
            return
        subject, body = _finished_message(submission, user)
        mail.send_later(user.email, subject, body)
    except Exception:
        log.exception("could not queue the e-mail about submission %s", submission.id)


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
