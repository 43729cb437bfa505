"""The sentences of what happens to events and their registrations: events, sessions,
endpoints, imports and copies, incidents, reminders, deadlines, documents (one function per
action, `history.sentences.RENDERERS`)."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from coordinator.events.labels import TIER_LABELS
from coordinator.history.words import (EVENT_FIELDS, MAX_CHANGES, RULE_FIELDS, Render, anchor_label, clip,
                                       deadline_label, field_changes, number, offset, phone, quoted, session_label,
                                       size, with_extras, yes_no)
from coordinator.reminders.labels import AUDIENCE_LABELS, CHANNEL_LABELS
from coordinator.status.labels import LAYER_LABELS


def event_create(r: Render) -> str:
    return _("%(who)s created the event %(event)s", who=r.who, event=r.event)


def _event_change(change: Any) -> str:
    change = str(change)
    if change in EVENT_FIELDS:
        return str(EVENT_FIELDS[change])
    what, _sep, rest = change.partition(":")
    tier = TIER_LABELS.get(rest, rest)
    if what in ("session", "session-added", "session-removed"):
        session = session_label(rest)
        return {"session": _("session %(session)s", session=session),
                "session-added": _("session %(session)s added", session=session),
                "session-removed": _("session %(session)s removed", session=session)}[what]
    if what in ("deadline", "deadline-removed"):
        kind, _sep, tier_code = rest.partition(":")
        deadline = deadline_label(kind, tier_code)
        return (_("deadline %(deadline)s", deadline=deadline) if what == "deadline"
                else _("deadline %(deadline)s removed", deadline=deadline))
    if what in ("reminder", "reminder-added", "reminder-removed"):
        anchor = anchor_label(rest)
        return {"reminder": _("reminder for %(anchor)s", anchor=anchor),
                "reminder-added": _("reminder for %(anchor)s added", anchor=anchor),
                "reminder-removed": _("reminder for %(anchor)s removed", anchor=anchor)}[what]
    if what == "tier":
        return _("tier %(tier)s", tier=tier)
    if what == "tier-removed":
        return _("tier %(tier)s removed", tier=tier)
    return change


def event_update(r: Render) -> str:
    changes = r.d.get("changes")
    changes = changes if isinstance(changes, list) else []
    words = [_event_change(c) for c in changes[:MAX_CHANGES]]
    if len(changes) > MAX_CHANGES:
        words.append(_("%(n)s more", n=number(len(changes) - MAX_CHANGES)))
    if not words:
        return _("%(who)s changed the event %(event)s", who=r.who, event=r.event)
    return _("%(who)s changed the event %(event)s: %(changes)s", who=r.who, event=r.event, changes=", ".join(words))


def event_publish(r: Render) -> str:
    return with_extras(_("%(who)s published the event %(event)s", who=r.who, event=r.event), [
        _("invitations queued: %(n)s", n=number(r.d["invitations"])) if "invitations" in r.d else None])


def event_cancel(r: Render) -> str:
    reason = clip(r.d.get("reason") or "")
    if reason:
        sentence = _("%(who)s cancelled the event %(event)s — reason: %(reason)s", who=r.who, event=r.event, reason=reason)
    else:
        sentence = _("%(who)s cancelled the event %(event)s (no reason given)", who=r.who, event=r.event)
    return with_extras(sentence, [
        _("calendar cancellations: %(n)s", n=number(r.d["cancellations"])) if r.d.get("cancellations") else None,
        _("contacts told by SMS: %(n)s", n=number(r.d["cancellation_sms"])) if r.d.get("cancellation_sms") else None],
        inside=not reason)


def event_finish(r: Render) -> str:
    return _("%(who)s marked the event %(event)s as finished", who=r.who, event=r.event)


def session_move(r: Render) -> str:
    before, after = r.d.get("before"), r.d.get("after")
    changes = field_changes(before, after, {},
                            lambda key, v: r.when(v) if key in ("starts_at", "ends_at") else (clip(v) if v else "—"))
    return _("%(who)s moved %(session)s of the event %(event)s: %(changes)s", who=r.who,
             session=r.session(r.d.get("session")), event=r.event, changes=changes or "—")


def session_confirm(r: Render) -> str:
    return _("%(who)s confirmed %(endpoints)s ready for %(session)s of the event %(event)s", who=r.who,
             endpoints=r.endpoints(r.d.get("endpoints")), session=r.session(r.d.get("session")), event=r.event)


def _endpoint_changes(r: Render) -> str:
    return field_changes(r.d.get("before"), r.d.get("after"), {})


def endpoint_create(r: Render) -> str:
    return _("%(who)s registered %(endpoint)s for the event %(event)s", who=r.who,
             endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event)


def endpoint_update(r: Render) -> str:
    changes = _endpoint_changes(r)
    if changes:  # when the endpoints service records before/after
        return _("%(who)s updated %(endpoint)s for the event %(event)s: %(changes)s", who=r.who,
                 endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event, changes=changes)
    return _("%(who)s updated %(endpoint)s for the event %(event)s", who=r.who,
             endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event)


def endpoint_delete(r: Render) -> str:
    return with_extras(_("%(who)s removed %(endpoint)s from the event %(event)s", who=r.who,
                         endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event), [
        _("contacts removed: %(n)s", n=number(r.d["contacts"])) if isinstance(r.d.get("contacts"), int) else None])


def endpoints_import(r: Render) -> str:
    def counts(key):
        value = r.d.get(key)
        value = value if isinstance(value, dict) else {}
        return [number(value.get(k, 0)) for k in ("created", "updated", "unchanged")]

    (ec, eu, en), (cc, cu, cn) = counts("endpoints"), counts("contacts")
    filename = r.d.get("filename")
    return _("%(who)s imported %(file)s into the event %(event)s: endpoints %(e_created)s created, %(e_updated)s "
             "updated, %(e_unchanged)s unchanged; contacts %(c_created)s created, %(c_updated)s updated, "
             "%(c_unchanged)s unchanged", who=r.who, file=quoted(filename) if filename else _("a spreadsheet"),
             event=r.event, e_created=ec, e_updated=eu, e_unchanged=en, c_created=cc, c_updated=cu, c_unchanged=cn)


def copy_registrations(r: Render) -> str:
    return _("%(who)s copied the registrations of %(source)s into the event %(event)s: %(copied)s endpoints "
             "(%(contacts)s contacts) copied, %(review)s listed for review", who=r.who,
             source=quoted(r.d.get("source") or "?"), event=r.event, copied=number(r.d.get("copied", 0)),
             contacts=number(r.d.get("contacts", 0)), review=number(r.d.get("review", 0)))


def incident_open(r: Render) -> str:
    layer = r.d.get("layer")
    return with_extras(_("%(who)s reported %(endpoint)s failed during %(session)s: incident #%(incident)s opened",
                         who=r.who, endpoint=r.endpoint(), session=r.session(r.d.get("session")),
                         incident=r.d.get("incident", "?")), [
        str(LAYER_LABELS.get(layer, layer)) if layer else None,
        clip(r.d["detail"]) if r.d.get("detail") else None,
        _("technical contacts texted: %(n)s", n=number(r.d.get("notified", 0)))])


def incident_digest(r: Render) -> str:
    scope = r.d.get("scope")
    place = _("Whole country") if scope == "national" else r.unit(scope)
    return _("%(who)s sent the incident digest of %(place)s for %(session)s of the event %(event)s: %(incidents)s "
             "incidents, %(recipients)s recipients", who=r.who, place=place, session=r.session(r.d.get("session")),
             event=r.event, incidents=number(r.d.get("incidents", 0)), recipients=number(r.d.get("recipients", 0)))


def incident_ack(r: Render) -> str:
    return _("%(who)s acknowledged incident #%(incident)s of %(endpoint)s during %(session)s: they own it",
             who=r.who, incident=r.d.get("incident", "?"), endpoint=r.endpoint(), session=r.session(r.d.get("session")))


def incident_assign(r: Render) -> str:
    return _("%(who)s gave incident #%(incident)s of %(endpoint)s to %(owner)s", who=r.who,
             incident=r.d.get("incident", "?"), endpoint=r.endpoint(), owner=r.d.get("owner_label") or "?")


def incident_note(r: Render) -> str:
    return _("%(who)s wrote on incident #%(incident)s of %(endpoint)s: %(text)s", who=r.who,
             incident=r.d.get("incident", "?"), endpoint=r.endpoint(), text=quoted(r.d.get("text") or ""))


def incident_escalate(r: Render) -> str:
    level = r.d.get("level")
    whom = {"province": _("the province's focal contacts"), "duty": _("the event's duty phones")}.get(level)
    if whom is None:
        return _("Nobody acknowledged incident #%(incident)s of %(endpoint)s in time, and there was nobody to "
                 "escalate it to", incident=r.d.get("incident", "?"), endpoint=r.endpoint())
    return _("Nobody acknowledged incident #%(incident)s of %(endpoint)s in time: escalated to %(whom)s "
             "(%(n)s SMS)", incident=r.d.get("incident", "?"), endpoint=r.endpoint(), whom=whom,
             n=number(r.d.get("recipients", 0)))


def incident_resolve(r: Render) -> str:
    if r.d.get("how") == "recovered":
        return _("%(endpoint)s was connected again: incident #%(incident)s resolved (seen by %(who)s)",
                 endpoint=r.endpoint(), incident=r.d.get("incident", "?"), who=r.who)
    return _("%(who)s resolved incident #%(incident)s of %(endpoint)s: %(reason)s", who=r.who,
             incident=r.d.get("incident", "?"), endpoint=r.endpoint(), reason=quoted(r.d.get("reason") or ""))


def _rule_extras(values: dict) -> list[str | None]:
    return [
        _("text: %(text)s", text=quoted(values["template"])) if values.get("template") else None,
        _("without diacritics") if values.get("strip_diacritics") else None,
        _("paused") if values.get("active") is False else None,
    ]


def reminder_create(r: Render) -> str:
    return with_extras(_("%(who)s added the reminder %(rule)s to the event %(event)s", who=r.who,
                         rule=r.rule(r.d), event=r.event), _rule_extras(r.d))


def reminder_update(r: Render) -> str:
    before, after = r.d.get("before"), r.d.get("after")

    def value(key, v):
        if key == "offset_seconds":
            return offset(v)
        if key == "anchor":
            return anchor_label(v)
        if key == "channel":
            return str(CHANNEL_LABELS.get(v, v))
        if key == "audience":
            return str(AUDIENCE_LABELS.get(v, v))
        if key in ("active", "strip_diacritics"):
            return yes_no(v)
        return quoted(v) if v else "—"

    current = {**before, **after} if isinstance(before, dict) and isinstance(after, dict) else None
    rule = r.rule(current) if current and "anchor" in current else r.rule()
    return _("%(who)s changed the reminder %(rule)s of the event %(event)s: %(changes)s", who=r.who, rule=rule,
             event=r.event, changes=field_changes(before, after, RULE_FIELDS, value) or "—")


def reminder_delete(r: Render) -> str:
    return _("%(who)s deleted the reminder %(rule)s of the event %(event)s", who=r.who, rule=r.rule(r.d),
             event=r.event)


def reminder_skip(r: Render) -> str:
    reason = str(r.d.get("reason") or "")
    if reason == "anchor_passed":
        words = _("its session or deadline had already begun")
    elif reason.startswith("overtaken"):
        words = _("a later reminder to the same people went out instead")
    else:
        words = clip(reason) or "—"
    return _("%(who)s skipped the reminder %(rule)s of the event %(event)s: %(reason)s", who=r.who, rule=r.rule(),
             event=r.event, reason=words)


def reminder_fire(r: Render) -> str:
    return with_extras(_("%(who)s sent the reminder %(rule)s of the event %(event)s: %(n)s messages queued",
                         who=r.who, rule=r.rule(), event=r.event, n=number(r.d.get("queued", 0))), [
        _("unreachable: %(n)s", n=number(r.d["unreachable"])) if r.d.get("unreachable") else None])


def deadline_close(r: Render) -> str:
    return _("%(who)s closed registration for %(deadline)s of the event %(event)s", who=r.who,
             deadline=r.deadline(r.d.get("kind"), r.d.get("tier")), event=r.event)


def deadline_reopen(r: Render) -> str:
    return _("%(who)s reopened registration for %(deadline)s of the event %(event)s", who=r.who,
             deadline=r.deadline(r.d.get("kind"), r.d.get("tier")), event=r.event)


def _document_words(r: Render) -> dict:
    return {"who": r.who, "file": quoted(r.d.get("filename") or "?"), "unit": r.unit(r.d.get("unit")),
            "deadline": r.deadline(deadline_id=r.d.get("deadline")), "event": r.event}


def document_upload(r: Render) -> str:
    return with_extras(_("%(who)s uploaded %(file)s for %(unit)s (%(deadline)s, event %(event)s)",
                         **_document_words(r)), [size(r.d["size"]) if "size" in r.d else None,
                                                 _("late") if r.d.get("late") else None], inside=True)


def document_replace(r: Render) -> str:
    return with_extras(_("%(who)s replaced a file of %(unit)s with %(file)s (%(deadline)s, event %(event)s)",
                         **_document_words(r)), [size(r.d["size"]) if "size" in r.d else None,
                                                 _("late") if r.d.get("late") else None], inside=True)


def document_delete(r: Render) -> str:
    return _("%(who)s deleted %(file)s of %(unit)s (%(deadline)s, event %(event)s)", **_document_words(r))


def document_contact(r: Render) -> str:
    return _("%(who)s named %(name)s (%(phone)s) focal contact of %(unit)s for %(deadline)s (event %(event)s)",
             who=r.who, name=clip(r.d.get("name") or "?"), phone=phone(r.d.get("phone") or "?"),
             unit=r.unit(r.d.get("unit")), deadline=r.deadline(deadline_id=r.e.object_id), event=r.event)
