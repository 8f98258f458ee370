"""E-mail over a relay that insists on encryption and a login, as production relays do:
real aiosmtpd servers on loopback ports (STARTTLS required, or SMTPS from the first byte),
a CA made at test time and trusted through MAIL_CA_FILE, the real mail job on the real
mail queue. The certificate is checked; the credentials never reach a log."""

from __future__ import annotations

import base64
import logging

import pytest
from mail_helpers import Accounts, Certificates, make_certificates, tls_smtp_server
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from submit_helpers import drain

from challenge import mail
from challenge.config import load_config
from challenge.queue import get_queue

USER = "relay-user@example.org"
PASSWORD = "s3cret p@ss:word"  # percent-encoded in MAIL_URL
WRONG = "not the password"


def quoted(text: str) -> str:
    return text.replace("@", "%40").replace(":", "%3A").replace(" ", "%20")


@pytest.fixture
def certs(tmp_path) -> Certificates:
    return make_certificates(tmp_path / "certs")


@pytest.fixture
def accounts() -> Accounts:
    return Accounts(USER, PASSWORD)


@pytest.fixture
def started(app_config, certs, accounts, request):
    """A relay (``request.param``: its ``mode``, and ``password``, ``trust``, ``exclude`` or
    ``tls`` to vary what the platform is told), with the app pointed at it: ask for this
    before ``app``. ``trust`` False leaves MAIL_CA_FILE unset; ``tls`` names another mode in
    MAIL_URL than the relay's."""
    given = dict(request.param)
    mode = given["mode"]
    with tls_smtp_server(certs, mode, accounts, given.get("exclude", ())) as (address, inbox):
        if "tls" in given:
            address = address.replace(f"tls={mode}", f"tls={given['tls']}")
        password = given.get("password", PASSWORD)
        app_config["MAIL_URL"] = f"smtp://{quoted(USER)}:{quoted(password)}@{address}"
        app_config["MAIL_FROM"] = "Challenge <challenge@example.org>"
        if given.get("trust", True):
            app_config["MAIL_CA_FILE"] = str(certs.ca)
        yield inbox


def mail_queue(app):
    return get_queue(app, app.config["RQ_MAIL_QUEUE"])


def assert_no_credentials(caplog, app, job_id: str | None = None) -> None:
    """Neither the password (as typed, percent-encoded or base64 in an AUTH line) nor MAIL_URL
    appears in the platform's log records, nor in the failed job's stored traceback. The
    relay's own logger (aiosmtpd's "mail.log") is the other side of the wire: left out."""
    secrets = [PASSWORD, quoted(PASSWORD), base64.b64encode(PASSWORD.encode()).decode(),
               base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode(), app.config["MAIL_URL"]]
    ours = "\n".join(f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if not r.name.startswith("mail.log"))
    assert ours  # something was logged, so the check means something
    for secret in secrets:
        assert secret not in ours
    if job_id is not None:
        stored = mail_queue(app).fetch_job(job_id).latest_result().exc_string
        assert stored and not any(secret in stored for secret in secrets)


# ---------------------------------------------------------------- delivered

@pytest.mark.parametrize(("started", "mechanism"), [
    pytest.param({"mode": "starttls"}, "PLAIN", id="starttls-plain"),
    pytest.param({"mode": "starttls", "exclude": ("PLAIN",)}, "LOGIN", id="starttls-login"),
    pytest.param({"mode": "ssl"}, "PLAIN", id="smtps-plain"),
    pytest.param({"mode": "ssl", "exclude": ("PLAIN",)}, "LOGIN", id="smtps-login"),
], indirect=["started"])
def test_a_message_goes_through_a_tls_relay_that_wants_a_login(started, mechanism, accounts, app, redis,
                                                               caplog):
    with caplog.at_level(logging.DEBUG):
        mail.send_later("ada@example.org", "Über TLS", "a body\n")
        assert drain(app)
    [(rcpt, message)] = started.messages
    assert rcpt == ["ada@example.org"]
    assert message["To"] == "ada@example.org" and message["Subject"] == "Über TLS"
    assert message.get_content().replace("\r\n", "\n") == "a body\n"
    assert started.sessions == [(USER.encode(), True)]  # logged in, over an encrypted connection
    assert accounts.tried == [(mechanism, USER, True)]
    assert "mail sent to ada@example.org" in caplog.text
    assert_no_credentials(caplog, app)


# ---------------------------------------------------------------- refused for good

