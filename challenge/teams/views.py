"""My teams, a team's page, and the forms that change membership."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from challenge.auth.current import me
from challenge.auth.service import UNVERIFIED, verification_required
from challenge.extensions import db
from challenge.models import Challenge, Team
from challenge.rules import service as rules
from challenge.teams.forms import CreateTeamForm, JoinTeamForm
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


@bp.route("/teams")
@login_required
def mine() -> ResponseReturnValue:
    # One form object of each kind, rendered once per challenge with its own ids.
    return render_template(
        "teams/mine.html",
        memberships=memberships_of(me()),
        open_challenges=challenges_without_team(me()),
        create_form=CreateTeamForm(formdata=None),
        join_form=JoinTeamForm(formdata=None),
    )


@bp.route("/teams/create", methods=["POST"])
@login_required
def create() -> ResponseReturnValue:
    if verification_required(me()):
        flash(UNVERIFIED[0].upper() + UNVERIFIED[1:] + ".", "error")
        return redirect(url_for("teams.mine"))
    form = CreateTeamForm()
    if not form.validate_on_submit():
        return _form_failed(form)
    challenge = _challenge(form.challenge_id.data)
    if (refused := _closed(challenge)) is not None:
        return refused
    try:
        accepted = rules.check_form(challenge, form.accept_rules.data, form.rules_version.data)
        team = create_team(challenge, form.name.data or "", [me()])
    except (TeamError, rules.RulesError) as exc:
        flash(exc.message, "error")
        return redirect(url_for("teams.mine"))
    _record_acceptance(challenge, accepted)
    flash(f"Team '{team.name}' created; you are its captain. Share the invite code with your teammates.",
          "success")
    return redirect(url_for("teams.show", team_id=team.id))


def _closed(challenge: Challenge) -> ResponseReturnValue | None:
    """Competitors make and join teams only while something is left to submit to
    (organizers still can, from the console or the command line)."""
    ended = closed_since(challenge)
    if ended is None:
        return None
    flash(f"{challenge.title} closed on {ended:%Y-%m-%d %H:%M} UTC: teams can no longer be created or "
          "joined.", "error")
    return redirect(url_for("teams.mine"))


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


@bp.route("/teams/join", methods=["POST"])
@login_required
def join() -> ResponseReturnValue:
    if verification_required(me()):
        flash(UNVERIFIED[0].upper() + UNVERIFIED[1:] + ".", "error")
        return redirect(url_for("teams.mine"))
    form = JoinTeamForm()
    if not form.validate_on_submit():
        return _form_failed(form)
    challenge = _challenge(form.challenge_id.data)
    if (refused := _closed(challenge)) is not None:
        return refused
    try:
        accepted = rules.check_form(challenge, form.accept_rules.data, form.rules_version.data)
        team = join_team(me(), form.invite_code.data or "", challenge)
    except (TeamError, rules.RulesError) as exc:
        flash(exc.message, "error")
        return redirect(url_for("teams.mine"))
    _record_acceptance(challenge, accepted)
    flash(f"You joined '{team.name}'.", "success")
    return redirect(url_for("teams.show", team_id=team.id))


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


def _form_failed(form: CreateTeamForm | JoinTeamForm) -> ResponseReturnValue:
    for field, errors in form.errors.items():
        label = getattr(form, str(field)).label.text if field else "form"
        flash(f"{label}: {'; '.join(errors)}", "error")
    return redirect(url_for("teams.mine"))
