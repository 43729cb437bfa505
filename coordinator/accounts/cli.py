"""`flask users`: accounts, set-password links and API tokens."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from coordinator.accounts import accounts, links
from coordinator.auth.models import ROLES
from coordinator.auth.permissions import SystemActor
from coordinator.auth.services import UserError, create_user, get_user_by_email, issue_token, set_password
from coordinator.cliutil import found, refused
from coordinator.extensions import db
from coordinator.problems import Invalid
from coordinator.timeutil import iso_local
from coordinator.units.models import STRUCTURES

users_cli = AppGroup("users", help="Users and API tokens.")

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


def _user_or_fail(email: str):
    return found(get_user_by_email(email), f"no user {email}")


def _issue_link(user, mail: bool) -> None:
    """A new set-password link for `user` (committed), printed; mailed unless --no-mail."""
    link = links.issue(user, actor=None, mail=mail, reason="cli")
    db.session.commit()
    click.echo(f"set-password link for {user.email} (single use, until {iso_local(link.expires_at, 'UTC')}):")
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
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--unit", "unit_code", help="Unit code (GSO): a coordinator's scope, e.g. 56 for Khánh Hòa.")
@click.option("--structure", type=click.Choice(STRUCTURES), help="Structure of --unit (default: loaded one).")
@click.option("--name", "display_name", default="", help="Display name.")
def users_create(email, password, password_stdin, send_link, mail, role, unit_code, structure, display_name) -> None:
    """Create a user. The password comes from a prompt (on a terminal) or --password-stdin; without
    either, the account gets a one-time set-password link, printed and mailed."""
    password = _read_password(password, password_stdin, send_link)
    with refused(UserError):
        user = create_user(email, password, role, unit_code=unit_code, structure=structure,
                           display_name=display_name)
    scope = f" for {user.unit.code} {user.unit.name}" if user.unit else ""
    click.echo(f"created {user.role} {user.email}{scope}")
    if password is None:
        _issue_link(user, mail)


@users_cli.command("link")
@click.argument("email")
@click.option("--mail/--no-mail", default=True, show_default=True, help="Mail the link (outbox).")
def users_link(email: str, mail: bool) -> None:
    """Print (and mail) a new one-time set-password link for EMAIL; its older links stop working."""
    user = _user_or_fail(email)
    if not user.active:
        raise click.ClickException(f"{user.email} is disabled: `flask users enable {user.email}` first")
    _issue_link(user, mail)


@users_cli.command("password")
@click.argument("email")
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the password from the first line of standard input (else: a prompt).")
def users_password(email: str, password_stdin: bool) -> None:
    """Set the password of EMAIL (from a prompt or stdin, never the command line); its sessions end."""
    user = _user_or_fail(email)
    if not password_stdin and not sys.stdin.isatty():
        raise click.UsageError("no terminal to prompt on: use --password-stdin, or `flask users link`")
    password = _read_password(None, password_stdin, False)
    with refused(UserError):
        set_password(user, password, via="cli")
    db.session.commit()
    click.echo(f"password of {user.email} set; its other sessions have ended")


def _set_active(email: str, active: bool) -> None:
    user = _user_or_fail(email)
    with refused(Invalid):
        changes = accounts.update_account(SystemActor(), user, {"active": active}, via="cli")
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
    click.echo(issue_token(_user_or_fail(email), name))
