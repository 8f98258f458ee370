"""Console: move a person between the teams of a challenge (or out of their team), audited.

Their uploads go with them (challenge.quota counts a person's uploads for whichever team
they are on), so nothing is copied; the service says what moved in the audit log."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from challenge.admin.access import managed, organizer_required
from challenge.admin.forms import MoveMemberForm
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.auth.service import normalize_email, user_by_email
from challenge.extensions import db
from challenge.models import Challenge, Team
from challenge.teams import service as teams

OUT, NEW = "out", "new"


def _destinations(challenge: Challenge) -> list[tuple[str, str]]:
    competing = sorted((t for t in challenge.teams if not t.is_reference), key=lambda t: t.name.lower())
    return ([(str(t.id), f"{t.name} (id {t.id})") for t in competing]
            + [(NEW, "a new team (name below)"), (OUT, "no team (out of their team)")])


def _page(challenge: Challenge, form: MoveMemberForm, status: int = 200) -> ResponseReturnValue:
    user = user_by_email(form.email.data or "") if form.email.data else None
    return render_template("admin/move_member.html", challenge=challenge, form=form, user=user,
                           standing=teams.standing(user, challenge) if user is not None else None), status


@bp.route("/challenges/<int:challenge_id>/move", methods=["GET", "POST"])
@organizer_required
def move_member(challenge_id: int) -> ResponseReturnValue:
    challenge = managed(db.session.get(Challenge, challenge_id))
    if request.method == "GET":
        form = MoveMemberForm(formdata=None, data={"email": request.args.get("email", ""),
                                                   "destination": request.args.get("to", "")})
        form.destination.choices = _destinations(challenge)
        return _page(challenge, form)
    form = MoveMemberForm()
    form.destination.choices = _destinations(challenge)
    if not form.validate_on_submit():
        for name, errors in form.errors.items():
            for error in errors:
                flash(error if str(error).startswith(f"{name}:") else f"{name}: {error}", "error")
        return _page(challenge, form, 400)
    user = user_by_email(form.email.data or "")
    destination = form.destination.data or ""
    new_name = (form.new_team.data or "").strip()
    if user is None:
        flash(f"email: no user with the email {normalize_email(form.email.data or '')}", "error")
        return _page(challenge, form, 400)
    if destination == NEW and not new_name:
        flash("new_team: give the new team's name", "error")
        return _page(challenge, form, 400)
    to_team = db.session.get(Team, int(destination)) if destination.isdigit() else None
    try:
        team = teams.move_member(me(), challenge, user, to_team=to_team,
                                 new_team=new_name if destination == NEW else "",
                                 reason=form.reason.data or "")
    except teams.TeamError as exc:
        flash(exc.message, "error")
        return _page(challenge, form, 400)
    if team is None:
        flash(f"{user.email} is on no team in {challenge.title} now.", "success")
        return redirect(url_for("admin.challenge", challenge_id=challenge.id))
    flash(f"{user.email} is on '{team.name}' now; their uploads count there.", "success")
    return redirect(url_for("admin.team", team_id=team.id))
