"""Administrative units: the bundled structures, their bulk load, and the units API."""
from __future__ import annotations

import pytest

EXPECTED = {
    "2024": {"province": 63, "district": 705, "commune": 10_599},
    "2025": {"province": 34, "commune": 3_321},
}


@pytest.fixture()
def auth(make_user, token_for):
    make_user("reader@example.gov.vn", "operator")
    return token_for("reader@example.gov.vn")


@pytest.mark.parametrize("structure", ["2024", "2025"])
def test_api_totals_match_the_official_counts(client, auth, structure):
    for tier, count in EXPECTED[structure].items():
        body = client.get(f"/api/v1/units?structure={structure}&tier={tier}&per_page=1", headers=auth).get_json()
        assert body["total"] == count, (structure, tier)
    body = client.get(f"/api/v1/units?structure={structure}&tier=central", headers=auth).get_json()
    assert [(u["code"], u["name"]) for u in body["items"]] == [("TW", "Trung ương")]
    if structure == "2025":
        assert client.get("/api/v1/units?structure=2025&tier=district", headers=auth).get_json()["total"] == 0


def test_reloading_changes_nothing_and_reports_it(cli, client, auth):
    result = cli("units", "load", "--structure", "2024")
    assert result.exit_code == 0
    assert "inserted 0, updated 0, unchanged 11,368" in result.output
    assert "province: 63, district: 705, commune: 10,599" in result.output
    body = client.get("/api/v1/units?structure=2024&tier=commune&per_page=1", headers=auth).get_json()
    assert body["total"] == 10_599


def test_a_changed_name_is_updated_in_place(app_ctx):
    from coordinator.units import services

    rows = services.read_rows(services.data_file("2024"))
    renamed = [r if r.code != "568" else services.UnitRow("568", "Thành phố Nha Trang (mới)", r.tier, r.parent_code)
               for r in rows]
    try:
        result = services.load_structure("2024", rows=renamed)
        assert (result.inserted, result.updated) == (0, 1)
        assert services.get_unit("2024", "568").name == "Thành phố Nha Trang (mới)"
    finally:
        services.load_structure("2024")
    assert services.get_unit("2024", "568").name == "Thành phố Nha Trang"


def test_filters_parent_search_without_diacritics_and_pagination(client, auth):
    kh = client.get("/api/v1/units?structure=2024&parent=56&per_page=100", headers=auth).get_json()
    names = {u["code"]: u["name"] for u in kh["items"]}
    assert kh["total"] == 9 and names["568"] == "Thành phố Nha Trang"
    assert all(u["parent_code"] == "56" and u["tier"] == "district" for u in kh["items"])

    found = client.get("/api/v1/units?structure=2024&tier=province&q=khanh hoa", headers=auth).get_json()
    assert [(u["code"], u["name"]) for u in found["items"]] == [("56", "Tỉnh Khánh Hòa")]
    found = client.get("/api/v1/units?structure=2024&q=Khánh Hòa&tier=province", headers=auth).get_json()
    assert found["total"] == 1
    by_code = client.get("/api/v1/units?structure=2024&q=01", headers=auth).get_json()
    assert by_code["items"][0]["name"] == "Thành phố Hà Nội"

    page1 = client.get("/api/v1/units?structure=2024&tier=province&per_page=10&page=1", headers=auth).get_json()
    page7 = client.get("/api/v1/units?structure=2024&tier=province&per_page=10&page=7", headers=auth).get_json()
    assert (page1["page"], page1["per_page"], len(page1["items"])) == (1, 10, 10)
    assert len(page7["items"]) == 3 and page7["total"] == 63
    assert page1["items"][0]["code"] == "01" and page7["items"][-1]["code"] == "96"


def test_same_code_means_different_units_in_each_structure(client, auth):
    old = client.get("/api/v1/units?structure=2024&q=15&tier=province", headers=auth).get_json()["items"]
    new = client.get("/api/v1/units?structure=2025&q=15&tier=province", headers=auth).get_json()["items"]
    assert old[0]["name"] == "Tỉnh Yên Bái" and new[0]["name"] == "Tỉnh Lào Cai"


def test_bad_query_parameters_are_json_errors(client, auth):
    response = client.get("/api/v1/units?tier=village", headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and "tier" in error["details"]["query"]
    response = client.get("/api/v1/units?per_page=100000", headers=auth)
    assert response.status_code == 400 and "per_page" in response.get_json()["error"]["details"]["query"]


def test_units_api_needs_authentication(client):
    response = client.get("/api/v1/units")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_subtree_is_a_prefix_of_the_materialised_path(app_ctx):
    from coordinator.units.services import get_unit, search_units

    khanh_hoa, nha_trang, ha_noi = get_unit("2024", "56"), get_unit("2024", "568"), get_unit("2024", "01")
    commune = search_units("2024", parent_code="568", per_page=1)[0][0]
    assert khanh_hoa.contains(nha_trang) and khanh_hoa.contains(commune) and khanh_hoa.contains(khanh_hoa)
    assert not khanh_hoa.contains(ha_noi) and not nha_trang.contains(khanh_hoa)
    assert not get_unit("2025", "56").contains(nha_trang)  # another structure is another tree
