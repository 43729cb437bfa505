"""`flask sms`: numbers that get no SMS."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from coordinator.cliutil import refused
from coordinator.endpoints.phones import PhoneError, parse_phone
from coordinator.extensions import db
from coordinator.sms import services

sms_cli = AppGroup("sms", help="SMS: opted-out numbers.")


def _e164(phone: str) -> str:
    """PHONE in E.164, or the command fails with the reason it is not a number."""
    with refused(PhoneError, message=lambda exc: exc.msg.text):
        number = parse_phone(phone)
    return number.e164


@sms_cli.command("opt-out")
@click.argument("phone")
@click.option("--note", default="")
def sms_opt_out(phone: str, note: str) -> None:
    """Stop all SMS to PHONE (any Vietnamese spelling of the number)."""
    number = _e164(phone)
    changed = services.opt_out(number, "organizer", note=note, actor_label="cli")
    db.session.commit()
    click.echo(f"{number}: {'opted out' if changed else 'was already opted out'}")


@sms_cli.command("opt-in")
@click.argument("phone")
def sms_opt_in(phone: str) -> None:
    """Allow SMS to PHONE again."""
    number = _e164(phone)
    changed = services.opt_in(number, actor_label="cli")
    db.session.commit()
    click.echo(f"{number}: {'opted in again' if changed else 'was not opted out'}")
