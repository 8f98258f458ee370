"""My teams, a team's page, and the forms that change membership."""

from __future__ import annotations

from typing import TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from challenge.auth.current import me
from challenge.auth.service import UNVERIFIED, verification_required
from challenge.extensions import db
from challenge.models import Challenge, Team
from challenge.rules import service as rules
from challenge.teams.forms import CreateTeamForm, JoinTeamForm, TeamForm
from challenge.teams.service import (
    TeamError,
    captain_of,
    challenges_without_team,
    closed_since,
    create_team,
    is_member,
    join_team,
    leave_team,
    memberships_of,
    remove_member,
)

# Button-only POSTs (remove, leave) have no form class: CSRFProtect checks the
# token of every POST before the view runs.
bp = Blueprint("teams", __name__)
F = TypeVar("F", bound=TeamForm)


@bp.route("/teams")
@login_required
def mine() -> ResponseReturnValue:
    return _mine_page()


@bp.route("/teams/create", methods=["POST"])
@login_required
def create() -> ResponseReturnValue:
    form = CreateTeamForm()
    challenge, accepted = _checked(form)
    if not form.errors:
        try:
            team = create_team(challenge, form.name.data or "", [me()])
        except TeamError as exc:
            form.refuse(exc.message, exc.field)
        else:
            _record_acceptance(challenge, accepted)
            flash(f"Team '{team.name}' created; you are its captain. Share the invite code with your "
                  "teammates.", "success")
            return redirect(url_for("teams.show", team_id=team.id))
    return _mine_page(challenge, form), 400


@bp.route("/teams/join", methods=["POST"])
@login_required
def join() -> ResponseReturnValue:
    form = JoinTeamForm()
    challenge, accepted = _checked(form)
    if not form.errors:
        try:
            team = join_team(me(), form.invite_code.data or "", challenge)
        except TeamError as exc:
            form.refuse(exc.message, exc.field)
        else:
            _record_acceptance(challenge, accepted)
            flash(f"You joined '{team.name}'.", "success")
            return redirect(url_for("teams.show", team_id=team.id))
    return _mine_page(challenge, form), 400


def _checked(form: TeamForm) -> tuple[Challenge, int | None]:
    """Validate a posted team form, adding to it every refusal found before any team change
    is tried (so a person sees them all at once): its inputs, an unconfirmed address, a
    closed year, the rules box. Returns the form's challenge (404: none) and the rules
    version it accepted (None: no rules in force, or refused)."""
    form.validate()
    challenge = _challenge(form.challenge_id.data)
    if verification_required(me()):
        form.refuse(UNVERIFIED[0].upper() + UNVERIFIED[1:] + ".")
    # Competitors make and join teams only while something is left to submit to
    # (organizers still can, from the console or the command line).
    if (ended := closed_since(challenge)) is not None:
        form.refuse(f"{challenge.title} closed on {ended:%Y-%m-%d %H:%M} UTC: teams can no longer be "
                    "created or joined.")
    try:
        return challenge, rules.check_form(challenge, bool(form.accept_rules.data), form.rules_version.data)
    except rules.RulesError as exc:
        form.refuse(exc.message, "accept_rules")
        return challenge, None


def _mine_page(refused: Challenge | None = None, posted: TeamForm | None = None) -> str:
    """My teams, one create and one join form per challenge the person can still join. After a
    refusal the posted form comes back as it was typed, its errors beside its inputs; its
    challenge is shown even when no longer offered (closed, or a team joined in another tab),
    since that is where the reason is said."""
    offered = challenges_without_team(me())
    if refused is not None and all(c.id != refused.id for c in offered):
        offered.insert(0, refused)
    offers = [(c, _copy(CreateTeamForm, c, refused, posted), _copy(JoinTeamForm, c, refused, posted))
              for c in offered]
    return render_template("teams/mine.html", memberships=memberships_of(me()), offers=offers)


def _copy(kind: type[F], challenge: Challenge, refused: Challenge | None, posted: TeamForm | None) -> F:
    """The form of this kind for this challenge: the posted one if it is it, else an empty one."""
    if isinstance(posted, kind) and refused is not None and refused.id == challenge.id:
        return posted.for_challenge(challenge.id)
    return kind(formdata=None).for_challenge(challenge.id)


def _record_acceptance(challenge: Challenge, version: int | None) -> None:
    """Record the acceptance the team form carried, once the team change is committed (a
    refused change records nothing). Should the rules change in between, the record says
    which version was accepted, and the next upload asks for the new one."""
    if version is None:
        return
    try:
        rules.accept(me(), challenge, version)
    except rules.RulesError as exc:
        flash(exc.message[0].upper() + exc.message[1:] + ".", "error")


@bp.route("/teams/<int:team_id>")
def show(team_id: int) -> ResponseReturnValue:
    team = db.session.get(Team, team_id) or abort(404)
    viewer = me() if current_user.is_authenticated else None
    captain = captain_of(team)
    return render_template(
        "teams/team.html",
        team=team,
        members=sorted(team.memberships, key=lambda m: (not m.is_captain, m.joined_at, m.id)),
        is_member=viewer is not None and is_member(viewer, team),
        is_captain=viewer is not None and captain is not None and captain.id == viewer.id,
    )


@bp.route("/teams/<int:team_id>/members/<int:user_id>/remove", methods=["POST"])
@login_required
def remove(team_id: int, user_id: int) -> ResponseReturnValue:
    team = db.session.get(Team, team_id) or abort(404)
    try:
        removed = remove_member(me(), team, user_id)
    except TeamError as exc:
        flash(exc.message, "error")
    else:
        flash(f"{removed.name} was removed from the team.", "success")
    return redirect(url_for("teams.show", team_id=team.id))


@bp.route("/teams/<int:team_id>/leave", methods=["POST"])
@login_required
def leave(team_id: int) -> ResponseReturnValue:
    team = db.session.get(Team, team_id) or abort(404)
    try:
        leave_team(me(), team)
    except TeamError as exc:
        flash(exc.message, "error")
        return redirect(url_for("teams.show", team_id=team_id))
    flash(f"You left '{team.name}'.", "success")
    return redirect(url_for("teams.mine"))


def _challenge(challenge_id: int | None) -> Challenge:
    return (db.session.get(Challenge, challenge_id) if challenge_id else None) or abort(404)

