"""Console: a challenge's rules (each save of a changed text is a new version) and its
announcements (posted, shown on the challenge page, e-mailed by a worker)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from challenge.admin.access import managed, organizer_required
from challenge.admin.views import bp
from challenge.announcements import service as announcements
from challenge.announcements.forms import AnnouncementForm
from challenge.auth.current import me
from challenge.extensions import db
from challenge.models import Challenge
from challenge.rules import service as rules
from challenge.rules.forms import RulesForm


def _challenge(challenge_id: int) -> Challenge:
    return managed(db.session.get(Challenge, challenge_id))  # a host's own challenges only


def _rules_page(challenge: Challenge, form: RulesForm | None = None,
                status: int = 200) -> ResponseReturnValue:
    latest = rules.current(challenge)
    form = form or RulesForm(formdata=None, text=latest.text if latest is not None else "")
    return render_template("admin/rules.html", challenge=challenge, form=form, latest=latest,
                           versions=rules.versions(challenge),
                           accepted=rules.acceptance_counts(challenge)), status


@bp.route("/challenges/<int:challenge_id>/rules", methods=["GET", "POST"])
@organizer_required
def rules_edit(challenge_id: int) -> ResponseReturnValue:
    challenge = _challenge(challenge_id)
    form = RulesForm()
    if not form.is_submitted():
        return _rules_page(challenge)
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(f"rules: {error}", "error")
        return _rules_page(challenge, form, 400)
    try:
        saved = rules.set_rules(me(), challenge, form.text.data or "")
    except rules.RulesError as exc:
        flash(exc.message, "error")
        return _rules_page(challenge, form, 400)
    if saved is None:
        flash("The rules are unchanged: no new version.", "success")
    elif saved.text:
        flash(f"Rules saved as version {saved.version}: every participant is asked to accept them "
              "before their next upload.", "success")
    else:
        flash(f"Rules removed (version {saved.version} is empty): nobody is asked to accept rules now.",
              "success")
    return redirect(url_for("admin.rules_edit", challenge_id=challenge.id))


def _announcements_page(challenge: Challenge, form: AnnouncementForm | None = None,
                        status: int = 200) -> ResponseReturnValue:
    return render_template("admin/announcements.html", challenge=challenge,
                           form=form or AnnouncementForm(formdata=None),
                           posts=announcements.recent(challenge)), status


@bp.route("/challenges/<int:challenge_id>/announcements", methods=["GET", "POST"])
@organizer_required
def announcements_page(challenge_id: int) -> ResponseReturnValue:
    challenge = _challenge(challenge_id)
    form = AnnouncementForm()
    if not form.is_submitted():
        return _announcements_page(challenge)
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return _announcements_page(challenge, form, 400)
    try:
        posted, queued = announcements.post(me(), challenge, form.title.data or "", form.body.data or "")
    except announcements.AnnouncementError as exc:
        flash(exc.message, "error")
        return _announcements_page(challenge, form, 400)
    if queued:
        flash("Announcement posted; its e-mails to the participants are queued.", "success")
    else:
        flash(f"Announcement posted, but its e-mails could not be queued (Redis unreachable): run "
              f"'challenge announce {challenge.slug} --resend {posted.id}' later.", "error")
    return redirect(url_for("admin.announcements_page", challenge_id=challenge.id))
