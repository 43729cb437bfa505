"""Where email goes. Chosen by configuration: MAIL_BACKEND=file (default) or smtp. Each channel's
backend is registered in `outbox.registry` (email by `outbox.handlers`, SMS by `sms.handlers`:
SMS_BACKEND=log or twilio, `coordinator.sms.backends`).

A backend's `connect()` is a context manager giving a connection whose `send(row, content)`
delivers one message and returns the provider's reference for it, or raises SendError.
"""
from __future__ import annotations

import base64
import os
import smtplib
import socket
import ssl
from contextlib import contextmanager
from pathlib import Path

from coordinator.outbox.mime import OutgoingEmail
from coordinator.outbox.models import OutboxMessage
from coordinator.outbox.errors import SendError, Unreachable


class FileMailBackend:
    """Writes each email as an .eml file under MAIL_FILE_DIR (default instance/mail/): `make run`
    needs no mail server, and organizers can open what would have been sent."""

    connections = 1

    def __init__(self, directory: str):
        self.directory = Path(directory)

    @contextmanager
    def connect(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        yield self

    def path_for(self, row: OutboxMessage) -> Path:
        return self.directory / f"{row.id:08d}.eml"

    def send(self, row: OutboxMessage, message: OutgoingEmail) -> str:
        path = self.path_for(row)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(message.data)
            os.replace(tmp, path)  # atomic: a reader never sees half a message; a retry overwrites
        except OSError as exc:
            raise SendError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return path.name


def _smtp_reason(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """smtplib.login, except that credentials with non-ASCII characters (a Vietnamese password)
    go as AUTH PLAIN in UTF-8 (RFC 4616): smtplib encodes them as ASCII and fails."""
    if (username + password).isascii():
        smtp.login(username, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPException("the server offers no AUTH PLAIN, the only method for a non-ASCII password")
    token = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


class SmtpConnection:
    def __init__(self, backend: SmtpMailBackend):
        self.backend = backend
        self.smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        b = self.backend
        try:
            if b.use_ssl:
                smtp = smtplib.SMTP_SSL(b.host, b.port, timeout=b.timeout, context=b.tls_context())
            else:
                smtp = smtplib.SMTP(b.host, b.port, timeout=b.timeout)
                if b.starttls:
                    smtp.starttls(context=b.tls_context())
            if b.username:
                _login(smtp, b.username, b.password)
        except smtplib.SMTPResponseException as exc:
            raise Unreachable(f"SMTP {b.host}:{b.port}: {_smtp_reason(exc.smtp_code, exc.smtp_error)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise Unreachable(f"SMTP {b.host}:{b.port}: {exc}") from exc
        self.smtp = smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None

    def send(self, row: OutboxMessage, message: OutgoingEmail) -> str:
        if self.smtp is None:
            self.open()  # after a lost connection: one new one for the rest of the batch
        try:
            refused = self.smtp.sendmail(self.backend.envelope_from, [row.recipient], message.data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            self._reset()
            raise SendError(_smtp_reason(code, text), permanent=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:  # sender or data refused
            self._reset()
            raise SendError(_smtp_reason(exc.smtp_code, exc.smtp_error), permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            self.close()
            self.smtp = None
            raise SendError(f"SMTP connection lost: {exc}") from exc
        if refused:
            code, text = next(iter(refused.values()))
            raise SendError(_smtp_reason(code, text), permanent=code >= 500)
        return message.message_id

    def _reset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()


class SmtpMailBackend:
    def __init__(self, config: dict):
        self.host = config["SMTP_HOST"]
        self.port = int(config["SMTP_PORT"])
        self.username = config["SMTP_USERNAME"]
        self.password = config["SMTP_PASSWORD"]
        self.starttls = config["SMTP_STARTTLS"]
        self.use_ssl = config["SMTP_SSL"]
        self.timeout = float(config["SMTP_TIMEOUT"])
        self.envelope_from = config["MAIL_FROM_ADDRESS"]
        self.ca_file = config["SMTP_CA_FILE"] or None
        # Connections a batch is sent over at once (each reused for its share of the batch).
        self.connections = max(1, int(config["OUTBOX_SMTP_CONNECTIONS"]))

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified, against SMTP_CA_FILE when given."""
        return ssl.create_default_context(cafile=self.ca_file)

    @contextmanager
    def connect(self):
        """One connection for a whole batch (opened lazily, reopened once if the server drops it)."""
        conn = SmtpConnection(self)
        conn.open()
        try:
            yield conn
        finally:
            conn.close()


def mail_backend(config) -> FileMailBackend | SmtpMailBackend:
    """The email channel's backend (registered by `outbox.handlers`)."""
    kind = config["MAIL_BACKEND"]
    if kind == "file":
        return FileMailBackend(config["MAIL_FILE_DIR"])
    if kind == "smtp":
        return SmtpMailBackend(config)
    raise Unreachable(f"unknown MAIL_BACKEND {kind!r}: use file or smtp")
