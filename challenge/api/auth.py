"""Bearer-token authentication and JSON errors for the REST API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from challenge.tokens import user_for_token


def api_error(status: int, message: str, **extra: Any) -> ResponseReturnValue:
    return jsonify({"error": message, **extra}), status


def bearer_user() -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return user_for_token(raw.strip())


def token_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Require ``Authorization: Bearer <token>``; the user is ``g.api_user``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        user = bearer_user()
        if user is None:
            return api_error(401, "missing or invalid API token (send 'Authorization: Bearer <token>')")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def token_optional(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Public routes: ``g.api_user`` is the token's user or None (a bad token is still a 401)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        g.api_user = None
        if request.headers.get("Authorization"):
            g.api_user = bearer_user()
            if g.api_user is None:
                return api_error(401, "invalid API token")
        return view(*args, **kwargs)

    return wrapper
