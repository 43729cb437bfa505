"""Copy an event's registrations into another event, across structures when needed.

The use: last year's conference (2024 units) registered ~11,000 endpoints; this year's uses the
2025 units. Each endpoint goes to the unit its own unit became (`units.succession.equivalent`,
and for a merged province or commune the unit it is the main part of). What cannot be carried
over safely is listed for review, never dropped silently:

- its unit has no counterpart (2024 districts: there is no district tier in 2025), or was
  divided between several units;
- its unit merged into one that already gets an endpoint (2024 Ninh Thuận -> 2025 Khánh Hòa,
  which takes 2024 Khánh Hòa's): the organizer or the province decides which room they use;
- the target unit's tier is not one of the target event's tiers;
- the target unit is already registered in the target event (left as it is: copying twice
  changes nothing).

All in one transaction; the target event's deadlines are recomputed and, when it is published,
invitations go to the copied contacts as for any registration.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from coordinator import signals
from coordinator.audit import services as audit
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.endpoints.rules import ENDPOINT_FIELDS
from coordinator.endpoints.services import touch_registry
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.messages import N_, Message
from coordinator.units import succession
from coordinator.units.models import Unit

CONTACT_FIELDS = ("role", "name", "position", "phone", "phone_type", "email", "language", "sms_opt_out", "focal")

NO_SUCCESSOR = "no_successor"
DIVIDED = "divided"
MERGED = "merged"
TIER_NOT_IN_EVENT = "tier_not_in_event"
ALREADY_REGISTERED = "already_registered"
REASONS = {
    NO_SUCCESSOR: N_("%(unit)s has no counterpart in the %(structure)s structure."),
    DIVIDED: N_("%(unit)s was divided between several units: choose the one that uses this room."),
    MERGED: N_("%(unit)s merged into %(target)s, which already gets the endpoint of %(other)s: decide which room "
               "%(target)s uses."),
    TIER_NOT_IN_EVENT: N_("%(target)s is a %(tier)s, a tier this event does not invite."),
    ALREADY_REGISTERED: N_("%(target)s is already registered in this event: left as it is."),
}


@dataclass
class Review:
    """An endpoint not copied, and why."""

    endpoint: Endpoint
    reason: str
    target: Unit | None = None
    candidates: list[Unit] = field(default_factory=list)
    other: Unit | None = None  # MERGED: the unit whose endpoint the target gets
    structure: str = ""  # the target event's

    @property
    def message(self) -> Message:
        return Message(REASONS[self.reason], {
            "unit": f"{self.endpoint.unit.name} ({self.endpoint.unit.code})",
            "structure": self.structure or (self.target.structure if self.target else ""),
            "target": f"{self.target.name} ({self.target.code})" if self.target else "",
            "other": f"{self.other.name} ({self.other.code})" if self.other else "",
            "tier": self.target.tier if self.target else ""})

    def as_dict(self) -> dict:
        return {"unit_code": self.endpoint.unit.code, "unit_name": self.endpoint.unit.name,
                "endpoint": self.endpoint.name, "reason": self.reason,
                "target_code": self.target.code if self.target else None,
                "candidates": [u.code for u in self.candidates], "message": self.message.localized()}


@dataclass
class CopyPlan:
    source: Event
    target: Event
    copies: list[tuple[Endpoint, Unit]] = field(default_factory=list)
    review: list[Review] = field(default_factory=list)
    contacts: int = 0
    dropped_hosted: list[tuple[Endpoint, Unit]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"source": self.source.slug, "target": self.target.slug, "copied": len(self.copies),
                "contacts": self.contacts,
                "review": [r.as_dict() for r in self.review if r.reason != ALREADY_REGISTERED],
                "already_registered": sum(r.reason == ALREADY_REGISTERED for r in self.review),
                "hosted_not_carried": [{"host": e.unit.code, "unit_code": u.code} for e, u in self.dropped_hosted]}


class CopyRefused(Exception):
    pass


def plan_copy(source: Event, target: Event) -> CopyPlan:
    """What copying `source`'s registrations into `target` would do. Changes nothing."""
    if source.id == target.id:
        raise CopyRefused("an event cannot be copied into itself")
    if target.status == "cancelled":
        raise CopyRefused(f"{target.slug} is cancelled")
    plan = CopyPlan(source, target)
    endpoints = list(db.session.scalars(
        select(Endpoint).where(Endpoint.event_id == source.id)
        .options(selectinload(Endpoint.unit), selectinload(Endpoint.contacts),
                 selectinload(Endpoint.hosted).selectinload(HostedUnit.unit))
        .join(Unit, Endpoint.unit_id == Unit.id).order_by(Unit.path)))
    structure = target.unit_structure
    units = {(u.code): u for u in db.session.scalars(select(Unit).where(Unit.structure == structure))}
    table = succession.mapping(source.unit_structure, structure, ("central", "province", "district", "commune")) \
        if source.unit_structure != structure else {}
    registered = set(db.session.scalars(select(Endpoint.unit_id).where(Endpoint.event_id == target.id)))
    registered |= set(db.session.scalars(select(HostedUnit.unit_id).where(HostedUnit.event_id == target.id)))
    tiers = set(target.tiers)

    def targets_of(unit: Unit) -> list[tuple[Unit, str]]:
        if source.unit_structure == structure:
            found = units.get(unit.code)
            return [(found, succession.WHOLE)] if found else []
        if unit.code == "TW":
            return [(units["TW"], succession.WHOLE)] if "TW" in units else []
        return [(units[c], share) for c, share in table.get(unit.code, []) if c in units]

    candidates: dict[int, list[Endpoint]] = {}  # target unit id -> the endpoints that map to it
    target_of: dict[int, Unit] = {}
    for ep in endpoints:
        found = targets_of(ep.unit)
        whole_or_main = [u for u, share in found if share in (succession.WHOLE, succession.MAIN)]
        if not found:
            plan.review.append(Review(ep, NO_SUCCESSOR, structure=structure))
        elif len(whole_or_main) != 1:
            plan.review.append(Review(ep, DIVIDED, candidates=[u for u, _ in found]))
        elif whole_or_main[0].tier not in tiers:
            plan.review.append(Review(ep, TIER_NOT_IN_EVENT, target=whole_or_main[0]))
        elif whole_or_main[0].id in registered:
            plan.review.append(Review(ep, ALREADY_REGISTERED, target=whole_or_main[0]))
        else:
            target_of[ep.id] = whole_or_main[0]
            candidates.setdefault(whole_or_main[0].id, []).append(ep)
    for ep in endpoints:
        unit = target_of.get(ep.id)
        if unit is None:
            continue
        group = candidates[unit.id]
        # A merge: the endpoint of the unit that keeps the target's code wins (2024 Khánh Hòa over
        # Ninh Thuận for 2025 Khánh Hòa), else the first by code; the others go to review.
        keeper = next((o for o in group if o.unit.code == unit.code), group[0])
        if keeper is ep:
            plan.copies.append((ep, unit))
            plan.contacts += len(ep.contacts)
        else:
            plan.review.append(Review(ep, MERGED, target=unit, other=keeper.unit))
    copied_units = {u.id for _, u in plan.copies}
    for ep, unit in plan.copies:
        for h in ep.hosted:
            mapped = [u for u, s in targets_of(h.unit) if s in (succession.WHOLE, succession.MAIN)]
            if len(mapped) != 1 or not unit.contains(mapped[0]) or mapped[0].id in registered | copied_units:
                plan.dropped_hosted.append((ep, h.unit))
    return plan


