"""Account forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from challenge.auth.service import EMAIL_RE, MIN_PASSWORD


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


_EMAIL = Regexp(EMAIL_RE, message="that is not an email address (expected name@domain.tld)")
_NEW_PASSWORD = [DataRequired(), Length(min=MIN_PASSWORD,
                                        message=f"passwords need at least {MIN_PASSWORD} characters")]


class RegisterForm(FlaskForm):
    # Every rule the service checks is here too, so one submit shows every error at once.
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), _EMAIL],
                       filters=[_strip])
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=_NEW_PASSWORD)
    confirm = PasswordField(
        "Repeat password", validators=[DataRequired(), EqualTo("password", "the passwords differ")]
    )


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    next = HiddenField()


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[Length(max=100)])


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    password = PasswordField("New password", validators=_NEW_PASSWORD)
    confirm = PasswordField(
        "Repeat new password", validators=[DataRequired(), EqualTo("password", "the passwords differ")]
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=_NEW_PASSWORD)
    confirm = PasswordField(
        "Repeat new password", validators=[DataRequired(), EqualTo("password", "the passwords differ")]
    )


class EmailSettingsForm(FlaskForm):
    submissions = BooleanField("E-mail me when one of my submissions is scored or fails")
    announcements = BooleanField("E-mail me the organizers' announcements and the final results of "
                                 "the challenges I am on a team for")
