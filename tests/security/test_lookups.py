"""The integrator's lookups over HTTP, on SQLite and PostgreSQL: terminals and staff of the
caller's hospital (paged), insured persons by ID number (masked; a hospital finds only its own
patients), bills by `external_ref`. Hospital B never lists or gets anything of hospital A (404 as
for an id that does not exist, or an empty page), and bad paging input is a 4xx."""

from __future__ import annotations

import secrets

import pytest

from facepay.demo.scenario import STAFF_PASSWORD
from facepay.demo.world import Site, register_person


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _not_found(response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["type"] == "urn:facepay:problem:not_found"


def _every_page(session, path: str, limit: int) -> list[list[dict]]:
    pages, after = [], None
    while True:
        query = f"limit={limit}" + (f"&after={after}" if after else "")
        page = _ok(session.request("GET", f"{path}?{query}"))
        pages.append(page["items"])
        if page["next"] is None:
            return pages
        after = page["next"]


@pytest.fixture(scope="module")
def crowded_a(site_a: Site) -> Site:
    """Hospital A with 6 kiosks, a window camera, an `his` terminal and 5 more cashiers."""
    site_a.add_kiosks(5)
    for kind in ("window", "his"):
        made = site_a.admin.request("POST", "/v1/terminals", {"name": f"{kind}-1", "kind": kind})
        assert made.status_code == 201, made.text
    for n in range(5):
        staff = {"username": f"extra-{n}-{secrets.token_hex(3)}", "password": STAFF_PASSWORD,
                 "role": "cashier"}  # fmt: skip
        assert site_a.admin.request("POST", "/v1/staff", staff).status_code == 201
    return site_a


def test_terminals_page_through_without_duplicates_or_gaps(crowded_a: Site) -> None:
    everything = _ok(crowded_a.admin.request("GET", "/v1/terminals?limit=200"))
    assert everything["next"] is None
    ids = [t["id"] for t in everything["items"]]
    assert len(ids) >= 8
    for limit in (1, 3, len(ids)):
        pages = _every_page(crowded_a.admin, "/v1/terminals", limit)
        assert all(len(page) <= limit for page in pages)
        assert [t["id"] for page in pages for t in page] == ids, limit
    kinds = {t["name"]: t["kind"] for t in everything["items"]}
    assert (kinds["lobby"], kinds["window-1"], kinds["his-1"]) == ("kiosk", "window", "his")
    for terminal in everything["items"]:
        assert terminal["hospital_id"] == crowded_a.hospital_id
        assert terminal["private_key_pem"] is None
        assert terminal["fingerprint"].startswith("SHA256:")


def test_the_default_page_is_50(api, crowded_a: Site) -> None:
    page = _ok(crowded_a.auditor.request("GET", "/v1/terminals"))
    assert len(page["items"]) <= 50
    assert page["next"] is None  # fewer than 50 terminals


def test_a_terminal_is_got_with_its_kind_and_revocation(crowded_a: Site) -> None:
    made = _ok(crowded_a.admin.request("GET", "/v1/terminals?limit=200"))["items"][-1]
    got = _ok(crowded_a.auditor.request("GET", f"/v1/terminals/{made['id']}"))
    assert got == made
    spare = crowded_a.admin.request("POST", "/v1/terminals", {"name": "spare", "kind": "window"})
    spare_id = spare.json()["id"]
    assert crowded_a.admin.request("DELETE", f"/v1/terminals/{spare_id}").status_code == 204
    revoked = _ok(crowded_a.admin.request("GET", f"/v1/terminals/{spare_id}"))
    assert (revoked["kind"], revoked["active"], revoked["name"]) == ("window", False, "spare")


def _terminal_ids(site: Site) -> set[str]:
    return {t["id"] for t in _ok(site.admin.request("GET", "/v1/terminals?limit=200"))["items"]}


def test_hospital_b_cannot_list_or_get_the_terminals_of_a(crowded_a: Site, site_b: Site) -> None:
    mine = _terminal_ids(site_b)
    theirs = _terminal_ids(crowded_a)
    assert site_b.kiosk.terminal_id in mine
    assert not mine & theirs
    _not_found(site_b.admin.request("GET", f"/v1/terminals/{crowded_a.kiosk.terminal_id}"))
    _not_found(site_b.auditor.request("GET", f"/v1/terminals/{crowded_a.kiosk.terminal_id}"))
    _not_found(site_b.admin.request("GET", "/v1/terminals/trm_doesnotexist"))


def test_staff_page_through_and_never_show_a_password_hash(crowded_a: Site, site_b: Site) -> None:
    everything = _ok(crowded_a.admin.request("GET", "/v1/staff?limit=200"))
    rows = everything["items"]
    assert len(rows) >= 8  # admin, cashier, auditor and the 5 extra cashiers
    assert {row["hospital_id"] for row in rows} == {crowded_a.hospital_id}
    assert {"admin", "cashier", "auditor"} <= {row["role"] for row in rows}
    for row in rows:
        assert set(row) == {"id", "hospital_id", "username", "role", "active", "created_at"}
    pages = _every_page(crowded_a.auditor, "/v1/staff", 3)
    assert [row["id"] for page in pages for row in page] == [row["id"] for row in rows]
    text = crowded_a.admin.request("GET", "/v1/staff?limit=200").text
    assert "argon2" not in text
    assert "password" not in text
    one = rows[0]
    assert _ok(crowded_a.admin.request("GET", f"/v1/staff/{one['id']}")) == one
    _not_found(site_b.admin.request("GET", f"/v1/staff/{one['id']}"))
    b_rows = _ok(site_b.admin.request("GET", "/v1/staff?limit=200"))["items"]
    assert not {row["id"] for row in b_rows} & {row["id"] for row in rows}


def test_who_may_list_terminals_and_staff(api, site_a: Site) -> None:
    for path in ("/v1/terminals", "/v1/staff", f"/v1/terminals/{site_a.kiosk.terminal_id}"):
        response = site_a.cashier.request("GET", path)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        response = site_a.kiosk.request("GET", path)
        assert (response.status_code, response.json()["code"]) == (401, "no_token")
        response = api.operator.request("GET", path)
        assert response.status_code == 403, path  # the platform runs no hospital's devices


def _find_person(session, number: str) -> list[dict]:
    page = _ok(session.request("POST", "/v1/insured-persons/search", {"id_number": number}))
    assert page["next"] is None
    return page["items"]


def test_a_person_is_found_masked_by_the_platform_and_by_their_hospital(
    api, site_a: Site, site_b: Site
) -> None:
    number = site_a.person["id_number"]
    masked = f"{number[:6]}{'*' * 8}{number[-4:]}"
    (by_operator,) = _find_person(api.operator, number)
    assert by_operator == {"id": site_a.person["person_id"], "id_number_masked": masked,
                           "category": "employee_active"}  # fmt: skip
    site_a.post_bill()  # now A's records name the person
    assert _find_person(site_a.cashier, number) == [by_operator]
    assert _find_person(site_a.auditor, number) == [by_operator]
    response = site_a.cashier.request("POST", "/v1/insured-persons/search", {"id_number": number})
    assert number not in response.text
    assert site_a.person["name"] not in response.text


def test_a_hospital_cannot_probe_the_registry_by_id_number(api, site_a: Site, site_b: Site) -> None:
    # Registered, but never a patient of B: B learns nothing, exactly as for a stranger.
    stranger = register_person(api.operator, serial=7_777)
    for number in (site_a.person["id_number"], stranger["id_number"]):
        assert _find_person(site_b.cashier, number) == []
        assert _find_person(site_b.admin, number) == []
    assert _find_person(site_a.cashier, stranger["id_number"]) == []
    response = site_b.kiosk.request(
        "POST", "/v1/insured-persons/search", {"id_number": site_a.person["id_number"]}
    )
    assert response.status_code == 401  # terminals identify patients; they do not look them up


@pytest.mark.parametrize("number", ["110101199003074518x", "1101011990030745", "11010119900307451X",
                                    "110101199013074518"])  # fmt: skip
def test_a_malformed_id_number_is_a_422(api, number: str) -> None:
    response = api.operator.request("POST", "/v1/insured-persons/search", {"id_number": number})
    assert response.status_code == 422, response.text
    assert number not in response.text  # never echoed: it may be a real, mistyped number


def test_a_bill_is_found_by_its_external_ref_in_its_own_hospital_only(
    site_a: Site, site_b: Site
) -> None:
    bill = site_a.post_bill()
    ref = bill["external_ref"]
    for session in (site_a.cashier, site_a.auditor, site_a.kiosk):
        page = _ok(session.request("GET", f"/v1/bills?external_ref={ref}"))
        assert page == {"items": [bill], "next": None}
    for session in (site_b.cashier, site_b.admin, site_b.kiosk):
        assert _ok(session.request("GET", f"/v1/bills?external_ref={ref}"))["items"] == []
    assert _ok(site_a.cashier.request("GET", "/v1/bills?external_ref=HIS-none"))["items"] == []


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=-1", "limit=x", "limit=1.5", "limit=", "after=", "after=%00",
     f"after={'A' * 401}", "after=not+a+cursor"],
)  # fmt: skip
def test_bad_paging_is_a_422_not_a_500(site_a: Site, query: str) -> None:
    for path in ("/v1/terminals", "/v1/staff"):
        response = site_a.admin.request("GET", f"{path}?{query}")
        assert response.status_code == 422, (path, query, response.text)
        assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("after", ["x", "AAAA", "bm90LWpzb24", "WyJzdGFmZiIsIjIwMjYiLCJ4Il0"])
def test_a_forged_cursor_is_a_400_bad_cursor(site_a: Site, after: str) -> None:
    ref = site_a.post_bill()["external_ref"]
    for path in ("/v1/terminals?", "/v1/staff?", f"/v1/bills?external_ref={ref}&"):
        response = site_a.admin.request("GET", f"{path}after={after}")
        assert (response.status_code, response.json()["code"]) == (400, "bad_cursor"), path
    search = site_a.admin.request(
        "POST",
        f"/v1/insured-persons/search?after={after}",
        {"id_number": site_a.person["id_number"]},
    )
    assert (search.status_code, search.json()["code"]) == (400, "bad_cursor")


def test_a_cursor_of_one_listing_does_not_page_another(site_a: Site) -> None:
    staff_next = _ok(site_a.admin.request("GET", "/v1/staff?limit=1"))["next"]
    assert staff_next is not None
    response = site_a.admin.request("GET", f"/v1/terminals?after={staff_next}")
    assert (response.status_code, response.json()["code"]) == (400, "bad_cursor")
