"""The app an RQ job runs in: the current one (tests, SimpleWorker), else one per process.

Scoring, rescoring and mail jobs all need it; one cache means one app (one engine, one
Redis client) per work horse whichever job it runs.
"""

from __future__ import annotations

from flask import Flask, current_app, has_app_context

import challenge

_worker_app: Flask | None = None


def job_app() -> Flask:
    """The current app, or this process's own (made on first use)."""
    global _worker_app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _worker_app is None:
        # Looked up at call time: the app factory imports modules (the demo)
        # that import the jobs, so ``create_app`` is not defined yet at import.
        _worker_app = challenge.create_app()
    return _worker_app
