"""Coordination service for nationwide tiered videoconferences."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    from coordinator.config import load_config
    from coordinator.extensions import babel, cache, compress, csrf, db, limiter, login_manager, migrate

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_config(Path(app.instance_path)))
    if overrides:
        app.config.update(overrides)
    from email.utils import parseaddr

    app.config["MAIL_FROM_ADDRESS"] = parseaddr(app.config["MAIL_FROM"])[1]
    app.json.ensure_ascii = False  # Vietnamese stays readable in API responses

    if app.config["TRUST_PROXY_HEADERS"]:
        # Behind N reverse proxies, believe their X-Forwarded-* headers (and only then).
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUST_PROXY_HEADERS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    import coordinator.models  # noqa: F401  (every table known to Alembic and to db.create_all)

    db.init_app(app)
    from coordinator.timeutil import alembic_render_item

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

    from coordinator.i18n import init_i18n

    init_i18n(app, babel)

    from coordinator.auth import setup as auth_setup

    auth_setup.init_auth(app, login_manager)

    from coordinator.web import filters

    filters.register(app)

    from coordinator.api import init_api
    from coordinator.audit.views import bp as audit_bp
    from coordinator.documents.views import bp as documents_bp
    from coordinator.endpoints.views import bp as endpoints_bp
    from coordinator.reports.views import bp as reports_bp
    from coordinator.spreadsheets.views import bp as spreadsheets_bp
    from coordinator.auth.views import bp as auth_bp
    from coordinator.events.views import bp as events_bp
    from coordinator.web.views import bp as web_bp
    from coordinator.invitations.views import bp as invitations_bp
    from coordinator.outbox.views import bp as outbox_bp
    from coordinator.reminders.views import bp as reminders_bp
    from coordinator.sms.views import bp as sms_bp
    from coordinator.status.report_views import bp as status_reports_bp
    from coordinator.status.views import bp as status_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(auth_bp)
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
    app.register_blueprint(status_reports_bp)
    init_api(app)

    from coordinator.cli import register_cli

    register_cli(app)
    return app
