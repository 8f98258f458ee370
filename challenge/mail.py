"""Outgoing e-mail: queued from anywhere, sent by a worker job, never inside a request.

``send_later(to, subject, body)`` enqueues a job on the mail queue (``RQ_MAIL_QUEUE``,
taken by every worker after scoring and rescoring). The job sends the message over SMTP
(``MAIL_URL``) or, with no ``MAIL_URL``, writes it as a ``.eml`` file into
``<CHALLENGE_INSTANCE>/outbox/``, so the embedded default works and tests can read it.

A message is never lost silently: a transient SMTP failure (connection refused or cut,
a 4xx answer) raises, and RQ tries the job again later (``RETRY``); a permanent one (a 5xx
answer: bad credentials, a refused address; an untrusted certificate, a TLS mode that does not
fit the port, a relay without the STARTTLS or AUTH that MAIL_URL asks for) is logged and the
job fails at once. Either way a job that gives up stays in RQ's failed registry with its
traceback. Certificates are always checked (``MAIL_CA_FILE`` names a private CA's).
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, request
from rq import Retry
from rq.job import get_current_job
from rq.registry import ScheduledJobRegistry

from challenge.job_app import job_app
from challenge.queue import get_queue

log = logging.getLogger(__name__)

#: Tries after the first, and the waits before them (seconds): rides out a relay's
#: restart or a greylisting pause. RQ parks a retry in the queue's scheduled registry;
#: ``release_due_retries`` (run by every worker's sweep) puts it back when its wait is over.
RETRY_INTERVALS = [30, 120, 600]
SMTP_TIMEOUT = 20
DEFAULT_SITE = "http://localhost:5000"

_app = job_app  # the app a job runs in (challenge.job_app)


def site_url() -> str:
    """Where links in e-mails point: ``SITE_URL``, else the address of the request that is
    sending the message, else ``DEFAULT_SITE`` (a worker knows no request)."""
    configured: str = current_app.config["SITE_URL"]
    if configured:
        return configured
    if has_request_context():
        return request.host_url.rstrip("/")
    return DEFAULT_SITE


def link(endpoint: str, **values: Any) -> str:
    """An absolute link to ``endpoint`` for a message (works outside a request too)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return site_url() + path


def send_later(to: str, subject: str, body: str) -> str:
    """Queue a plain-text message to ``to``; returns the job's id. Raises Redis's errors:
    callers that must not fail because of e-mail catch them (and log)."""
    return later(deliver, to, subject, body, description=f"mail to {to}: {subject}")


def later(job: Callable[..., str], *args: Any, description: str) -> str:
    """Queue ``job(*args)``, a job that ends by sending one message (``deliver`` itself, or
    one that composes the message first), with the mail queue's retries; returns its id."""
    app = current_app
    queued = get_queue(app, app.config["RQ_MAIL_QUEUE"]).enqueue(
        job, *args,
        job_id=f"mail-{secrets.token_hex(8)}",
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        # Kept a week in the failed registry: long enough for someone to look.
        failure_ttl=7 * 24 * 3600, result_ttl=3600,
        description=description,
    )
    return queued.id


def release_due_retries(app: Flask | None = None) -> int:
    """Move the mail jobs whose retry wait is over from the scheduled registry back onto
    the mail queue; returns how many. This is the part of RQ's scheduler the mail queue
    needs, run from the workers' periodic sweep (challenge.sweeper) so the workers need no
    scheduler process of their own. Several workers may run it at once: the one whose
    ZREM removes a job enqueues it, so a retry is never sent twice."""
    app = app or current_app
    queue = get_queue(app, app.config["RQ_MAIL_QUEUE"])
    registry = ScheduledJobRegistry(queue=queue)
    moved = 0
    for job_id in registry.get_jobs_to_schedule(int(time.time())):
        if not queue.connection.zrem(registry.key, job_id):
            continue  # another worker took it
        job = queue.fetch_job(job_id)
        if job is None:
            continue  # expired or deleted meanwhile: nothing left to send
        queue.enqueue_job(job)
        moved += 1
    return moved


def compose(to: str, subject: str, body: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip("> ") or None)
    message.set_content(body)
    return message


def deliver(to: str, subject: str, body: str) -> str:
    """The job: send one message; returns where it went ("smtp" or the outbox file)."""
    app = _app()
    with app.app_context():
        message = compose(to, subject, body, app.config["MAIL_FROM"])
        settings = app.config["MAIL"]
        if settings is None:
            return str(write_outbox(Path(app.config["CHALLENGE_INSTANCE"]) / "outbox", message))
        try:
            send_smtp(settings, message, ca_file=app.config["MAIL_CA_FILE"])
        except Exception as exc:
            job = get_current_job()
            if not transient(exc):
                if job is not None:
                    job.retries_left = 0  # trying again cannot help: straight to failed
                log.error("mail to %s (%s) refused for good: %s", to, subject, reason(exc))
            elif job is not None and not job.retries_left:
                log.error("mail to %s (%s) not sent after every retry: %s", to, subject, reason(exc))
            else:
                log.warning("mail to %s (%s) not sent yet, will retry: %s", to, subject, reason(exc))
            raise
        log.info("mail sent to %s: %s", to, subject)
        return "smtp"


def transient(exc: BaseException) -> bool:
    """An SMTP failure that may pass: no connection, a cut one, or a 4xx answer. A TLS
    failure is not (an untrusted certificate, or ``tls=`` naming the wrong mode for the
    port: the handshake fails the same way every time), unless the connection was cut; nor
    is a relay that does not offer STARTTLS or AUTH when MAIL_URL asks for them."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return False  # no STARTTLS or no AUTH offered: the relay or tls= is wrong, every time
    if isinstance(exc, ssl.SSLError):
        return isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError)
    return isinstance(exc, OSError)  # smtplib's own errors are OSErrors too (a cut connection)


def reason(exc: BaseException) -> str:
    """What the log says went wrong: the relay's answer, with a hint at the setting to check.
    Never the credentials (the relay's answers and smtplib's messages do not repeat them)."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the relay refused MAIL_URL's user and password ({exc.smtp_code} {_text(exc.smtp_error)})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the relay's certificate is not trusted ({exc.verify_message}); a relay signed by a "
                "private CA needs MAIL_CA_FILE")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{exc} (check MAIL_URL's tls=)"
    if isinstance(exc, ssl.SSLError) and not transient(exc):
        return f"TLS failed ({exc}): check MAIL_URL's tls= (ssl for SMTPS, usually port 465)"
    return str(exc) or exc.__class__.__name__


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer


def send_smtp(settings: dict[str, Any], message: EmailMessage, ca_file: str = "") -> None:
    """Send ``message`` per ``settings`` (``config.mail_settings``). The certificate is always
    checked, against ``ca_file`` (``MAIL_CA_FILE``) when given, else the system's store."""
    host, port, tls = settings["host"], settings["port"], settings["tls"]
    context = ssl.create_default_context(cafile=ca_file or None)
    smtp: smtplib.SMTP
    if tls == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
    with smtp:
        if tls == "starttls":
            smtp.starttls(context=context)
        if settings["user"]:
            smtp.login(settings["user"], settings["password"])
        smtp.send_message(message)


def write_outbox(folder: Path, message: EmailMessage) -> Path:
    """Write ``message`` as ``<folder>/<UTC time>-<random>.eml``, atomically: a reader
    never sees half a file (written beside it, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / name
