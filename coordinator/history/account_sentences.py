"""The sentences of what happens to accounts and reference data: users, their passwords,
sessions and tokens, SMS opt-outs, the administrative units (one function per action,
`history.sentences.RENDERERS`)."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from coordinator.history.names import as_int
from coordinator.history.words import (OPT_OUT_SOURCES, ROLE_NAMES, USER_FIELDS, Render, clip, field_changes, number,
                                       phone, quoted, with_extras)


def _user_named(r: Render) -> str:
    user = r.names.users.get(as_int(r.e.object_id))
    email = (user.email if user else None) or r.d.get("email") or f"#{r.e.object_id}"
    if user is not None and user.display_name and user.display_name != email:
        return f"{user.display_name} <{email}>"
    return str(email)


def _role(role: Any) -> str:
    return str(ROLE_NAMES.get(role, role or "?"))


def user_create(r: Render) -> str:
    user = r.names.users.get(as_int(r.e.object_id))
    role = _role(r.d.get("role"))
    code = r.d.get("unit")
    if code:
        unit = (f"{user.unit_name} ({code})" if user is not None and user.unit_code == code and user.unit_name
                else r.unit(code, r.d.get("structure")))
        sentence = _("%(who)s created the account %(user)s: %(role)s of %(unit)s", who=r.who, user=_user_named(r),
                     role=role, unit=unit)
    else:
        sentence = _("%(who)s created the account %(user)s: %(role)s", who=r.who, user=_user_named(r), role=role)
    return with_extras(sentence, [_("disabled") if r.d.get("active") is False else None])


def user_update(r: Render) -> str:
    """changes: {"name" | "role" | "unit": [before, after]}, a unit as "structure:code"."""
    changes = r.d.get("changes")
    changes = changes if isinstance(changes, dict) else {}

    def value(key, v):
        if v in (None, ""):
            return "—"
        if key == "role":
            return _role(v)
        if key == "unit" and isinstance(v, str):
            structure, _sep, code = v.rpartition(":")
            return r.unit(code, structure or None)
        return clip(v)

    pairs = {k: v for k, v in changes.items() if isinstance(v, list) and len(v) == 2}
    words = field_changes({k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}, USER_FIELDS, value)
    return _("%(who)s changed the account %(user)s: %(changes)s", who=r.who, user=_user_named(r), changes=words or "—")


def user_disable(r: Render) -> str:
    return with_extras(_("%(who)s disabled the account %(user)s", who=r.who, user=_user_named(r)), [
        _("API tokens revoked: %(n)s", n=number(r.d["tokens_revoked"])) if isinstance(r.d.get("tokens_revoked"), int) else None,
        _("signed out everywhere") if r.d.get("sessions") == "revoked" else None])


def user_enable(r: Render) -> str:
    return _("%(who)s enabled the account %(user)s", who=r.who, user=_user_named(r))


def user_import(r: Render) -> str:
    filename = r.d.get("filename")
    return _("%(who)s imported accounts from %(file)s: %(created)s created, %(updated)s updated, %(unchanged)s "
             "unchanged", who=r.who, file=quoted(filename) if filename else _("a spreadsheet"),
             created=number(r.d.get("created", 0)), updated=number(r.d.get("updated", 0)),
             unchanged=number(r.d.get("unchanged", 0)))


def user_password_link(r: Render) -> str:
    if r.d.get("purpose") == "reset":
        sentence = _("%(who)s issued %(user)s a link to reset the password", who=r.who, user=_user_named(r))
    else:
        sentence = _("%(who)s issued %(user)s a link to choose a password", who=r.who, user=_user_named(r))
    mailed = r.d.get("mailed")
    return with_extras(sentence, [
        _("sent by email") if mailed is True else _("not mailed") if mailed is False else None,
        _("valid until %(time)s", time=r.when(r.d["expires_at"])) if r.d.get("expires_at") else None])


def user_password_set(r: Render) -> str:
    if r.e.actor_id is not None and str(r.e.actor_id) == r.e.object_id:
        sentence = _("%(who)s set their own password", who=r.who)
    else:
        sentence = _("%(who)s set the password of %(user)s", who=r.who, user=_user_named(r))
    via = str(r.d.get("via") or "")
    return with_extras(sentence, [_("by the emailed link") if via.startswith("link") else None])


def user_login(r: Render) -> str:
    return _("%(who)s signed in", who=r.who)


def user_preferences(r: Render) -> str:
    """alert_sound: the sound and title-bar count for new incidents on the dashboards, on or off."""
    if r.d.get("alert_sound"):
        return _("%(who)s turned on the sound and title-bar count for new incidents", who=r.who)
    return _("%(who)s turned off the sound and title-bar count for new incidents", who=r.who)


def user_sessions_revoke(r: Render) -> str:
    if r.e.actor_id is not None and str(r.e.actor_id) == r.e.object_id:
        sentence = _("%(who)s signed out on every device", who=r.who)
    else:
        sentence = _("%(who)s ended every session of %(user)s", who=r.who, user=_user_named(r))
    count = r.d.get("sessions")
    return with_extras(sentence, [_("sessions ended: %(n)s", n=number(count)) if isinstance(count, int) else None])


def token_issue(r: Render) -> str:
    return _("%(who)s issued the API token %(name)s for %(user)s", who=r.who, name=quoted(r.d.get("name") or ""),
             user=_user_named(r))


def _own_number(r: Render) -> bool:
    return r.e.actor_id is None and bool(r.e.object_id) and r.e.actor_label == r.e.object_id


def sms_opt_out(r: Render) -> str:
    number_ = phone(r.e.object_id)
    if _own_number(r):
        sentence = _("%(phone)s replied STOP: no more SMS to this number", phone=number_)
    else:
        source = r.d.get("source")
        sentence = _("%(who)s stopped SMS to %(phone)s (%(source)s)", who=r.who, phone=number_,
                     source=OPT_OUT_SOURCES.get(source, source or "?"))
    return with_extras(sentence, [_("note: %(note)s", note=clip(r.d["note"])) if r.d.get("note") else None],
                       inside=not _own_number(r))


def sms_opt_in(r: Render) -> str:
    number_ = phone(r.e.object_id)
    if _own_number(r):
        return _("%(phone)s replied START: SMS allowed again", phone=number_)
    return _("%(who)s allowed SMS to %(phone)s again", who=r.who, phone=number_)


def units_load(r: Render) -> str:
    return _("%(who)s loaded the administrative units of %(structure)s: %(inserted)s added, %(updated)s updated",
             who=r.who, structure=r.e.object_id or "?", inserted=number(r.d.get("inserted", 0)),
             updated=number(r.d.get("updated", 0)))
