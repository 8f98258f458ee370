"""A submission's live status: queue position, a wait estimate, and what the pages poll.

Everything is read from the database, the source of truth: the position is the
number of submissions, across the platform, still ``queued`` and created before
this one (the queue is first in, first out), and the estimate multiplies the
position by the median scoring time of recently scored submissions. With several
workers the real wait is shorter; the estimate is meant as an order of magnitude.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from flask import render_template
from sqlalchemy import and_, func, or_, select

from challenge.extensions import db
from challenge.models import Submission, User
from challenge.submissions import service

#: Scoring time assumed before anything has been scored (a 50,000-image file takes a few seconds).
DEFAULT_SCORING_SECONDS = 10.0
#: How many recently scored submissions the median is taken over.
RECENT = 25
PENDING = ("queued", "running")


@dataclass(frozen=True)
class QueueInfo:
    ahead: int  # queued submissions created before this one
    estimate_seconds: float  # until this one is scored: (ahead + 1) x median scoring time

    @property
    def position(self) -> int:
        """1 = next to be picked up."""
        return self.ahead + 1

    @property
    def estimate_text(self) -> str:
        return wait_text(self.estimate_seconds)


def wait_text(seconds: float) -> str:
    """A rough, human wait: 'a few seconds', 'about 40 s', 'about 3 min', 'about 2 h'."""
    if seconds < 5:
        return "a few seconds"
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {round(seconds / 3600)} h"


def median_scoring_seconds() -> float:
    """Median of started->finished over the most recently scored submissions."""
    rows = db.session.execute(
        select(Submission.started_at, Submission.finished_at)
        .where(Submission.status == "scored", Submission.started_at.is_not(None),
               Submission.finished_at.is_not(None))
        .order_by(Submission.finished_at.desc()).limit(RECENT)
    ).all()
    durations = [(finished - started).total_seconds() for started, finished in rows
                 if finished >= started]
    return statistics.median(durations) if durations else DEFAULT_SCORING_SECONDS


def queue_info(submission: Submission) -> QueueInfo | None:
    """Where a queued submission stands; None unless it is queued."""
    if submission.status != "queued":
        return None
    ahead = db.session.scalar(
        select(func.count()).select_from(Submission).where(
            Submission.status == "queued",
            or_(Submission.created_at < submission.created_at,
                and_(Submission.created_at == submission.created_at, Submission.id < submission.id)),
        )
    ) or 0
    return QueueInfo(ahead=ahead, estimate_seconds=(ahead + 1) * median_scoring_seconds())


def status_json(viewer: User, submission: Submission) -> dict[str, Any]:
    """What the pages poll. The caller has checked ``service.can_view``; the scores are
    included only when ``service.scores_visible`` allows them."""
    queue = queue_info(submission)
    data: dict[str, Any] = {
        "id": submission.id,
        "status": submission.status,
        "pending": submission.status in PENDING,
        "note": submission.retry_note,
        "error": submission.error if submission.status == "failed" else None,
        "queue": None if queue is None else {
            "ahead": queue.ahead, "position": queue.position,
            "estimate_seconds": round(queue.estimate_seconds, 1), "estimate": queue.estimate_text,
        },
        "started_at": submission.started_at.isoformat() if submission.started_at else None,
        "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
        # The badge as the pages render it (templates/submissions/_status.html stays its one source).
        "badge_html": render_template("submissions/_status.html", s=submission),
        "scores": None,
    }
    score = submission.score if submission.status == "scored" else None
    if score is not None and service.scores_visible(viewer, submission):
        data["scores"] = {"error": score.error, "ci95": [score.ci_low, score.ci_high],
                          "cls_error": score.cls_error, "images": score.images}
    return data
