"""API routes: challenges."""

from challenge.api.views import bp  # noqa: F401
