"""Spreadsheet import through the API: the same all-or-nothing import as the upload page.

CSRF: every API blueprint is exempt from Flask-WTF's form check (coordinator.api.setup._api_csrf);
a bearer-token client needs no token, a browser using its session cookie sends the page's token
in `X-CSRFToken`.
"""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest.fields import Upload

from coordinator.api import Blueprint, refusal
from coordinator.auth.permissions import require
from coordinator.events.lookup import event_or_404
from coordinator.imports import endpoints_io
from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem

blp = Blueprint("api_imports", __name__, description="Spreadsheet import of endpoints and contacts")


class ImportFileSchema(ma.Schema):
    # Not `required`: a missing file gets the same 422 shape (a list of row errors) as a bad one.
    file = Upload(metadata={"description": "The spreadsheet, .xlsx (first sheet) or .csv (UTF-8), with the "
                                           "template's columns in order: "
                                           + ", ".join(f"{c.label} ({c.english})" for c in endpoints_io.COLUMNS)
                                           + "; header in row 1; one row per contact."})


class CountsSchema(ma.Schema):
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    unchanged = ma.fields.Integer()


class ImportResultSchema(CountsSchema):
    endpoints = ma.fields.Nested(CountsSchema)
    contacts = ma.fields.Nested(CountsSchema)


class RowErrorSchema(ma.Schema):
    row = ma.fields.Integer(allow_none=True, metadata={"description": "row number as the spreadsheet shows it "
                                                                      "(header = 1); null for the whole file"})
    column = ma.fields.String(allow_none=True, metadata={"description": "the column's header in the template"})
    letter = ma.fields.String(metadata={"description": "the column's letter in the file (A, B, …, AA), when the "
                                                       "problem is in a column the file has"})
    message = ma.fields.String()


class ImportErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"example": "invalid"})
    message = ma.fields.String()
    details = ma.fields.List(ma.fields.Nested(RowErrorSchema))


class ImportErrorSchema(ma.Schema):
    error = ma.fields.Nested(ImportErrorBodySchema)


# The 422 of an import (coordinator.api.invalid_response renders its details).
NOTHING_IMPORTED = "nothing imported: {count} problem(s), see details"


def no_file() -> Invalid:
    """The refusal of an upload without its file."""
    return Invalid(Problem(None, Message(N_("no file: send the spreadsheet as the multipart field 'file'"))))


@blp.route("/<slug>/endpoints/import")
class EndpointImport(MethodView):
    decorators = [require("registration.manage")]

    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(200, ImportResultSchema)
    @blp.alt_response(422, schema=ImportErrorSchema,
                      description="Nothing saved; `error.details` lists every problem as {row, column, message}")
    @refusal(NOTHING_IMPORTED)
    def post(self, files, slug):
        """Import endpoints and contacts from a spreadsheet (multipart field `file`)

        All or nothing: the whole file is validated first. Endpoints are matched by unit code and
        contacts by phone number; what the file does not mention is kept, and uploading the same
        file again reports everything unchanged. A coordinator may only name units of its subtree.
        Counts are over endpoints and contacts together, and per kind.
        """
        event = event_or_404(slug)
        upload = files.get("file")
        if upload is None or not upload.filename:
            raise no_file()
        rows = endpoints_io.read_rows(upload.filename, upload.read())
        result = endpoints_io.import_endpoints(event, current_user._get_current_object(), rows,
                                               filename=upload.filename)
        return result.as_dict()
