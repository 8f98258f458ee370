"""The console's announcement form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from challenge.announcements.service import MAX_BODY, MAX_TITLE


class AnnouncementForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired("title: required"), Length(max=MAX_TITLE)])
    body = TextAreaField("Text (Markdown)",
                         validators=[InputRequired("body: required"), Length(max=MAX_BODY)],
                         description="Shown on the challenge page and e-mailed to every participant who "
                                     "has not turned these e-mails off. Raw HTML is shown as text.")
