"""Command-line interface: `flask --app app <group> <command>`. Commands call services only."""
from __future__ import annotations

import sys
import time
from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

units_cli = AppGroup("units", help="Administrative units.")
schedules_cli = AppGroup("schedules", help="Event plans (TOML files in schedules/).")
users_cli = AppGroup("users", help="Users and API tokens.")
events_cli = AppGroup("events", help="Events.")
scheduler_cli = AppGroup("scheduler", help="The background scheduler.")
outbox_cli = AppGroup("outbox", help="The outbox every email and SMS passes through.")
reminders_cli = AppGroup("reminders", help="Reminder rules and their firings.")
sms_cli = AppGroup("sms", help="SMS: opted-out numbers.")
probes_cli = AppGroup("probes", help="Probing endpoints (SIP OPTIONS, H.323 TCP connect, HTTP GET).")


@units_cli.command("load")
@click.option("--structure", type=click.Choice(["2024", "2025"]), required=True,
              help="2024: 63 provinces / 705 districts / 10,599 communes; 2025: 34 provinces / 3,321 communes.")
def units_load(structure: str) -> None:
    """Load (or refresh) the bundled units of STRUCTURE. Idempotent."""
    from coordinator.units import services

    started = time.perf_counter()
    rows = services.read_rows(services.data_file(structure))
    with click.progressbar(length=len(rows), label=f"Units {structure}", file=sys.stderr) as bar:
        result = services.load_structure(structure, rows=rows, progress=bar.update)
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{tier}: {n:,}" for tier, n in result.per_tier.items() if n)
    click.echo(f"structure {structure}: {counts}")
    click.echo(f"inserted {result.inserted:,}, updated {result.updated:,}, unchanged {result.unchanged:,} "
               f"in {elapsed:.2f} s")


def _print_plan_errors(exc) -> None:
    for err in exc.errors:
        click.echo(f"{exc.source}: {err}" if exc.source else str(err), err=True)


@schedules_cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def schedules_check(files: tuple[str, ...]) -> None:
    """Validate plan FILES; print every error as FILE: KEY.PATH: REASON and exit 1 if any."""
    from coordinator.events.plans import PlanInvalid, read_plan_file

    failed = False
    for path in files:
        try:
            plan = read_plan_file(path)
        except PlanInvalid as exc:
            _print_plan_errors(exc)
            failed = True
        else:
            click.echo(f"{path}: OK ({plan.slug}: {len(plan.sessions)} sessions, {len(plan.deadlines)} deadlines, "
                       f"{len(plan.reminders)} reminders, tiers {', '.join(t.tier for t in plan.tiers)})")
    if failed:
        sys.exit(1)


@schedules_cli.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--shift-to", "shift_to", metavar="YYYY-MM-DD",
              help="Move every date so that the first session falls on this day (times of day and gaps kept).")
def schedules_load(file: str, shift_to: str | None) -> None:
    """Create the event of plan FILE, or update it (matched by slug). Nothing is saved on error."""
    from coordinator.events import services
    from coordinator.events.plans import PlanInvalid, read_plan_file, shift_plan
    from coordinator.timeutil import format_local

    try:
        plan = read_plan_file(file)
        if shift_to:
            try:
                plan = shift_plan(plan, date.fromisoformat(shift_to))
            except ValueError:
                raise click.BadParameter("use YYYY-MM-DD", param_hint="--shift-to") from None
        result = services.apply_plan(plan)
    except PlanInvalid as exc:
        if not exc.source:
            exc.source = file
        _print_plan_errors(exc)
        sys.exit(1)
    event = result.event
    verb = "created" if result.created else ("updated" if result.changes else "unchanged")
    click.echo(f"{event.slug}: {verb} ({event.status})")
    for s in event.sessions:
        click.echo(f"  {s.kind}: {format_local(s.starts_at, event.timezone)}–"
                   f"{format_local(s.ends_at, event.timezone)} {event.timezone} (SEQUENCE {s.sequence})")


PASSWORD_ON_COMMAND_LINE = ("warning: a password given with --password is visible to other users of this machine "
                            "(process list, shell history); omit it to be prompted, pipe it with --password-stdin, "
                            "or let the user choose it through a set-password link (--send-link)")


