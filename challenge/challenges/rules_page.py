"""A challenge's rules page (each version readable) and accepting the current version.

Its routes join the challenges blueprint (``challenges.rules``, ``challenges.accept_rules``);
the rules themselves live in ``challenge.rules``."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from challenge.auth.current import me
from challenge.auth.views import safe_next
from challenge.challenges.service import get_challenge
from challenge.challenges.views import bp
from challenge.rules import service
from challenge.rules.forms import AcceptRulesForm
from challenge.teams.service import team_for


@bp.get("/challenges/<slug>/rules")
def rules(slug: str) -> ResponseReturnValue:
    challenge = get_challenge(slug) or abort(404)
    latest = service.current(challenge)
    shown = latest
    asked = request.args.get("version", type=int)
    if asked is not None:
        shown = service.version(challenge, asked) or abort(404)
    viewer = me() if current_user.is_authenticated else None
    mine = service.accepted_version(viewer, challenge) if viewer is not None else None
    pending = service.pending(viewer, challenge) if viewer is not None else None
    on_team = viewer is not None and team_for(viewer.id, challenge.id) is not None
    form = AcceptRulesForm(formdata=None, version=pending.version if pending else None,
                           next=safe_next(request.args.get("next")) or "")
    return render_template("challenges/rules.html", challenge=challenge, rules=shown, latest=latest,
                           mine=mine, pending=pending, on_team=on_team, form=form,
                           versions=service.versions(challenge))


@bp.post("/challenges/<slug>/rules/accept")
@login_required
def accept_rules(slug: str) -> ResponseReturnValue:
    challenge = get_challenge(slug) or abort(404)
    form = AcceptRulesForm()
    back = url_for("challenges.rules", slug=slug)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(f"Not accepted: {error}.", "error")
        return redirect(back)
    try:
        row = service.accept(me(), challenge, form.version.data or 0)
    except service.RulesError as exc:
        flash(exc.message[0].upper() + exc.message[1:] + ".", "error")
        return redirect(back)
    flash(f"You accepted version {row.version} of the rules of {challenge.title}.", "success")
    return redirect(safe_next(form.next.data) or back)
