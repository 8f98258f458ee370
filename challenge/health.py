"""``/healthz``: may a load balancer send this web process traffic?

It answers 200 when this process reaches the database and Redis (one trivial query
and one PING, each bounded by its client's timeouts), 503 naming what failed
otherwise. Nothing about the platform's content is shown, so it needs no login.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from challenge.db import read_only
from challenge.extensions import db
from challenge.queue import get_redis

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    checks: dict[str, str] = {}
    try:
        with read_only(True):
            db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not now", whatever its kind
        log.warning("health: database: %s", exc)
        checks["database"] = f"unreachable ({type(exc).__name__})"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        log.warning("health: redis: %s", exc)
        checks["redis"] = f"unreachable ({type(exc).__name__})"
    healthy = all(value == "ok" for value in checks.values())
    response = jsonify({"status": "ok" if healthy else "unavailable", **checks})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