def _read_password(password: str | None, password_stdin: bool, send_link: bool) -> str | None:
    """The password from --password (warned), stdin, or a prompt on a terminal; None: send a link."""
    if sum([password is not None, password_stdin, send_link]) > 1:
        raise click.UsageError("give at most one of --password, --password-stdin and --send-link")
    if password is not None:
        click.echo(PASSWORD_ON_COMMAND_LINE, err=True)
        return password
    if password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise click.UsageError("--password-stdin: nothing on the first line of standard input")
        return value
    if not send_link and sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return None


def _echo_link(link, email: str) -> None:
    from coordinator.timeutil import iso_local

    click.echo(f"set-password link for {email} (single use, until {iso_local(link.expires_at, 'UTC')}):")
    click.echo(f"  {link.url}")
    click.echo("  also queued by email (the outbox dispatcher sends it)" if link.mailed else "  not mailed (--no-mail)")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", default=None,
              help="Discouraged (visible to other users of the machine): omit it to be prompted.")
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.option("--send-link", "send_link", is_flag=True,
              help="No password: print a one-time set-password link (72 h) and mail it. The default without a terminal.")
@click.option("--mail/--no-mail", default=True, show_default=True, help="Mail the set-password link (outbox).")
@click.option("--role", required=True, type=click.Choice(["admin", "organizer", "coordinator", "operator"]))
@click.option("--unit", "unit_code", help="Unit code (GSO): a coordinator's scope, e.g. 56 for Khánh Hòa.")
@click.option("--structure", type=click.Choice(["2024", "2025"]), help="Structure of --unit (default: loaded one).")
@click.option("--name", "display_name", default="", help="Display name.")
def users_create(email, password, password_stdin, send_link, mail, role, unit_code, structure, display_name) -> None:
    """Create a user. The password comes from a prompt (on a terminal) or --password-stdin; without
    either, the account gets a one-time set-password link, printed and mailed."""
    from coordinator.auth import links
    from coordinator.auth.services import UserError, create_user
    from coordinator.extensions import db

    password = _read_password(password, password_stdin, send_link)
    try:
        user = create_user(email, password, role, unit_code=unit_code, structure=structure,
                           display_name=display_name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    scope = f" for {user.unit.code} {user.unit.name}" if user.unit else ""
    click.echo(f"created {user.role} {user.email}{scope}")
    if password is None:
        link = links.issue(user, actor=None, mail=mail, reason="cli")
        db.session.commit()
        _echo_link(link, user.email)


def _user_or_fail(email: str):
    from coordinator.auth.services import get_user_by_email

    user = get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user {email}")
    return user


@users_cli.command("link")
@click.argument("email")
@click.option("--mail/--no-mail", default=True, show_default=True, help="Mail the link (outbox).")
def users_link(email: str, mail: bool) -> None:
    """Print (and mail) a new one-time set-password link for EMAIL; its older links stop working."""
    from coordinator.auth import links
    from coordinator.extensions import db

    user = _user_or_fail(email)
    if not user.active:
        raise click.ClickException(f"{user.email} is disabled: `flask users enable {user.email}` first")
    link = links.issue(user, actor=None, mail=mail, reason="cli")
    db.session.commit()
    _echo_link(link, user.email)


@users_cli.command("password")
@click.argument("email")
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the password from the first line of standard input (else: a prompt).")
def users_password(email: str, password_stdin: bool) -> None:
    """Set the password of EMAIL (from a prompt or stdin, never the command line); its sessions end."""
    from coordinator.auth.services import UserError, set_password
    from coordinator.extensions import db

    user = _user_or_fail(email)
    if not password_stdin and not sys.stdin.isatty():
        raise click.UsageError("no terminal to prompt on: use --password-stdin, or `flask users link`")
    password = _read_password(None, password_stdin, False)
    try:
        set_password(user, password, via="cli")
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"password of {user.email} set; its other sessions have ended")


def _set_active(email: str, active: bool) -> None:
    from coordinator.auth import accounts
    from coordinator.auth.permissions import SystemActor

    user = _user_or_fail(email)
    try:
        changes = accounts.update_account(SystemActor(), user, {"active": active}, via="cli")
    except accounts.AccountInvalid as exc:
        raise click.ClickException(str(exc)) from None
    state = "enabled" if active else "disabled (sessions ended, API tokens and links revoked)"
    click.echo(f"{user.email} {state}" if changes else f"{user.email} already {'enabled' if active else 'disabled'}")


