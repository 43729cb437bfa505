"""Accounts: list, create, change (role, scope, name, active), send a set-password link, import
from a spreadsheet. Admins manage every account; organizers those of coordinators and operators
(and give only those roles). Nobody disables their own account or changes their own role, and
the last active admin stays one. No password ever passes through this API: a new account, or
`POST /users/<id>/password-link`, gets a one-time link by email (72 hours)."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from flask_smorest.fields import Upload

from coordinator.accounts import accounts, sheets
from coordinator.api import MAX_ID, Blueprint, refusal
from coordinator.api.imports import NOTHING_IMPORTED, ImportErrorSchema, no_file
from coordinator.auth import scopes as account_scopes
from coordinator.auth.models import PURPOSES, ROLES
from coordinator.auth.permissions import require
from coordinator.timeutil import iso_local
from coordinator.units.models import STRUCTURES

blp = Blueprint("api_users", __name__, description="Accounts (admins; organizers for coordinators and operators)")


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    name = ma.fields.String(attribute="display_name")
    role = ma.fields.String(metadata={"enum": list(ROLES)})
    unit_code = ma.fields.Function(lambda u: u.unit.code if u.unit else None, allow_none=True,
                                   metadata={"description": "the scope unit (a coordinator manages its subtree)"})
    unit_name = ma.fields.Function(lambda u: u.unit.name if u.unit else None, allow_none=True)
    structure = ma.fields.Function(lambda u: u.unit.structure if u.unit else None, allow_none=True,
                                   metadata={"enum": list(STRUCTURES)})
    active = ma.fields.Boolean()
    has_password = ma.fields.Boolean(attribute="has_usable_password",
                                     metadata={"description": "false until the set-password link is used"})
    last_login_at = ma.fields.Function(lambda u: iso_local(u.last_login_at, "UTC"), allow_none=True)
    created_at = ma.fields.Function(lambda u: iso_local(u.created_at, "UTC"))


class ScopeSchema(ma.Schema):
    structure = ma.fields.String(metadata={"enum": list(STRUCTURES)})
    unit_code = ma.fields.Function(lambda s: s.unit.code if s.unit else None, allow_none=True)
    unit_name = ma.fields.Function(lambda s: s.unit.name if s.unit else None, allow_none=True)
    source = ma.fields.String(metadata={
        "enum": ["own", "assigned", "succession", "missing"],
        "description": "own: the account's unit; assigned: set for this structure (PATCH `scopes`); succession: "
                       "its unit's official successor (or only predecessor); missing: nothing maps"})


class UserDetailSchema(UserSchema):
    scopes = ma.fields.Function(lambda u: ScopeSchema(many=True).dump(account_scopes.scopes_of(u)) if u.role == "coordinator"
                                else [], metadata={"description": "a coordinator's unit in each structure"})


class UserPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(UserSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class UserQuery(ma.Schema):
    q = ma.fields.String(metadata={"description": "part of the email or name, with or without diacritics"})
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    unit = ma.fields.String(metadata={"description": "a unit code: accounts scoped to it or to a unit below it"})
    structure = ma.fields.String(validate=ma.validate.OneOf(STRUCTURES),
                                 metadata={"description": "with `unit`: the unit's structure (default: any)"})
    active = ma.fields.Boolean()
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_ID))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class UserInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    email = ma.fields.String(required=True)
    name = ma.fields.String(load_default="")
    role = ma.fields.String(required=True, metadata={"enum": list(ROLES)})
    unit_code = ma.fields.String(load_default=None, allow_none=True,
                                 metadata={"description": "required for a coordinator"})
    structure = ma.fields.String(load_default=None, allow_none=True, metadata={
        "enum": list(STRUCTURES), "description": "of unit_code; default: the configured, loaded one"})
    active = ma.fields.Boolean(load_default=True)


class UserPatch(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    name = ma.fields.String()
    role = ma.fields.String(metadata={"enum": list(ROLES)})
    unit_code = ma.fields.String(allow_none=True, metadata={"description": "null or empty: no scope"})
    structure = ma.fields.String(allow_none=True, metadata={
        "enum": list(STRUCTURES), "description": "of unit_code; default: the account's current one"})
    active = ma.fields.Boolean(metadata={"description": "false ends the account's sessions and revokes its API "
                                                        "tokens at once; true does not bring them back"})
    scopes = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.OneOf(STRUCTURES)),
                            values=ma.fields.String(allow_none=True), metadata={
        "properties": {s: {"type": "string", "nullable": True} for s in STRUCTURES},
        "description": "{structure: unit code}: the unit a coordinator manages in a structure other than its own "
                       "unit's (e.g. {\"2025\": \"56\"}); null or empty goes back to the official succession"})


class PasswordLinkSchema(ma.Schema):
    sent_to = ma.fields.String()
    purpose = ma.fields.String(metadata={"enum": list(PURPOSES)})
    expires_at = ma.fields.String()


class SessionsEndedSchema(ma.Schema):
    sessions_ended = ma.fields.Integer(metadata={"description": "sign-ins that were alive (browsers signed out)"})


class UserImportFileSchema(ma.Schema):
    file = Upload(metadata={"description": "The spreadsheet, .xlsx (first sheet) or .csv (UTF-8); header in row 1 "
                                           "naming the columns (any order): "
                                           + ", ".join(f"{c.label} ({c.english})" for c in sheets.COLUMNS)
                                           + "; email and role required. Roles: "
                                           + ", ".join(f"{v} ({k})" for k, v in sheets.FILE_ROLES.items())})


class UserImportCountsSchema(ma.Schema):
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    unchanged = ma.fields.Integer()


# The 422 of a refused change (a missing right is a 403 with the problems' own words: invalid_response).
NOT_SAVED = "the account was not saved: see details"


def _actor():
    return current_user._get_current_object()


def _account(user_id: int):
    user = accounts.get_account(user_id)
    if user is None:
        abort(404, message=f"no account {user_id}")
    return user


@blp.route("")
class Users(MethodView):
    decorators = [require("users.manage")]

    @blp.arguments(UserQuery, location="query", as_kwargs=True)
    @blp.response(200, UserPage)
    def get(self, page, per_page, q=None, role=None, unit=None, structure=None, active=None):
        """List accounts, filtered and paginated, by email"""
        items, total = accounts.list_accounts(q=q, role=role, unit=unit, structure=structure, active=active,
                                              page=page, per_page=per_page)
        return {"items": items, "total": total, "page": page, "per_page": per_page}

    @blp.arguments(UserInput)
    @blp.response(201, UserDetailSchema)
    @blp.alt_response(403, description="you may not give this role")
    @blp.alt_response(409, description="an account with this email exists")
    @blp.alt_response(422, description="invalid fields; details: [{field, row, message}]")
    @refusal(NOT_SAVED)
    def post(self, data):
        """Create an account; it is mailed a one-time link to choose its password (72 hours)"""
        try:
            user, _link = accounts.create_account(_actor(), via="api", **data)
        except accounts.AccountExists as exc:
            abort(409, message=f"an account with email {exc.email} already exists")
        return user


@blp.route(f"/<int(max={MAX_ID}):user_id>")
class UserById(MethodView):
    decorators = [require("users.manage")]

    @blp.response(200, UserDetailSchema)
    def get(self, user_id):
        """One account"""
        return _account(user_id)

    @blp.arguments(UserPatch)
    @blp.response(200, UserDetailSchema)
    @blp.alt_response(403, description="not an account you may change, a role you may not give, your own "
                                       "role or account")
    @blp.alt_response(422, description="invalid fields, or the last active admin; details: [{field, row, message}]")
    @refusal(NOT_SAVED)
    def patch(self, data, user_id):
        """Change the name, role, scope (unit_code, structure) or `active` of an account"""
        user = _account(user_id)
        accounts.update_account(_actor(), user, data, via="api")
        return user


@blp.route(f"/<int(max={MAX_ID}):user_id>/password-link")
class UserPasswordLink(MethodView):
    decorators = [require("users.manage")]

    @blp.response(202, PasswordLinkSchema)
    @refusal(NOT_SAVED)
    def post(self, user_id):
        """Mail the account a new one-time link to choose its password (older links stop working)"""
        user = _account(user_id)
        link = accounts.send_link(_actor(), user, via="api")
        return {"sent_to": user.email, "purpose": "set" if not user.has_usable_password else "reset",
                "expires_at": iso_local(link.expires_at, "UTC")}


@blp.route(f"/<int(max={MAX_ID}):user_id>/sessions/revoke")
class UserSessionsRevoke(MethodView):
    decorators = [require("users.manage")]

    @blp.response(200, SessionsEndedSchema)
    @blp.alt_response(403, description="not an account you may manage")
    @refusal(NOT_SAVED)
    def post(self, user_id):
        """End every session of the account: each browser must sign in again (audited)

        The account's API tokens are not sessions and keep working (disable the account, with
        PATCH `active: false`, to revoke those too)."""
        user = _account(user_id)
        ended = accounts.end_sessions(_actor(), user, via="api")
        return {"sessions_ended": ended}


@blp.route("/import")
class UserImport(MethodView):
    decorators = [require("users.manage")]

    @blp.arguments(UserImportFileSchema, location="files")
    @blp.response(200, UserImportCountsSchema)
    @blp.alt_response(422, schema=ImportErrorSchema,
                      description="Nothing saved; `error.details` lists every problem as {row, column, message}")
    @refusal(NOTHING_IMPORTED)
    def post(self, files):
        """Create or update accounts from a spreadsheet (multipart field `file`)

        All or nothing: the whole file is checked first. Accounts are matched by email; new ones
        are mailed their set-password link; uploading the same file again reports everything
        unchanged. The import never disables or deletes an account.
        """
        upload = files.get("file")
        if upload is None or not upload.filename:
            raise no_file()
        rows = sheets.read_upload(upload.filename, upload.read())
        result = sheets.import_users(_actor(), rows, filename=upload.filename)
        return result.as_dict()
