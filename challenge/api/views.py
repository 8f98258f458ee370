"""The REST API blueprint (/api/v1). Token-authenticated, so exempt from CSRF.

Routes live in modules by area (challenges.py, leaderboards.py, submissions.py),
each adding to ``bp``.
"""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
