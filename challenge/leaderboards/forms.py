"""The final-pick toggle (Flask-WTF, so it carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf


class FinalPickForm(FlaskForm):
    final = HiddenField(validators=[AnyOf(["1", "0"], "final must be 1 (mark) or 0 (unmark)")])
