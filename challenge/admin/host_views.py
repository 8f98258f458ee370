"""Console: add and remove a challenge's hosts (site admins only; the challenge page lists them)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from challenge.admin import hosts
from challenge.admin.access import managed, site_admin_required
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.extensions import db
from challenge.models import Challenge


def _done(challenge: Challenge) -> ResponseReturnValue:
    return redirect(url_for("admin.challenge", challenge_id=challenge.id) + "#hosts")


@bp.post("/challenges/<int:challenge_id>/hosts")
@site_admin_required
def host_add(challenge_id: int) -> ResponseReturnValue:
    challenge = managed(db.session.get(Challenge, challenge_id))
    if not FlaskForm().validate_on_submit():  # the CSRF token
        flash("Not added: the form expired; please try again.", "error")
        return _done(challenge)
    try:
        host = hosts.add_host(me(), challenge, request.form.get("email", ""))
    except hosts.HostError as exc:
        flash(f"Not added: {exc.message}", "error")
        return _done(challenge)
    flash(f"{host.user.email} hosts {challenge.title} now.", "success")
    return _done(challenge)


@bp.post("/challenges/<int:challenge_id>/hosts/remove")
@site_admin_required
def host_remove(challenge_id: int) -> ResponseReturnValue:
    challenge = managed(db.session.get(Challenge, challenge_id))
    if not FlaskForm().validate_on_submit():
        flash("Not removed: the form expired; please try again.", "error")
        return _done(challenge)
    try:
        user = hosts.remove_host(me(), challenge, request.form.get("email", ""))
    except hosts.HostError as exc:
        flash(f"Not removed: {exc.message}", "error")
        return _done(challenge)
    flash(f"{user.email} no longer hosts {challenge.title}.", "success")
    return _done(challenge)
