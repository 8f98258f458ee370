"""The web platform's app factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from challenge import (
    admin,
    announcements,
    api,
    auth,
    challenges,
    errors,
    health,
    ids,
    leaderboards,
    metrics,
    migrate,
    queue,
    ratelimits,
    rules,
    run,
    security,
    storage,
    submissions,
    teams,
)
from challenge.config import load_config
from challenge.extensions import csrf, db, login_manager


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then environment, then ``overrides``.

    Side-effect free: no migrations, no database writes, no network calls.
    """
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_mapping(load_config(overrides))

    db.init_app(app)
    security.init_app(app)
    ids.init_app(app)
    errors.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    queue.init_app(app)
    storage.init_app(app)
    ratelimits.init_app(app)
    migrate.init_app(app)
    auth.init_app(app)
    teams.init_app(app)
    challenges.init_app(app)
    rules.init_app(app)
    announcements.init_app(app)
    submissions.init_app(app)
    leaderboards.init_app(app)
    admin.init_app(app)
    api.init_app(app)
    run.init_app(app)
    metrics.init_app(app)
    health.init_app(app)
    return app
