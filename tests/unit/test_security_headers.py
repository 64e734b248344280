"""Every HTTP response carries the security headers (ctidesk.app.SecurityHeaders)."""
from __future__ import annotations

CSP = "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'"


async def test_a_page_gets_the_csp_and_no_store_only_on_the_api(client):
    page = await client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "cache-control" not in page.headers


async def test_api_answers_are_not_cached_errors_included(client):
    r = await client.get("/api/v1/calls")  # no token: 401, still with the headers
    assert r.status_code == 401
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"] == CSP


async def test_health_check_has_the_headers_once(client):
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["ami_connected"] is False
    assert r.headers.get_list("content-security-policy") == [CSP]
    assert r.headers["x-content-type-options"] == "nosniff"