@users_cli.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable EMAIL: it cannot sign in, and its sessions and API tokens stop working at once."""
    _set_active(email, False)


@users_cli.command("enable")
@click.argument("email")
def users_enable(email: str) -> None:
    """Enable EMAIL again (its old sessions and API tokens stay revoked)."""
    _set_active(email, True)


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default="cli", help="A label for the token.")
def users_token(email: str, name: str) -> None:
    """Print a new API bearer token for EMAIL (stored hashed: shown only now)."""
    from coordinator.auth.services import get_user_by_email, issue_token

    user = get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user {email}")
    click.echo(issue_token(user, name))


@users_cli.command("demo")
def users_demo() -> None:
    """Create the demo users (idempotent) and print their logins."""
    from coordinator.auth.services import create_user, get_user_by_email

    demo = [
        ("admin@demo.gov.vn", "admin", None, "Quản trị hệ thống"),
        ("organizer@demo.gov.vn", "organizer", None, "Cục Thông tin cơ sở"),
        ("khanhhoa@demo.gov.vn", "coordinator", "56", "Sở TT&TT Khánh Hòa"),
        ("hanoi@demo.gov.vn", "coordinator", "01", "Sở TT&TT Hà Nội"),
        ("operator@demo.gov.vn", "operator", None, "Kỹ thuật viên trực"),
    ]
    password = "demo-2024"
    for email, role, unit, name in demo:
        if get_user_by_email(email) is None:
            # Accounts of the 2024 units, as a ministry's existing ones are: the succession of units
            # scopes them in 2025 events too (2024 Khánh Hòa -> 2025 Khánh Hòa).
            create_user(email, password, role, unit_code=unit, structure="2024" if unit else None, display_name=name)
        click.echo(f"  {role:<12} {email:<26} password: {password}" + (f"  (unit {unit}, 2024)" if unit else ""))


@events_cli.command("demo-registrations")
@click.argument("slug")
@click.option("--province", default="56", show_default=True, help="Province code to fill in.")
def events_demo_registrations(slug: str, province: str) -> None:
    """Register demo endpoints and contacts for one province (its districts, a few communes attending
    at their district), so a fresh demo has something to look at. Idempotent."""
    from sqlalchemy import select

    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    event = get_event(slug)
    if event is None:
        raise click.ClickException(f"no event {slug}")
    actor = SystemActor()
    root = get_unit(event.unit_structure, province)
    if root is None:
        raise click.ClickException(f"no province {province}")
    children = db.session.scalars(select(Unit).where(Unit.parent_id == root.id).order_by(Unit.code)).all()
    for i, unit in enumerate([root] + children):
        if endpoints.endpoint_of_unit(event, unit) is not None:
            continue
        suffix = f"{i:02d}"
        values = endpoints.clean_endpoint({
            "name": f"Hội trường {unit.name}", "address": unit.name, "protocol": "sip",
            "dial": f"sip:diemcau-{unit.code}@10.{int(province)}.{i}.1", "provider": "VNPT",
            "contacts": [
                {"name": f"Lãnh đạo {unit.name}", "position": "Lãnh đạo", "phone": f"0913 100 1{suffix}",
                 "email": f"lanhdao.{unit.code}@example.gov.vn", "role": "chair"},
                {"name": f"Cán bộ kỹ thuật {unit.name}", "position": "Chuyên viên", "phone": f"0905 200 2{suffix}",
                 "email": f"kythuat.{unit.code}@example.gov.vn", "role": "technical"},
            ],
        })
        endpoints.save_endpoint(event, unit, values, actor=actor)
        if unit.tier != "province":
            communes = endpoints.may_host(event, unit)[:2]
            for commune in communes:
                endpoints.attend_at_parent(event, commune, actor=actor)
    click.echo(f"{slug}: demo endpoints registered for {root.name} and its {len(children)} districts")


def _event_or_fail(slug: str):
    from coordinator.events.services import get_event

    event = get_event(slug)
    if event is None:
        raise click.ClickException(f"no event {slug}")
    return event


@events_cli.command("publish")
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Say what publishing would send; change nothing.")
def events_publish(slug: str, dry_run: bool) -> None:
    """Publish an event: every contact with an email is sent one invitation per session."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.events import services

    event = _event_or_fail(slug)
    try:
        if dry_run:
            _print_consequences(event, services.preview_publish(event))
            return
        services.publish(event, actor=SystemActor())
    except services.EventStateError as exc:
        raise click.ClickException(str(exc)) from None
    _print_invitation_counts(event)


