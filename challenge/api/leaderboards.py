"""API routes: leaderboards."""

from challenge.api.views import bp  # noqa: F401
