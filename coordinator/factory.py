"""The app factory: configuration, extensions, i18n, authentication, blueprints, API, the
packages' signal wiring, CLI. `coordinator.create_app` calls `build_app`."""
from __future__ import annotations

import logging
import os
import sys
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import coordinator.models  # noqa: F401  (every table known to Alembic and to db.create_all)
from coordinator import wiring
from coordinator.api.setup import init_api
from coordinator.auth import setup as auth_setup
from coordinator.accounts.views import bp as accounts_bp
from coordinator.auth.views import bp as auth_bp
from coordinator.broadcasts.views import bp as broadcasts_bp
from coordinator.cli import register_cli
from coordinator.config import PROJECT_ROOT, check_shared_storage, load_config
from coordinator.documents.views import bp as documents_bp
from coordinator.endpoints.views import bp as endpoints_bp
from coordinator.events.views import bp as events_bp
from coordinator.extensions import babel, cache, compress, csrf, db, limiter, login_manager, migrate
from coordinator.history.views import bp as audit_bp
from coordinator.i18n import init_i18n
from coordinator.imports.views import bp as spreadsheets_bp
from coordinator.invitations.views import bp as invitations_bp
from coordinator.outbox.views import bp as outbox_bp
from coordinator.probes.views import bp as probes_bp
from coordinator.reminders.views import bp as reminders_bp
from coordinator.reports.views import bp as reports_bp
from coordinator.sms.views import bp as sms_bp
from coordinator.status.ops_views import bp as status_ops_bp
from coordinator.status.report_views import bp as status_reports_bp
from coordinator.status.views import bp as status_bp
from coordinator.timeutil import alembic_render_item
from coordinator.web import filters, headers, inputs, parts
from coordinator.web.faults import init_faults
from coordinator.web.views import bp as web_bp


def build_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        "coordinator",  # the package: its static folder, and the "coordinator" logger
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_config(Path(app.instance_path)))
    if overrides:
        app.config.update(overrides)

    check_shared_storage(app.config)  # several workers must share their rate-limit counts

    app.config["MAIL_FROM_ADDRESS"] = parseaddr(app.config["MAIL_FROM"])[1]
    app.json.ensure_ascii = False  # Vietnamese stays readable in API responses
    _warn_about_links(app)

    if app.config["TRUST_PROXY_HEADERS"]:
        # Behind N reverse proxies, believe their X-Forwarded-* headers (and only then).
        hops = app.config["TRUST_PROXY_HEADERS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"),
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds the table
        compare_type=True,
        render_item=alembic_render_item,
        # APScheduler creates and owns its job table.
        include_object=lambda obj, name, type_, reflected, compare_to: not (type_ == "table" and name == "apscheduler_jobs"),
    )
    csrf.init_app(app)
    limiter.init_app(app)
    cache.init_app(app)
    compress.init_app(app)
    init_i18n(app, babel)
    auth_setup.init_auth(app, login_manager)
    filters.register(app)
    inputs.register(app)  # a NUL in the query string or path: 400, before any view
    headers.register(app)  # CSP, nosniff, Referrer-Policy, HSTS on every response
    parts.init_app(app)  # {{ part(name, …) }}: page parts that higher packages contribute

    app.register_blueprint(web_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(events_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(endpoints_bp)
    app.register_blueprint(spreadsheets_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(invitations_bp)
    app.register_blueprint(outbox_bp)
    app.register_blueprint(reminders_bp)
    app.register_blueprint(sms_bp)
    app.register_blueprint(status_bp)
    app.register_blueprint(probes_bp)
    app.register_blueprint(status_reports_bp)
    app.register_blueprint(status_ops_bp)
    app.register_blueprint(broadcasts_bp)
    init_api(app)
    init_faults(app)  # 503 when the database does not answer, 413 in the reader's language
    wiring.connect()  # the packages' receivers of domain signals, their composers and backends
    register_cli(app)
    return app


def _warn_about_links(app: Flask) -> None:
    """In production (gunicorn, or FLASK_ENV=production) a PUBLIC_BASE_URL left unset makes every
    mailed and texted link point at this machine's local address: say so at start."""
    production = "gunicorn" in os.path.basename(sys.argv[0] or "") or os.environ.get("FLASK_ENV") == "production"
    if production and not app.config.get("PUBLIC_BASE_URL_SET") and not app.config.get("TESTING"):
        logging.getLogger("coordinator").warning(
            "PUBLIC_BASE_URL is not set: links in mail and SMS will point at %s, which users cannot reach. "
            "Set PUBLIC_BASE_URL to the address users open (e.g. https://hoinghi.example.gov.vn).",
            app.config["PUBLIC_BASE_URL"])
    if production and not app.config.get("MAIL_FROM_SET") and not app.config.get("TESTING"):
        logging.getLogger("coordinator").warning(
            "MAIL_FROM is not set: event mail goes out from each organizer's office address, other mail "
            "(account links) from %s. Set MAIL_FROM to the address your mail relay may send as.",
            app.config["MAIL_FROM"])