@events_cli.command("cancel")
@click.argument("slug")
@click.option("--reason", required=True, help="Required: kept in the audit log, written in the cancellation mail and SMS.")
def events_cancel(slug: str, reason: str) -> None:
    """Cancel an event: every invitation sent is withdrawn (METHOD:CANCEL)."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.events import services
    from coordinator.events.plans import PlanInvalid

    event = _event_or_fail(slug)
    try:
        services.cancel(event, actor=SystemActor(), reason=reason)
    except services.EventStateError as exc:
        raise click.ClickException(str(exc)) from None
    except PlanInvalid as exc:
        raise click.ClickException("; ".join(e.localized() for e in exc.errors)) from None
    _print_invitation_counts(event)


@events_cli.command("copy-registrations")
@click.argument("source")
@click.argument("target")
@click.option("--dry-run", is_flag=True, help="Say what would be copied and what needs review; change nothing.")
def events_copy_registrations(source: str, target: str, dry_run: bool) -> None:
    """Copy SOURCE's endpoints and contacts into TARGET, following the succession of units
    (2024 -> 2025). Endpoints that cannot be carried over are listed for review, not lost."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import copying

    src, dst = _event_or_fail(source), _event_or_fail(target)
    try:
        plan = copying.plan_copy(src, dst) if dry_run else copying.copy_registrations(src, dst, actor=SystemActor())
    except copying.CopyRefused as exc:
        raise click.ClickException(str(exc)) from None
    result = plan.as_dict()
    verb = "would copy" if dry_run else "copied"
    click.echo(f"{dst.slug}: {verb} {result['copied']} endpoints ({result['contacts']} contacts) from {src.slug}; "
               f"{result['already_registered']} already registered, {len(result['review'])} to review"
               + (" (dry run: nothing changed)" if dry_run else ""))
    for item in result["review"]:
        click.echo(f"  review {item['unit_code']:>6} {item['endpoint']}: {item['message']}")


def _print_consequences(event, c) -> None:
    from coordinator.timeutil import iso_local

    click.echo(f"{event.slug}: nothing changed (dry run). Publishing would send:")
    for kind, n in c.invitations.items():
        click.echo(f"  {kind:<18} {n:>6} invitations")
    click.echo(f"  to {c.recipients} addresses; {c.reminders} reminders to come"
               + (f", the first at {iso_local(c.first_reminder_at, event.timezone)}" if c.first_reminder_at else ""))


def _print_invitation_counts(event) -> None:
    from coordinator.invitations.services import counts

    click.echo(f"{event.slug}: {event.status}")
    for row in counts(event):
        c = row["counts"]
        click.echo(f"  {row['session'].kind:<18} current {c['current']:>6}  pending {c['pending']:>6}  "
                   f"failed {c['failed']:>6}  withdrawn {c['withdrawn']:>6}")


@events_cli.command("invitations")
@click.argument("slug")
def events_invitations(slug: str) -> None:
    """Invitations of an event per session: current, pending, failed, withdrawn."""
    _print_invitation_counts(_event_or_fail(slug))


