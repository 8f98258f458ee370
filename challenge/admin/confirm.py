"""Confirmation pages for the console's irreversible actions.

Publishing a year's final results, publishing a split phase's private board and
disqualifying a submission or a team each go through a page that says what will happen
and what cannot be undone. The page's form posts to the action's own route with
``confirm=yes``; a POST without it changes nothing and comes back here
(``needs_confirmation``). GETs only read. The pages' routes are in
``challenge.admin.confirmations``; this module has no routes, so that the action views
(``views``, ``boards``, ``results``) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from challenge import splits
from challenge.challenges.service import phase_path
from challenge.leaderboards import final
from challenge.models import Challenge, Phase, Submission, Team, utcnow

CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"


@dataclass
class Confirmation:
    """What the confirmation page shows, and what its form posts."""

    title: str
    action_url: str
    button: str
    cancel_url: str
    happens: list[str]
    irreversible: list[str]
    blocked: list[str] = field(default_factory=list)  # why it cannot be done now (then no button)
    fields: dict[str, str] = field(default_factory=dict)  # hidden fields carried to the POST


def confirmed() -> bool:
    return request.form.get(CONFIRM_FIELD) == CONFIRM_VALUE


def needs_confirmation(page_url: str) -> Response:
    """The answer to an unconfirmed POST: nothing done, back to the confirmation page."""
    flash("Nothing was done: this action cannot be undone, so it needs the confirmation below.", "error")
    return redirect(page_url, code=303)


def render(c: Confirmation, status: int = 200) -> ResponseReturnValue:
    return render_template("admin/confirm.html", c=c, confirm_field=CONFIRM_FIELD,
                           confirm_value=CONFIRM_VALUE), status


# ------------------------------------------------------------------ final results

def publish_results_page(challenge: Challenge) -> Confirmation:
    phases = [p for t in challenge.tracks for p in t.phases]
    existing = final.results_of(challenge)
    blocked = final.not_ready(challenge, utcnow())
    if existing is not None:
        blocked = [f"they were published at {existing.published_at:%Y-%m-%d %H:%M} UTC"]
    return Confirmation(
        title=f"Publish the final results of {challenge.title}?",
        action_url=url_for("admin.publish_results", challenge_id=challenge.id),
        button="Publish the final results", cancel_url=url_for("admin.index"),
        happens=[f"Every board the public may see now, of {len(phases)} phase(s), is written into one "
                 f"record, shown at /results/{challenge.slug} and linked from the year's page.",
                 "The action is recorded in the audit log under your name."],
        irreversible=["The final results are written once and never change: a later rescore, "
                      "disqualification or ground-truth fix moves the live boards, not these results.",
                      "They cannot be unpublished from the console or the command line."],
        blocked=blocked)


# ------------------------------------------------------------------ private boards

def publish_private_page(phase: Phase) -> Confirmation:
    name = phase_path(phase)
    blocked = []
    if not splits.is_split(phase):
        blocked.append(f"{name} has no public/private split, so no private board to publish")
    elif phase.private_published_at is not None:
        blocked.append(f"it was published at {phase.private_published_at:%Y-%m-%d %H:%M} UTC")
    elif utcnow() < phase.closes_at:
        blocked.append(f"{name} closes at {phase.closes_at:%Y-%m-%d %H:%M} UTC; publish after that")
    return Confirmation(
        title=f"Publish the private leaderboard of {name}?",
        action_url=url_for("admin.publish", phase_id=phase.id),
        button="Publish the private leaderboard", cancel_url=url_for("admin.boards"),
        happens=["The private leaderboard (scores on the hidden part of the test set) is shown to "
                 f"everyone the phase's visibility ({phase.leaderboard}) lets see scores.",
                 "Each team's final picks are ranked on it; the audit log records who published it."],
        irreversible=["Once seen, the private scores cannot be hidden again: the console has no "
                      "'unpublish', and people will have read (and copied) the ranking.",
                      "The hidden part of the test set is no longer hidden in effect: its scores "
                      "tell how every picked entry does on it."],
        blocked=blocked)


# ------------------------------------------------------------------ disqualification

def disqualify_submission_page(submission: Submission, reason: str) -> Confirmation:
    team = submission.team
    return Confirmation(
        title=f"Disqualify submission {submission.id} of {team.name}?",
        action_url=url_for("admin.submission_moderate", submission_id=submission.id),
        button="Disqualify this submission",
        cancel_url=url_for("admin.submission", submission_id=submission.id),
        happens=[f"Submission {submission.id} leaves every public board of {phase_path(submission.phase)} "
                 "at once; its quota slot is not given back.",
                 f"Team {team.name} sees it marked disqualified with your reason: “{reason}”.",
                 "The audit log records who disqualified it and why."],
        irreversible=["The team is shown the disqualification as soon as you confirm; restoring the "
                      "entry later puts it back on the boards, but the team will have seen it and the "
                      "audit log keeps both steps.",
                      "Final results or a private board already published keep what they showed."],
        fields={"state": "disqualified", "reason": reason})


def disqualify_team_page(team: Team, reason: str) -> Confirmation:
    return Confirmation(
        title=f"Disqualify team {team.name}?",
        action_url=url_for("admin.team_moderate", team_id=team.id),
        button="Disqualify the whole team", cancel_url=url_for("admin.team", team_id=team.id),
        happens=[f"Every entry of {team.name}, in every phase of the challenge, leaves the public boards.",
                 f"The team's members see the disqualification with your reason: “{reason}”.",
                 "The audit log records who disqualified the team and why."],
        irreversible=["The members are shown it as soon as you confirm; restoring the team later puts its "
                      "entries back, but they will have seen it and the audit log keeps both steps.",
                      "Final results or private boards already published keep what they showed."],
        fields={"state": "disqualified", "reason": reason})
