"""The rules forms: accepting them (the rules page), editing them (the console)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length

from challenge.rules.service import MAX_RULES


class AcceptRulesForm(FlaskForm):
    version = IntegerField(widget=HiddenField.widget, validators=[DataRequired()])
    next = HiddenField()
    accept = BooleanField("I have read these rules and accept them",
                          validators=[DataRequired("tick the box to accept the rules")])


class RulesForm(FlaskForm):
    text = TextAreaField("Rules (Markdown)", validators=[Length(max=MAX_RULES)],
                         description="Raw HTML is shown as text; links may be http(s) or mailto. "
                                     "Saving a changed text makes a new version: every participant is "
                                     "asked to accept it before their next upload.")