@outbox_cli.command("dispatch")
@click.option("--once", is_flag=True, help="Send everything due now and exit (default: keep dispatching).")
@click.option("--limit", type=int, default=None, help="With --once: at most this many messages.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --once: dispatch in this many processes at once (one core each), for a big send-out.")
def outbox_dispatch(once: bool, limit: int | None, processes: int) -> None:
    """Send due messages through the configured backends (MAIL_BACKEND)."""
    import logging

    from flask import current_app

    from coordinator.outbox import services as outbox

    if not once:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # ten lines per SMS otherwise
        click.echo(f"dispatching every {current_app.config['OUTBOX_POLL_SECONDS']} s (Ctrl+C stops)")
        try:
            outbox.run_forever(current_app.config["OUTBOX_POLL_SECONDS"])
        except KeyboardInterrupt:
            pass
        return
    started = time.perf_counter()
    due = outbox.status_counts()["pending"]
    if processes > 1:
        click.echo(f"{due} messages due; dispatching in {processes} processes", err=True)
        stats = outbox.dispatch_in_processes(processes, max_messages=limit)
    else:
        with click.progressbar(length=limit or due, label="Outbox", file=sys.stderr) as bar:
            stats = outbox.dispatch_due(max_messages=limit, progress=bar.update)
    elapsed = time.perf_counter() - started
    click.echo(f"sent {stats.sent}, to retry {stats.retried}, failed {stats.failed} in {elapsed:.2f} s")
    for line in stats.errors[:20]:
        click.echo(f"  {line}", err=True)
    if len(stats.errors) > 20:
        click.echo(f"  … and {len(stats.errors) - 20} more", err=True)


@outbox_cli.command("status")
@click.option("--event", "slug", default=None, help="Only this event's messages.")
def outbox_status(slug: str | None) -> None:
    """Messages per status; those whose outcome was unknown (a crash, a timeout) and how that ended;
    the dispatcher processes."""
    from coordinator.outbox import dispatchers, services as outbox

    event_id = _event_or_fail(slug).id if slug else None
    for status, n in outbox.status_counts(event_id).items():
        click.echo(f"{status:<11} {n:>7}")
    doubts = outbox.doubt_counts(event_id)
    click.echo(f"uncertain (outcome unknown, looked up before any resend) {doubts['uncertain']:>7}")
    click.echo(f"  found at the provider (not resent)                     {doubts['found']:>7}")
    click.echo(f"  not at the provider (sent again, no duplicate)         {doubts['absent']:>7}")
    click.echo(f"  resent without confirmation (possible duplicates)      {doubts['unconfirmed']:>7}")
    for row, alive in dispatchers.alive_dispatchers():
        click.echo(f"dispatcher {row.id} {row.host}:{row.pid} {'alive' if alive else 'gone'}, "
                   f"heartbeat {row.heartbeat_at:%Y-%m-%d %H:%M:%S}Z")


@outbox_cli.command("retry-failed")
@click.option("--event", "slug", required=True, help="The event whose failed messages get new attempts.")
def outbox_retry_failed(slug: str) -> None:
    """Give failed messages a fresh set of attempts (after fixing the mail server or an address)."""
    from coordinator.extensions import db
    from coordinator.outbox import services as outbox

    n = outbox.retry_failed(_event_or_fail(slug).id)
    db.session.commit()
    click.echo(f"{n} messages queued again")


