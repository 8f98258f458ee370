"""Team forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, Length

from challenge.teams.service import MAX_NAME


class CreateTeamForm(FlaskForm):
    challenge_id = IntegerField(widget=HiddenField.widget, validators=[DataRequired()])
    name = StringField("Team name", validators=[DataRequired(), Length(max=MAX_NAME)])


class JoinTeamForm(FlaskForm):
    challenge_id = IntegerField(widget=HiddenField.widget, validators=[DataRequired()])
    invite_code = StringField("Invite code", validators=[DataRequired(), Length(max=64)])