@pytest.mark.parametrize("started", [
    pytest.param({"mode": "starttls", "password": WRONG}, id="starttls"),
    pytest.param({"mode": "ssl", "password": WRONG}, id="smtps"),
], indirect=True)
def test_wrong_credentials_fail_at_once_with_a_clear_error_and_no_password_logged(
        started, accounts, app, redis, caplog):
    with caplog.at_level(logging.DEBUG):
        job_id = mail.send_later("ada@example.org", "Hello", "body\n")
        drain(app)
    assert started.messages == []
    assert accounts.tried and not any(ok for _, _, ok in accounts.tried)
    # A 535 is permanent: no retry is parked, the job is in the failed registry at once.
    assert job_id in FailedJobRegistry(queue=mail_queue(app)).get_job_ids()
    assert job_id not in ScheduledJobRegistry(queue=mail_queue(app)).get_job_ids()
    [error] = [r for r in caplog.records if r.name == "challenge.mail" and r.levelno == logging.ERROR]
    assert error.getMessage().startswith("mail to ada@example.org (Hello) refused for good: "
                                         "the relay refused MAIL_URL's user and password (535")
    assert_no_credentials(caplog, app, job_id)
    # The password the relay refused is not in the log either.
    assert WRONG not in caplog.text and quoted(WRONG) not in caplog.text


@pytest.mark.parametrize("started", [
    pytest.param({"mode": "starttls", "trust": False}, id="starttls"),
    pytest.param({"mode": "ssl", "trust": False}, id="smtps"),
], indirect=True)
def test_an_untrusted_certificate_is_refused_before_the_password_is_sent(
        started, accounts, app, redis, caplog):
    """Certificates are checked by default: a relay whose CA the platform was not told to
    trust gets no message and no password, and retrying cannot help."""
    assert app.config["MAIL_CA_FILE"] == ""
    with caplog.at_level(logging.DEBUG):
        job_id = mail.send_later("ada@example.org", "Hello", "body\n")
        drain(app)
    assert started.messages == [] and accounts.tried == []
    assert job_id in FailedJobRegistry(queue=mail_queue(app)).get_job_ids()
    assert job_id not in ScheduledJobRegistry(queue=mail_queue(app)).get_job_ids()
    assert "the relay's certificate is not trusted" in caplog.text and "MAIL_CA_FILE" in caplog.text
    assert_no_credentials(caplog, app, job_id)


@pytest.mark.parametrize("started", [
    pytest.param({"mode": "starttls", "tls": "ssl"}, id="ssl-to-a-starttls-port"),
], indirect=True)
def test_the_wrong_tls_mode_fails_at_once_naming_the_setting(started, accounts, app, redis, caplog):
    with caplog.at_level(logging.ERROR, logger="challenge.mail"):
        job_id = mail.send_later("ada@example.org", "Hello", "body\n")
        drain(app)
    assert started.messages == [] and accounts.tried == []
    assert job_id in FailedJobRegistry(queue=mail_queue(app)).get_job_ids()
    assert "refused for good: TLS failed" in caplog.text and "tls=" in caplog.text


@pytest.mark.parametrize("started", [
    pytest.param({"mode": "starttls", "tls": "none"}, id="none-to-a-starttls-relay"),
], indirect=True)
def test_no_tls_to_a_relay_that_requires_it_sends_no_password(started, accounts, app, redis, caplog):
    """tls=none to a relay that wants STARTTLS: it offers no AUTH on the plain connection, so
    smtplib never sends the password in clear; the job fails at once, naming the setting."""
    with caplog.at_level(logging.ERROR, logger="challenge.mail"):
        job_id = mail.send_later("ada@example.org", "Hello", "body\n")
        drain(app)
    assert started.messages == [] and accounts.tried == []
    assert job_id in FailedJobRegistry(queue=mail_queue(app)).get_job_ids()
    assert "refused for good" in caplog.text and "check MAIL_URL's tls=" in caplog.text


# ---------------------------------------------------------------- settings

def test_mail_ca_file_is_checked_at_start_and_a_bad_mail_url_error_hides_the_password(tmp_path, certs):
    config = load_config({"SECRET_KEY": "x", "MAIL_CA_FILE": str(certs.ca)})
    assert config["MAIL_CA_FILE"] == str(certs.ca.resolve())
    assert load_config({"SECRET_KEY": "x"})["MAIL_CA_FILE"] == ""
    with pytest.raises(ValueError, match="MAIL_CA_FILE .*no such file"):
        load_config({"SECRET_KEY": "x", "MAIL_CA_FILE": str(tmp_path / "missing.pem")})
    for bad in (f"smtp://{USER}:{quoted(PASSWORD)}@mail.example.org?tls=maybe",
                f"smtp://{USER}:{quoted(PASSWORD)}@mail.example.org:port"):
        with pytest.raises(ValueError, match="MAIL_URL") as refused:
            load_config({"SECRET_KEY": "x", "MAIL_URL": bad})
        message = str(refused.value)
        assert quoted(PASSWORD) not in message and PASSWORD not in message
        assert f"{USER}:***@mail.example.org" in message
