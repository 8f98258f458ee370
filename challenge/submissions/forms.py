"""The upload form (Flask-WTF, so it carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Length

from challenge.submissions.service import MAX_DESCRIPTION, MAX_METHOD


class UploadForm(FlaskForm):
    file = FileField("Prediction file", validators=[FileRequired("choose a prediction file")])
    method = StringField("Method name", validators=[Length(max=MAX_METHOD)])
    description = TextAreaField("Short description", validators=[Length(max=MAX_DESCRIPTION)])
    phase = HiddenField()
