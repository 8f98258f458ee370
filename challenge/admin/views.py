"""Console pages. Thin: check, call a service, render."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from challenge import audit
from challenge.admin.access import organizer_required
from challenge.extensions import db
from challenge.models import Challenge

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@organizer_required
def index() -> ResponseReturnValue:
    challenges = db.session.scalars(select(Challenge).order_by(Challenge.year.desc())).all()
    return render_template("admin/index.html", challenges=challenges)


@bp.get("/audit")
@organizer_required
def audit_log() -> ResponseReturnValue:
    return render_template("admin/audit.html", entries=audit.recent())
