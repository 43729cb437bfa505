"""Configuration from environment variables (12-factor), with safe defaults.

Every variable read here is listed in README.md's configuration table.
"""
from __future__ import annotations

import os
import secrets
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/.

    A key generated per process would log everybody out on every restart and break
    sessions between several workers, so the generated key is persisted (mode 0600).
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (the scheduler, a second worker) wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _mail_from(public_base_url: str) -> str:
    host = urlsplit(public_base_url).hostname or "localhost"
    if host.replace(".", "").isdigit():  # an IP address is no mail domain
        host = "localhost"
    return os.environ.get("MAIL_FROM") or f"Điều phối hội nghị trực tuyến <no-reply@{host}>"


def _cache_config(instance_path: Path) -> dict:
    redis_url = os.environ.get("CACHE_REDIS_URL", "")
    if redis_url:
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": redis_url, "CACHE_DEFAULT_TIMEOUT": 300}
    return {"CACHE_TYPE": os.environ.get("CACHE_TYPE", "FileSystemCache"),
            "CACHE_DIR": os.environ.get("CACHE_DIR", str(instance_path / "cache")),
            "CACHE_THRESHOLD": 2000, "CACHE_DEFAULT_TIMEOUT": 300}


def derived_base_url() -> str:
    """Where links point when PUBLIC_BASE_URL is unset: the address the development server listens
    on (HOST, PORT: `make run` sets them), so that a server on port 5101 mails links to 5101."""
    host = os.environ.get("HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{os.environ.get('PORT') or '5000'}"


def web_workers(argv: list[str] | None = None) -> int:
    """How many web worker processes serve the app: WEB_CONCURRENCY, or gunicorn's `-w N` /
    `--workers N` (command line or GUNICORN_CMD_ARGS) when running under gunicorn."""
    import shlex
    import sys

    counts = [int(os.environ.get("WEB_CONCURRENCY") or "1")]
    argv = list(sys.argv if argv is None else argv)
    if argv and "gunicorn" in os.path.basename(argv[0]):
        args = argv[1:] + shlex.split(os.environ.get("GUNICORN_CMD_ARGS", ""))
        for i, arg in enumerate(args):
            value = None
            if arg in ("-w", "--workers") and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith("--workers="):
                value = arg.split("=", 1)[1]
            elif arg.startswith("-w") and arg[2:].isdigit():
                value = arg[2:]
            if value and value.isdigit():
                counts.append(int(value))
    return max(counts)


def check_shared_storage(config: dict) -> None:
    """Several workers each counting in their own memory would let N times the sign-in attempts
    through: refuse to start rather than throttle quietly less than configured."""
    workers = int(config.get("WEB_CONCURRENCY") or 1)
    if workers > 1 and str(config.get("RATELIMIT_STORAGE_URI", "memory://")).startswith("memory://"):
        raise RuntimeError(
            f"{workers} web workers with RATELIMIT_STORAGE_URI={config.get('RATELIMIT_STORAGE_URI')}: each worker "
            "would keep its own counts of sign-in attempts and check-ins. Set RATELIMIT_STORAGE_URI to a shared "
            "storage, e.g. redis://127.0.0.1:6379/0, or run one worker (WEB_CONCURRENCY=1).")


def load_config(instance_path: Path) -> dict:
    default_db = f"sqlite:///{instance_path / 'coordinator.sqlite3'}"
    public_base_url = (os.environ.get("PUBLIC_BASE_URL") or derived_base_url()).rstrip("/")
    default_tz = os.environ.get("DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")
    ZoneInfo(default_tz)  # fail at start-up, not at the first request, on a bad zone
    mail_from = _mail_from(public_base_url)
    cookie_secure = _bool(os.environ.get("SESSION_COOKIE_SECURE"), public_base_url.startswith("https://"))
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(os.environ.get("DATABASE_URL", default_db)),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "DEFAULT_TIMEZONE": default_tz,
        # The administrative structure used when a request or command names none (if loaded).
        "DEFAULT_UNIT_STRUCTURE": os.environ.get("DEFAULT_UNIT_STRUCTURE", "2025"),
        "PUBLIC_BASE_URL": public_base_url,
        "PUBLIC_BASE_URL_SET": bool(os.environ.get("PUBLIC_BASE_URL")),
        "BABEL_DEFAULT_LOCALE": os.environ.get("DEFAULT_LOCALE", "vi"),
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": ("vi", "en"),
        "SESSION_COOKIE_SECURE": cookie_secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": cookie_secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # "Remember me" lasts 30 days (Flask-Login's default is a year), on the server as in the cookie.
        "REMEMBER_COOKIE_DURATION": int(os.environ.get("REMEMBER_SECONDS", 30 * 86400)),
        "PERMANENT_SESSION_LIFETIME": int(os.environ.get("SESSION_LIFETIME_SECONDS", 12 * 3600)),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session; a long form must not expire
        # A request body (a spreadsheet, a document) above this is refused with 413.
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_BYTES", 25 * 1024 * 1024)),
        # One file of a document request; below MAX_UPLOAD_BYTES so the official gets the precise message.
        "MAX_DOCUMENT_BYTES": int(os.environ.get("MAX_DOCUMENT_BYTES", 20 * 1024 * 1024)),
        # Failed sign-ins (wrong password): per account from any address, and per address across
        # accounts (password spraying); a successful sign-in counts for neither. Counts are kept in
        # RATELIMIT_STORAGE_URI: memory:// is per process, so several workers need redis://.
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
        "LOGIN_RATE_LIMIT_PER_ADDRESS": os.environ.get("LOGIN_RATE_LIMIT_PER_ADDRESS", "30 per minute;300 per hour"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Told apart in a Redis that several deployments share (staging and production).
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", ""),
        # Redis down: each worker counts in its own memory until it answers again, rather than
        # every sign-in and check-in failing with 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Web worker processes (gunicorn's default --workers is WEB_CONCURRENCY too): more than one
        # refuses memory:// limiter storage at start (check_shared_storage).
        "WEB_CONCURRENCY": web_workers(),
        # The confirmation link /c/<token>: per link (a valid MAC is the credential), a high ceiling
        # per address (many contacts share one behind a NAT or a proxy), and links with a wrong
        # MAC per address (guessing; genuine links never count toward it).
        "CHECKIN_RATE_LIMIT_PER_TOKEN": os.environ.get("CHECKIN_RATE_LIMIT_PER_TOKEN", "10 per minute"),
        "CHECKIN_RATE_LIMIT_PER_ADDRESS": os.environ.get("CHECKIN_RATE_LIMIT_PER_ADDRESS", "3000 per minute"),
        "CHECKIN_RATE_LIMIT_INVALID": os.environ.get("CHECKIN_RATE_LIMIT_INVALID",
                                                     "20 per minute;100 per hour;500 per day"),
        # Strict-Transport-Security max-age on https requests (or when PUBLIC_BASE_URL is https); 0: none.
        "HSTS_SECONDS": int(os.environ.get("HSTS_SECONDS") or str(365 * 24 * 3600)),
        "RATELIMIT_HEADERS_ENABLED": True,
        "TRUST_PROXY_HEADERS": int(os.environ.get("TRUST_PROXY_HEADERS", "0")),
        # Email: `file` writes .eml files under MAIL_FILE_DIR (no server needed); `smtp` sends.
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND", "file"),
        "MAIL_FILE_DIR": os.environ.get("MAIL_FILE_DIR", str(instance_path / "mail")),
        "MAIL_FROM": mail_from,
        "MAIL_FROM_SET": bool(os.environ.get("MAIL_FROM")),
        "MAIL_FROM_ADDRESS": parseaddr(mail_from)[1],
        "SMTP_HOST": os.environ.get("SMTP_HOST", "localhost"),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "465" if _bool(os.environ.get("SMTP_SSL"), False) else "25")),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool(os.environ.get("SMTP_STARTTLS"), False),
        "SMTP_SSL": _bool(os.environ.get("SMTP_SSL"), False),
        "SMTP_TIMEOUT": float(os.environ.get("SMTP_TIMEOUT", "30")),
        # CA bundle (PEM) to trust for the relay's TLS certificate, e.g. a ministry's internal CA;
        # empty: the system's CAs. The certificate and host name are always verified.
        "SMTP_CA_FILE": os.environ.get("SMTP_CA_FILE", ""),
        "OUTBOX_SMTP_CONNECTIONS": int(os.environ.get("OUTBOX_SMTP_CONNECTIONS", "1")),
        # The outbox: messages per claim (one SMTP connection each), attempts before a message is
        # failed, backoff (doubling from the base, capped), how long a claim holds, polling interval.
        "OUTBOX_BATCH_SIZE": int(os.environ.get("OUTBOX_BATCH_SIZE", "200")),
        "OUTBOX_MAX_ATTEMPTS": int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "8")),
        "OUTBOX_RETRY_BASE_SECONDS": float(os.environ.get("OUTBOX_RETRY_BASE_SECONDS", "60")),
        "OUTBOX_RETRY_MAX_SECONDS": float(os.environ.get("OUTBOX_RETRY_MAX_SECONDS", "3600")),
        "OUTBOX_LEASE_SECONDS": int(os.environ.get("OUTBOX_LEASE_SECONDS", "600")),
        "OUTBOX_POLL_SECONDS": float(os.environ.get("OUTBOX_POLL_SECONDS", "1")),
        # A dead dispatcher's claims are released by the active scheduler every OUTBOX_RECOVERY_SECONDS
        # (PostgreSQL: its advisory lock is free; elsewhere: no heartbeat, renewed every
        # OUTBOX_HEARTBEAT_SECONDS, for OUTBOX_DISPATCHER_STALE_SECONDS), long before the lease ends.
        "OUTBOX_RECOVERY_SECONDS": float(os.environ.get("OUTBOX_RECOVERY_SECONDS", "3")),
        "OUTBOX_HEARTBEAT_SECONDS": float(os.environ.get("OUTBOX_HEARTBEAT_SECONDS", "2")),
        "OUTBOX_DISPATCHER_STALE_SECONDS": float(os.environ.get("OUTBOX_DISPATCHER_STALE_SECONDS", "10")),
        # The event page warns when an event's oldest unsent message has waited longer than this.
        "OUTBOX_STALL_WARNING_MINUTES": float(os.environ.get("OUTBOX_STALL_WARNING_MINUTES", "10")),
        # The app factory, as an import path: each process of `outbox dispatch --processes N` builds
        # its app with it (the outbox does not import the app that uses it).
        "APP_FACTORY": "coordinator:create_app",
        # SMS: `log` records messages and shows them on the outbox page (no provider needed);
        # `twilio` sends through Twilio's official client.
        "SMS_BACKEND": os.environ.get("SMS_BACKEND", "log"),
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", ""),
        "TWILIO_FROM": os.environ.get("TWILIO_FROM", ""),  # a number or a registered alphanumeric sender ID
        "TWILIO_MESSAGING_SERVICE_SID": os.environ.get("TWILIO_MESSAGING_SERVICE_SID", ""),
        # Where the client sends (tests and staging point it at a local server).
        "TWILIO_API_BASE_URL": os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com"),
        # Sends per second per dispatcher process, HTTP requests in flight at once, and their timeout.
        "SMS_RATE_PER_SECOND": float(os.environ.get("SMS_RATE_PER_SECOND", "10")),
        "SMS_CONCURRENCY": int(os.environ.get("SMS_CONCURRENCY", "4")),
        "SMS_TIMEOUT": float(os.environ.get("SMS_TIMEOUT", "15")),
        # The scheduler: how often it brings reminder jobs in line with the rules; how often the
        # active process renews its lease (and a standby tries to take over); how long a lease
        # lasts without renewal (databases without advisory locks: SQLite).
        "REMINDER_SYNC_SECONDS": float(os.environ.get("REMINDER_SYNC_SECONDS", "30")),
        "SCHEDULER_HEARTBEAT_SECONDS": float(os.environ.get("SCHEDULER_HEARTBEAT_SECONDS", "10")),
        "SCHEDULER_LEASE_SECONDS": float(os.environ.get("SCHEDULER_LEASE_SECONDS", "30")),
        # Connection status: escalation window before a session; probes (timeout per probe, probes in
        # flight at once, interval of the automatic sweeps from PROBE_WINDOW_BEFORE_SECONDS before a
        # session to its end), and failed probes in a row that open an incident.
        "STATUS_WINDOW_BEFORE_SECONDS": float(os.environ.get("STATUS_WINDOW_BEFORE_SECONDS", "3600")),
        "PROBE_TIMEOUT_SECONDS": float(os.environ.get("PROBE_TIMEOUT_SECONDS", "2")),
        "PROBE_CONCURRENCY": int(os.environ.get("PROBE_CONCURRENCY", "500")),
        "PROBE_INTERVAL_SECONDS": float(os.environ.get("PROBE_INTERVAL_SECONDS", "300")),
        "PROBE_WINDOW_BEFORE_SECONDS": float(os.environ.get("PROBE_WINDOW_BEFORE_SECONDS", "3600")),
        "PROBE_FAILURES_TO_ESCALATE": int(os.environ.get("PROBE_FAILURES_TO_ESCALATE", "3")),
        # How long an operator's observation holds against contradicting probes (then probes win).
        "STATUS_HUMAN_HOLD_SECONDS": float(os.environ.get("STATUS_HUMAN_HOLD_SECONDS", "900")),
        # Escalation: a province's focal contacts get at most one digest per this many seconds;
        # national operators' mobiles (comma-separated) get a national digest when set.
        "ESCALATION_DIGEST_SECONDS": float(os.environ.get("ESCALATION_DIGEST_SECONDS", "600")),
        "ESCALATION_NATIONAL_PHONES": os.environ.get("ESCALATION_NATIONAL_PHONES", ""),
        # An incident nobody acknowledged within this many seconds is escalated once more by SMS (the
        # province's focal contacts, or the event's duty phones); 0 turns that escalation off.
        "INCIDENT_ACK_SECONDS": float(os.environ.get("INCIDENT_ACK_SECONDS", "300")),
        # A tile's colour follows its share of endpoints reachable: green from, amber from.
        "STATUS_GREEN_SHARE": float(os.environ.get("STATUS_GREEN_SHARE", "0.95")),
        "STATUS_AMBER_SHARE": float(os.environ.get("STATUS_AMBER_SHARE", "0.80")),
        # How often the scheduler gives expired holds back to the probes and sends due digests.
        "STATUS_TICK_SECONDS": float(os.environ.get("STATUS_TICK_SECONDS", "10")),
        # How often the dashboard asks whether anything changed (an ETag request; 304 when not).
        "DASHBOARD_POLL_SECONDS": float(os.environ.get("DASHBOARD_POLL_SECONDS", "5")),
        # Rendered dashboard fragments (Flask-Caching): shared by the workers of a host on disk, or
        # by every host in Redis when CACHE_REDIS_URL is set.
        **_cache_config(instance_path),
        # Responses compressed (Flask-Compress): HTML, JSON, CSV above 500 bytes.
        "COMPRESS_MIMETYPES": ["text/html", "application/json", "text/csv", "text/calendar", "text/plain",
                               "text/css", "application/javascript"],
        "COMPRESS_ALGORITHM": ["gzip"],
        "COMPRESS_MIN_SIZE": 500,
        "COMPRESS_STREAMS": False,
        # OpenAPI document (flask-smorest)
        "API_TITLE": "Điều phối hội nghị trực tuyến — API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
