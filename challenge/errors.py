"""Error answers people can read: a styled page for the site, JSON under ``/api/``.

Werkzeug's own error pages are bare HTML without the site's header, and an API client
that mistypes a path would get HTML it cannot parse. Specific handlers registered
elsewhere (401 and CSRF in challenge.auth, rate limits in challenge.ratelimits,
out-of-range ids in challenge.ids) still win: Flask picks a handler for the exact code
or class before this catch-all for every other HTTP error.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)

#: Headings for the codes people meet; any other code shows Werkzeug's name for it.
TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Not now",
    413: "File too large",
    500: "Something went wrong",
}


def _message(exc: HTTPException) -> str:
    if exc.description != type(exc).description:
        return exc.description or ""  # a view's own reason (abort(404, "...")): it says more
    if isinstance(exc, RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit:
            return (f"The upload is larger than the limit of {limit // (1024 * 1024)} MB "
                    f"({limit} bytes). Compress it with gzip or check that it is the right file.")
    if exc.code == 404:
        return "There is no page at this address. It may have moved, or the link may be mistyped."
    if exc.code == 500:
        return "The server could not answer this request. It has been logged; please try again later."
    return exc.description or ""


def http_error(exc: HTTPException) -> ResponseReturnValue:
    code = exc.code or 500
    if request.path.startswith("/api/"):
        response = jsonify({"error": _message(exc)})
        response.status_code = code
    else:
        page = render_template("error.html", code=code, title=TITLES.get(code, exc.name),
                               message=_message(exc))
        response = current_app.make_response((page, code))
    if getattr(exc, "valid_methods", None):  # 405: what the client may use instead
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def favicon() -> ResponseReturnValue:
    return send_from_directory(current_app.static_folder or "static", "favicon.svg", mimetype="image/svg+xml",
                               max_age=86400)


def init_app(app: Flask) -> None:
    # An unhandled exception reaches this handler too, as an InternalServerError (an
    # HTTPException); Flask has already logged it, and the page says nothing of it.
    app.register_error_handler(HTTPException, http_error)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
