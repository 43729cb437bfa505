from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from coordinator.api import MAX_ID, Blueprint
from coordinator.auth.permissions import require
from coordinator.units import services
from coordinator.units.models import STRUCTURES, TIERS

blp = Blueprint("api_units", __name__, description="Administrative units (official statistics-office codes)")


class UnitQuery(ma.Schema):
    structure = ma.fields.String(validate=ma.validate.OneOf(STRUCTURES),
                                 metadata={"description": "2024 or 2025; default: the configured, loaded one"})
    tier = ma.fields.String(validate=ma.validate.OneOf(TIERS))
    parent = ma.fields.String(metadata={"description": "code of the parent unit"})
    q = ma.fields.String(metadata={"description": "part of the name, with or without diacritics, or an exact code"})
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_ID))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=1000))


class UnitSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    tier = ma.fields.String()
    parent_code = ma.fields.String(allow_none=True)
    structure = ma.fields.String()


class UnitPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(UnitSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


@blp.route("")
class Units(MethodView):
    decorators = [require("units.view")]

    @blp.arguments(UnitQuery, location="query", as_kwargs=True)
    @blp.response(200, UnitPage)
    def get(self, page, per_page, structure=None, tier=None, parent=None, q=None):
        """List units, filtered and paginated"""
        items, total = services.search_units(structure or services.default_structure(), tier=tier,
                                             parent_code=parent, q=q, page=page, per_page=per_page)
        return {"items": items, "total": total, "page": page, "per_page": per_page}
