"""Issue 14, point 4 (what the field cleaners cannot see): a NUL in a search or a sign-in never
answers 500. PostgreSQL refuses NUL in text, so before this a `?q=a%00b` on any searched list
reached a LIKE and failed; runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""
from __future__ import annotations

import pytest

from factories import form_values, login

EN = {"Accept-Language": "en"}


@pytest.fixture()
def admin(make_user, token_for):
    make_user("admin@example.gov.vn", "admin")
    return token_for("admin@example.gov.vn")


@pytest.mark.parametrize("url", ["/api/v1/users?q=a%00b", "/api/v1/units?q=%00", "/api/v1/users?role=%00admin"])
def test_a_nul_in_an_api_query_is_a_400_with_the_error_shape(client, admin, url):
    response = client.get(url, headers={**admin, **EN})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_character" and "NUL" in error["message"]


def test_a_nul_in_a_page_search_is_a_400_page(client, admin):
    login(client, "admin@example.gov.vn")
    response = client.get("/users?q=Nguy%00n", headers=EN)
    assert response.status_code == 400
    assert "text/html" in response.content_type


def test_a_search_without_nul_still_works(client, admin):
    response = client.get("/api/v1/users?q=admin", headers=admin)
    assert response.status_code == 200 and response.get_json()["total"] == 1


@pytest.mark.parametrize("path", ["/login", "/password/forgot"])
def test_a_nul_typed_in_the_sign_in_forms_is_a_refusal_not_a_500(client, admin, path):
    page = client.get(path)
    assert page.status_code == 200
    form = form_values(page.get_data(as_text=True), "")
    form.update({"email": "admin@example.gov.vn\x00", "password": "x"})
    response = client.post(path, data=form, headers=EN)
    assert response.status_code in (200, 302, 400, 429), response.status_code
    assert client.get("/api/v1/users?q=admin", headers=admin).status_code == 200  # and nothing broke
