"""The web platform.

``create_app`` lives in ``challenge.app`` and is imported on first use: the
competitors' client commands (``challenge submit`` ...) import this package too,
and should not pay for loading the whole web stack (about a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from challenge.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from challenge.app import create_app

        return create_app
    raise AttributeError(f"module 'challenge' has no attribute {name!r}")
