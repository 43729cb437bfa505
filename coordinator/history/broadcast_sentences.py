"""The sentences of broadcast SMS (`broadcast.send`, `broadcast.stop`; one function per action,
`history.sentences.RENDERERS`)."""
from __future__ import annotations

from flask_babel import gettext as _

from coordinator.events.labels import TIER_LABELS
from coordinator.history.words import Render, number, quoted, session_label, with_extras
from coordinator.status.labels import STATE_LABELS


def _audience(r: Render) -> list[str | None]:
    f = r.d.get("filter") if isinstance(r.d.get("filter"), dict) else {}
    states = [str(STATE_LABELS.get(s, s)) for s in f.get("states") or [] if isinstance(s, str)]
    confirmed = f.get("confirmed")
    return [
        _("tier: %(tier)s", tier=TIER_LABELS.get(f["tier"], f["tier"])) if f.get("tier") else None,
        _("state: %(states)s", states=", ".join(states)) if states else None,
        (_("readiness confirmed") if confirmed else _("readiness not confirmed")) if confirmed is not None else None,
        _("unreachable: %(n)s", n=number(r.d["unreachable"])) if r.d.get("unreachable") else None,
        _("without diacritics") if r.d.get("strip_diacritics") else None,
    ]


def broadcast_send(r: Render) -> str:
    unit = r.d.get("unit")
    place = r.unit(unit) if unit else _("Whole country")
    return with_extras(_("%(who)s sent the broadcast SMS #%(id)s of the event %(event)s for %(session)s to "
                         "%(place)s: %(n)s SMS, %(segments)s segments, text %(text)s", who=r.who,
                         id=r.e.object_id or "?", event=r.event, session=session_label(r.d.get("session")),
                         place=place, n=number(r.d.get("recipients", 0)),
                         segments=number(r.d.get("segments_total", 0)), text=quoted(r.d.get("template") or "")),
                       _audience(r))


def broadcast_stop(r: Render) -> str:
    return _("%(who)s stopped the broadcast SMS #%(id)s of the event %(event)s: %(dropped)s SMS not sent "
             "(%(sent)s already sent)", who=r.who, id=r.e.object_id or "?", event=r.event,
             dropped=number(r.d.get("dropped", 0)), sent=number(r.d.get("sent", 0)))