@events_cli.command("finish-past")
def events_finish_past() -> None:
    """Mark published events whose sessions are all over as finished."""
    from coordinator.events.services import finish_past_events

    for slug in finish_past_events():
        click.echo(f"{slug}: finished")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in the foreground (one per deployment)."""
    from flask import current_app

    from coordinator.scheduling.scheduler import run_forever

    run_forever(current_app._get_current_object())


def _parse_instant(value: str):
    from datetime import datetime

    from coordinator.timeutil import utcnow

    if not value:
        return utcnow()
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date and time, e.g. 2024-06-27T14:00+07:00") from None
    if at.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; write e.g. 2024-06-27T14:00+07:00 or ...Z")
    return at


@reminders_cli.command("due")
@click.option("--at", "at", default="", help="The instant (ISO 8601 with offset); default now.")
@click.option("--event", "slug", default=None, help="Only this event.")
def reminders_due(at: str, slug: str | None) -> None:
    """Queue every reminder due at --at that has not gone out yet (what the scheduler does).
    Safe to run at any time and any number of times: a reminder is queued once."""
    from coordinator.reminders.services import enqueue_due

    instant = _parse_instant(at)
    runs = enqueue_due(instant, event=_event_or_fail(slug) if slug else None)
    for run in runs:
        detail = f"{run.queued} queued, {run.unreachable} unreachable" if run.status == "sent" else run.reason
        click.echo(f"rule {run.rule_id} ({run.anchor_version}): {run.status}: {detail}")
    click.echo(f"{len(runs)} reminders fired, {sum(r.queued for r in runs)} messages queued")


@reminders_cli.command("plan")
@click.argument("slug")
def reminders_plan(slug: str) -> None:
    """List an event's reminder rules with their fire times (in the event's time zone) and state."""
    from coordinator.reminders.services import plan
    from coordinator.timeutil import format_local

    event = _event_or_fail(slug)
    for p in plan(event):
        when = format_local(p.fire_at, event.timezone) if p.fire_at else "-"
        click.echo(f"{p.rule.id:>5}  {when:<17} {p.state:<10} {p.rule.anchor:<28} {p.rule.offset_seconds:>+9d}s "
                   f"{p.rule.channel:<5} {p.rule.audience}")


@sms_cli.command("opt-out")
@click.argument("phone")
@click.option("--note", default="")
def sms_opt_out(phone: str, note: str) -> None:
    """Stop all SMS to PHONE (any Vietnamese spelling of the number)."""
    from coordinator.endpoints.phones import PhoneError, parse_phone
    from coordinator.extensions import db
    from coordinator.sms import services

    try:
        number = parse_phone(phone)
    except PhoneError as exc:
        raise click.ClickException(exc.msg.text) from None
    changed = services.opt_out(number.e164, "organizer", note=note, actor_label="cli")
    db.session.commit()
    click.echo(f"{number.e164}: {'opted out' if changed else 'was already opted out'}")


@sms_cli.command("opt-in")
@click.argument("phone")
def sms_opt_in(phone: str) -> None:
    """Allow SMS to PHONE again."""
    from coordinator.endpoints.phones import PhoneError, parse_phone
    from coordinator.extensions import db
    from coordinator.sms import services

    try:
        number = parse_phone(phone)
    except PhoneError as exc:
        raise click.ClickException(exc.msg.text) from None
    changed = services.opt_in(number.e164, actor_label="cli")
    db.session.commit()
    click.echo(f"{number.e164}: {'opted in again' if changed else 'was not opted out'}")


@probes_cli.command("sweep")
@click.option("--event", "slug", required=True)
@click.option("--unit", "code", default=None, help="Only this unit and the units below it (a province code).")
@click.option("--session", "kind", default=None, help="Record for this session (default: under way, else next).")
def probes_sweep(slug: str, code: str | None, kind: str | None) -> None:
    """Probe the event's endpoints now and record the results (progress bar, then a summary by
    state and by failing layer)."""
    from flask import current_app

    from coordinator.probes import services as probes
    from coordinator.units.services import get_unit

    event = _event_or_fail(slug)
    unit = None
    if code:
        unit = get_unit(event.unit_structure, code)
        if unit is None:
            raise click.ClickException(f"no unit {code} in structure {event.unit_structure}")
    session = event.session(kind) if kind else None
    if kind and session is None:
        raise click.ClickException(f"{slug} has no session {kind}")
    total = len(probes.targets(event, unit))
    started = time.perf_counter()
    with click.progressbar(length=total, label=f"Probing {total:,} endpoints "
                           f"(timeout {current_app.config['PROBE_TIMEOUT_SECONDS']:g} s, "
                           f"{current_app.config['PROBE_CONCURRENCY']} at once)", file=sys.stderr) as bar:
        summary = probes.sweep(event, session=session, unit=unit, progress=lambda _result: bar.update(1))
    elapsed = time.perf_counter() - started
    click.echo(f"{summary.probed:,} probed in {elapsed:.1f} s: {summary.connected:,} connected, "
               f"{summary.degraded:,} degraded, {summary.failed:,} failed, {summary.unknown:,} without a dial address")
    if summary.layers:
        click.echo("by layer: " + ", ".join(f"{layer} {n:,}" for layer, n in sorted(summary.layers.items())))
    if summary.incidents:
        click.echo(f"{summary.incidents} incidents opened")


def register_cli(app: Flask) -> None:
    for group in (units_cli, schedules_cli, users_cli, events_cli, scheduler_cli, outbox_cli, reminders_cli, sms_cli,
                  probes_cli):
        app.cli.add_command(group)


