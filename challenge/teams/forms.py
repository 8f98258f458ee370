"""Team forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from typing import ClassVar, Self

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, StringField
from wtforms.fields import Label
from wtforms.validators import DataRequired, Length, Optional

from challenge.teams.service import MAX_NAME


class TeamForm(FlaskForm):
    """A form "My teams" shows once per open challenge, so each copy's inputs need ids of
    their own (an error names its input's id, and a label points at one)."""

    kind: ClassVar[str]
    #: The copy's own id stem ("create-3"), for the ids of its form-level errors.
    key: str

    def for_challenge(self, challenge_id: int) -> Self:
        """This form's inputs with ids for ``challenge_id``'s copy (names stay as posted)."""
        self.key = f"{self.kind}-{challenge_id}"
        for field in self:
            field.id = f"{self.kind}-{field.name}-{challenge_id}"
            field.label = Label(field.id, field.label.text)
        return self

    def refuse(self, message: str, field: str | None = None) -> None:
        """Add a refusal to the input it is about, or to the form as a whole (``field`` None)."""
        if field is None:
            self.form_errors.append(message)
        else:
            target = getattr(self, field)
            target.errors = [*target.errors, message]


class CreateTeamForm(TeamForm):
    kind = "create"
    challenge_id = IntegerField(widget=HiddenField.widget, validators=[DataRequired()])
    name = StringField("New team name", validators=[DataRequired(), Length(max=MAX_NAME)])
    # The challenge's rules (challenge.rules), when it has some: the version shown, and the box.
    rules_version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
    accept_rules = BooleanField("I have read the rules and accept them")


class JoinTeamForm(TeamForm):
    kind = "join"
    challenge_id = IntegerField(widget=HiddenField.widget, validators=[DataRequired()])
    invite_code = StringField("Or join with an invite code", validators=[DataRequired(), Length(max=64)])
    rules_version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
    accept_rules = BooleanField("I have read the rules and accept them")
