"""`flask broadcast`: an SMS to a filtered audience of an event's contacts, from the server's
command line: the same preview as the composer, a confirmation prompt, progress and Stop."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from coordinator.auth.permissions import SystemActor
from coordinator.broadcasts import services
from coordinator.cliutil import found, refused
from coordinator.endpoints.models import CONTACT_ROLES
from coordinator.endpoints.phones import national
from coordinator.events.lookup import event_or_fail
from coordinator.problems import Invalid
from coordinator.status.rule import STATES
from coordinator.units.models import TIERS

broadcast_cli = AppGroup("broadcast", help="Broadcast SMS to a filtered audience of an event's contacts.")

UNREACHABLE_SHOWN = 50
_WHY = {"fixed_line": "fixed line", "foreign_number": "foreign number", "opted_out": "opted out"}


def _refusal(exc: Invalid) -> str:
    return "nothing was queued: " + "; ".join(str(p) for p in exc.problems)


def _echo_preview(p: services.Preview) -> None:
    f = p.filter
    click.echo(f"{p.event.slug}, session {p.session.kind}: "
               f"unit {f.unit or 'all'}, tier {f.tier or 'all'}, states {', '.join(f.states) or 'all'}, "
               f"confirmed {'either' if f.confirmed is None else 'yes' if f.confirmed else 'no'}, "
               f"roles {', '.join(f.roles)}")
    click.echo(f"recipients: {len(p.recipients)} mobile numbers (one SMS each)")
    click.echo(f"unreachable: {len(p.audience.unreachable)}")
    for u in p.audience.unreachable[:UNREACHABLE_SHOWN]:
        click.echo(f"  {u.name}  {national(u.phone) if u.phone else '-'}  {u.endpoint}  {_WHY.get(u.reason, u.reason)}")
    if len(p.audience.unreachable) > UNREACHABLE_SHOWN:
        click.echo(f"  … and {len(p.audience.unreachable) - UNREACHABLE_SHOWN} more")
    click.echo(f"text: {p.encoding}, up to {p.characters} characters, {p.segments} segments per SMS"
               + (f" ({p.plain_segments} without diacritics: --strip-diacritics)" if p.saves else ""))
    click.echo(f"total cost: {p.segments_total} segments")
    click.echo(f"sample: {p.sample}")


@broadcast_cli.command("send")
@click.option("--event", "slug", required=True, help="The event's slug.")
@click.option("--session", default=None, help="Session kind (default: the one under way, else the next).")
@click.option("--unit", default=None, help="A unit code: its whole subtree (default: everywhere).")
@click.option("--tier", type=click.Choice(list(TIERS)), default=None, help="Only endpoints of this tier.")
@click.option("--state", "states", multiple=True, type=click.Choice(list(STATES)),
              help="Current state in the session (repeat for several; default: any).")
@click.option("--confirmed/--unconfirmed", default=None, help="Readiness confirmed or not (default: either).")
@click.option("--role", "roles", multiple=True, type=click.Choice(list(CONTACT_ROLES)),
              help="Contact roles (repeat for several; default: technical).")
@click.option("--template", required=True, help="The text, with placeholders such as {event} {endpoint}.")
@click.option("--strip-diacritics", is_flag=True, help="Send without Vietnamese diacritics (GSM-7).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; queue nothing.")
@click.option("--yes", is_flag=True, help="Send without asking for confirmation.")
def broadcast_send(slug, session, unit, tier, states, confirmed, roles, template, strip_diacritics, dry_run,
                   yes) -> None:
    """Preview the broadcast, ask, then queue one SMS per mobile number through the outbox."""
    event = event_or_fail(slug)
    actor = SystemActor("cli")
    data = {"session": session, "template": template, "strip_diacritics": strip_diacritics,
            "filter": {"unit": unit, "tier": tier, "states": list(states), "confirmed": confirmed,
                       "roles": list(roles)}}
    with refused(Invalid, message=_refusal):
        p = services.preview(event, data, actor)
    _echo_preview(p)
    if dry_run:
        click.echo("dry run: nothing queued")
        return
    if not yes and not click.confirm(f"Send {len(p.recipients)} SMS ({p.segments_total} segments)?", default=False):
        click.echo("nothing queued")
        return
    with refused(Invalid, message=_refusal):
        b = services.send_prepared(p, actor)
    click.echo(f"broadcast {b.id}: {b.recipients} SMS queued ({b.segments_total} segments); "
               f"stop it with: flask --app app broadcast stop {b.id}")


def _broadcast(broadcast_id: int):
    return found(services.get(broadcast_id, SystemActor("cli")), f"no broadcast {broadcast_id}")


@broadcast_cli.command("status")
@click.argument("broadcast_id", type=int)
def broadcast_status(broadcast_id: int) -> None:
    """A broadcast's progress: its SMS per outbox status."""
    b = _broadcast(broadcast_id)
    counts = services.progress(b)
    click.echo(f"broadcast {b.id} ({b.event.slug}): {services.state_of(b, counts)}; {b.recipients} recipients, "
               f"{b.segments_total} segments, {b.unreachable} unreachable")
    click.echo("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@broadcast_cli.command("stop")
@click.argument("broadcast_id", type=int)
def broadcast_stop(broadcast_id: int) -> None:
    """Stop a broadcast: its SMS not sent yet are dropped (those in flight go out)."""
    b = _broadcast(broadcast_id)
    with refused(services.NotStoppable):
        dropped = services.stop(b, SystemActor("cli"))
    click.echo(f"broadcast {b.id} stopped: {dropped} SMS dropped")
