"""What every response carries, and what the platform believes about a request.

- Security headers on every response (pages, JSON, static files): a Content Security
  Policy without inline script or style (templates load their scripts from static/,
  and a test keeps inline ``<script>``, ``on...=`` handlers and ``style=`` out of
  templates/), no framing by any site, no MIME sniffing, the origin only in
  cross-site Referers, and HSTS on HTTPS responses.
- ``X-Forwarded-For/-Proto/-Host`` are believed only from the proxies listed in
  ``FORWARDED_ALLOW_IPS`` (addresses or networks, comma-separated, or ``*`` for any:
  gunicorn's setting of the same name); then ``request.remote_addr`` is the client's
  address (rate limits) and ``request.is_secure`` says whether it used TLS.
- Session cookies are ``Secure`` whenever the request came over HTTPS, and always
  with ``SESSION_COOKIE_SECURE``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Response
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
HSTS = "max-age=31536000"


def init_app(app: Flask) -> None:
    app.wsgi_app = TrustedProxies(app.wsgi_app, app.config["FORWARDED_ALLOW_IPS"])  # type: ignore[method-assign]
    app.session_interface = SecureWhenHttpsSessionInterface()
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


class SecureWhenHttpsSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set on HTTPS requests too."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


class TrustedProxies:
    """Werkzeug's ProxyFix (one proxy hop), applied only to requests from a listed proxy.

    A request from any other address keeps its own address, scheme and host, whatever
    X-Forwarded-* headers it sends.
    """

    def __init__(self, wsgi_app: Any, allowed: str) -> None:
        self.wsgi_app = wsgi_app
        self.fixed = ProxyFix(wsgi_app, x_for=1, x_proto=1, x_host=1)
        entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
        self.any = "*" in entries
        self.networks = list(_networks(entry for entry in entries if entry != "*"))

    def trusts(self, address: str | None) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if (self.any or self.networks) and self.trusts(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        return self.wsgi_app(environ, start_response)


def _networks(entries: Iterable[str]) -> Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    for entry in entries:
        try:
            yield ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"FORWARDED_ALLOW_IPS: {entry!r} is not an address or network") from None
