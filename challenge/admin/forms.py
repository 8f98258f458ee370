"""Console forms (Flask-WTF: each carries a CSRF token). The forms check shapes (a number,
a date); ``challenge.admin.service`` checks meaning and files, with the same messages as
``challenge load``."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

import scorer.tasks
from challenge.admin.service import DEFAULT_REFERENCE, MAX_QUOTA, PhaseSettings, Upload
from challenge.bundles import MAX_GUESSES
from challenge.models import QUOTA_PERIODS, VISIBILITIES
from challenge.moderation import MAX_REASON
from challenge.teams.service import MAX_NAME

DATE_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def upload(field: FileField) -> Upload | None:
    """The field's file as an Upload, or None when none was chosen."""
    storage = field.data
    if storage is None or not getattr(storage, "filename", ""):
        return None
    return Upload(storage.filename or "", storage.read())


def utc(value: datetime | None) -> datetime | None:
    # The browser's datetime-local input has no zone; the console labels it UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


#: Under every console date field: a datetime-local input has no zone, and browsers draw it in
#: the computer's own date format (mm/dd/yyyy in some), so the page says what is meant.
UTC_HINT = ("In UTC, 24-hour clock, e.g. 2026-06-30 23:59 (your browser may show the date in its "
            "own format; the time is read as UTC, not your local time).")


class UTCDateTimeField(DateTimeLocalField):
    """A ``datetime-local`` input whose value is UTC: an existing time is shown in UTC (whatever
    zone it comes in), and what is typed is read as UTC. ``data`` is always aware UTC."""

    def __init__(self, label: str, validators: list | None = None, **kwargs: object) -> None:
        kwargs.setdefault("format", DATE_FORMATS)
        kwargs.setdefault("description", UTC_HINT)
        super().__init__(label, validators, **kwargs)  # type: ignore[arg-type]

    def process_data(self, value: object) -> None:
        if isinstance(value, datetime):
            value = utc(value).astimezone(UTC)  # type: ignore[union-attr]
        super().process_data(value)

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)
        self.data = utc(self.data)


class ChallengeForm(FlaskForm):
    year = IntegerField("Year", validators=[InputRequired("year: required"),
                                            NumberRange(1900, 2999, "year: from 1900 to 2999")])
    title = StringField("Title", validators=[InputRequired("title: required"), Length(max=200)])
    description = TextAreaField("Description", validators=[Length(max=20_000)])


class NewChallengeForm(ChallengeForm):
    slug = StringField("Slug (e.g. ilsvrc2012)", validators=[InputRequired("slug: required"),
                                                             Length(max=64)])
    classes = FileField("Class list (meta.mat, LOC_synset_mapping.txt or one wnid per line)",
                        validators=[FileRequired("classes: choose a class list file")])


class ClassesForm(FlaskForm):
    classes = FileField("New class list", validators=[FileRequired("classes: choose a class list file")])


class TrackForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired("title: required"), Length(max=200)])
    # Read when the form is built, so an operator-installed task is offered too.
    task = SelectField("Task", choices=lambda: list(scorer.tasks.names()))
    guesses = IntegerField("Guesses per image", default=MAX_GUESSES, validators=[
        InputRequired("guesses: required"), NumberRange(1, MAX_GUESSES, f"guesses: from 1 to {MAX_GUESSES}")])


class NewTrackForm(TrackForm):
    slug = StringField("Slug (e.g. cls)", validators=[InputRequired("slug: required"), Length(max=64)])
    classes = FileField("Class list of this track (optional; e.g. detection's meta_det.mat, "
                        "else the challenge's)")


class TrackClassesForm(FlaskForm):
    classes = FileField("New class list of this track (read as its task reads one: e.g. meta_det.mat "
                        "for detection)", validators=[FileRequired("classes: choose a class list file")])


class PhaseForm(FlaskForm):
    title = StringField("Title", validators=[Length(max=200)])
    opens = UTCDateTimeField("Opens (UTC)", validators=[InputRequired("opens: required")])
    closes = UTCDateTimeField("Closes (UTC)", validators=[InputRequired("closes: required")])
    quota_count = IntegerField("Quota: submissions per period", default=5, validators=[
        InputRequired("quota_count: required"),
        NumberRange(1, MAX_QUOTA, f"quota_count: from 1 to {MAX_QUOTA}")])
    quota_period = SelectField("Quota period (UTC)", choices=list(QUOTA_PERIODS))
    leaderboard = SelectField("Leaderboard visibility", choices=list(VISIBILITIES))

    def settings(self) -> PhaseSettings:
        return PhaseSettings(title=self.title.data or "", opens=utc(self.opens.data),
                             closes=utc(self.closes.data), quota_count=self.quota_count.data,
                             quota_period=self.quota_period.data or "",
                             leaderboard=self.leaderboard.data or "")


class NewPhaseForm(PhaseForm):
    slug = StringField("Slug (e.g. val, test)", validators=[InputRequired("slug: required"), Length(max=64)])
    labels = FileField("Ground-truth labels (hidden)", validators=[FileRequired("labels: choose a file")])
    boxes = FileField("Boxes (localization tracks: XML folder as .tar/.tgz, or Kaggle solution CSV)")
    blacklist = FileField("Blacklist of 1-based image numbers (optional)")
    sample = FileField("Public sample prediction file (optional)")
    real = FileField("ReaL labels, real.json (classification, optional; hidden)")


class ModerationForm(FlaskForm):
    state = SelectField("Action", choices=[
        SelectChoice("hidden", "hide (off the public boards)"),
        SelectChoice("disqualified", "disqualify (off the public boards, for breaking the rules)"),
        SelectChoice("", "restore (undo)"),
    ], validate_choice=True)
    reason = TextAreaField("Reason (shown to the team)", validators=[Optional(), Length(max=MAX_REASON)])


class ReferenceForm(FlaskForm):
    name = StringField("Entry name", default=DEFAULT_REFERENCE,
                       validators=[InputRequired("name: required"), Length(max=100)])
    method = StringField("Method", validators=[Length(max=200)])
    file = FileField("Prediction file", validators=[FileRequired("file: choose a prediction file")])


class MoveMemberForm(FlaskForm):
    """Move a person between the teams of a challenge; ``destination`` is "out", "new" or a
    team's id (the view fills in the choices)."""

    email = StringField("Member's e-mail", validators=[InputRequired("email: required"), Length(max=254)])
    destination = SelectField("Move to", choices=[], validate_choice=True)
    new_team = StringField("New team's name (for 'a new team')", validators=[Length(max=MAX_NAME)])
    reason = TextAreaField("Reason (kept in the audit log)", validators=[
        InputRequired("reason: required"), Length(max=MAX_REASON)])
