"""The console's announcement forms: posting one, editing one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from challenge.announcements.service import MAX_BODY, MAX_TITLE

# The messages name the field, as the service's do: a refused form says what to fix.
_TITLE = [InputRequired("title: required"),
          Length(max=MAX_TITLE, message=f"title: at most {MAX_TITLE} characters")]
_BODY = [InputRequired("body: required"),
         Length(max=MAX_BODY, message=f"body: at most {MAX_BODY} characters")]


class AnnouncementForm(FlaskForm):
    title = StringField("Title", validators=_TITLE)
    body = TextAreaField("Text (Markdown)", validators=_BODY,
                         description="Shown on the challenge page and e-mailed to every participant who "
                                     "has not turned these e-mails off. Raw HTML is shown as text.")


class EditAnnouncementForm(FlaskForm):
    title = StringField("Title", validators=_TITLE)
    body = TextAreaField("Text (Markdown)", validators=_BODY,
                         description="The challenge page shows the new text, marked “edited” with the "
                                     "time. Nobody is e-mailed again: the e-mails already sent keep the "
                                     "old text. Raw HTML is shown as text.")
