"""API routes: submissions."""

from challenge.api.views import bp  # noqa: F401
