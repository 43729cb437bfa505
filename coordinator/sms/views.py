"""Twilio's webhooks (delivery reports, incoming texts) and the organizers' opt-out list.

Every webhook request must carry a valid `X-Twilio-Signature` (an HMAC of the URL and the form
under TWILIO_AUTH_TOKEN): anything else gets 403 and changes nothing. The URL Twilio signed is
the public one; behind a reverse proxy, set TRUST_PROXY_HEADERS so that `request.url` is rebuilt
from X-Forwarded-Proto/Host (and only then: an untrusted client could forge them).
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from coordinator import signals
from coordinator.auth.permissions import require
from coordinator.endpoints.phones import PhoneError, national, parse_phone
from coordinator.extensions import csrf, db
from coordinator.sms import services

bp = Blueprint("sms", __name__)


def _verified() -> None:
    from twilio.request_validator import RequestValidator

    token = current_app.config["TWILIO_AUTH_TOKEN"]
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature or not RequestValidator(token).validate(request.url, request.form, signature):
        current_app.logger.warning("twilio webhook %s: bad or missing signature from %s", request.path,
                                   request.remote_addr)
        abort(403)


def _twiml(message: str | None = None) -> Response:
    from twilio.twiml.messaging_response import MessagingResponse

    reply = MessagingResponse()
    if message:
        reply.message(message)
    return Response(str(reply), mimetype="text/xml")


@bp.post("/webhooks/twilio/status")
@csrf.exempt
def status_callback():
    """queued → sent → delivered / undelivered / failed, with Twilio's error code."""
    _verified()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
    status = request.form.get("MessageStatus") or request.form.get("SmsStatus") or ""
    services.record_delivery(sid, status, request.form.get("ErrorCode", ""))
    return Response(status=204)


@bp.post("/webhooks/twilio/sms")
@csrf.exempt
def inbound():
    """A text to our number: STOP / START manage the opt-out; OK or 1 confirms readiness for the
    sender's next session. (Vietnam has no two-way SMS on Twilio; elsewhere this works.)"""
    _verified()
    sender = request.form.get("From", "")
    try:
        phone = parse_phone(sender).e164
    except PhoneError:
        return _twiml()
    kind = services.classify(request.form.get("Body", ""))
    if kind == "stop":
        services.opt_out(phone, "sms", note=request.form.get("Body", "")[:100], actor_label=phone)
        db.session.commit()
        return _twiml()  # Twilio answers STOP itself; a second reply would cost the sender
    if kind == "start":
        services.opt_in(phone, actor_label=phone)
        db.session.commit()
        return _twiml()
    # Anything else is for the packages that listen (reminders: "OK" confirms readiness); the first
    # reply goes back to the sender.
    replies = signals.results(signals.sms_received.send(phone, kind=kind, body=request.form.get("Body", "")))
    db.session.commit()
    return _twiml(replies[0] if replies else None)


@bp.route("/sms/opt-outs", methods=["GET", "POST"])
@require("messages.manage")
def opt_outs():
    """Numbers that get no SMS; an organizer adds one (a person asked by phone) or removes it."""
    if request.method == "POST":
        raw = request.form.get("phone", "")
        try:
            phone = parse_phone(raw)
        except PhoneError as exc:
            flash(exc.msg.localized(), "error")
            return redirect(url_for("sms.opt_outs"))
        if request.form.get("action") == "remove":
            if services.opt_in(phone.e164, actor=current_user):
                flash(_("%(phone)s will receive SMS again.", phone=phone.national), "success")
        else:
            if not phone.is_mobile:
                flash(_("%(phone)s is a fixed line: it receives no SMS anyway.", phone=phone.national), "error")
                return redirect(url_for("sms.opt_outs"))
            if services.opt_out(phone.e164, "organizer", note=request.form.get("note", "").strip()[:500],
                                actor=current_user):
                flash(_("%(phone)s will receive no more SMS.", phone=phone.national), "success")
            else:
                flash(_("%(phone)s was already opted out.", phone=phone.national), "info")
        db.session.commit()
        return redirect(url_for("sms.opt_outs"))
    return render_template("sms/opt_outs.html", rows=services.opt_outs(), national=national)