def copy_registrations(source: Event, target: Event, *, actor) -> CopyPlan:
    """Copy what `plan_copy` says, in one transaction; commits. Returns the plan carried out."""
    plan = plan_copy(source, target)
    dropped = {(e.id, u.id) for e, u in plan.dropped_hosted}
    hosted_claimed: set[int] = set()
    created: list[Endpoint] = []
    structure = target.unit_structure
    for ep, unit in plan.copies:
        new = Endpoint(event_id=target.id, unit_id=unit.id, unit=unit,
                       **{attr: getattr(ep, attr) for attr in ENDPOINT_FIELDS})
        new.contacts = [Contact(**{attr: getattr(c, attr) for attr in CONTACT_FIELDS}) for c in ep.contacts]
        for h in ep.hosted:
            if (ep.id, h.unit_id) in dropped:
                continue
            mapped = h.unit if source.unit_structure == structure else succession.equivalent(h.unit, structure)
            if mapped is None:
                mapped = next((u for u, s in succession.successors(h.unit, structure) if s == succession.MAIN), None)
            if mapped is not None and mapped.id not in hosted_claimed:
                hosted_claimed.add(mapped.id)
                new.hosted.append(HostedUnit(event_id=target.id, unit=mapped))
        db.session.add(new)
        created.append(new)
    db.session.flush()
    if created:
        touch_registry(target.id)
        units = {e.unit_id: e.unit for e in created}
        units.update({h.unit_id: h.unit for e in created for h in e.hosted})
        # Deadline fulfilment of the units registered; invitations to the copied contacts.
        signals.endpoints_changed.send(target, units=list(units.values()), endpoint_ids=[e.id for e in created])
    audit.record("event.copy_registrations", "event", target.id, actor=actor, event=target.slug,
                 source=source.slug, copied=len(created), contacts=plan.contacts,
                 review=len([r for r in plan.review if r.reason != ALREADY_REGISTERED]))
    db.session.commit()
    return plan
