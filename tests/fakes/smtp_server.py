"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd), which keeps what it receives and can be
told to refuse: the next N messages temporarily (451), or some recipients for good (550)."""
from __future__ import annotations

import asyncio

import email
import email.policy
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

# A self-signed certificate for 127.0.0.1 (valid until 2126), trusted through SMTP_CA_FILE.
TEST_CERT = Path(__file__).resolve().parent.parent / "data" / "smtp-test-cert.pem"
TEST_KEY = Path(__file__).resolve().parent.parent / "data" / "smtp-test-key.pem"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool = False
    login: str | None = None

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse_next: int = 0  # answer 451 to this many DATA commands
    refused_total: int = 0
    reject: set[str] = field(default_factory=set)  # recipients refused with 550
    connections: int = 0
    # After this many messages, drop the connection in the middle of the next one and stop listening.
    crash_after: int | None = None
    on_crash: object = None
    delay: float = 0.0  # seconds before answering each DATA: a slow relay
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.crash_after is not None and len(self.received) >= self.crash_after:
            self.on_crash()  # no new connections
            server.transport.abort()  # and this one is gone before the reply
            return "451 gone"
        with self.lock:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                self.refused_total += 1
                return "451 4.3.0 Temporary failure, please try again later"
            login = session.auth_data.login.decode() if session.authenticated and session.auth_data else None
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                          or envelope.content, login=login,
                                          tls=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None))
        return "250 OK: queued"


def _server_tls() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TEST_CERT, TEST_KEY)
    return context


class SmtpServer:
    """`starttls`: offers STARTTLS and requires it; `implicit_tls`: TLS from the first byte (port
    465 style); `users`: {login: password} required to send (only over TLS)."""

    def __init__(self, *, starttls: bool = False, implicit_tls: bool = False, users: dict[str, str] | None = None):
        self.handler = Handler()
        self.port = free_port()
        options = {}
        if starttls:
            options.update(tls_context=_server_tls(), require_starttls=True)
        if users is not None:
            def authenticate(server, session, envelope, mechanism, auth_data):
                ok = users.get(auth_data.login.decode()) == auth_data.password.decode()
                return AuthResult(success=ok, handled=False, auth_data=auth_data)

            options.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     ssl_context=_server_tls() if implicit_tls else None,
                                     server_hostname="127.0.0.1", **options)

    def start(self) -> SmtpServer:
        self.controller.start()
        self.handler.on_crash = self.controller.server.close
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]
