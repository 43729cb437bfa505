"""Email bytes, built once per message with the standard library's MIME classes.

The legacy `email.mime` API (policy compat32) is used on purpose: for our fixed layout it is ten
times faster than `EmailMessage` with a modern policy, whose header folder re-parses every header
of every part (10 ms a message; 300 messages/s are needed for a national send-out), and its
`email.header.Header` encoder keeps the spaces that Python 3.11's policy folder drops between an
ASCII word and an encoded word ("toàn quốc" arriving as "toànquốc"). Non-ASCII headers become
RFC 2047 encoded words; bodies are UTF-8 in base64, so every line ending (CRLF in calendars) is
kept byte for byte.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from email import encoders
from email.charset import BASE64, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from coordinator.timeutil import utcnow

class _WirePolicy(Compat32):
    """compat32 with CRLF line endings (RFC 5322), which writes a short ASCII header as it is
    instead of running it through the folder (most headers of every part: a third of the cost
    of a message)."""

    def fold_binary(self, name, value):
        if (isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value
                and len(name) + len(value) + 2 <= self.max_line_length):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


SMTP_POLICY = _WirePolicy(linesep="\r\n")
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = BASE64
_UTF8.body_encoding = BASE64


@dataclass(frozen=True)
class OutgoingEmail:
    data: bytes  # the whole message with CRLF line endings, as sent
    message_id: str


@lru_cache(maxsize=64)
def address(display_name: str, addr: str) -> str:
    """`Name <addr>` with the name encoded when it is not ASCII (cached: the sender is the same
    in every message)."""
    return formataddr((display_name or "", addr), charset="utf-8")


def mailbox(value: str) -> str:
    """A configured `Name <addr>` (e.g. MAIL_FROM) as a header value."""
    name, addr = parseaddr(value)
    return address(name, addr)


def _header(value: str):
    return value if value.isascii() else Header(value, _UTF8)


def _bytes_part(maintype: str, subtype: str, data: bytes, **params: str) -> MIMENonMultipart:
    part = MIMENonMultipart(maintype, subtype, **params)
    part.set_payload(data)
    encoders.encode_base64(part)
    return part


def _boundary() -> str:
    # Given explicitly, so that the generator does not search the body for a collision with a
    # regular expression compiled per message; base64 and our text cannot contain "=_".
    return f"=_{secrets.token_hex(16)}"


def build(*, subject: str, sender: str, to: str, message_id: str, text: str, html: str | None = None,
          calendar: bytes | None = None, method: str | None = None, reply_to: str | None = None,
          language: str | None = None) -> OutgoingEmail:
    """multipart/mixed [ multipart/alternative [ text/plain, text/html, text/calendar; method=… ],
    invite.ics ] when there is a calendar; otherwise text (and HTML) only."""
    body = MIMEMultipart("alternative", boundary=_boundary())
    body.attach(MIMEText(text, "plain", _UTF8))
    if html is not None:
        body.attach(MIMEText(html, "html", _UTF8))
    if calendar is not None:
        # The calendar's own METHOD is repeated in the part's `method` parameter (RFC 6047).
        body.attach(_bytes_part("text", "calendar", calendar, method=method or "PUBLISH", charset="UTF-8"))
        outer = MIMEMultipart("mixed", boundary=_boundary())
        outer.attach(body)
        attachment = _bytes_part("application", "ics", calendar, name="invite.ics")
        attachment.add_header("Content-Disposition", "attachment", filename="invite.ics")
        outer.attach(attachment)
    else:
        outer = body
    outer["Subject"] = _header(subject)
    outer["From"] = sender
    outer["To"] = to
    if reply_to:
        outer["Reply-To"] = reply_to
    outer["Date"] = format_datetime(utcnow())
    outer["Message-ID"] = message_id
    if language:
        outer["Content-Language"] = language
    outer["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies stay away
    return OutgoingEmail(outer.as_bytes(policy=SMTP_POLICY), message_id)
