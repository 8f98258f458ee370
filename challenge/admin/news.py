"""Console: a challenge's rules (each save of a changed text is a new version) and its
announcements (posted, shown on the challenge page, e-mailed by a worker; edited without
e-mailing again, or deleted after a confirmation page)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from challenge.admin import confirm
from challenge.admin.access import managed, organizer_required
from challenge.admin.views import bp
from challenge.announcements import service as announcements
from challenge.announcements.forms import AnnouncementForm, EditAnnouncementForm
from challenge.auth.current import me
from challenge.extensions import db
from challenge.models import Announcement, Challenge
from challenge.rules import service as rules
from challenge.rules import text_audit
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


def _announcement(challenge_id: int, announcement_id: int) -> tuple[Challenge, Announcement]:
    """The challenge (a host's own only) and its announcement; 404 for another challenge's."""
    challenge = _challenge(challenge_id)
    announcement = announcements.find(challenge, announcement_id)
    if announcement is None:
        abort(404)
    return challenge, announcement


def _edit_page(challenge: Challenge, announcement: Announcement, form: EditAnnouncementForm | None = None,
               status: int = 200) -> ResponseReturnValue:
    form = form or EditAnnouncementForm(formdata=None, title=announcement.title, body=announcement.body)
    return render_template("admin/announcement_edit.html", challenge=challenge, announcement=announcement,
                           form=form), status


@bp.route("/challenges/<int:challenge_id>/announcements/<int:announcement_id>/edit", methods=["GET", "POST"])
@organizer_required
def announcement_edit(challenge_id: int, announcement_id: int) -> ResponseReturnValue:
    challenge, announcement = _announcement(challenge_id, announcement_id)
    form = EditAnnouncementForm()
    if not form.is_submitted():
        return _edit_page(challenge, announcement)
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(f"Not saved: {error}", "error")
        return _edit_page(challenge, announcement, form, 400)
    try:
        changed = announcements.edit(me(), announcement, form.title.data or "", form.body.data or "")
    except announcements.AnnouncementError as exc:
        flash(f"Not saved: {exc.message}", "error")
        return _edit_page(challenge, announcement, form, 400)
    if changed:
        flash("Announcement edited: the challenge page shows it marked “edited”; nobody is e-mailed again.",
              "success")
    else:
        flash("The announcement is unchanged: nothing was saved.", "success")
    return redirect(url_for("admin.announcements_page", challenge_id=challenge.id,
                            _anchor=f"announcement-{announcement.id}"))


def delete_page(challenge: Challenge, announcement: Announcement) -> confirm.Confirmation:
    """The confirmation page of a deletion (``confirm``'s mechanism; built here, beside the
    announcements' other console pages)."""
    if announcement.mailed_at is not None:
        people = "1 person" if announcement.mailed_to == 1 else f"{announcement.mailed_to} people"
        mailed = (f"The e-mails sent to {people} at {announcement.mailed_at:%Y-%m-%d %H:%M} UTC "
                  "stay in their inboxes.")
    else:
        mailed = "Its e-mails have not gone out yet (no worker has run its job): deleted, it is not sent."
    return confirm.Confirmation(
        title=f"Delete the announcement “{announcement.title}”?",
        action_url=url_for("admin.announcement_delete", challenge_id=challenge.id,
                           announcement_id=announcement.id),
        button="Delete the announcement",
        cancel_url=url_for("admin.announcements_page", challenge_id=challenge.id),
        happens=[f"It disappears from the page of {challenge.title} at once.", mailed,
                 "The audit log records who deleted it, with its title, the text's length and SHA-256, "
                 f"and the text up to {text_audit.DIFF_CHARS:,} characters."],
        irreversible=["It cannot be restored, from the console or the command line: to show it again, "
                      "post it again (which e-mails the participants again).",
                      "People who read it, or got it by e-mail, will have seen it."])


@bp.get("/challenges/<int:challenge_id>/announcements/<int:announcement_id>/delete")
@organizer_required
def confirm_announcement_delete(challenge_id: int, announcement_id: int) -> ResponseReturnValue:
    return confirm.render(delete_page(*_announcement(challenge_id, announcement_id)))


@bp.post("/challenges/<int:challenge_id>/announcements/<int:announcement_id>/delete")
@organizer_required
def announcement_delete(challenge_id: int, announcement_id: int) -> ResponseReturnValue:
    challenge, announcement = _announcement(challenge_id, announcement_id)
    if not confirm.confirmed():  # irreversible: only from the confirmation page
        return confirm.needs_confirmation(url_for("admin.confirm_announcement_delete",
                                                  challenge_id=challenge.id, announcement_id=announcement.id))
    if not FlaskForm().validate_on_submit():  # the CSRF token
        flash("Not deleted: the form expired; please try again.", "error")
        return redirect(url_for("admin.announcements_page", challenge_id=challenge.id))
    title = announcement.title
    announcements.delete(me(), announcement)
    flash(f"Announcement “{title}” deleted: it is no longer on the challenge page.", "success")
    return redirect(url_for("admin.announcements_page", challenge_id=challenge.id))
