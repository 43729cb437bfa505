"""One shape for a service's refusal (issue 15, point 4): every API module lets
`coordinator.problems.Invalid` through, and one handler (coordinator.api.invalid_response) answers
it: 422 (403 when a right is missing) with `{"error": {"code", "message", "details": [...]}}`, each
detail `{field, row, message}` or, for a spreadsheet, `{row, column, message}` (and the column's
letter in the file). The words of the message stay each operation's own."""
from __future__ import annotations

import io

import pytest
from flask import Flask
from flask_babel import Babel

from coordinator.api import Blueprint, invalid_response, refusal
from coordinator.messages import Message
from coordinator.problems import Invalid, Problem

SLUG = "nd49-2024"
EN = {"Accept-Language": "en"}


@pytest.fixture()
def org(make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    return {**token_for("org@example.gov.vn"), **EN}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def test_a_field_problem_names_its_field_and_the_operation_says_what_was_not_done(client, org):
    error = error_of(client.post(f"/api/v1/events/{SLUG}/endpoints", headers=org,
                                 json={"unit_code": "56", "name": "Hội trường", "protocol": "skype"}), 422)
    assert error["code"] == "invalid" and error["message"] == "the endpoint was not saved: see details"
    [detail] = error["details"]
    assert set(detail) == {"field", "row", "message"}
    assert detail["field"] == "protocol" and detail["row"] is None and detail["message"]


def test_a_reminder_rule_is_refused_field_by_field_in_the_same_shape(client, org):
    rule = {"anchor": "session:main", "offset_seconds": -7200, "channel": "sms", "audience": "all_contacts",
            "template": "Họp lúc {gio}"}
    error = error_of(client.post(f"/api/v1/events/{SLUG}/reminders", headers=org, json=rule), 422)
    assert error["message"] == "the reminder was not saved: see details"
    assert [d["field"] for d in error["details"]] == ["template"] and "{gio}" in error["details"][0]["message"]


def test_a_missing_file_is_a_problem_of_the_whole_upload(client, org):
    for url in (f"/api/v1/events/{SLUG}/endpoints/import", "/api/v1/users/import"):
        error = error_of(client.post(url, headers=org, data={}, content_type="multipart/form-data"), 422)
        assert error["message"] == "nothing imported: 1 problem(s), see details"
        assert error["details"] == [{"row": None, "column": None, "message": error["details"][0]["message"]}]
        assert "multipart field 'file'" in error["details"][0]["message"]


def test_a_spreadsheet_problem_has_its_row_and_column(client, org):
    data = "Mã đơn vị,Tên đơn vị\r\n99999,Nowhere\r\n".encode()
    error = error_of(client.post(f"/api/v1/events/{SLUG}/endpoints/import", headers=org,
                                 data={"file": (io.BytesIO(data), "x.csv")}, content_type="multipart/form-data"), 422)
    assert error["code"] == "invalid" and error["message"].startswith("nothing imported: ")
    assert all({"row", "column", "message"} <= set(d) and "field" not in d for d in error["details"])


def test_a_missing_right_is_403_in_the_problems_own_words(client, make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    error = error_of(client.post("/api/v1/users", headers={**token_for("org@example.gov.vn"), **EN},
                                 json={"email": "new@example.gov.vn", "role": "admin"}), 403)
    assert error["code"] == "forbidden"
    assert error["details"][0]["field"] == "role" and error["message"] == error["details"][0]["message"]


# --- the handler itself, on a blueprint of its own ------------------------------------------------

def _bare_app() -> Flask:
    app = Flask(__name__)
    Babel(app)  # messages are translated where they are shown
    return app


def _app(raise_it, message=None) -> Flask:
    app = _bare_app()
    blp = Blueprint("test_invalid", __name__)

    def view():
        raise_it()

    app.add_url_rule("/api/v1/x", "x", refusal(message)(view) if message else view)
    blp.add_url_rule("/y", "y", refusal(message)(view) if message else view)
    app.register_blueprint(blp, url_prefix="/api/v1/blp")
    return app


def _problems():
    raise Invalid([Problem(None, Message("bad"), row=3, column="Tên", letter="B"),
                   Problem("", Message("the whole plan"))])


def test_the_handler_answers_for_its_blueprints_only():
    app = _app(_problems, "{count} things were not done")
    response = app.test_client().get("/api/v1/blp/y")
    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "message": "2 things were not done", "details": [
        {"row": 3, "column": "Tên", "letter": "B", "message": "bad"},
        {"field": "", "row": None, "message": "the whole plan"}]}}
    # A view outside the API's blueprints does not get the API's answer.
    assert app.test_client().get("/api/v1/x").status_code == 500


def test_without_words_of_its_own_the_message_says_nothing_was_saved():
    response = _app(_problems).test_client().get("/api/v1/blp/y")
    assert response.get_json()["error"]["message"] == "nothing was saved: see details"


def test_the_details_follow_the_problems():
    with _bare_app().test_request_context():
        assert Problem("name", Message("Required.")).detail() == {"field": "name", "row": None,
                                                                    "message": "Required."}
        assert Problem(None, Message("empty")).detail() == {"row": None, "column": None, "message": "empty"}
        body, status = invalid_response(Invalid(Problem("role", Message("no"), forbidden=True)))
        assert status == 403 and body["error"]["message"] == "no"
