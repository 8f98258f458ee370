"""A real SMTP server for the tests (aiosmtpd on a free loopback port), and the outbox; and
relays that insist on TLS (STARTTLS or SMTPS) and a login, with a CA made at test time."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class Inbox:
    """An aiosmtpd handler that keeps every message; ``refuse`` makes the next DATA
    commands answer with the given replies (e.g. "451 4.3.0 try again later")."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse:
                return self.refuse.pop(0)
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[tuple[str, Inbox]]:
    """Yields the ``MAIL_URL`` of a running server (plain SMTP, no login) and its inbox."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}?tls=none", inbox
    finally:
        controller.stop()


def outbox(app: Any) -> list[EmailMessage]:
    """The messages written into the instance's outbox, oldest first."""
    folder = Path(app.config["CHALLENGE_INSTANCE"]) / "outbox"
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for f in files]


# ---------------------------------------------------------------- TLS and AUTH

@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a relay certificate it signs (for 127.0.0.1 and localhost), as PEM
    files made at test time: nothing secret is committed."""

    ca: Path  # what MAIL_CA_FILE names
    cert: Path
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A CA and a leaf signed by it, with the extensions a strict verifier asks for."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test mail CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    files = Certificates(folder / "ca.pem", folder / "relay.pem", folder / "relay.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


class Accounts:
    """An aiosmtpd authenticator with one account; keeps every login tried (user names
    only, and whether it was accepted)."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.tried: list[tuple[str, str, bool]] = []  # (mechanism, user, accepted)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (self.user, self.password)
        self.tried.append((mechanism, bytes(getattr(data, "login", b"")).decode(), ok))
        # auth_data is logged by aiosmtpd at DEBUG: keep the password out of it.
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


class SecureInbox(Inbox):
    """An Inbox that also notes, for each message, the login it came under and whether the
    connection was encrypted."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bytes | None, bool]] = []  # (login, over TLS)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sessions.append((session.auth_data, server.transport.get_extra_info("ssl_object") is not None))
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def tls_smtp_server(certs: Certificates, mode: str, accounts: Accounts,
                    exclude: tuple[str, ...] = ()) -> Iterator[tuple[str, SecureInbox]]:
    """A relay that insists on a login, over TLS only. ``mode`` "starttls": plain at first,
    STARTTLS required before anything else (and before AUTH is offered); "ssl": TLS from the
    first byte (SMTPS). ``exclude`` drops AUTH mechanisms ("PLAIN", "LOGIN"). Yields the
    ``MAIL_URL`` without credentials (host, port and tls mode), and the inbox."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    inbox = SecureInbox()
    port = free_port()
    # aiosmtpd knows TLS only as STARTTLS: on an SMTPS port, where everything is encrypted,
    # its auth_require_tls would never offer AUTH, and auth_required without it warns; there
    # the inbox's handle_MAIL insists on the login instead.
    starttls = mode == "starttls"
    common: dict[str, Any] = {"authenticator": accounts, "auth_required": starttls,
                              "auth_require_tls": starttls, "auth_exclude_mechanism": list(exclude)}
    if mode == "starttls":
        controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                                require_starttls=True, **common)
    else:
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context, **common)
    controller.start()
    try:
        yield f"127.0.0.1:{port}?tls={mode}", inbox
    finally:
        controller.stop()
