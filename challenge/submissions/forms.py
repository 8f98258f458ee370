"""The upload and edit forms (Flask-WTF, so they carry a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length

from challenge.submissions.service import MAX_DESCRIPTION, MAX_LINK, MAX_METHOD, Metadata

EXTRA_DATA_QUESTION = "Did you use training data beyond what was provided?"


class MetadataForm(FlaskForm):
    method = StringField("Method name", validators=[Length(max=MAX_METHOD)])
    description = TextAreaField("Short description", validators=[Length(max=MAX_DESCRIPTION)])
    # The URL itself is checked by service.clean_metadata (one rule for web and API).
    link = StringField("Paper or code link", validators=[Length(max=MAX_LINK)])
    # No default: ILSVRC asked every team to answer, so the web form makes them choose.
    # Rendered as two radio buttons by _metadata_fields.html; a plain field with AnyOf rather
    # than RadioField, whose tuple choices WTForms 3.3 deprecates.
    extra_data = StringField(EXTRA_DATA_QUESTION, validators=[
        InputRequired("answer whether you used outside training data"),
        AnyOf(["no", "yes"], "answer 'yes' or 'no' to the outside training data question")])

    def metadata(self) -> Metadata:
        return Metadata(self.method.data or "", self.description.data or "", self.link.data or "",
                        self.extra_data.data == "yes")


class UploadForm(MetadataForm):
    file = FileField("Prediction file", validators=[FileRequired("choose a prediction file")])
    phase = HiddenField()
