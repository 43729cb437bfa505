"""An audit entry as a sentence in the reader's language: who did what to which thing, with the
details that matter ("Nguyễn Văn A đã hủy hội nghị “…” — lý do: …").

`describe(entry)` renders one entry; `describe_all(entries)` a page of them with the names looked
up once for the page (`names.Names.load`: a constant number of queries). Every action recorded
today has its sentence (see `RENDERERS`); any other action, or an entry whose details are not what
its renderer expects, gets a generic sentence naming the action and its details: rendering never
raises. Sentences are plain text (pages escape them).

The words they are made of are in `words` (`Render`: one entry with the page's names; the small
formatters); the sentences themselves in `event_sentences` (events and their registrations) and
`account_sentences` (accounts, SMS opt-outs, units).
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Callable, Iterable

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _

from coordinator.audit.actions import action_label
from coordinator.history import account_sentences as accounts
from coordinator.history import broadcast_sentences as broadcasts
from coordinator.history import event_sentences as events
from coordinator.history.names import Names, details_of
from coordinator.history.words import Render, capitalised, raw, with_extras

log = logging.getLogger(__name__)


def _generic(r: Render) -> str:
    """An action without a sentence of its own: the action, its object and its details."""
    details = "; ".join(f"{k}: {raw(v)}" for k, v in list(r.d.items())[:10])
    thing = f"{r.e.object_type or '?'} {r.e.object_id or ''}".strip()
    return with_extras(_("%(who)s: %(action)s on %(object)s", who=r.who, action=action_label(r.e.action or "?"),
                         object=thing), [details])


RENDERERS: dict[str, Callable[[Render], str]] = {
    "event.create": events.event_create,
    "event.update": events.event_update,
    "event.publish": events.event_publish,
    "event.cancel": events.event_cancel,
    "event.finish": events.event_finish,
    "session.move": events.session_move,
    "session.confirm": events.session_confirm,
    "endpoint.create": events.endpoint_create,
    "endpoint.update": events.endpoint_update,
    "endpoint.delete": events.endpoint_delete,
    "endpoints.import": events.endpoints_import,
    "event.copy_registrations": events.copy_registrations,
    "incident.open": events.incident_open,
    "incident.digest": events.incident_digest,
    "incident.ack": events.incident_ack,
    "incident.assign": events.incident_assign,
    "incident.note": events.incident_note,
    "incident.escalate": events.incident_escalate,
    "incident.resolve": events.incident_resolve,
    "reminder.create": events.reminder_create,
    "reminder.update": events.reminder_update,
    "reminder.delete": events.reminder_delete,
    "reminder.skip": events.reminder_skip,
    "reminder.fire": events.reminder_fire,
    "deadline.close": events.deadline_close,
    "deadline.reopen": events.deadline_reopen,
    "document.upload": events.document_upload,
    "document.replace": events.document_replace,
    "document.delete": events.document_delete,
    "document.contact": events.document_contact,
    "user.create": accounts.user_create,
    "user.update": accounts.user_update,
    "user.disable": accounts.user_disable,
    "user.enable": accounts.user_enable,
    "user.import": accounts.user_import,
    "user.password_link": accounts.user_password_link,
    "user.password_set": accounts.user_password_set,
    "user.login": accounts.user_login,
    "user.sessions_revoke": accounts.user_sessions_revoke,
    "user.preferences": accounts.user_preferences,
    "token.issue": accounts.token_issue,
    "sms.opt_out": accounts.sms_opt_out,
    "sms.opt_in": accounts.sms_opt_in,
    "units.load": accounts.units_load,
    "broadcast.send": broadcasts.broadcast_send,
    "broadcast.stop": broadcasts.broadcast_stop,
}


# --- entry points ------------------------------------------------------------------------------------------

def _locale(locale: str | None):
    """Render in `locale` (or the request's language); outside a request, in `locale` or Vietnamese."""
    if locale is None and has_request_context():
        return nullcontext()
    request_ctx = nullcontext() if has_request_context() else current_app.test_request_context()

    class _Both:
        def __enter__(self):
            request_ctx.__enter__()
            self.forced = force_locale(locale or current_app.config.get("BABEL_DEFAULT_LOCALE", "vi"))
            self.forced.__enter__()

        def __exit__(self, *exc):
            self.forced.__exit__(*exc)
            return request_ctx.__exit__(*exc)

    return _Both()


def _sentence(entry, names: Names) -> str:
    try:
        render = Render(entry, names)
        sentence = RENDERERS.get(entry.action, _generic)(render)
        return sentence if render.who_as_recorded and sentence.startswith(render.who) else capitalised(sentence)
    except Exception:  # details not as this action's renderer expects (an old entry, a hand-made one)
        log.warning("audit entry %s (%s): no sentence, shown generically", getattr(entry, "id", None),
                    getattr(entry, "action", None), exc_info=True)
    try:
        render = Render(entry, names)
        sentence = _generic(render)
        return sentence if render.who_as_recorded and sentence.startswith(render.who) else capitalised(sentence)
    except Exception:
        return f"{getattr(entry, 'actor_label', '?')}: {getattr(entry, 'action', '?')} {getattr(entry, 'object_type', '')} " \
               f"{getattr(entry, 'object_id', '') or ''} {raw(details_of(entry))}".strip()


def describe_all(entries: Iterable, *, locale: str | None = None, names: Names | None = None) -> list[str]:
    """The entries as sentences, in `locale` (default: the request's language, or Vietnamese outside
    a request); the names they mention are looked up once for all of them."""
    entries = list(entries)
    names = names if names is not None else Names.load(entries)
    with _locale(locale):
        return [_sentence(e, names) for e in entries]


def describe(entry, *, locale: str | None = None, names: Names | None = None) -> str:
    """One entry as a sentence (see `describe_all`)."""
    return describe_all([entry], locale=locale, names=names)[0]
