"""Team forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, Optional

from challenge.teams.service import MAX_NAME


class CreateTeamForm(FlaskForm):
    challenge_id = IntegerField(widget=HiddenField.widget, validators=[DataRequired()])
    name = StringField("Team name", validators=[DataRequired(), Length(max=MAX_NAME)])
    # The challenge's rules (challenge.rules), when it has some: the version shown, and the box.
    rules_version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
    accept_rules = BooleanField("I have read the rules and accept them")


class JoinTeamForm(FlaskForm):
    challenge_id = IntegerField(widget=HiddenField.widget, validators=[DataRequired()])
    invite_code = StringField("Invite code", validators=[DataRequired(), Length(max=64)])
    rules_version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
    accept_rules = BooleanField("I have read the rules and accept them")

